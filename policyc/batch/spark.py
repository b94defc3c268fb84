"""Runs `policyc batch` on Spark: Spark distributes, every executor runs the same `Engine` on its Arrow batches.

There is no second rule set and no SQL dialect translation: each Python worker verifies the bundle bytes it was
sent (the content sha256 the driver pinned, and the signature when trusted keys are given), builds one `Engine`
(DuckDB SQL compiled from the IR, the Python runtime for the rows SQL must not decide) and keeps it for the life of
the process; `DataFrame.mapInArrow` feeds it (`_row`, `j`) batches. Decisions and rejects come back in one schema:
the decision columns of `Engine.schema`, plus `kind` ("decision" or "reject") and `problems` (path, message).

`decide_dataframe(spark, df, bundle_bytes)` is the cluster job (a DataFrame in, a DataFrame out);
`SparkEngine` has `Engine.decide`'s interface on a local Spark session, for `policyc batch --engine spark`."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
import time

import pyarrow as pa

from ..runtime import load
from .engine import Engine

PROBLEMS = pa.list_(pa.struct([pa.field("path", pa.string()), pa.field("message", pa.string())]))
_ENGINES: dict = {}  # per Python worker process: (bundle sha256, programs, reasons, trust) -> Engine


def output_schema(engine_schema: pa.Schema) -> pa.Schema:
    """The decision columns, then `kind` and `problems`: a reject row has only `row`, `kind` and `problems`."""
    fields = [engine_schema.field("row"), pa.field("kind", pa.string())]
    fields += [f for f in engine_schema if f.name != "row"]
    return pa.schema(fields + [pa.field("problems", PROBLEMS)])


class _Job:
    """Everything an executor needs, small enough for the closure; the bundle bytes travel as a broadcast."""

    def __init__(self, sha256, blob, programs, reasons, keys, signature, locality, day, counts=False):
        self.sha256, self.blob = sha256, blob
        self.programs = tuple(programs) if programs else None
        self.reasons, self.keys, self.signature = reasons, keys, signature
        self.locality, self.day, self.counts = locality, day, counts
        trust = hashlib.sha256(repr((keys, signature)).encode()).hexdigest()
        self.cache_key = (sha256, self.programs, reasons, trust)

    def engine(self) -> Engine:
        eng = _ENGINES.get(self.cache_key)
        if eng is None:
            raw = self.blob.value if hasattr(self.blob, "value") else self.blob
            evaluator = load_bytes(raw, sha256=self.sha256, keys=self.keys, signature=self.signature)
            eng = Engine(evaluator, programs=self.programs, reasons=self.reasons, threads=1)
            _ENGINES[self.cache_key] = eng
        return eng

    def __call__(self, batches):
        """mapInArrow: (_row, j) batches in, output_schema batches out."""
        eng = self.engine()
        schema = output_schema(eng.schema)
        for batch in batches:
            chunk = pa.table({"_row": batch.column("_row").cast(pa.int64()),
                              "j": batch.column("j").cast(pa.string())})
            before, started = dict(eng.counts), time.perf_counter()
            decided, rejects = eng.decide(chunk, self.locality, self.day)
            spent = time.perf_counter() - started
            for b in combine(decided, rejects, schema).to_batches():
                yield b
            if self.counts:  # one extra row per batch: how many rows each lane decided (SparkEngine removes it)
                delta = {k: eng.counts[k] - before.get(k, 0) for k in eng.counts}
                delta["seconds"] = spent
                yield pa.RecordBatch.from_pylist([{"row": -1, "kind": "counts", "id": json.dumps(delta)}],
                                                 schema=schema)


def combine(decided: pa.Table, rejects: list, schema: pa.Schema) -> pa.Table:
    """Decision rows and reject rows as one table in `output_schema`."""
    n = decided.num_rows
    cols = []
    for f in schema:
        if f.name == "kind":
            cols.append(pa.array(["decision"] * n + ["reject"] * len(rejects), pa.string()))
        elif f.name == "problems":
            cols.append(pa.array([None] * n + [[{"path": p, "message": m} for p, m in r["problems"]]
                                               for r in rejects], f.type))
        elif f.name == "row":
            cols.append(pa.concat_arrays([decided.column("row").combine_chunks().cast(pa.int64()),
                                          pa.array([r["row"] for r in rejects], pa.int64())]))
        else:
            col = decided.column(f.name).cast(f.type).combine_chunks()
            cols.append(pa.concat_arrays([col, pa.nulls(len(rejects), f.type)]))
    return pa.Table.from_arrays(cols, schema=schema)


def load_bytes(raw: bytes, *, sha256: str | None = None, keys=None, signature=None):
    """An Evaluator from bundle bytes, through the same checks as `policyc.runtime.load` (on a private copy of the
    bytes): format, content hash, the pinned sha256, and with keys a valid signature by one of them."""
    fd, path = tempfile.mkstemp(prefix="policyc-bundle-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        return load(path, keys=keys, sha256=sha256, signature=signature)
    finally:
        os.unlink(path)


def portable_keys(keys):
    """Trusted keys as PEM bytes, so they travel to executors that do not have the key files."""
    if keys is None:
        return None
    from ..runtime.signing import load_public_key
    from cryptography.hazmat.primitives import serialization
    out = []
    for k in (keys if isinstance(keys, (list, tuple)) else [keys]):
        pub = load_public_key(k)
        out.append(pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return out


def _spark_schema(schema: pa.Schema):
    from pyspark.sql.pandas.types import from_arrow_schema
    return from_arrow_schema(schema)


class SparkPlan:
    """One bundle verified on the driver and broadcast once; `apply` maps DataFrames of requests with it."""

    def __init__(self, spark, bundle_bytes: bytes, programs=None, *, reasons: bool = False, keys=None,
                 signature: bytes | None = None, sha256: str | None = None):
        self.spark = spark
        self.keys = portable_keys(keys)
        self.signature = signature
        self.evaluator = load_bytes(bundle_bytes, sha256=sha256, keys=self.keys, signature=signature)
        self.sha256 = self.evaluator.bundle_info["sha256"]  # verified equal to the recomputed content hash
        self.programs = list(programs) if programs else list(self.evaluator.program_ids)
        self.reasons = reasons
        self.engine = Engine(self.evaluator, programs=self.programs, reasons=reasons)
        self.schema = output_schema(self.engine.schema)
        self.spark_schema = _spark_schema(self.schema)
        self.blob = spark.sparkContext.broadcast(bundle_bytes)

    def apply(self, df, locality: str | None = None, day: dt.date | None = None, counts: bool = False):
        job = _Job(self.sha256, self.blob, self.programs, self.reasons, self.keys, self.signature, locality, day,
                   counts)
        return df.select("_row", "j").mapInArrow(job, self.spark_schema)


def decide_dataframe(spark, df, bundle_bytes: bytes, programs=None, *, reasons: bool = False, keys=None,
                     signature: bytes | None = None, sha256: str | None = None, locality: str | None = None,
                     day: dt.date | None = None):
    """The decisions and rejects of a DataFrame of requests (columns `_row` bigint, `j` one request's JSON text).

    The bundle is verified here first (with `keys`, trusted public keys, and `signature`, the detached signature's
    bytes; `sha256` pins the content), then broadcast; every executor verifies the bytes it received against the
    same sha256 (and keys) before it compiles them. Returns a DataFrame in `output_schema` (one row per input row:
    kind "decision" with the decision columns, or "reject" with `problems`). `locality` and `day` are the
    defaults for requests without their own."""
    plan = SparkPlan(spark, bundle_bytes, programs, reasons=reasons, keys=keys, signature=signature, sha256=sha256)
    return plan.apply(df, locality, day)


def local_session(cores: int = 2, memory: str = "1g"):
    """A quiet local Spark session whose Python workers run this interpreter (and so this policyc)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    log4j = os.path.join(tempfile.gettempdir(), "policyc-spark-log4j2.properties")
    with open(log4j, "w") as fh:  # errors only: the JVM's start-up warnings are not the user's business
        fh.write("rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
                 "appender.console.type = Console\nappender.console.name = console\n"
                 "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
                 "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n")
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(f"local[{cores}]").appName("policyc batch")
             .config("spark.driver.memory", memory)
             .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .config("spark.sql.shuffle.partitions", str(cores))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkEngine:
    """`Engine.decide` on a (local) Spark session: the chunk becomes a DataFrame, the executors decide it, the
    driver collects it back as (decision rows in `schema`, rejects)."""

    def __init__(self, bundle_bytes: bytes, programs=None, reasons: bool = False, *, spark=None, keys=None,
                 signature: bytes | None = None, sha256: str | None = None, cores: int = 2):
        self.owned = spark is None
        self.spark = spark or local_session(cores)
        self.cores = cores
        self.plan = SparkPlan(self.spark, bundle_bytes, programs, reasons=reasons, keys=keys, signature=signature,
                              sha256=sha256)
        self.ev, self.programs = self.plan.evaluator, self.plan.programs
        probe = self.plan.engine
        self.schema, self.sql_error, self.query = probe.schema, probe.sql_error, probe.query
        self.row_type = probe.row_type
        self.counts = {"sql": 0, "python": 0, "rejected": 0}
        self.engine_seconds = 0.0  # time spent in Engine.decide on the executors (the rest is Spark's)

    def decide(self, chunk: pa.Table, locality: str | None = None, day: dt.date | None = None):
        """(decision rows as an Arrow table ordered by row, reject rows as dicts), like `Engine.decide`."""
        src = pa.table({"_row": chunk.column("_row").cast(pa.int64()), "j": chunk.column("j").cast(pa.string())})
        if not src.num_rows:
            return pa.Table.from_pylist([], schema=self.schema), []
        df = self.spark.createDataFrame(src)
        if df.rdd.getNumPartitions() < self.cores and src.num_rows >= 2 * self.cores:
            df = df.repartition(self.cores)
        out = self.plan.apply(df, locality, day, counts=True).toArrow()
        kind = out.column("kind").to_pylist()
        for k, ident in zip(kind, out.column("id").to_pylist()):
            if k == "counts":
                for name, v in json.loads(ident).items():
                    if name == "seconds":
                        self.engine_seconds += v
                    else:
                        self.counts[name] = self.counts.get(name, 0) + v
        rows = out.column("row").to_pylist()
        problems = out.column("problems").to_pylist()
        rejects = sorted(({"row": r, "problems": [(p["path"], p["message"]) for p in ps]}
                          for r, k, ps in zip(rows, kind, problems) if k == "reject"), key=lambda r: r["row"])
        mask = pa.array([k == "decision" for k in kind])
        decided = out.filter(mask).select(self.schema.names).cast(self.schema).sort_by("row")
        got = sorted(decided.column("row").to_pylist() + [r["row"] for r in rejects])
        if got != sorted(src.column("_row").to_pylist()):  # never lose, repeat or invent a row
            raise RuntimeError(f"Spark 返回 {decided.num_rows} 条决定和 {len(rejects)} 条拒绝，"
                               f"与输入的 {src.num_rows} 行对不上")
        return decided, rejects

    def close(self) -> None:
        """Stop the Spark session this engine started (a session passed in is left running)."""
        if self.owned:
            self.spark.stop()
