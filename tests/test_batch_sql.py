"""The DuckDB lane of `policyc batch` against the Python lane (the reference): JSON text and typed (Parquet,
Arrow) requests, complete and odd, all programs and a subset; the rows SQL must not decide — an unknown fact, an
invalid value, a ÷0 — are counted as decided by Python or rejected, never by SQL."""
from __future__ import annotations

import copy
import json
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from policyc.batch.engine import Engine
from policyc.batch.sqltyped import SchemaMismatch
from policyc.runtime import jsonio
from policyc.runtime.evaluator import Evaluator

from batch_util import mutate, population

N = 1000


def _texts(requests) -> pa.Table:
    return pa.table({"_row": pa.array(range(len(requests)), pa.int64()),
                     "j": [jsonio.dumps(r, indent=None) for r in requests]})


def _typed(engine: Engine, requests) -> pa.Table:
    """The requests as a Parquet file would hold them: one typed column per top-level key."""
    inputs = json.loads(engine.inputs.structure(True))
    structure = json.dumps({"id": "VARCHAR", "locality": "VARCHAR", "date": "VARCHAR", **inputs})
    con = duckdb.connect()
    con.register("src", _texts(requests))
    return con.sql(f"SELECT _row, t.* FROM (SELECT _row, json_transform(j, '{structure}') AS t FROM src) "
                   "ORDER BY _row").to_arrow_table()


def _as_json(table: pa.Table) -> pa.Table:
    """What each typed row means: `to_json` of its columns (a NULL is an explicit null)."""
    con = duckdb.connect()
    con.register("src", table)
    cols = ", ".join(f'"{c}" := "{c}"' for c in table.column_names if c != "_row")
    return con.sql(f"SELECT _row, CAST(to_json(struct_pack({cols})) AS VARCHAR) AS j FROM src ORDER BY _row"
                   ).to_arrow_table()


def _python(evaluator, programs, chunk):
    return Engine(evaluator, programs=programs, engine="python").decide(chunk)


def _same(got, want):
    (rows, rejects), (rows2, rejects2) = got, want
    assert rows.num_rows + len(rejects) == rows2.num_rows + len(rejects2)
    assert rejects == rejects2
    a, b = rows.to_pylist(), rows2.to_pylist()
    bad = [(x, y) for x, y in zip(a, b) if x != y]
    assert len(a) == len(b) and not bad, f"{len(bad)} rows differ, first: {bad[:1]}"


@pytest.mark.parametrize("programs", [None, ["dibao", "tekun"]], ids=["all", "dibao+tekun"])
def test_sql_lane_equals_python_lane(evaluator, programs):
    chunk = _texts(population(evaluator, N, seed=21))
    engine = Engine(evaluator, programs=programs)
    assert engine.query is not None, engine.sql_error
    _same(engine.decide(chunk), _python(evaluator, programs, chunk))
    assert engine.counts["sql"] >= 0.95 * N


def test_odd_rows_are_counted_as_python_or_rejected(evaluator):
    requests = mutate(population(evaluator, N, seed=22), evaluator, share=0.5)
    chunk = _texts(requests)
    engine = Engine(evaluator)
    want = _python(evaluator, None, chunk)
    _same(engine.decide(chunk), want)
    unknown = sum(1 for r in want[0].to_pylist() if r["missing_facts"])
    c = engine.counts
    assert c["sql"] + c["python"] + c["rejected"] == N
    assert c["rejected"] == len(want[1]) > 0 and unknown > 0
    assert c["sql"] <= N - len(want[1]) - unknown  # rows with unknown facts are decided by Python


