"""The runtime: exact money, reasons with figures, a cited trace, and clear errors for bad requests."""
import datetime as dt
import re
from decimal import ROUND_CEILING, Decimal

import jsonschema
import pytest

from conftest import member, param, request, yuan
from policyc.runtime import EvaluationError, InputError, LocalityError


def dibao(evaluator, req, **kw):
    return evaluator.evaluate(req, **kw)["programs"]["dibao"]


def test_amounts_are_exact_decimals(evaluator):
    out = dibao(evaluator, request([member("A", Decimal("1000.10")), member("B", Decimal("0.20"))]))
    # standard × 2 − 1000.30 (760 × 2 − 1000.30 = 519.70), rounded up to the yuan
    expected = (param(evaluator, "dibao.standard.urban") * 2 - Decimal("1000.30")).to_integral_value(ROUND_CEILING)
    assert out["monthly_amount"] == expected and isinstance(out["monthly_amount"], Decimal)


def test_float_inputs_are_taken_at_their_written_value(evaluator):
    out = dibao(evaluator, request([member("A", 0.1), member("B", 0.2)]),
                overrides={"dibao.rounding": "round_fen"})
    # standard × 2 − 0.3 exactly (1520 − 0.3 = 1519.70), not 1519.6999…
    assert out["monthly_amount"] == param(evaluator, "dibao.standard.urban") * 2 - Decimal("0.3")


def test_decision_validates_against_the_generated_schema(bundle, evaluator):
    decision = evaluator.evaluate(request([member("A", 100)]))
    from policyc.runtime import jsonio
    jsonschema.validate(jsonio.loads(jsonio.dumps(decision)), bundle["schemas"]["decision"])
    jsonschema.validate(jsonio.loads(jsonio.dumps(request([member("A", 100)]))), bundle["schemas"]["request"])


def test_reasons_cite_articles_and_state_figures(evaluator):
    out = dibao(evaluator, request([member("A", 300)]))
    by_rule = {r["rule"]: r for r in out["reasons"]}
    below = by_rule["dibao.income_below_standard"]
    assert below["citation"].startswith("二(二)5")
    assert "300元" in below["text"] and f"{yuan(param(evaluator, 'dibao.standard.urban'))}元" in below["text"]


def test_trace_lists_parameters_with_provenance(evaluator):
    decision = evaluator.evaluate(request([member("A", 300)]))
    trace = {t["id"]: t for t in decision["trace"]}
    std = trace["dibao.standard.urban"]
    assert std["value"] == param(evaluator, "dibao.standard.urban") and std["unit"] == "元/月" and std["effective_from"] == "2024-01-01"
    assert std["illustrative"] is True and std["defined_at"].startswith("policies/shanxi/parameters/dibao.yaml:")
    entries = evaluator.params_at(decision["locality"]["code"], dt.date.fromisoformat(decision["date"]))[1]
    ratio = evaluator.describe("dibao.low_income_ratio", entries["dibao.low_income_ratio"])  # a trace entry's form
    assert ratio["illustrative"] is False and ratio["provenance"]["document"] == "最低生活保障审核确认办法"
    # only what this evaluation read: an urban household's decision never read the rural standard
    assert "dibao.standard.rural" not in trace and "dibao.grace_months" in trace
    rural = evaluator.evaluate(dict(request([member("A", 300)]), household=dict(
        request([member("A", 300)])["household"], area="rural")))
    assert {t["id"] for t in rural["trace"]} >= {"dibao.standard.rural"} and \
        "dibao.standard.urban" not in {t["id"] for t in rural["trace"]}


def test_locality_by_code_name_and_ambiguity(evaluator):
    assert evaluator.evaluate(request([member()], locality=140105))["locality"] == \
        {"code": "140105", "name": "太原市小店区"}
    assert evaluator.evaluate(request([member()], locality="小店区"))["locality"]["code"] == "140105"
    with pytest.raises(LocalityError) as err:
        evaluator.evaluate(request([member()], locality="城区"))
    assert "阳泉市城区" in str(err.value) and "晋城市城区" in str(err.value)
    with pytest.raises(LocalityError) as err:
        evaluator.evaluate(request([member()], locality="小点区"))
    assert "小店区" in str(err.value)


