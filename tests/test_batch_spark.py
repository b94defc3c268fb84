"""The Spark engine of `policyc batch` (Spark local mode): the same decisions as the Python runtime, row by row.

One local SparkSession for the module. Skipped, with the reason, where there is no Java runtime or no pyspark
(CI installs both: .ci/run)."""
import datetime as dt
import shutil

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
pytest.importorskip("pandas", reason="pandas is not installed (pip install -e '.[spark]'); mapInArrow needs it")
if shutil.which("java") is None:
    pytest.skip("no Java runtime (java) on PATH: Spark needs one (Debian: openjdk-17-jre-headless)",
                allow_module_level=True)

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from policyc.batch.engine import Engine  # noqa: E402
from policyc.batch.spark import SparkEngine, _Job, decide_dataframe, load_bytes  # noqa: E402
from batch_util import DAY, population  # noqa: E402
from policyc.runtime import BundleError, PinMismatchError, UnknownKeyError, jsonio  # noqa: E402

N = 2000


@pytest.fixture(scope="module")
def raw(bundle):
    return jsonio.dumps(bundle, indent=None).encode("utf-8")


@pytest.fixture(scope="module")
def spark_engine(raw):
    eng = SparkEngine(raw)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def requests(evaluator, bundle):
    """N synthetic households; some with an unknown fact (the Python lane), some without a date (the default
    day), one with money as a string and one with an unknown locality (rejects)."""
    out = []
    for i, req in enumerate(population(evaluator, N, seed=11)):
        if i % 37 == 5:
            del req["household"]["members"][0]["monthly_income"]
        if i % 41 == 7:
            del req["date"]
        out.append(req)
    out[10]["household"]["members"][0]["monthly_income"] = "abc"
    out[20]["locality"] = "999999"
    return out


def chunk_of(reqs):
    return pa.table({"_row": pa.array(range(len(reqs)), pa.int64()),
                     "j": [jsonio.dumps(r, indent=None) for r in reqs]})


def test_spark_decides_like_the_python_runtime(spark_engine, evaluator, requests):
    chunk = chunk_of(requests)
    day = dt.date.fromisoformat(DAY)
    got, rejects = spark_engine.decide(chunk, day=day)
    ref, ref_rejects = Engine(evaluator, engine="python").decide(chunk, day=day)
    assert got.schema == ref.schema
    assert set(got.column("programs").type[i].name for i in range(got.column("programs").type.num_fields)) \
        == set(evaluator.program_ids)
    a, b = got.to_pylist(), ref.to_pylist()
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x == y, f"row {x['row']}"
    assert rejects == ref_rejects
    # every input row gives exactly one decision or one reject
    assert sorted([r["row"] for r in a] + [r["row"] for r in rejects]) == list(range(N))
    by_row = {r["row"]: r["problems"] for r in rejects}
    assert set(by_row) == {10, 20}
    assert [p for p, _ in by_row[10]] == ["$.household.members[0].monthly_income"]
    assert [p for p, _ in by_row[20]] == ["$.locality"]
    assert "999999" in by_row[20][0][1]
    # both lanes ran on the executors: the rows with an unknown fact went to the Python runtime
    assert spark_engine.counts["python"] >= N // 37 and spark_engine.counts["sql"] > N // 2
    assert spark_engine.counts["rejected"] == 2
    undecided = [r for r in a if r["row"] % 37 == 5 and r["missing_facts"]]
    assert undecided, "the requests with an unknown fact should name it"


