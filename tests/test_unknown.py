"""Unknown facts: the interpreter agrees with the compiled evaluator on complete requests, and on requests with
facts left out it decides only what the known facts settle (checked by filling the gaps in every way tried)."""
import copy
import random

import pytest

from policyc.runtime import InputError, RuntimeFault, jsonio


def _strip(decision: dict) -> dict:
    return {k: v for k, v in decision.items() if k != "bundle"}


def _request(case: dict, evaluator) -> dict:
    req = {"locality": case["locality"], "date": case["date"]}
    req.update({i.id: copy.deepcopy(case[i.id]) for i in evaluator.module.inputs if i.id in case})
    return req


# ── filling in facts ─────────────────────────────────────────────────────────────────
_MONEY = ["0", "0.01", "100", "299.99", "300", "500", "759.99", "760", "760.01", "800", "1000", "1140", "1500",
          "3000", "20000"]
_AGES = [0, 5, 6, 15, 16, 17, 18, 30, 59, 60, 61, 69, 70, 80, 150]


def _random_value(ev, t: str, field, rng, day):
    from decimal import Decimal
    import datetime as dt
    if t.startswith("opt:"):
        return None if rng.random() < 0.25 else _random_value(ev, t[4:], field, rng, day)
    lo = getattr(field, "minimum", None)
    hi = getattr(field, "maximum", None)
    if t.startswith("money"):
        return Decimal(rng.choice(_MONEY))
    if t == "age":
        return rng.choice(_AGES)
    if t in ("int", "count", "months", "years"):
        lo = 0 if lo is None else int(lo)
        hi = lo + 12 if hi is None else int(hi)
        return rng.randint(lo, hi)
    if t in ("number", "ratio", "percent"):
        return Decimal(rng.randint(0, 300)) / 100
    if t == "bool":
        return rng.random() < 0.5
    if t.startswith("enum:"):
        return rng.choice([c for c, _ in ev.module.enums[t[5:]].members])
    if t == "date":
        return (dt.date.fromisoformat(day) + dt.timedelta(days=rng.choice([-900, -400, -200, -30, -1, 0, 1, 60]))
                ).isoformat()
    if t == "text":
        return rng.choice(["140105", "140702", "甲"])
    if t == "locality":
        return rng.choice(["140105", "140702", "140100", "太原市小店区", "140000"])
    if t.startswith("list:"):
        n = rng.randint(0 if lo is None else int(lo), min(3, 3 if hi is None else int(hi)))
        return [_random_value(ev, t[5:], None, rng, day) for _ in range(n)]
    if t.startswith("record:"):
        rec = ev.module.records[t[7:]]
        out = {f.id: _random_value(ev, f.type, f, rng, day) for f in rec.fields}
        if "id" in out:
            out["id"] = f"m{rng.randint(0, 10**6)}"
        return out
    raise AssertionError(t)


def _fields(ev, t: str):
    t = t[4:] if t.startswith("opt:") else t
    return ev.module.records[t[7:]].fields if t.startswith("record:") else []


def _fill(ev, obj: dict, fields, rng, day, dropped=None):
    """Give every fact that `obj` leaves out a value (in place); descend into known records and lists."""
    for f in fields:
        if f.presence == "unknown" and (f.id not in obj or (obj[f.id] is None and not f.type.startswith("opt:"))):
            obj[f.id] = _random_value(ev, f.type, f, rng, day)
        value = obj.get(f.id)
        base = f.type[4:] if f.type.startswith("opt:") else f.type
        if isinstance(value, dict):
            _fill(ev, value, _fields(ev, base), rng, day)
        elif isinstance(value, list) and base.startswith("list:record:"):
            for item in value:
                if isinstance(item, dict):
                    _fill(ev, item, _fields(ev, base[5:]), rng, day)


def _facts(ev, obj: dict, fields, path: str, out: list):
    """Every fact that could be left out: (container, key, path)."""
    for f in fields:
        if f.id not in obj:
            continue
        if f.presence == "unknown":
            out.append((obj, f.id, f"{path}.{f.id}"))
        value = obj[f.id]
        base = f.type[4:] if f.type.startswith("opt:") else f.type
        if isinstance(value, dict):
            _facts(ev, value, _fields(ev, base), f"{path}.{f.id}", out)
        elif isinstance(value, list) and base.startswith("list:record:"):
            for n, item in enumerate(value):
                _facts(ev, item, _fields(ev, base[5:]), f"{path}.{f.id}[{n}]", out)


def complete(ev, req: dict, rng) -> dict:
    req = copy.deepcopy(req)
    _fill(ev, req, ev.module.inputs, rng, req["date"])
    return req