def test_division_by_zero_goes_to_python(bundle):
    """A definition `if n = 0 then … else x ÷ n` rewritten as `x ÷ (n − 1)`: households where n is 1 make Python
    stop with ÷0; SQL must flag them, not decide them, and decide the others as Python does."""
    b = copy.deepcopy(bundle)
    changed = None
    for d in b["ir"]["definitions"]:
        e = d["expr"]
        if (e["op"] == "if" and e["args"][0]["op"] == "eq" and e["args"][2]["op"] == "div"
                and e["args"][2]["args"][1] == e["args"][0]["args"][0]):
            x, n = e["args"][2]["args"]
            one = {"op": "lit", "type": n["type"], "value": "1"}
            d["expr"] = dict(e["args"][2], args=[x, {"op": "sub", "type": n["type"], "args": [n, one]}])
            changed = d
            break
    if changed is None:
        pytest.skip("the policy has no guarded division")
    ev = Evaluator(b, verified=True)
    chunk = _texts(population(ev, N, seed=23))
    engine = Engine(ev, programs=[changed["program"]])
    assert engine.query is not None, engine.sql_error
    got = engine.decide(chunk)
    _same(got, _python(ev, engine.programs, chunk))
    c = engine.counts
    assert c["rejected"] == len(got[1]) > 0 and c["sql"] > 0 and c["sql"] + c["rejected"] + c["python"] == N


@pytest.mark.parametrize("programs", [None, ["dibao", "tekun"]], ids=["all", "dibao+tekun"])
def test_typed_lane_equals_json_lane(evaluator, programs):
    requests = mutate(population(evaluator, N, seed=24), evaluator, share=0.3)
    engine = Engine(evaluator, programs=programs)
    table = _typed(engine, requests)
    # explicit nulls where a fact is required, and a value out of range, as a typed file may hold them
    con = duckdb.connect()
    con.register("t", table)
    table = con.sql("SELECT * REPLACE (CASE WHEN _row % 7 = 3 THEN struct_update(household, members := "
                    "list_transform(household.members, lambda m: struct_update(m, age := CASE WHEN _row % 2 = 0 "
                    "THEN NULL ELSE 400 END))) ELSE household END AS household) FROM t ORDER BY _row"
                    ).to_arrow_table()
    texts = _as_json(table)
    got = engine.decide_arrow(table)
    _same(got, _python(evaluator, programs, texts))
    _same(got, Engine(evaluator, programs=programs).decide(texts))
    assert engine.counts["sql"] > 0.5 * N and engine.counts["python"] + engine.counts["rejected"] > 0.1 * N


def test_typed_lane_with_other_types_and_left_out_columns(evaluator):
    requests = population(evaluator, 300, seed=25)
    engine = Engine(evaluator)
    table = _typed(engine, requests)

    def narrow(t: pa.DataType) -> pa.DataType:  # int32 counts, money with 4 decimals
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, narrow(f.type)) for f in t])
        if pa.types.is_list(t):
            return pa.list_(narrow(t.value_type))
        if t == pa.int64():
            return pa.int32()
        if pa.types.is_decimal(t):
            return pa.decimal128(20, 4)
        return t
    narrowed = table.cast(pa.schema([pa.field(f.name, f.type if f.name == "_row" else narrow(f.type))
                                     for f in table.schema]))
    got = engine.decide_arrow(narrowed)
    _same(got, engine.decide_arrow(table))
    assert engine.counts["sql"] == 2 * 300
    absent = [i.id for i in evaluator.module.inputs if i.presence != "required"][:1]
    if absent:
        dropped = table.drop_columns(absent)
        _same(engine.decide_arrow(dropped), _python(evaluator, None, _as_json(dropped)))


def test_a_file_that_is_not_requests_is_refused(evaluator):
    engine = Engine(evaluator)
    table = _typed(engine, population(evaluator, 5, seed=26))
    with pytest.raises(SchemaMismatch, match="colour"):
        engine.decide_arrow(table.append_column("colour", pa.array(["blue"] * 5)))
    first = evaluator.module.inputs[0].id
    wrong = table.set_column(table.schema.get_field_index(first), first, pa.array(["x"] * 5))
    with pytest.raises(SchemaMismatch, match=first):
        engine.decide_arrow(wrong)