def test_decide_dataframe_selected_programs_and_defaults(spark_engine, raw, evaluator, requests):
    reqs = [dict(r) for r in requests[:60]]
    for r in reqs:
        r.pop("date", None)
    chunk = chunk_of(reqs)
    programs = evaluator.program_ids[:1]
    day = dt.date.fromisoformat(DAY)
    df = spark_engine.spark.createDataFrame(chunk)
    out = decide_dataframe(spark_engine.spark, df, raw, programs, day=day).toArrow()
    assert out.num_rows == len(reqs)
    ref, ref_rejects = Engine(evaluator, programs=programs, engine="python").decide(chunk, day=day)
    decided = out.filter(pc.equal(out.column("kind"), "decision"))
    decided = decided.select(ref.schema.names).cast(ref.schema).sort_by("row")
    assert decided.to_pylist() == ref.to_pylist()
    assert [r["date"] for r in decided.to_pylist()] == [day] * decided.num_rows
    rej = out.filter(pc.equal(out.column("kind"), "reject")).to_pylist()
    assert [(r["row"], [(p["path"], p["message"]) for p in r["problems"]]) for r in rej] \
        == [(r["row"], r["problems"]) for r in ref_rejects]
    assert all(r["programs"] is None for r in rej)


def test_the_bundle_is_verified_before_it_is_used(raw, bundle):
    sha = bundle["manifest"]["sha256"]
    assert load_bytes(raw, sha256=sha).bundle_info["sha256"] == sha
    with pytest.raises(PinMismatchError):
        load_bytes(raw, sha256="0" * 64)
    # an executor given other bytes than the driver verified refuses them
    tampered = raw.replace(b'"dibao"', b'"dibaO"', 1)
    with pytest.raises(BundleError):
        _Job(sha, tampered, None, False, None, None, None, None).engine()
    # asking for a signature with no trusted key refuses the bundle everywhere
    with pytest.raises(UnknownKeyError):
        _Job(sha, raw, None, False, [], None, None, None).engine()


def test_a_signed_bundle_runs_with_its_key_and_is_refused_with_another(spark_engine, raw, evaluator, requests,
                                                                       tmp_path):
    from policyc.emit.signing import generate_key, sign_bundle
    path = tmp_path / "b.bundle.json"
    path.write_bytes(raw)
    generate_key(tmp_path / "signer")
    generate_key(tmp_path / "other")
    sig_path, _ = sign_bundle(tmp_path / "signer", path)
    sig = sig_path.read_bytes()
    with pytest.raises(BundleError):  # refused on the driver, before any executor sees it
        decide_dataframe(spark_engine.spark, None, raw, keys=[tmp_path / "other.pub"], signature=sig)
    chunk = chunk_of(requests[:30])
    # the key travels as PEM bytes: the executors need no key file
    df = spark_engine.spark.createDataFrame(chunk)
    out = decide_dataframe(spark_engine.spark, df, raw, keys=[tmp_path / "signer.pub"], signature=sig).toArrow()
    ref, _ = Engine(evaluator, engine="python").decide(chunk)
    decided = out.filter(pc.equal(out.column("kind"), "decision"))
    assert decided.select(ref.schema.names).cast(ref.schema).sort_by("row").to_pylist() == ref.to_pylist()
    assert spark_engine.decide(chunk.slice(0, 0)) == (pa.Table.from_pylist([], schema=ref.schema), [])


def test_cli_spark_engine_writes_what_duckdb_writes(tmp_path, capsys, spark_engine, bundle_file, requests):
    """`policyc batch --engine spark` (reusing the module's session) writes the DuckDB engine's file, byte for
    byte, and the same rejects."""
    from policyc.cli import main
    src = tmp_path / "in.jsonl"
    src.write_text("".join(jsonio.dumps(r, indent=None) + "\n" for r in requests[:300]), encoding="utf-8")
    for engine in ("spark", "duckdb"):
        code = main(["batch", "--bundle", str(bundle_file), "--input", str(src), "--output",
                     str(tmp_path / f"{engine}.jsonl"), "--engine", engine, "--date", DAY])
        assert code == 0, capsys.readouterr().err
    assert (tmp_path / "spark.jsonl").read_bytes() == (tmp_path / "duckdb.jsonl").read_bytes()
    assert (tmp_path / "spark.rejects.jsonl").read_bytes() == (tmp_path / "duckdb.rejects.jsonl").read_bytes()
    assert "拒绝 2 行" in capsys.readouterr().err
