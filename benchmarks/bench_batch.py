"""Population runs side by side in one run (issue 12): households/s and peak memory of the DuckDB engine
(`policyc.batch.engine.Engine`, and the `policyc batch` CLI end to end when it exists), the Python loop
(`Evaluator.evaluate`), OpenFisca on the same 低保 rules (benchmarks/openfisca_dibao/, in its own venv) and a
hand-written Decimal loop (benchmarks/dibao_baseline.py), on the same synthetic households.

    .venv/bin/python benchmarks/bench_batch.py                       # 100k and 1M households, then 10M streamed
    .venv/bin/python benchmarks/bench_batch.py --sizes 1000000 --copies-of 100000   # 1M as 10 copies of 100k
    .venv/bin/python benchmarks/bench_batch.py --sizes 20000 --stream 0   # quick

OpenFisca runs with openfisca-core 46 in a separate venv (not a project dependency):
    python3.11 -m venv /tmp/ofvenv && /tmp/ofvenv/bin/pip install "openfisca-core==46.*"

Every engine runs in a child process of its own, under /usr/bin/time for its own peak RSS. The population
(`policyc.review.synthetic.synthetic_population`, generated in slices of 100,000 with seeds seed, seed+1, … so
memory stays bounded) is cached under /tmp/policyc-bench/ as JSONL and Parquet (`_row`, `id`, `j` = the request's
JSON text), plus the typed nested Parquet of `policyc synthetic`. The Python-side engines are timed from parsed
requests (JSON parsing reported apart); DuckDB from JSON text (`Engine.decide`) or typed Arrow chunks
(`Engine.decide_arrow`), after one warm-up chunk of 1,000 rows reported apart; the CLI end to end (wall time of the
process). Results: a table on stdout and JSON (--out)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BUNDLE = ROOT / "generated" / "shanxi.bundle.json"
CACHE = Path("/tmp/policyc-bench")
OFVENV = Path(os.environ.get("OFVENV", "/tmp/ofvenv"))
SLICE = 100_000
CHUNK = 122_880
ENGINES = ("duckdb-json", "duckdb-arrow", "duckdb-dibao", "cli-parquet", "cli-jsonl", "python", "baseline",
           "openfisca")
LARGE = ("duckdb-arrow", "duckdb-dibao", "cli-parquet", "baseline", "openfisca")  # the slow lanes run at 100k only


# ── the population ───────────────────────────────────────────────────────────────────────
def population(n: int, seed: int, day: str, copies_of: int = 0) -> Path:
    """The cached population directory for (n, seed, date): requests.jsonl and requests.parquet. With
    `copies_of` (a smaller size dividing n), n // copies_of copies of that population with new ids instead."""
    if copies_of and copies_of < n:
        return _copies(population(copies_of, seed, day), n, copies_of)
    out = CACHE / f"n{n}-s{seed}-{day}"
    if (out / "done").exists():
        return out
    import pyarrow as pa
    import pyarrow.parquet as pq

    from policyc.review.impact import ANCHORS
    from policyc.review.synthetic import synthetic_population
    from policyc.runtime import jsonio
    from policyc.runtime.evaluator import Evaluator
    ev = Evaluator.from_file(str(BUNDLE))
    date = dt.date.fromisoformat(day)

    def anchors(code):
        return {a: ev.params_at(code, date)[0][pid] for a, pid in ANCHORS.items()}

    out.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("_row", pa.int64()), ("id", pa.string()), ("j", pa.string())])
    t0 = time.time()
    with open(out / "requests.jsonl", "w") as jl, pq.ParquetWriter(out / "requests.parquet", schema) as pw:
        for start in range(0, n, SLICE):
            size = min(SLICE, n - start)
            pop = synthetic_population(size, seed + start // SLICE, jurisdictions=ev.bundle["jurisdictions"],
                                       modules=[ev.module], anchors=anchors, date=day)
            ids = [f"h{start + i}" for i in range(size)]
            texts = [jsonio.dumps(dict(h.request, date=day, id=i), indent=None)
                     for i, h in zip(ids, pop.households)]
            jl.write("\n".join(texts) + "\n")
            pw.write_table(pa.table({"_row": pa.array(range(start, start + size), pa.int64()), "id": ids,
                                     "j": texts}, schema=schema), row_group_size=CHUNK)
            print(f"  generated {start + size:,} of {n:,} households ({time.time() - t0:.0f} s)", file=sys.stderr)
    (out / "done").write_text(json.dumps({"n": n, "seed": seed, "date": day, "seconds": time.time() - t0}))
    return out


