"""The long fuzz run: the kinds of tests/fuzzkit.py, drawn from a seed, until N inputs have run; prints the tally
per kind (and every broken contract with how to replay it) as Markdown for docs/fuzz.md.

    .venv/bin/python tools/fuzz.py --inputs 100000 --seed 1 [--workers 2] [--out tally.md]

Exit status: 0 when nothing broke, 1 otherwise. CI runs a bounded slice of the same kinds (tests/test_fuzz.py)."""
from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import fuzzkit  # noqa: E402

# Shares of the inputs: the cheap kinds (a request is ~10 ms) carry the volume, the expensive ones (a policy set
# compiles in ~2 s, a CLI run starts a process) get enough to reach every command and every mutation.
SHARES = {"request": 0.80, "request_text": 0.12, "source_text": 0.06, "bundle": 0.003, "policy_set": 0.0008,
          "cli_agrees": 0.0025, "cli_env": 0.0025, "build_kill": 0.0002}


def _plan(total: int) -> dict[str, int]:
    plan = {k: max(1, round(total * share)) for k, share in SHARES.items()}
    plan["request"] += total - sum(plan.values())
    return plan


def _work(job):
    kind, count, seed = job
    ctx = fuzzkit.Context()
    rng = random.Random(f"{seed}-{kind}-{count}")
    tally, broken = Counter(), []
    started = time.monotonic()
    try:
        for i in range(count):
            state = rng.getstate()
            try:
                tally[ctx.run(kind, rng)] += 1
            except fuzzkit.Broken as err:
                tally["BROKEN"] += 1
                broken.append(f"{kind} #{i} (seed {seed}): {err}"[:3000])
            except Exception as err:  # noqa: BLE001 — a bug of the harness itself: reported, the run goes on
                tally["HARNESS"] += 1
                broken.append(f"{kind} #{i} (seed {seed}): harness error {type(err).__name__}: {err}"[:3000])
            else:
                continue
            rng.setstate(state)
            rng.random()  # move on from the input that broke
    finally:
        ctx.close()
    return kind, count, tally, broken, time.monotonic() - started


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    plan = _plan(args.inputs)
    jobs = []
    for kind, count in plan.items():  # split the big kinds so both workers stay busy
        parts = max(1, count // 5000)
        for p in range(parts):
            jobs.append((kind, count // parts + (1 if p < count % parts else 0), f"{args.seed}.{p}"))
    started = time.monotonic()
    results: dict[str, list] = {}
    with multiprocessing.Pool(args.workers) as pool:
        for kind, count, tally, broken, seconds in pool.imap_unordered(_work, jobs):
            r = results.setdefault(kind, [0, Counter(), [], 0.0])
            r[0] += count
            r[1].update(tally)
            r[2] += broken
            r[3] += seconds
            print(f"{kind}: {r[0]}/{plan[kind]}", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started
    lines = [f"Seed {args.seed}, {args.inputs:,} inputs, {args.workers} workers, {elapsed / 60:.1f} min.", "",
             "| kind | inputs | outcomes | broken | CPU-s |", "| --- | ---: | --- | ---: | ---: |"]
    total_broken = 0
    for kind in SHARES:
        count, tally, broken, seconds = results[kind]
        total_broken += len(broken)
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.items()) if k not in ("BROKEN", "HARNESS"))
        lines.append(f"| {kind} | {count:,} | {outcomes} | {len(broken)} | {seconds:.0f} |")
    harness = sum(results[k][1]["HARNESS"] for k in SHARES)
    lines += ["", f"Broken contracts (tracebacks, hangs, undocumented exits, CLI ≠ API, mixed builds): "
              f"{total_broken - harness}; errors of the harness itself: {harness}"]
    for kind in SHARES:
        for b in results[kind][2][:20]:
            lines += ["", "```", b, "```"]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 1 if total_broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
