"""Runs the OpenFisca 低保 model (system.py) over a JSONL file of policyc requests, in chunks, and prints one JSON
line: households, seconds spent building simulations (from the parsed requests) and calculating, JSON parse time
apart, the eligible count and monthly total. Run with the benchmark venv's Python (see bench_batch.py):

    /tmp/ofvenv/bin/python benchmarks/openfisca_dibao/run.py --input F.jsonl --params P.json --date 2024-07-01
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from openfisca_core.simulations import SimulationBuilder

sys.path.insert(0, str(Path(__file__).parent))
from system import build_system  # noqa: E402


def simulate(system, requests: list[dict], period: str):
    """(eligible, amount) arrays for parsed requests: entities and inputs built from the dicts, then calculated."""
    pids, hh_of, m_income, e_income = [], [], [], []
    loc, urban, assets, receiving, assisted, has_det, det_income, det_size = ([] for _ in range(8))
    for h, r in enumerate(requests):
        hh = r["household"]
        for m in hh["members"]:
            hh_of.append(h)
            m_income.append(m["monthly_income"])
            e_income.append(m["earned_income"])
        rec = hh.get("receiving_dibao")
        loc.append("l" + r["locality"])
        urban.append(hh["area"] == "urban")
        assets.append(hh["assets_within_limit"])
        receiving.append(rec is not None)
        assisted.append(hh["employment_assisted"])
        ok = rec is not None and rec["determined_income"] is not None and rec["determined_size"] is not None
        has_det.append(ok)
        det_income.append(rec["determined_income"] if ok else 0.0)
        det_size.append(rec["determined_size"] if ok else 0)
    pids = np.arange(len(hh_of))
    sb = SimulationBuilder()
    sb.create_entities(system)
    sb.declare_person_entity("person", pids)
    households = sb.declare_entity("household", np.arange(len(requests)))
    sb.join_with_persons(households, np.array(hh_of), np.zeros(len(hh_of), dtype=np.int64))
    sim = sb.build(system)
    locality = system.Locality.encode(np.array(loc))
    for name, values in (("monthly_income", m_income), ("earned_income", e_income), ("urban", urban),
                         ("assets_ok", assets), ("receiving", receiving), ("employment_assisted", assisted),
                         ("has_determined", has_det), ("determined_income", det_income),
                         ("determined_size", det_size)):
        sim.set_input(name, period, np.array(values))
    sim.set_input("locality", period, locality)
    return sim.calculate("eligible", period), sim.calculate("amount", period)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--params", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--dump", help="write (eligible, amount) per household, one JSON pair a line")
    args = ap.parse_args()
    t = time.perf_counter()
    system = build_system(json.loads(Path(args.params).read_text()))
    setup = time.perf_counter() - t
    period = args.date[:7]
    spent = parse = 0.0
    n = eligible = 0
    chunk_seconds = []  # one per chunk: with --chunk 1, the cost of one household's simulation
    total = 0.0
    dump = open(args.dump, "w") if args.dump else None
    with open(args.input) as f:
        while args.n is None or n < args.n:
            t = time.perf_counter()
            batch = []
            for line in f:
                batch.append(json.loads(line))
                if len(batch) >= args.chunk or args.n is not None and n + len(batch) >= args.n:
                    break
            if not batch:
                break
            t1 = time.perf_counter()
            parse += t1 - t
            ok, amount = simulate(system, batch, period)
            chunk_seconds.append(time.perf_counter() - t1)
            spent += chunk_seconds[-1]
            n += len(batch)
            eligible += int(ok.sum())
            total += float(amount.sum())
            if dump:
                dump.writelines(f"[{str(bool(a)).lower()}, {b:.2f}]\n" for a, b in zip(ok, amount))
    if dump:
        dump.close()
    chunk_seconds.sort()
    print(json.dumps({"n": n, "seconds": spent, "parse_seconds": parse, "setup_seconds": setup,
                      "eligible": eligible, "monthly_total": round(total, 2),
                      "chunk_p50_seconds": chunk_seconds[len(chunk_seconds) // 2] if chunk_seconds else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