def test_overrides_of_locality_and_date(evaluator):
    req = request([member("A", 100)], locality="999999", date="bad")
    out = evaluator.evaluate(req, locality="140702", date=__import__("datetime").date(2023, 6, 1))
    assert out["date"] == "2023-06-01" and out["programs"]["dibao"]["monthly_amount"] == 620


@pytest.mark.parametrize("mutate,path,fragment", [
    (lambda r: r["household"]["members"][0].update(monthly_income=-5), "$.household.members[0].monthly_income", "0 至"),
    (lambda r: r["household"]["members"][0].update(monthly_income="800"), "$.household.members[0].monthly_income", "应为金额"),
    (lambda r: r["household"]["members"][0].update(monthly_income=Decimal("1.005")), "$.household.members[0].monthly_income", "两位小数"),
    (lambda r: r["household"].update(area="town"), "$.household.area", "urban | rural"),
    (lambda r: r["household"].update(assets_within_limit="yes"), "$.household.assets_within_limit", "true 或 false"),
    (lambda r: r["household"]["members"][0].pop("id"), "$.household.members[0].id", "缺少必填字段"),
    (lambda r: r["household"]["members"][0].update(disability_grade=5), "$.household.members[0].disability_grade", "0 至 4"),
    (lambda r: r["household"].update(members=[]), "$.household.members", "1 至"),
    (lambda r: r["household"].update(receiving_dibao={"monthly_amount": 1, "since": "2024-02-30"}), "$.household.receiving_dibao.since", "YYYY-MM-DD"),
    (lambda r: r["household"].update(memebers=[]), "$.household.memebers", "未知字段"),
    (lambda r: r.update(household=[]), "$.household", "应为对象"),
    (lambda r: r.pop("date"), "$.date", "缺少"),
])
def test_bad_input_names_the_json_path(evaluator, mutate, path, fragment):
    req = request([member("A", 100)])
    mutate(req)
    with pytest.raises(InputError) as err:
        evaluator.evaluate(req)
    problems = dict(err.value.problems)
    assert path in problems, problems
    assert fragment in problems[path]


def test_every_problem_of_a_request_is_reported(evaluator):
    req = request([member("A", -1), member("B", "x")])
    req["household"]["area"] = 3
    with pytest.raises(InputError) as err:
        evaluator.evaluate(req)
    paths = [p for p, _ in err.value.problems]
    assert paths == ["$.household.area", "$.household.members[0].monthly_income",
                     "$.household.members[0].earned_income", "$.household.members[1].monthly_income",
                     "$.household.members[1].earned_income"]


def test_no_parameter_value_on_the_date(evaluator):
    with pytest.raises(EvaluationError) as err:
        evaluator.evaluate(request([member()], date="2020-01-01"))
    assert "城市低保标准" in str(err.value) and "2020-01-01" in str(err.value)


def test_evaluation_does_not_mutate_the_request(evaluator):
    req = request([member("A", 100)])
    before = repr(req)
    evaluator.evaluate(req)
    assert repr(req) == before


def test_a_value_may_end_a_parameter(policy_copy):
    from policyc.compiler import compile_policy
    from policyc.diagnostics import Reporter
    from policyc.emit.bundle import build_bundle
    from policyc.runtime import Evaluator, jsonio
    params = policy_copy / "parameters" / "dibao.yaml"
    text = params.read_text(encoding="utf-8")
    # end the urban standard (the file's first parameter) after its 2024-01-01 value, whatever that value is
    text, n = re.subn(r"(      - from: 2024-01-01\n        value: [^\n]+\n        illustrative: true\n)",
                      r"\1      - from: 2025-01-01\n        end: true\n", text, count=1)
    assert n == 1 and text.index("dibao.standard.urban:") < text.index("        end: true\n") < text.index("dibao.standard.rural:")
    params.write_text(text, encoding="utf-8")
    for cases in (policy_copy / "cases").glob("*.yaml"):  # example cases dated after the end would say E0609
        cases.unlink()
    ev = Evaluator(jsonio.loads(jsonio.dumps(build_bundle(compile_policy(policy_copy, Reporter())))))
    assert ev.evaluate(request([member()], date="2024-12-31"))["programs"]["dibao"]["eligible"] is True
    with pytest.raises(EvaluationError) as err:
        ev.evaluate(request([member()], date="2025-01-01"))
    assert "dibao.standard.urban" in str(err.value)


