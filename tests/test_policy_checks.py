"""Build-time checks beyond rules: parameter floors, emergencies, funding caps, article coverage."""
import subprocess
import sys

from decimal import Decimal

from conftest import ROOT, added, diagnose, param, set_urban_standard, set_value, yuan
from policyc.check.coverage import coverage
from policyc.compiler import compile_policy
from policyc.diagnostics import Reporter


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path, needle, start=0):
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if i > start and needle in line)


def floor(evaluator):
    """The 特困 urban floor, 1.3 × the province's 2024 urban 低保 standard, from the policy."""
    return Decimal("1.3") * param(evaluator, "dibao.standard.urban", "140000", "2024-07-01")


def set_tekun(policy_dir, value):
    """Set the province's 2024 urban 特困 standard in a policy copy."""
    set_value(policy_dir, "tekun.yaml", "tekun.basic_living.urban", yuan(value))


def urban_floor_warnings(diags) -> list:
    """The warnings that the province's urban 特困 standard breaks its 原则上 floor."""
    return [d for d in diags if d.code == "W0401" and d.span.file.endswith("parameters/tekun.yaml")
            and "（tekun.basic_living.urban）" in d.message]


def test_principle_floor_is_a_warning_at_the_value_with_both_sides(policy_copy, evaluator, baseline):
    tekun = policy_copy / "parameters" / "tekun.yaml"
    low = floor(evaluator) - 8
    set_tekun(policy_copy, low)
    diags = added(diagnose(policy_copy), baseline)
    assert [(d.code, d.severity) for d in diags] == [("W0401", "warning")]
    d = diags[0]
    assert d.span.file.endswith("parameters/tekun.yaml")
    assert yuan(low) in d.message and f"1.3 * dibao.standard.urban = {yuan(floor(evaluator))}" in d.message
    # the caret is under the value that breaks the floor, not under its entry's `from:` line
    line = line_of(tekun, f"value: {yuan(low)}")
    assert "原则上" in d.message and d.span.line == line
    assert d.span.col == tekun.read_text(encoding="utf-8").splitlines()[line - 1].index(yuan(low)) + 1
    std = yuan(param(evaluator, "dibao.standard.urban", "140000", "2024-07-01"))
    assert f"城市低保标准（dibao.standard.urban）= {std}，自 2024-01-01 起" in d.notes[0]


def test_floor_checked_when_the_other_side_changes(policy_copy, evaluator, baseline):
    # raising the 低保 standard in 2024 breaks the 特困 floor from that date, without touching tekun.yaml
    tekun = param(evaluator, "tekun.basic_living.urban", "140000", "2024-07-01")
    highest = int(tekun / Decimal("1.3"))  # the highest whole standard the 特困 standard still meets
    set_urban_standard(policy_copy, highest)
    assert urban_floor_warnings(diagnose(policy_copy)) == []
    set_urban_standard(policy_copy, highest + 1)
    diags = added(diagnose(policy_copy), baseline)
    assert {d.code for d in diags} == {"W0401"}
    assert len(urban_floor_warnings(diags)) == 1 and "2024-01-01" in urban_floor_warnings(diags)[0].message


def test_written_reason_records_an_exception(policy_copy, evaluator, baseline):
    tekun = policy_copy / "parameters" / "tekun.yaml"
    set_tekun(policy_copy, floor(evaluator) - 10)
    edit(tekun, "      - min: 1.3 * dibao.standard.urban\n        wording: 原则上\n",
         "      - min: 1.3 * dibao.standard.urban\n        wording: 原则上\n        reason: 示例：过渡期内分步提高\n")
    reporter = Reporter()
    c = compile_policy(policy_copy, reporter)
    assert added(reporter.items, baseline) == [] and urban_floor_warnings(reporter.items) == []
    assert [(e.parameter, e.date, e.bound) for e in c.exceptions if e.jurisdiction == "140000"] == \
        [("tekun.basic_living.urban", "2024-01-01", floor(evaluator))]


def test_hard_floor_is_an_error(policy_copy, evaluator, baseline):
    tekun = policy_copy / "parameters" / "tekun.yaml"
    # below the province's floor and below 大同市's (its own urban standard, the province's 特困 standard)
    datong = Decimal("1.3") * param(evaluator, "dibao.standard.urban", "140200", "2024-07-01")
    set_tekun(policy_copy, min(floor(evaluator), datong) - 10)
    edit(tekun, "      - min: 1.3 * dibao.standard.urban\n        wording: 原则上", "      - min: 1.3 * dibao.standard.urban\n        wording: 不低于")
    diags = added(diagnose(policy_copy), baseline)
    assert [d.code for d in diags] == ["E0701", "E0701"]
    # a written reason excuses only a 原则上 floor: 大同市's exception does not apply to a hard one
    assert sorted(d.span.file.split("/")[-1] for d in diags) == ["140200-datong.yaml", "tekun.yaml"]