def _outputs(prog: dict, skip=("reasons", "missing_facts", "undecided")):
    return {k: v for k, v in prog.items() if k not in skip}


def _flat(d: dict, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def assert_consistent(partial: dict, full: dict, dropped: set[str], where: str) -> None:
    """Everything `partial` decides, `full` (the same request with the gaps filled) decides the same way."""
    for pid, prog in partial["programs"].items():
        other = full["programs"][pid]
        assert {f["path"] for f in prog["missing_facts"]} <= dropped, where
        decided = _flat({k: v for k, v in _outputs(prog).items() if k not in prog["undecided"]
                         and not (isinstance(v, dict) and v and all(isinstance(m, dict) and "undecided" in m
                                                                       for m in v.values()))})
        undecided = set(prog["undecided"])
        for key, value in decided.items():
            if not any(key == u or key.startswith(u + ".") for u in undecided):
                assert value == _flat(_outputs(other)).get(key), (where, pid, key, value)
        for container, members in prog.items():
            if isinstance(members, dict) and members and all(isinstance(m, dict) and "undecided" in m
                                                             for m in members.values()):
                for mid, member in members.items():
                    assert {f["path"] for f in member["missing_facts"]} <= dropped
                    got = other[container][mid]
                    for key, value in _flat(_outputs(member)).items():
                        if not any(key == u or key.startswith(u + ".") for u in member["undecided"]):
                            assert value == _flat(_outputs(got)).get(key), (where, pid, mid, key, value)
                    assert {r["rule"] for r in member["reasons"]} <= {r["rule"] for r in got["reasons"]}, where
        assert {r["rule"] for r in prog["reasons"]} <= {r["rule"] for r in other["reasons"]}, (where, pid)
    keys = lambda refs: {(r["item_id"], r["member"]): r for r in refs}
    mine, theirs = keys(partial["referrals"]), keys(full["referrals"])
    for k, r in mine.items():
        if r["status"] == "due":
            assert k in theirs, (where, k)
            if r["amount"] is not None:
                assert r["amount"] == theirs[k]["amount"], (where, k)
    for k in theirs:
        assert k in mine, (where, "referral dropped although it may be due", k)


def _cases(bundle, ev):
    return [(c, _request(c, ev)) for c in bundle["cases"]]


def test_completed_example_cases_agree_between_interpreter_and_compiled(evaluator, bundle):
    rng = random.Random(7)
    for case, req in _cases(bundle, evaluator):
        for _ in range(3):
            full = complete(evaluator, req, rng)
            try:
                compiled = evaluator.evaluate(copy.deepcopy(full), overrides=case.get("parameters"))
            except (InputError, RuntimeFault):  # a broken case: `policyc test` reports it
                continue
            assert compiled["missing_facts"] == []
            interpreted = evaluator.evaluate(copy.deepcopy(full), overrides=case.get("parameters"), interpret=True)
            assert jsonio.dumps(_strip(interpreted)) == jsonio.dumps(_strip(compiled)), case["name"]


def test_filling_in_missing_facts_never_contradicts_a_decided_result(evaluator, bundle):
    """The property of issue 9: decided results stay decided, and equal, however the gaps are filled."""
    rng = random.Random(11)
    cases = _cases(bundle, evaluator)
    checked = 0
    for round_ in range(6):
        for case, req in cases:
            full = complete(evaluator, req, rng)
            facts: list = []
            _facts(evaluator, full, evaluator.module.inputs, "$", facts)
            partial_req = copy.deepcopy(full)
            facts = []
            _facts(evaluator, partial_req, evaluator.module.inputs, "$", facts)
            share = rng.choice([0.1, 0.3, 0.6])
            dropped = set()
            for obj, key, path in facts:
                if rng.random() < share and not any(path.startswith(d + ".") or path.startswith(d + "[")
                                                     for d in dropped):
                    if key in obj:
                        del obj[key]
                        dropped.add(path)
            try:
                partial = evaluator.evaluate(copy.deepcopy(partial_req), overrides=case.get("parameters"))
            except (InputError, RuntimeFault):  # a broken case: `policyc test` reports it
                continue
            for refill in (full, complete(evaluator, partial_req, rng)):
                try:
                    exact = evaluator.evaluate(copy.deepcopy(refill), overrides=case.get("parameters"))
                except (InputError, RuntimeFault):  # a broken case: `policyc test` reports it
                    continue
                assert_consistent(partial, exact, dropped, f"{case['name']} round {round_}")
                checked += 1
    assert checked > 200


# ── the request contract ─────────────────────────────────────────────────────────────────
def _one(**member):
    base = {"id": "A", "age": 40, "monthly_income": 300, "earned_income": 300}
    base.update(member)
    return {"locality": "140105", "date": "2024-07-01", "household": {"area": "urban", "members": [base]}}


def test_only_structure_is_required_and_left_out_facts_are_named(evaluator):
    decision = evaluator.evaluate({"locality": "140105", "date": "2024-07-01",
                                   "household": {"members": [{"id": "A"}]}})
    paths = {f["path"] for f in decision["missing_facts"]}
    assert "$.household.members[0].monthly_income" in paths and "$.household.area" in paths
    assert all(f["name"] for f in decision["missing_facts"])
    with pytest.raises(InputError) as err:
        evaluator.evaluate({"locality": "140105", "date": "2024-07-01", "household": {"members": [{"age": 3}]}})
    assert err.value.problems[0][0] == "$.household.members[0].id"


def test_duplicate_member_ids_are_an_input_error_naming_both_paths(evaluator):
    req = _one()
    req["household"]["members"].append({"id": "A", "age": 70})
    with pytest.raises(InputError) as err:
        evaluator.evaluate(req)
    path, message = err.value.problems[0]
    assert path == "$.household.members[1].id" and "$.household.members[0].id" in message


def test_earned_income_above_monthly_income_is_an_input_error(evaluator):
    with pytest.raises(InputError) as err:
        evaluator.evaluate(_one(monthly_income=300, earned_income=300.01))
    assert err.value.problems[0][0] == "$.household.members[0].earned_income"
    evaluator.evaluate(_one(monthly_income=300, earned_income=300))  # equal is fine
    evaluator.evaluate(_one(monthly_income=300, earned_income=None))  # unknown breaks nothing


def test_a_locality_field_must_name_a_place_and_is_read_as_its_code(evaluator):
    req = _one()
    req["incident"] = {"type": "emergency", "severity": 1, "cost": 100, "case_by_case": False, "occurred_in": "abc"}
    with pytest.raises(InputError) as err:
        evaluator.evaluate(req)
    assert err.value.problems == [("$.incident.occurred_in", "未知的地区“abc”")]
    req["incident"]["occurred_in"] = "太原市小店区"
    assert evaluator.convert(req)["incident"]["occurred_in"] == "140105"


def test_the_callers_decimal_context_does_not_change_a_decision(evaluator, bundle):
    import decimal
    rng = random.Random(5)
    reqs = [complete(evaluator, r, rng) for _, r in _cases(bundle, evaluator)[:30]]
    before = []
    for r in reqs:
        try:
            before.append(jsonio.dumps(_strip(evaluator.evaluate(copy.deepcopy(r)))))
        except (InputError, RuntimeFault):
            before.append(None)
    with decimal.localcontext(decimal.Context(prec=3, rounding=decimal.ROUND_DOWN)):
        for r, b in zip(reqs, before):
            if b is not None:
                assert jsonio.dumps(_strip(evaluator.evaluate(copy.deepcopy(r)))) == b


def test_undecided_figures_in_reasons_read_as_pending_and_undecided_referrals_carry_no_amount(evaluator):
    req = {"locality": "140105", "date": "2024-07-01", "household": {"members": [{"id": "A"}]}}
    decision = evaluator.evaluate(req)
    texts = [r["text"] for p in decision["programs"].values() for r in p["reasons"]]
    texts += [r["text"] for m in decision["programs"]["tekun"]["members"].values() for r in m["reasons"]]
    assert not any("（待补充）元" in t or "至多150" in t for t in texts), texts
    assert all(r["amount"] is None for r in decision["referrals"] if r["status"] == "unknown")


def test_the_largest_household_with_every_fact_unknown_names_each_missing_fact_once(evaluator):
    members = [{"id": f"m{i}", "supporters": [{} for _ in range(20)]} for i in range(30)]
    decision = evaluator.evaluate({"locality": "140105", "date": "2024-07-01", "household": {"members": members}})
    paths = [f["path"] for f in decision["missing_facts"]]
    assert len(paths) == len(set(paths)) and "$.household.members[29].supporters[19].age" in paths


def test_values_read_at_the_place_of_the_emergency_are_traced_per_request(evaluator):
    base = _one(relation="applicant")
    texts = []
    for place in ("140200", "140400"):
        req = copy.deepcopy(base)
        req["incident"] = {"type": "emergency", "severity": 1, "cost": 100, "case_by_case": False,
                           "occurred_in": place}
        decision = evaluator.evaluate(copy.deepcopy(req))
        assert {t["at"]["code"] for t in decision["trace"] if "at" in t} == {place}
        texts.append(jsonio.loads(evaluator.evaluate_json(req))["trace"])
    assert [t["at"]["code"] for t in texts[0] if "at" in t] == ["140200"]
    assert [t["at"]["code"] for t in texts[1] if "at" in t] == ["140400"]