def test_all_programs_validate_against_the_decision_schema(bundle, evaluator):
    from policyc.runtime import jsonio
    schema = bundle["schemas"]["decision"]
    for case in bundle["cases"]:
        req = {"locality": case["locality"], "date": case["date"], "household": case["household"]}
        for key in ("incident", "application"):
            if key in case:
                req[key] = case[key]
        decision = evaluator.evaluate(req, overrides=case.get("parameters"))
        jsonschema.validate(jsonio.loads(jsonio.dumps(decision)), schema)
        jsonschema.validate(jsonio.loads(jsonio.dumps(req)), bundle["schemas"]["request"])


def test_per_member_outputs_and_referrals(evaluator):
    req = request([dict(member("A", 500), relation="other"),
                   dict(member("B", 200, 0, age=75, capacity="none"), supporters=[], relation="applicant",
                        self_care_unmet_items=2, support_mode="dispersed")])
    out = evaluator.evaluate(req)
    b = out["programs"]["tekun"]["members"]["B"]
    assert (b["eligible"], b["category"], b["care_tier"], b["monthly_amount"]) == (True, "elderly", "partial", 1190)
    assert out["programs"]["tekun"]["members"]["A"]["eligible"] is False
    assert out["programs"]["dibao"]["covered_members"] == ["A"]
    refs = {(r["item_id"], r["member"]) for r in out["referrals"]}
    assert ("medical.insurance_subsidy", "B") in refs and ("housing.public_rental", None) in refs


def test_emergency_raises_are_traced_with_their_event(evaluator):
    out = evaluator.evaluate(request([member("A", 300)], date="2024-08-15"))
    trace = {t["id"]: t for t in out["trace"]}
    raised = trace["dibao.standard.urban"]
    base = param(evaluator, "dibao.standard.urban", "140702", "2024-07-01")  # before the drill
    assert raised["base_value"] == base and raised["value"] == base + 100 and raised["event"]["id"] == "drill-2024-xiaodian"
    assert out["programs"]["emergency"]["living_subsidy"] == 300
    calm = evaluator.evaluate(request([member("A", 300)], date="2024-08-15", locality="140703"))
    assert "event" not in {t["id"]: t for t in calm["trace"]}["dibao.standard.urban"]


def test_optional_sections_of_the_request_are_checked_when_given(evaluator):
    req = request([member("A", 300)])
    req["incident"] = {"type": "flood", "severity": 4, "cost": -1, "case_by_case": False}
    with pytest.raises(InputError) as err:
        evaluator.evaluate(req)
    assert [p for p, _ in err.value.problems] == ["$.incident.type", "$.incident.severity", "$.incident.cost"]


def test_evaluate_json_is_the_decision_as_exact_json(evaluator):
    import json
    from policyc.runtime import jsonio
    req = request([member("A", Decimal("100.10"))])
    for _ in range(2):  # the second answer reuses the serialised trace
        text = evaluator.evaluate_json(req)
        assert jsonio.loads(text) == jsonio.loads(jsonio.dumps(evaluator.evaluate(req)))
    expected = (param(evaluator, "dibao.standard.urban") - Decimal("100.10")).to_integral_value(ROUND_CEILING)
    assert json.loads(text)["programs"]["dibao"]["monthly_amount"] == expected


def test_evaluating_a_subset_of_programs_gives_the_same_results(evaluator, bundle):
    req = request([dict(member("A", 500), relation="other"),
                   dict(member("B", 200, 0, age=75, capacity="none"), supporters=[], relation="applicant",
                        self_care_unmet_items=2, support_mode="dispersed")])
    full = evaluator.evaluate(req)
    only = evaluator.evaluate(req, programs=["dibao"])
    assert list(only["programs"]) == ["dibao"] and only["programs"]["dibao"] == full["programs"]["dibao"]
    assert only["programs"]["dibao"]["covered_members"] == ["A"]  # 特困 still decides who is left out
    assert {t["id"] for t in only["trace"]} < {t["id"] for t in full["trace"]} and only["referrals"] == []
    from policyc.runtime import jsonio
    jsonschema.validate(jsonio.loads(jsonio.dumps(only)), bundle["schemas"]["decision"])
    both = evaluator.evaluate(req, programs=["temporary", "tekun"])
    assert sorted(both["programs"]) == ["tekun", "temporary"]
    with pytest.raises(InputError) as err:
        evaluator.evaluate(req, programs=["dibao", "pension"])
    assert "pension" in str(err.value)
