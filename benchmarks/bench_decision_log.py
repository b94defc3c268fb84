"""Decision-log benchmark: how many entries per second `DecisionLog.record` commits, per backend and batch size,
and what `AsyncLogWriter` sustains with many concurrent submitters (group commit).

    python benchmarks/bench_decision_log.py [--entries 2000] [--postgres postgresql://…]

Entries are real: the sample household (examples/household.json) evaluated with the committed bundle, so each entry
carries the full decision with its trace (~22 KB of JSON), the masked request and the summary columns. SQLite runs
in a temporary directory (WAL, synchronous=NORMAL); PostgreSQL in a fresh schema that is dropped afterwards (give
the URL with --postgres or POLICYC_TEST_POSTGRES; `.ci/postgres.sh` starts a local server).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policyc.runtime import Evaluator, jsonio  # noqa: E402
from policyc.serve.decisionlog import AsyncLogWriter, new_decision_id, open_log  # noqa: E402
from policyc.serve.decisionlog.rows import to_row  # noqa: E402


def entries(log, ev, request, decision, n):
    return [log.make_entry(decision_id=new_decision_id(), request=request, decision=decision, bundle=ev.bundle)
            for _ in range(n)]


def bench_record(log, made, batch):
    t = time.perf_counter()
    for i in range(0, len(made), batch):
        log.record(made[i:i + batch])
    return len(made) / (time.perf_counter() - t)


def bench_async(log, made, concurrency, max_batch=64):
    async def run():
        writer = AsyncLogWriter(log, max_batch=max_batch)
        writer.start()
        queue = list(made)

        async def client():
            while queue:
                await writer.submit(queue.pop())

        t = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t
        await writer.close()
        return len(made) / elapsed, writer.entries / max(writer.batches, 1)

    return asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--postgres", default=os.environ.get("POLICYC_TEST_POSTGRES"))
    args = ap.parse_args()
    ev = Evaluator.from_file(ROOT / "generated" / "shanxi.bundle.json")
    request = jsonio.loads((ROOT / "examples" / "household.json").read_text(encoding="utf-8"))
    decision = ev.evaluate(request)
    targets = []
    tmp = tempfile.TemporaryDirectory()
    targets.append(("SQLite", f"sqlite:///{tmp.name}/bench.db", None))
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        targets.append(("PostgreSQL", f"{args.postgres}{'&' if '?' in args.postgres else '?'}schema={schema}", schema))
    n = args.entries
    t = time.perf_counter()
    probe = open_log(targets[0][1])
    made = entries(probe, ev, request, decision, 200)
    per_entry = (time.perf_counter() - t) / 200
    probe.close()
    size = len(to_row(made[0]).entry.encode("utf-8"))
    print(f"make_entry (mask, identifier scan, hash): {per_entry * 1e6:.0f} µs per entry; entry JSON {size / 1024:.1f} KB")
    for name, url, schema in targets:
        log = open_log(url)
        try:
            for batch in (1, 64):
                rate = bench_record(log, entries(log, ev, request, decision, n if batch > 1 else n // 2), batch)
                print(f"{name:10} record, batch {batch:3}: {rate:8.0f} entries/s")
            for conc in (1, 64):
                rate, mean_batch = bench_async(log, entries(log, ev, request, decision, n), conc)
                print(f"{name:10} AsyncLogWriter, {conc:3} concurrent submitters: {rate:8.0f} entries/s "
                      f"(mean batch {mean_batch:.1f})")
        finally:
            log.close()
            if schema:
                import psycopg
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
