"""Compiler benchmark: building the whole tree (1 province, 11 cities, 121 county-level divisions) and resolving
one locality's parameters.

    python benchmarks/bench_build.py
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policyc.compiler import compile_policy  # noqa: E402
from policyc.diagnostics import Reporter  # noqa: E402
from policyc.emit.outputs import outputs  # noqa: E402
from policyc.runtime import Evaluator  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    policy = ROOT / "policies" / "shanxi"
    compile_s, c = timed(lambda: compile_policy(policy, Reporter()), 5)
    build_s, files = timed(lambda: outputs(compile_policy(policy, Reporter()), ROOT / "generated"), 5)
    ev = Evaluator.from_file(ROOT / "generated" / "shanxi.bundle.json")
    codes = [j["code"] for j in ev.bundle["jurisdictions"]]

    def resolve_all():
        ev._cache.clear()
        for code in codes:
            ev.params_at(code, dt.date(2024, 7, 1))

    all_s, _ = timed(resolve_all, 20)
    day = dt.date(2024, 7, 1)

    def resolve_one():
        ev._cache.clear()
        ev.params_at("140105", day)

    one_s, _ = timed(resolve_one, 2000)
    print(json.dumps({
        "localities": len(codes),
        "parameters": len(ev.params),
        "compile_ms_median": round(compile_s * 1000, 1),
        "full_build_ms_median": round(build_s * 1000, 1),
        "output_files": len(files),
        "resolve_one_locality_us_median": round(one_s * 1e6, 1),
        "resolve_all_localities_ms_median": round(all_s * 1000, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
