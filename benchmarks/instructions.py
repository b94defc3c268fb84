"""Instructions per evaluation, counted by valgrind's callgrind: repeatable on a machine whose speed varies.

    python benchmarks/instructions.py [--households 1500]

Runs the same script twice under callgrind, evaluating 0 and N synthetic households (those of bench_runtime.py),
and prints the difference divided by N. Needs valgrind (Debian package `valgrind`).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKLOAD = """
import os, sys
sys.path.insert(0, {bench!r}); sys.path.insert(0, {root!r})
from bench_runtime import synthetic_households
from policyc.runtime import Evaluator
ev = Evaluator.from_file({bundle!r})
households = synthetic_households({n}, [j["code"] for j in ev.bundle["jurisdictions"]])
for h in households[:int(os.environ["POLICYC_EVALS"])]:
    ev.{method}(h{programs})
"""


def count(script: str, evals: int) -> int:
    env = dict(os.environ, POLICYC_EVALS=str(evals), PYTHONHASHSEED="0")
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c",
                           script], capture_output=True, text=True, env=env, check=True)
    return int(re.search(r"Collected : (\d+)", proc.stderr).group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=1500)
    ap.add_argument("--bundle", default=str(ROOT / "generated" / "shanxi.bundle.json"))
    args = ap.parse_args()
    for method, programs in (("evaluate", None), ("evaluate", ("dibao",)), ("evaluate_json", None)):
        script = WORKLOAD.format(bench=str(ROOT / "benchmarks"), root=str(ROOT), bundle=args.bundle,
                                 n=args.households, method=method,
                                 programs="" if programs is None else f", programs={programs!r}")
        base, full = count(script, 0), count(script, args.households)
        label = method + ("" if programs is None else f" (programs={','.join(programs)})")
        print(f"{label}: {(full - base) // args.households:,} instructions per household")


if __name__ == "__main__":
    main()