def test_a_broken_requirement_is_refused_not_decided(evaluator):
    """A record that breaks a 要求 of its type (e.g. earned income above the monthly income) is refused by the
    runtime whatever the programs: the SQL lane must not decide it."""
    found = [(rid, r) for rid, rec in evaluator.module.records.items() for r in rec.requirements
             if r.expr.op in ("le", "lt") and all(a.op == "field" and a.args[0].op == "elem" for a in r.expr.args)]
    paths = [p for p in evaluator.module.instance_paths(found[0][0])] if found else []
    if not found or paths != [[("input", paths[0][0][1]), ("field", paths[0][1][1]), ("each", "")]]:
        pytest.skip("no requirement of the form field ≤ field on the items of a list")
    rid, req = found[0]
    (_, inp), (_, lst), _ = paths[0]
    left, right = (a.value for a in req.expr.args)
    requests = population(evaluator, 40, seed=27)
    for r in requests[::2]:
        item = r[inp][lst][0]
        item[left] = item[right] + 1
    chunk = _texts(requests)
    for programs in (None, [evaluator.module.programs[0].id]):
        engine = Engine(evaluator, programs=programs)
        got = engine.decide(chunk)
        _same(got, _python(evaluator, programs, chunk))
        assert engine.counts["rejected"] == 20 and engine.counts["sql"] <= 20
        got = engine.decide_arrow(_typed(engine, requests))
        assert engine.counts["rejected"] == 40


def test_every_rounding_mode_rounds_as_the_runtime_does():
    """The SQL of each rounding mode a policy may name gives `values.round_money`'s result, ties and negatives
    included (and a mode the SQL does not know is a fault: the runtime decides that row)."""
    import duckdb
    from decimal import Decimal as Dec

    from policyc.batch.sqlgen import _ROUND
    from policyc.batch.sqltypes import DEC
    from policyc.runtime.values import ROUNDING_MODES, round_money
    assert set(_ROUND) == set(ROUNDING_MODES)
    con = duckdb.connect()
    samples = ["0", "0.005", "0.05", "0.5", "1.5", "2.5", "386.003", "386.00000000000000000001", "-2.5", "-0.05",
               "213.997", "99.95", "99.949999"]
    for mode, sql in _ROUND.items():
        for text in samples:
            got = con.execute(f"SELECT {sql.format(x=f'CAST({chr(39)}{text}{chr(39)} AS {DEC})', D=DEC)}").fetchone()[0]
            assert got == round_money(Dec(text), mode), (mode, text, got)


def test_parameter_decimals_set_the_column_scale_and_more_go_to_python(bundle):
    """Every number parameter's column has the scale of its most precise value in the bundle (`param_scales`):
    a province value with three decimals is computed exactly in SQL; an event that raises a standard by an
    amount with more decimals than that leaves its place and date to the Python runtime; a value with more than
    ten decimals keeps the guarded DECIMAL(38,20) column. Every row agrees with the Python runtime."""
    from policyc.batch.engine import param_scales
    b = copy.deepcopy(bundle)
    rate = b["parameters"]["dibao.employment_cost.rate"]["timelines"]["140000"][0]
    rate["value"] = str(Decimal(str(rate["value"])) + Decimal("0.125"))  # a percent: 3 decimals → 5 as a ratio
    ratio = b["parameters"]["dibao.low_income_ratio"]["timelines"]["140000"][0]
    ratio["value"] = str(Decimal(str(ratio["value"])) + Decimal("0.000000000001"))  # 12 decimals
    event = copy.deepcopy(b["events"][0])
    event["changes"] = {"dibao.standard.urban": {"add": "0.5"}}  # standards have no decimals in the bundle
    b["events"] = [event]
    ev = Evaluator(b, verified=True)
    scales = param_scales(ev)
    assert scales["dibao.employment_cost.rate"] == 5 and "dibao.low_income_ratio" not in scales
    assert scales["dibao.standard.urban"] < 1
    requests = population(ev, N, seed=26)
    for i, r in enumerate(requests):
        if i % 3 == 0:  # in the event's place and time
            r["locality"], r["date"] = event["localities"][0], event["from"]
        r["household"]["employment_assisted"] = True
    chunk = _texts(requests)
    engine = Engine(ev, programs=["dibao", "low_income"])
    assert engine.query is not None, engine.sql_error
    _same(engine.decide(chunk), _python(ev, engine.programs, chunk))
    c = engine.counts
    assert c["python"] >= N // 3 - c["rejected"] and c["sql"] >= N // 2
