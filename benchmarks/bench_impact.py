"""Impact benchmark: `policyc impact` over a synthetic population, two versions, wall time per phase.

    python benchmarks/bench_impact.py [--households 10000] [--baseline] [--jobs 2]

The versions: the shipped policy set, and a copy (in a temporary directory) with the province's latest urban
低保 standard raised by 40 元, so that most programs change and are evaluated. Phases as `run_impact` reports them:
load (compile both versions and build their evaluators, one process each), population (the synthetic households,
generated in each process), evaluate (both versions over the population, the changed programs only), compare,
witnesses. `--baseline` also times the obvious hand-written way — compile both, generate, evaluate every
household with every program in one process, count 低保 gained/lost — for the ratio.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policyc.review.impact import run_impact  # noqa: E402
from policyc.review.synthetic import ANCHORS, synthetic_population  # noqa: E402
from policyc.review.versions import load_version  # noqa: E402

URBAN = "dibao.standard.urban"


def raised_copy(base_dir: Path, tmp: Path) -> Path:
    """A copy of the policy set with the province's latest urban standard raised by 40."""
    base = load_version(str(base_dir), base_dir)
    province = next(j["code"] for j in base.bundle["jurisdictions"] if j["parent"] is None)
    last = base.bundle["parameters"][URBAN]["timelines"][province][-1]
    root = tmp / "shanxi"
    shutil.copytree(base_dir, root)
    path = root / "parameters" / "dibao.yaml"
    text, n = re.subn(rf"(from: {last['from']}\s+value: ){last['value']}\b", rf"\g<1>{last['value'] + 40}",
                      path.read_text(encoding="utf-8"), count=1)
    assert n == 1, "the fixture no longer matches dibao.yaml"
    path.write_text(text, encoding="utf-8")
    return root


def baseline(base_dir: Path, head_dir: Path, n: int, day: str) -> dict:
    c0, t0 = time.process_time(), time.perf_counter()
    a, b = load_version(str(base_dir), base_dir), load_version(str(head_dir), head_dir)
    ea, eb = a.evaluator(), b.evaluator()
    t1 = time.perf_counter()
    d = dt.date.fromisoformat(day)
    pop = synthetic_population(n, 0, jurisdictions=a.bundle["jurisdictions"], modules=[ea.module, eb.module],
                               anchors=lambda c: {k: ea.params_at(c, d)[0][p] for k, p in ANCHORS.items()}, date=day)
    t2 = time.perf_counter()
    gained = lost = 0
    for h in pop.households:
        x, y = ea.evaluate(h.request)["programs"]["dibao"], eb.evaluate(h.request)["programs"]["dibao"]
        gained += x["eligible"] is False and y["eligible"] is True
        lost += x["eligible"] is True and y["eligible"] is False
    t3 = time.perf_counter()
    return {"load": t1 - t0, "population": t2 - t1, "evaluate": t3 - t2, "total": t3 - t0,
            "cpu": time.process_time() - c0, "gained": gained}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=10_000)
    ap.add_argument("--date", default="2024-07-01")
    ap.add_argument("--jobs", choices=("auto", "1", "2"), default="2")
    ap.add_argument("--baseline", action="store_true")
    args = ap.parse_args()
    base_dir = ROOT / "policies" / "shanxi"
    with tempfile.TemporaryDirectory(prefix="bench-impact-") as tmp:
        head_dir = raised_copy(base_dir, Path(tmp))
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.2f}")
        report = run_impact(partial(load_version, str(base_dir), base_dir),
                            partial(load_version, str(head_dir), base_dir), synthetic=args.households, seed=0,
                            date=args.date, processes="auto" if args.jobs == "auto" else args.jobs == "2")
        t = dict(report["timings"])
        cpu = t.pop("cpu")
        print(f"policyc impact, {args.households} households, 2 versions, wall: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
        for side, phases in cpu.items():
            print(f"  CPU in the {side} process: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items() if k != "stats"))
        evaluated = [p for p, c in report["programs"].items() if c["evaluated"]]
        print(f"  programs evaluated: {', '.join(evaluated)}; 低保 gained {report['programs']['dibao']['gained']}, "
              f"witnesses {len(report['witnesses'])}")
        if args.baseline:
            b = baseline(base_dir, head_dir, args.households, args.date)
            print("hand-written baseline (one process, every program), wall: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in b.items() if k != "gained")
                  + f"; 低保 gained {b['gained']}; ratio {b['total'] / t['total']:.2f}×")


if __name__ == "__main__":
    main()
