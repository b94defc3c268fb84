"""The columnar engine against the Python runtime, output by output, on synthetic households — complete ones (the
SQL lane decides them) and odd ones (unknown facts, names, invalid values: the Python lane or a reject). CI runs
a slice; the long run is `POLICYC_DIFF_HOUSEHOLDS=100000 pytest tests/test_batch_differential.py` (docs/batch.md)."""
from __future__ import annotations

import os

import pyarrow as pa
import pytest

from policyc.batch.engine import Engine
from policyc.runtime import jsonio
from policyc.runtime.errors import InputError

from batch_util import actual, assisted, expected, mutate, population, spread

N = int(os.environ.get("POLICYC_DIFF_HOUSEHOLDS", "2500"))
CHUNK = 50_000


def _chunks(requests):
    for start in range(0, len(requests), CHUNK):
        part = requests[start:start + CHUNK]
        yield pa.table({"_row": pa.array(range(start, start + len(part)), pa.int64()),
                        "j": [jsonio.dumps(r, indent=None) for r in part]})


def _compare(evaluator, requests, programs):
    engine = Engine(evaluator, programs=programs)
    assert engine.query is not None, engine.sql_error
    rows, rejects = {}, {}
    for chunk in _chunks(requests):
        table, bad = engine.decide(chunk)
        rows.update((r["row"], r) for r in table.to_pylist())
        rejects.update((r["row"], r) for r in bad)
    assert len(rows) + len(rejects) == len(requests)
    mismatches = []
    for i, request in enumerate(requests):
        try:
            want = expected(evaluator, request, programs)
        except InputError as err:
            assert i in rejects, f"row {i}: the runtime refuses it ({err}) but the batch decided it"
            assert rejects[i]["problems"] == err.problems
            continue
        assert i in rows, f"row {i}: the runtime decides it but the batch rejected it: {rejects.get(i)}"
        got = actual(rows[i])
        if got != want:
            mismatches.append((i, got, want))
    assert not mismatches, f"{len(mismatches)} rows differ; first: {mismatches[0]}"
    return engine.counts


@pytest.mark.parametrize("programs", [None, ["dibao", "tekun"]], ids=["all", "dibao+tekun"])
def test_sql_lane_equals_python_runtime(evaluator, programs):
    counts = _compare(evaluator, population(evaluator, N), programs)
    assert counts["sql"] >= 0.95 * N  # complete households are decided in SQL, not sent back to Python


def test_odd_rows_take_the_python_lane_or_are_rejected(evaluator):
    requests = mutate(population(evaluator, max(N // 2, 400), seed=5), evaluator, share=0.4)
    counts = _compare(evaluator, requests, None)
    assert counts["python"] > 0 and counts["rejected"] > 0 and counts["sql"] > 0


def test_other_dates_and_an_emergency(evaluator):
    requests = spread(population(evaluator, max(N // 2, 400), seed=9), evaluator)
    counts = _compare(evaluator, requests, None)
    assert counts["sql"] >= 0.9 * len(requests)


def test_decimals_beyond_the_fen_survive_until_rounding(evaluator):
    """Inputs have two decimals and computed values twenty: a value of each meeting in one expression (如果, 较小值,
    默认) must keep the twenty — SQL would otherwise settle on the inputs' two and round a deduction of 91.713 元."""
    requests = assisted(population(evaluator, max(N // 2, 600), seed=17), evaluator)
    counts = _compare(evaluator, requests, ["dibao"])
    assert counts["sql"] >= 0.9 * len(requests)
