"""One decision at a time (issue 13), side by side in one process on the same households: a hand-written Decimal
evaluator of the 低保 rules (benchmarks/dibao_baseline.py), `Evaluator.evaluate` for 低保 alone and for every
program with reasons, `Evaluator.evaluate_json`, and one-household OpenFisca (benchmarks/openfisca_dibao/, in its own
venv, as a subprocess). Reports p50/p99/mean per household and the ratios the issue names.

    .venv/bin/python benchmarks/bench_decision.py                   # 2,000 households, 5 rounds
    .venv/bin/python benchmarks/bench_decision.py --households 500 --rounds 3 --no-openfisca

Requests are parsed once (Decimal numbers), outside the timing; the baseline gets the parameter values of the
household's place and date looked up outside the timing too (the evaluator looks them up inside: a cached dict)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
BUNDLE = ROOT / "generated" / "shanxi.bundle.json"
OFVENV = Path(os.environ.get("OFVENV", "/tmp/ofvenv"))


def timed(fn, items, rounds: int) -> dict:
    """Per-call nanoseconds over `rounds` passes (after one warm-up pass): p50 and p99 of the median round."""
    for x in items:
        fn(x)
    per_round = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        ns = []
        for x in items:
            t = clock()
            fn(x)
            ns.append(clock() - t)
        ns.sort()
        per_round.append(ns)
    per_round.sort(key=lambda ns: ns[len(ns) // 2])
    ns = per_round[len(per_round) // 2]
    return {"p50_us": ns[len(ns) // 2] / 1000, "p99_us": ns[int(len(ns) * 0.99)] / 1000,
            "mean_us": statistics.fmean(ns) / 1000, "best_round_p50_us": per_round[0][len(ns) // 2] / 1000}


def openfisca(requests: list[dict], day: str, n: int) -> dict | None:
    python = OFVENV / "bin" / "python"
    if not python.exists():
        return None
    from bench_batch import openfisca_params
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with open(data / "requests.jsonl", "w") as f:
            for r in requests[:n]:
                f.write(json.dumps(r, default=str) + "\n")
        params = openfisca_params(data, day)
        proc = subprocess.run([str(python), str(ROOT / "benchmarks" / "openfisca_dibao" / "run.py"), "--input",
                               str(data / "requests.jsonl"), "--params", str(params), "--date", day, "--chunk", "1",
                               "--n", str(n)], capture_output=True, text=True, timeout=1800)
    line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith("{")), None)
    if line is None:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    got = json.loads(line)
    return {"p50_us": got["chunk_p50_seconds"] * 1e6, "mean_us": got["seconds"] / got["n"] * 1e6, "n": got["n"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--date", default="2024-07-01")
    ap.add_argument("--openfisca-households", type=int, default=300)
    ap.add_argument("--no-openfisca", action="store_true")
    ap.add_argument("--out", help="write the results as JSON")
    args = ap.parse_args(argv)

    import dibao_baseline
    from policyc.batch.synthetic import synthetic_requests
    from policyc.runtime import jsonio
    from policyc.runtime.evaluator import Evaluator
    ev = Evaluator.from_file(str(BUNDLE))
    requests = []
    for r in synthetic_requests(ev, args.households, args.seed, args.date):
        r.pop("id")
        requests.append(jsonio.loads(jsonio.dumps(r, indent=None)))
    day = dt.date.fromisoformat(args.date)
    with_params = [(r, ev.params_at(ev.resolve_locality(r["locality"])["code"], day)[0]) for r in requests]

    # the baseline agrees with the evaluator before anything is timed
    for r, p in with_params:
        want = dibao_baseline.decide(r, p, day)
        got = ev.evaluate(r, programs=["dibao"])["programs"]["dibao"]
        assert (got["eligible"], got["monthly_amount"] or 0) == (want[0], want[1] or 0), (r, got, want)

    results = {
        "baseline (低保, hand-written)": timed(lambda x: dibao_baseline.decide(x[0], x[1], day), with_params, args.rounds),
        "evaluate 低保": timed(lambda r: ev.evaluate(r, programs=["dibao"]), requests, args.rounds),
        "evaluate all programs, reasons": timed(ev.evaluate, requests, args.rounds),
        "evaluate_json all programs": timed(ev.evaluate_json, requests, args.rounds),
    }
    of = None if args.no_openfisca else openfisca(requests, args.date, min(args.openfisca_households, len(requests)))
    if of is not None:
        results["openfisca one household (低保)"] = of
    base = results["baseline (低保, hand-written)"]["p50_us"]
    ratios = {
        "evaluate 低保 / baseline (p50)": results["evaluate 低保"]["p50_us"] / base,
        "evaluate all / baseline (p50)": results["evaluate all programs, reasons"]["p50_us"] / base,
        "evaluate_json / evaluate (mean)": results["evaluate_json all programs"]["mean_us"]
        / results["evaluate all programs, reasons"]["mean_us"],
    }
    if of is not None:
        ratios["openfisca one household / evaluate all (p50)"] = of["p50_us"] / results[
            "evaluate all programs, reasons"]["p50_us"]
    load = os.getloadavg()[0]
    print(f"{len(requests)} households, {args.rounds} rounds, load {load:.2f}, "
          f"{platform.python_implementation()} {platform.python_version()}")
    print("| engine | p50 µs | p99 µs | mean µs |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in results.items():
        print(f"| {name} | {r['p50_us']:.1f} | {r.get('p99_us', float('nan')):.1f} | {r['mean_us']:.1f} |")
    for name, v in ratios.items():
        print(f"{name}: {v:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"results": results, "ratios": ratios, "load": load}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
