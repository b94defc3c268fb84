"""The cost of unknown facts: the same households complete (compiled evaluator) and with facts left out
(the interpreter of partial.py), measured in the same run and reported as a ratio.

    python benchmarks/bench_unknown.py [--households 2000] [--drop 1,3,10]

For each household, `--drop` facts chosen at random (seeded) among those the request gives are left out; the
household is then evaluated whole. Reports mean microseconds per household for the complete households and for
each number of facts left out, the ratio to the complete ones, and how often the 低保 decision stays decided.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_runtime import synthetic_households  # noqa: E402
from policyc.runtime import Evaluator  # noqa: E402


def facts(module, value: dict, fields, out: list) -> None:
    for f in fields:
        if f.id not in value:
            continue
        if f.presence == "unknown":
            out.append((value, f.id))
        t = f.type[4:] if f.type.startswith("opt:") else f.type
        v = value[f.id]
        if isinstance(v, dict) and t.startswith("record:"):
            facts(module, v, module.records[t[7:]].fields, out)
        elif isinstance(v, list) and t.startswith("list:record:"):
            for item in v:
                facts(module, item, module.records[t[12:]].fields, out)


def drop(module, request: dict, k: int, rng) -> dict:
    request = copy.deepcopy(request)
    found: list = []
    facts(module, request, module.inputs, found)
    for value, key in rng.sample(found, min(k, len(found))):
        value.pop(key, None)
    return request


def timed(ev, requests) -> float:
    best = float("inf")
    for _ in range(3):  # a shared machine: keep the best of three passes
        t0 = time.perf_counter()
        for r in requests:
            ev.evaluate(r)
        best = min(best, time.perf_counter() - t0)
    return best / len(requests) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(ROOT / "generated" / "shanxi.bundle.json"))
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--drop", default="1,3,10")
    args = ap.parse_args()
    ev = Evaluator.from_file(args.bundle)
    households = synthetic_households(args.households, [j["code"] for j in ev.bundle["jurisdictions"]],
                                      module=ev.module)
    for h in households[:500]:
        ev.evaluate(h)
    complete = timed(ev, households)
    result = {"households": len(households), "complete_us": round(complete, 1), "dropped": {}}
    rng = random.Random(9)
    for k in (int(x) for x in args.drop.split(",")):
        partial = [drop(ev.module, h, k, rng) for h in households]
        us = timed(ev, partial)
        decided = sum(ev.evaluate(r)["programs"]["dibao"]["eligible"] is not None for r in partial)
        result["dropped"][k] = {"us": round(us, 1), "ratio_to_complete": round(us / complete, 1),
                                "dibao_eligibility_decided": round(decided / len(partial), 3)}
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