def _copies(src: Path, n: int, m: int) -> Path:
    """n // m copies of the population in src (m households), ids "r<k>-h<i>" (k >= 1), rows numbered on."""
    out = src.parent / f"{src.name}-copies-n{n}"
    if (out / "done").exists():
        return out
    out.mkdir(exist_ok=True)
    with open(out / "requests.jsonl", "w") as w:
        for k in range(n // m):
            with open(src / "requests.jsonl") as f:
                w.writelines(f if k == 0 else (line.replace('"id":"h', f'"id":"r{k}-h') for line in f))
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    f = pq.ParquetFile(src / "requests.parquet")
    with pq.ParquetWriter(out / "requests.parquet", f.schema_arrow) as w:
        for k in range(n // m):
            for batch in f.iter_batches(batch_size=CHUNK):
                t = pa.Table.from_batches([batch])
                if k:
                    t = pa.table({"_row": pc.add(t.column("_row"), k * m),
                                  "id": pc.binary_join_element_wise(f"r{k}", t.column("id"), "-"),
                                  "j": pc.replace_substring(t.column("j"), '"id":"h', f'"id":"r{k}-h')},
                                 schema=f.schema_arrow)
                w.write_table(t, row_group_size=CHUNK)
    (out / "done").write_text(json.dumps({"n": n, "copies_of": str(src)}))
    return out


def typed_parquet(data: Path) -> Path:
    """The population as typed, nested Parquet (the columns `policyc synthetic` writes: id, locality, date and one
    column per input, money DECIMAL(18,2)), for `Engine.decide_arrow` and `policyc batch --input X.parquet`."""
    out = data / "requests.typed.parquet"
    if not out.exists():
        from policyc.batch.synthetic import _to_parquet
        from policyc.runtime.evaluator import Evaluator
        _to_parquet(Evaluator.from_file(str(BUNDLE)).module, data / "requests.jsonl", out)
    return out


def replicate(src: Path, n: int, times: int) -> Path:
    """src's typed Parquet repeated `times` times with new ids (for the 10M streaming run), one row group at a
    time (a DuckDB UNION ALL of the copies held ~16 GB)."""
    out = src.parent / f"{src.name}-x{times}.parquet"
    if out.exists():
        return out
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    f = pq.ParquetFile(typed_parquet(src))
    with pq.ParquetWriter(f"{out}.tmp", f.schema_arrow, compression="zstd") as w:
        for k in range(times):
            for batch in f.iter_batches(batch_size=CHUNK):
                t = pa.Table.from_batches([batch])
                ids = pc.binary_join_element_wise(f"r{k}", t.column("id"), "-")
                w.write_table(t.set_column(t.schema.get_field_index("id"), "id", ids))
    os.replace(f"{out}.tmp", out)
    return out


# ── workers: one engine in one process ─────────────────────────────────────────────────────
def _requests(data: Path, n: int):
    from policyc.runtime import jsonio
    with open(data / "requests.jsonl") as f:
        for k, line in enumerate(f):
            if k >= n:
                return
            yield jsonio.loads(line)


def work_duckdb(data: Path, n: int, programs: list[str], typed: bool) -> dict:
    """Engine.decide on chunks of JSON text, or (typed) Engine.decide_arrow on chunks of the typed Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from policyc.batch.engine import Engine
    from policyc.runtime.evaluator import Evaluator
    t0 = time.perf_counter()
    ev = Evaluator.from_file(str(BUNDLE))
    eng = Engine(ev, programs=programs)
    setup = time.perf_counter() - t0
    decide = 0.0
    rows = 0
    t1 = time.perf_counter()
    warm = None
    if typed:
        batches = pq.ParquetFile(typed_parquet(data)).iter_batches(batch_size=CHUNK)
    else:
        batches = pq.ParquetFile(data / "requests.parquet").iter_batches(batch_size=CHUNK, columns=["_row", "j"])
    for batch in batches:
        if rows >= n:
            break
        chunk = pa.Table.from_batches([batch]).slice(0, n - rows)
        if warm is None:  # one small chunk first: the first call imports and prepares (pandas, …), reported apart
            t = time.perf_counter()
            head = chunk.slice(0, 1000)
            if typed:
                eng.decide_arrow(head.append_column("_row", pa.array(range(head.num_rows), pa.int64())))
            else:
                eng.decide(head)
            warm = time.perf_counter() - t
            eng.counts = dict.fromkeys(eng.counts, 0)
        t = time.perf_counter()
        if typed:
            chunk = chunk.append_column("_row", pa.array(range(rows, rows + chunk.num_rows), pa.int64()))
            out, rejects = eng.decide_arrow(chunk)
        else:
            out, rejects = eng.decide(chunk)
        decide += time.perf_counter() - t
        rows += chunk.num_rows
        assert out.num_rows + len(rejects) == chunk.num_rows
    total = time.perf_counter() - t1
    return {"n": rows, "seconds": decide, "seconds_with_read": total - warm, "setup_seconds": setup,
            "warmup_seconds": warm,
            "counts": eng.counts, "sql_error": eng.sql_error, "typed": typed}


def work_python(data: Path, n: int, compare: bool) -> dict:
    """Evaluator.evaluate(..., programs=["dibao"]) per request; with `compare`, the baseline on the same request
    and the agreement of (eligible, monthly_amount)."""
    import dibao_baseline as base

    from policyc.runtime.evaluator import Evaluator
    ev = Evaluator.from_file(str(BUNDLE))
    spent, parse, rows, agree, differ, examples = 0.0, 0.0, 0, 0, 0, []
    params = {}
    t = time.perf_counter()
    for request in _requests(data, n):
        t1 = time.perf_counter()
        parse += t1 - t
        request.pop("id")
        d = ev.evaluate(request, programs=["dibao"])["programs"]["dibao"]
        t = time.perf_counter()
        spent += t - t1
        rows += 1
        if compare:
            key = (request["locality"], request["date"])
            if key not in params:
                params[key] = ev.params_at(key[0], dt.date.fromisoformat(key[1]))[0]
            got = base.decide(request, params[key], dt.date.fromisoformat(key[1]))
            want = (d["eligible"], d["monthly_amount"])
            if got == want or not got[0] and not want[0] and got[1] == 0 == (want[1] or 0):
                agree += 1
            else:
                differ += 1
                if len(examples) < 5:
                    examples.append({"row": rows - 1, "baseline": [got[0], str(got[1])],
                                     "evaluate": [want[0], str(want[1])]})
            t = time.perf_counter()
    out = {"n": rows, "seconds": spent, "parse_seconds": parse}
    if compare:
        out["agreement"] = {"agree": agree, "differ": differ, "examples": examples}
    return out


def work_baseline(data: Path, n: int) -> dict:
    import dibao_baseline as base

    from policyc.runtime.evaluator import Evaluator
    ev = Evaluator.from_file(str(BUNDLE))
    spent, parse, rows, eligible, total = 0.0, 0.0, 0, 0, 0
    params, results = {}, []
    t = time.perf_counter()
    for request in _requests(data, n):
        t1 = time.perf_counter()
        parse += t1 - t
        key = (request["locality"], request["date"])
        p = params.get(key)
        if p is None:
            p = params[key] = ev.params_at(key[0], dt.date.fromisoformat(key[1]))[0]
        ok, amount, how, tekun = base.route(request, p, dt.date.fromisoformat(key[1]))
        eligible += ok
        total += amount
        rows += 1
        t = time.perf_counter()
        spent += t - t1
        results.append((ok, amount, how in ("household", "none") and not tekun))
    with open(data / f"baseline-{n}.dump", "w") as f:  # the third field: decided by rules OpenFisca encodes
        f.writelines(f"[{str(a).lower()}, {b}, {str(c).lower()}]\n" for a, b, c in results)
    return {"n": rows, "seconds": spent, "parse_seconds": parse, "eligible": eligible, "monthly_total": str(total)}


WORKERS = {"duckdb-json": lambda d, n: work_duckdb(d, n, ["dibao", "tekun"], typed=False),
           "duckdb-arrow": lambda d, n: work_duckdb(d, n, ["dibao", "tekun"], typed=True),
           "duckdb-dibao": lambda d, n: work_duckdb(d, n, ["dibao"], typed=True),
           "python": lambda d, n: work_python(d, n, compare=True),
           "python-only": lambda d, n: work_python(d, n, compare=False),
           "baseline": work_baseline}


# ── the parent: run each worker as a child, with its own peak RSS ─────────────────────────
def child(cmd: list[str], env=None) -> tuple[dict | None, float, int, str, int]:
    """Runs cmd under /usr/bin/time (GNU time) for its peak RSS: Linux carries a parent's peak RSS into a child's
    ru_maxrss through fork and exec, so this process's own wait4 would report at least our own peak."""
    t = time.perf_counter()
    rss_file = CACHE / f".rss.{os.getpid()}"
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] + cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    try:
        rss = int(rss_file.read_text().split()[-1]) * 1024
    except (OSError, ValueError, IndexError):
        rss = 0
    rss_file.unlink(missing_ok=True)
    result = None
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    return result, wall, rss, err[-3000:], proc.returncode


def openfisca_params(data: Path, day: str) -> Path:
    """The parameters OpenFisca reads, per locality, as the bundle gives them on `day` (JSON)."""
    from policyc.review.synthetic import localities
    from policyc.runtime.evaluator import Evaluator
    out = data / "openfisca_params.json"
    ev = Evaluator.from_file(str(BUNDLE))
    keys = ("dibao.standard.urban", "dibao.standard.rural", "dibao.amount_method", "dibao.tiers",
            "dibao.rounding", "dibao.employment_cost.rate", "dibao.employment_cost.cap",
            "recheck.significant_income_change")
    table = {}
    for j in localities(ev.bundle["jurisdictions"]):
        values = ev.params_at(j["code"], dt.date.fromisoformat(day))[0]
        table[j["code"]] = {k: ([[str(b), str(v)] for b, v in values[k]] if k == "dibao.tiers" else str(values[k]))
                            for k in keys}
    out.write_text(json.dumps(table, ensure_ascii=False))
    return out


def cli_available() -> bool:
    exe = ROOT / ".venv" / "bin" / "policyc"
    try:
        r = subprocess.run([str(exe), "batch", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def cli_cmd(inp: Path, out: Path, programs: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "policyc"), "batch", "--bundle", str(BUNDLE), "--input", str(inp),
            "--output", str(out), "--rejects", str(out) + ".rejects.jsonl", "--programs", programs]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--copies-of", type=int, default=0, metavar="M",
                    help="make larger populations of copies of the M-household one (new ids) instead of generating")
    ap.add_argument("--date", default="2024-07-01")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--large-engines", default=",".join(LARGE), help="engines run on populations of 500,000 or more")
    ap.add_argument("--python-limit", type=int, default=100_000,
                    help="households the Python loop evaluates at most (it runs ~10³/s; rate measured on these)")
    ap.add_argument("--stream", type=int, default=10, help="stream the largest population this many times over "
                    "through `policyc batch` (peak memory of a 10M run); 0: skip")
    ap.add_argument("--out", default=str(CACHE / "bench_batch.json"))
    ap.add_argument("--worker")
    ap.add_argument("--data")
    ap.add_argument("--n", type=int)
    args = ap.parse_args(argv)
    if args.worker:
        sys.path.insert(0, str(Path(__file__).parent))
        print(json.dumps(WORKERS[args.worker](Path(args.data), args.n)))
        return 0

    engines = [e for e in args.engines.split(",") if e]
    results = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "platform": platform.platform(), "loadavg_start": os.getloadavg()},
               "runs": []}
    me = [sys.executable, str(Path(__file__).resolve())]
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        data = population(n, args.seed, args.date, args.copies_of)
        typed_parquet(data)  # here, so that no engine's time or peak memory includes the conversion
        for engine in (engines if n < 500_000 else [e for e in args.large_engines.split(",") if e]):
            runs = _run_engine(engine, data, n, args, me)
            for r in runs:
                r.update(engine=r.get("engine", engine), households=n, loadavg=os.getloadavg())
                results["runs"].append(r)
                _print_run(r)
    if args.stream and cli_available():
        n = sizes[-1]
        big = replicate(population(n, args.seed, args.date, args.copies_of), n, args.stream)
        print(f"  streaming {big} ({n * args.stream:,} households) through policyc batch", file=sys.stderr)
        outp = CACHE / "stream-out.parquet"
        res, wall, rss, err, rc = child(cli_cmd(big, outp, "dibao,tekun"))
        r = {"engine": "cli-stream", "households": n * args.stream, "wall_seconds": wall, "peak_rss": rss,
             "returncode": rc, "stderr_tail": err[-1500:], "loadavg": os.getloadavg()}
        r["rate"] = r["households"] / wall if rc == 0 else None
        results["runs"].append(r)
        _print_run(r)
        outp.unlink(missing_ok=True)
        Path(str(outp) + ".rejects.jsonl").unlink(missing_ok=True)
    results["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results["ratios"] = ratios(results["runs"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(table(results))
    print(f"JSON: {args.out}")
    return 0


def _run_engine(engine: str, data: Path, n: int, args, me: list[str]) -> list[dict]:
    if engine in WORKERS:
        limit = min(n, args.python_limit) if engine == "python" else n
        res, wall, rss, err, rc = child(me + ["--worker", engine, "--data", str(data), "--n", str(limit)])
        if res is None:
            return [{"error": err, "returncode": rc}]
        res.update(wall_seconds=wall, peak_rss=rss, rate=res["n"] / res["seconds"])
        return [res]
    if engine == "openfisca":
        py = OFVENV / "bin" / "python"
        if not py.exists():
            return [{"error": f"no {py}: python3.11 -m venv {OFVENV} && {OFVENV}/bin/pip install 'openfisca-core==46.*'"}]
        params = openfisca_params(data, args.date)
        script = Path(__file__).parent / "openfisca_dibao" / "run.py"
        dump = data / f"openfisca-{n}.dump"
        res, wall, rss, err, rc = child([str(py), str(script), "--input", str(data / "requests.jsonl"), "--n", str(n),
                                         "--params", str(params), "--date", args.date, "--dump", str(dump)])
        if res is None:
            return [{"error": err, "returncode": rc}]
        res.update(wall_seconds=wall, peak_rss=rss, rate=res["n"] / res["seconds"])
        if (data / f"baseline-{n}.dump").exists():
            res["agreement_with_baseline"] = compare_dumps(data / f"baseline-{n}.dump", dump)
        return [res]
    if engine.startswith("cli-"):
        if not cli_available():
            return [{"error": "policyc batch is not available in this checkout"}]
        out = []
        for fmt in (engine[4:],):
            inp = typed_parquet(data) if fmt == "parquet" else data / "requests.jsonl"
            outp = CACHE / f"cli-out-{n}.{fmt}"
            res, wall, rss, err, rc = child(cli_cmd(inp, outp, "dibao,tekun"))
            r = {"engine": f"cli-{fmt}", "n": n, "wall_seconds": wall, "peak_rss": rss, "returncode": rc,
                 "stderr_tail": err[-1500:], "rate": n / wall if rc == 0 else None}
            if rc == 0:
                r["output_rows"] = _count_rows(outp, fmt)
                r["reject_rows"] = _count_rows(Path(str(outp) + ".rejects.jsonl"), "jsonl")
            outp.unlink(missing_ok=True)
            Path(str(outp) + ".rejects.jsonl").unlink(missing_ok=True)
            out.append(r)
        return out
    raise SystemExit(f"unknown engine {engine}")


def compare_dumps(a: Path, b: Path) -> dict:
    """Rows where (eligible, amount to the fen) agree, of two dumps written one pair a line."""
    from decimal import Decimal
    agree = differ = encoded = encoded_agree = 0
    examples = []
    with open(a) as fa, open(b) as fb:
        for row, (x, y) in enumerate(zip(fa, fb)):
            (e1, m1, core), (e2, m2) = json.loads(x), json.loads(y)
            m1, m2 = Decimal(str(m1)).quantize(Decimal("0.01")), Decimal(str(m2)).quantize(Decimal("0.01"))
            same = e1 == e2 and m1 == m2
            agree += same
            differ += not same
            encoded += core
            encoded_agree += core and same
            if not same and core and len(examples) < 3:
                examples.append({"row": row, "baseline": [e1, str(m1)], "openfisca": [e2, str(m2)]})
    return {"agree": agree, "differ": differ, "encoded_rows": encoded, "encoded_agree": encoded_agree,
            "examples_encoded": examples}


def _count_rows(path: Path, fmt: str) -> int | None:
    if not path.exists():
        return 0
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def ratios(runs: list[dict]) -> dict:
    """Rates relative to the baselines of the same run, per population size."""
    out = {}
    for n in sorted({r["households"] for r in runs if r.get("rate")}):
        by = {r["engine"]: r["rate"] for r in runs if r["households"] == n and r.get("rate")}
        row = {}
        for a, b in (("duckdb-arrow", "openfisca"), ("duckdb-json", "openfisca"), ("duckdb-dibao", "openfisca"),
                     ("cli-parquet", "openfisca"), ("cli-jsonl", "openfisca"), ("duckdb-arrow", "python"),
                     ("duckdb-dibao", "python"), ("duckdb-dibao", "baseline"), ("openfisca", "python"),
                     ("baseline", "python")):
            if a in by and b in by:
                row[f"{a}/{b}"] = round(by[a] / by[b], 2)
        out[str(n)] = row
    return out


def _print_run(r: dict) -> None:
    if "error" in r:
        print(f"{r.get('engine')}: {r['error'][-600:]}", file=sys.stderr)
        return
    print(f"  {r['engine']:<13} {r['households']:>10,}  {r.get('rate') or 0:>12,.0f}/s  "
          f"peak {r.get('peak_rss', 0) / 2**20:>7,.0f} MiB  load {r['loadavg'][0]:.2f}", file=sys.stderr)


def table(results: dict) -> str:
    lines = ["| engine | households | households/s | seconds | peak RSS | note |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    for r in results["runs"]:
        if "error" in r:
            lines.append(f"| {r.get('engine')} | {r.get('households', 0):,} | — | — | — | {r['error'][:80]} |")
            continue
        secs = r.get("seconds", r.get("wall_seconds"))
        note = []
        if "counts" in r:
            note.append("sql/python/rejected " + "/".join(str(v) for v in r["counts"].values()))
        if "agreement" in r:
            a = r["agreement"]
            note.append(f"baseline agrees {a['agree']:,}/{a['agree'] + a['differ']:,}")
        if "agreement_with_baseline" in r:
            a = r["agreement_with_baseline"]
            note.append(f"agrees with baseline {a['agree']:,}/{a['agree'] + a['differ']:,}, on the rows its rules "
                        f"cover {a['encoded_agree']:,}/{a['encoded_rows']:,}")
        if r.get("n") and r["n"] != r["households"]:
            note.append(f"on the first {r['n']:,}")
        if "output_rows" in r:
            note.append(f"out {r['output_rows']:,} + rejects {r['reject_rows']:,}")
        if r.get("returncode"):
            note.append(f"exit {r['returncode']}")
        lines.append(f"| {r['engine']} | {r['households']:,} | {r.get('rate') or 0:,.0f} | {secs:,.1f} | "
                     f"{r.get('peak_rss', 0) / 2**20:,.0f} MiB | {'; '.join(note)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