def test_constraint_naming_an_unknown_parameter(policy_copy, baseline):
    edit(policy_copy / "parameters" / "tekun.yaml", "1.3 * dibao.standard.urban", "1.3 * dibao.standard.urbn")
    diags = added(diagnose(policy_copy), baseline)
    assert [d.code for d in diags] == ["E0702"] and "dibao.standard.urban" in diags[0].hint


def test_funding_over_two_percent_fails_at_the_line(policy_copy, baseline):
    funding = policy_copy / "funding" / "2024.yaml"
    edit(funding, "    purchase_of_services: 12000000", "    purchase_of_services: 12000001")
    diags = added(diagnose(policy_copy), baseline)
    assert [d.code for d in diags] == ["E0806"]
    assert diags[0].span.line == line_of(funding, "12000001") and "12000000.00" in diags[0].message


def test_event_mistakes(policy_copy, baseline):
    events = policy_copy / "events" / "drill-2024.yaml"
    edit(events, 'localities: ["140702"]', 'localities: ["城区", "小点区"]')
    edit(events, "      dibao.standard.rural: {add: 80}", "      dibao.standard.rurl: {add: 80}")
    edit(events, "    to: 2024-08-31", "    to: 2024-07-31")
    diags = added(diagnose(policy_copy), baseline)
    assert sorted(d.code for d in diags) == ["E0802", "E0803", "E0803", "E0804"]
    ambiguous = next(d for d in diags if d.code == "E0803" and "城区" in d.message)
    assert "阳泉市城区" in ambiguous.hint and "晋城市城区" in ambiguous.hint


def test_coverage_accounts_for_every_article():
    rows = coverage(compile_policy(ROOT / "policies" / "shanxi", Reporter()))
    by = {r.citation: r for r in rows}
    assert len(rows) == 27 and all(r.status != "unaccounted" for r in rows)
    assert by["二(二)6"].status == "partly" and by["二(二)6"].rules
    assert by["二(六)20"].status == "partly_computable" and "12345" in by["二(六)20"].reason
    assert by["三(一)"].status == "not_computable" and not by["三(一)"].rules
    assert by["二(五)19"].status == "partly" and by["二(五)19"].parameters == ["funding.purchase_cap_ratio"]


def test_coverage_fails_on_an_unaccounted_or_contradicted_article(policy_copy):
    manifest = policy_copy / "policy.yaml"
    edit(manifest, "      三(一): {heading: 强化责任落实, status: not_computable, reason: 本条规定党委、政府的责任、部门分工和资金保障，属于组织责任，没有可计算的条件或标准}",
         "      三(一): 强化责任落实")
    edit(manifest, "      二(二)5: {heading: 完善最低生活保障制度, status: partly,",
         "      二(二)5: {heading: 完善最低生活保障制度, status: not_computable,")
    proc = subprocess.run([sys.executable, "-m", "policyc", "coverage", "--policy", policy_copy],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "E0505" in proc.stderr and "三(一)" in proc.stderr and "E0506" in proc.stderr


def test_citing_an_article_that_does_not_exist_fails(policy_copy, baseline):
    rules = policy_copy / "rules" / "temporary.policy"
    edit(rules, '程序 临时救助 (temporary) 依据 "二(四)14"', '程序 临时救助 (temporary) 依据 "二(四)24"')
    assert [d.code for d in added(diagnose(policy_copy), baseline)] == ["E0501"]


def test_floor_met_exactly_is_fine_and_one_fen_below_is_not(policy_copy, evaluator, baseline):
    set_tekun(policy_copy, floor(evaluator))  # 1.3 × the urban 低保 standard exactly
    diags = diagnose(policy_copy)
    assert added(diags, baseline) == [] and urban_floor_warnings(diags) == []
    set_tekun(policy_copy, floor(evaluator) - Decimal("0.01"))
    diags = added(diagnose(policy_copy), baseline)
    assert [d.code for d in diags] == ["W0401"] and diags == urban_floor_warnings(diags)
