"""Relative case inputs (policyc/check/cases.py) and `policyc test --update` (policyc/testing_update.py), on a
copy of the shipped policy set whose example cases are replaced by a small file written here. Parameter values are
read from the compiled copy, never written into the test."""
import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from policyc.cli import main
from policyc.compiler import compile_policy
from policyc.diagnostics import PolicyError, Reporter
from policyc.emit.bundle import build_bundle
from policyc.runtime import Evaluator, jsonio
from policyc.testing import run_cases

POLICY = Path(__file__).resolve().parents[1] / "policies" / "shanxi"
STD = "dibao.standard.urban"
MEMBER = ("{{id: {id}, relation: {rel}, age: 40, monthly_income: {inc}, earned_income: {earn}, labor_capacity: full, "
          "disability_grade: 0, disability_type: null, serious_illness: false, legally_incapacitated: false}}")


def household(a="1000", b="200", b_earned="0", c="0", c_earned=None) -> str:
    rows = [MEMBER.format(id="A", rel="applicant", inc=a, earn=a), MEMBER.format(id="B", rel="spouse", inc=b, earn=b_earned),
            MEMBER.format(id="C", rel="sibling", inc=c, earn=c if c_earned is None else c_earned)]
    return ("    household:\n      area: urban\n      assets_within_limit: true\n      income_stable: true\n"
            "      employment_assisted: false\n      members:\n" + "".join(f"        - {r}\n" for r in rows))


def case(name: str, expect: str, date="2024-07-01", locality="140702", extra="", **members) -> str:
    return (f"  - name: {name}\n    covers: 测试\n    date: {date}\n    locality: \"{locality}\"\n{extra}"
            + household(**members) + "    expect:\n" + expect)


def policy_with(tmp_path: Path, cases_text: str) -> Path:
    """A copy of the shipped policy set with only the given case file."""
    dest = tmp_path / "shanxi"
    shutil.copytree(POLICY, dest)
    for f in (dest / "cases").glob("*.yaml"):
        f.unlink()
    (dest / "cases" / "t.yaml").write_text(cases_text, encoding="utf-8")
    return dest


def evaluator(policy: Path) -> Evaluator:
    return Evaluator(jsonio.loads(jsonio.dumps(build_bundle(compile_policy(policy, Reporter())), indent=None)))


def value_at(ev: Evaluator, pid: str, code: str, day: str) -> Decimal:
    return Decimal(ev.params_at(code, dt.date.fromisoformat(day))[0][pid])


def raise_value(policy: Path, pid: str, day: str, by: int) -> tuple[Decimal, Decimal]:
    """Raise the province's value of pid in force on day by `by`, in its source file; (old, new)."""
    c = compile_policy(policy, Reporter())
    entry = next(v for v in reversed(c.params[pid].timelines["140000"]) if v.start <= dt.date.fromisoformat(day))
    file, line, _ = entry.defined_at.rsplit(":", 2)
    path = Path(file) if Path(file).is_absolute() else Path.cwd() / file
    lines = path.read_text(encoding="utf-8").split("\n")
    i = next(i for i in range(int(line) - 1, len(lines)) if re.match(r"\s*value: ", lines[i]))
    new = entry.value + by
    lines[i] = re.sub(r"value: \S+", f"value: {new}", lines[i])
    path.write_text("\n".join(lines), encoding="utf-8")
    return Decimal(entry.value), Decimal(new)


# ---- relative inputs ---------------------------------------------------------------------------------------

PLACES = [("140702", "2023-07-01"), ("140702", "2024-07-01"), ("140105", "2024-07-01"), ("140702", "2024-08-15")]


def test_relative_inputs_resolve_at_each_cases_place_and_date(tmp_path):
    text = "cases:\n" + "".join(
        case(f"地{i}", "      dibao: {eligible: false}\n", date=day, locality=code,
             b="1000", b_earned="1000", c="\"=城市低保标准 × 3 − 2000\"", c_earned="\"=dibao.standard.urban*3-2000\"")
        for i, (code, day) in enumerate(PLACES))
    text += case("临时取值", "      dibao: {eligible: true}\n", extra=f"    parameters: {{{STD}: 1234.5}}\n",
                 c="\"=城市低保标准 − 0.01\"", c_earned="0")
    ev = evaluator(policy_with(tmp_path, text))
    cases = ev.bundle["cases"]
    resolved = []
    for (code, day), c in zip(PLACES, cases):
        want = value_at(ev, STD, code, day) * 3 - 2000  # in force there and then, an emergency's rise included
        member = c["household"]["members"][2]
        assert Decimal(member["monthly_income"]) == want == Decimal(member["earned_income"])
        assert c["relative_inputs"]["$.household.members[2].monthly_income"] == "=城市低保标准 × 3 − 2000"
        resolved.append(want)
    assert len(set(resolved)) > 1, "the places and dates chosen should not all have the same value"
    assert Decimal(cases[-1]["household"]["members"][2]["monthly_income"]) == Decimal("1234.49")
    assert all(r.passed for r in run_cases(ev)), [r.failures or r.error for r in run_cases(ev) if not r.passed]


def test_a_boundary_case_stays_on_its_boundary_when_the_standard_changes(tmp_path):
    at = case("恰等于标准", "      dibao: {eligible: false, monthly_amount: 0}\n", b="1000", b_earned="1000",
              c="\"=城市低保标准 × 3 − 2000\"", c_earned="\"=城市低保标准 × 3 − 2000\"")
    below = case("低1分", "      dibao: {eligible: true}\n", b="1000", b_earned="1000",
                 c="\"=城市低保标准 × 3 − 2000.01\"", c_earned="\"=城市低保标准 × 3 − 2000.01\"")
    policy = policy_with(tmp_path, "cases:\n" + at + below)
    before = evaluator(policy)
    assert all(r.passed for r in run_cases(before))
    old, new = raise_value(policy, STD, "2024-07-01", 20)
    after = evaluator(policy)
    assert all(r.passed for r in run_cases(after))
    income = lambda ev: Decimal(ev.bundle["cases"][0]["household"]["members"][2]["monthly_income"])  # noqa: E731
    assert income(after) - income(before) == (new - old) * 3


BAD = [
    ("\"=城市低保标准 × × 3\"", "E0606"),
    ("\"=(城市低保标准 × 3\"", "E0606"),
    ("\"=城市低保标准 ÷ 0\"", "E0606"),
    ("\"=城市低保标准 + 1 ÷ 3\"", "E0606"),  # not a finite decimal: exact arithmetic refuses it
    ("\"=城镇低保标准 × 3\"", "E0607"),
    ("\"=dibao.standard.urbn\"", "E0607"),
    ("\"=低保金计算方式 × 3\"", "E0608"),
    ("\"=低保分档补助表\"", "E0608"),
    ("\"=城市低保标准 + 上年度当地居民人均可支配收入\"", "E0610"),
    ("\"=城市低保标准 × 3个月\"", "E0610"),
    ("\"=城市低保标准 − 0.001\"", "E0611"),
]


@pytest.mark.parametrize("written,code", BAD, ids=[f"{c}:{w}" for w, c in BAD])
def test_each_bad_relative_input_is_reported_at_its_value(tmp_path, written, code):
    text = "cases:\n" + case("坏的相对输入", "      dibao: {eligible: true}\n", c=written, c_earned="0")
    policy = policy_with(tmp_path, text)
    reporter = Reporter()
    with pytest.raises(PolicyError):
        compile_policy(policy, reporter)
    found = [d for d in reporter.items if d.code == code]
    assert found, [(d.code, d.message) for d in reporter.items]
    line_no = next(i for i, t in enumerate(text.splitlines(), 1) if written in t)
    col = text.splitlines()[line_no - 1].index(written) + 1
    assert found[0].span.line == line_no and found[0].span.col >= col + 1, str(found[0].span)
    assert found[0].span.file.endswith("t.yaml") and found[0].hint


def test_a_parameter_without_a_value_at_the_cases_date_is_reported(tmp_path):
    probe = evaluator(policy_with(tmp_path / "probe", "cases:\n" + case("x", "      dibao: {eligible: true}\n")))
    first = min(dt.date.fromisoformat(e["from"]) for e in probe.params[STD]["timelines"]["140000"])
    day = (first - dt.timedelta(days=1)).isoformat()
    text = "cases:\n" + case("标准生效前", "      dibao: {eligible: true}\n", date=day, c="\"=城市低保标准\"", c_earned="0")
    reporter = Reporter()
    with pytest.raises(PolicyError):
        compile_policy(policy_with(tmp_path, text), reporter)
    assert [d.code for d in reporter.errors] == ["E0609"], [d.message for d in reporter.items]
    assert day in reporter.errors[0].message


# ---- policyc test --update -----------------------------------------------------------------------------------

def update_fixture(tmp_path) -> tuple[Path, Decimal]:
    probe = evaluator(policy_with(tmp_path / "probe", "cases:\n" + case("x", "      dibao: {eligible: true}\n")))
    std = value_at(probe, STD, "140702", "2024-07-01")
    amount = std * 3 - 1200
    assert amount > 0
    text = ("# 测试用案例：这些注释和排版必须原样保留\ncases:\n"
            + case("差额计发", (
                "      dibao:\n"
                "        eligible: true   # 行尾注释\n"
                f"        monthly_amount: {amount}  # 金额\n"
                "        reasons:\n"
                f"          - \"低于当地低保标准{std}元\"\n"
                f"          - \"家庭每月低保金{amount}元\"\n"))
            + "\n  # 两个案例之间的注释\n"
            + case("流式写法", f"      dibao: {{eligible: true, monthly_amount: {amount}, covered_members: [A, B, C]}}\n")
            + case("恰等于标准", "      dibao: {eligible: false, monthly_amount: 0}\n", b="1000", b_earned="1000",
                   c="\"=城市低保标准 × 3 − 2000\"", c_earned="\"=城市低保标准 × 3 − 2000\"")
            + case("输入有误", f"      dibao: {{monthly_amount: {amount}}}\n", b="200", b_earned="300"))
    return policy_with(tmp_path, text), std


def test_update_rewrites_only_the_failing_expectations_and_keeps_everything_else(tmp_path, capsys):
    policy, std = update_fixture(tmp_path)
    path = policy / "cases" / "t.yaml"
    assert main(["test", "--policy", str(policy)]) == 1  # the bad-input case errors
    old, new = raise_value(policy, STD, "2024-07-01", 20)
    before = path.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["test", "--policy", str(policy), "--update"]) == 1  # the bad-input case still errors
    out = capsys.readouterr().out
    after = path.read_text(encoding="utf-8")
    amount, new_amount = old * 3 - 1200, new * 3 - 1200
    assert "已更新 差额计发" in out and f"dibao.monthly_amount：{amount} → {new_amount}" in out
    assert "已更新 流式写法" in out and "未更新 输入有误" in out and "已更新 恰等于标准" not in out
    assert "已更新 2 个案例" in out
    changed = [(a, b) for a, b in zip(before.split("\n"), after.split("\n")) if a != b]
    assert len(before.split("\n")) == len(after.split("\n"))
    assert changed == [
        (f"        monthly_amount: {amount}  # 金额", f"        monthly_amount: {new_amount}  # 金额"),
        (f"          - \"低于当地低保标准{old}元\"", f"          - \"低于当地低保标准{new}元\""),
        (f"          - \"家庭每月低保金{amount}元\"", f"          - \"家庭每月低保金{new_amount}元\""),
        (f"      dibao: {{eligible: true, monthly_amount: {amount}, covered_members: [A, B, C]}}",
         f"      dibao: {{eligible: true, monthly_amount: {new_amount}, covered_members: [A, B, C]}}"),
    ], changed
    results = {r.name: r for r in run_cases(evaluator(policy))}
    assert all(r.passed for n, r in results.items() if n != "输入有误")
    assert results["输入有误"].error
    capsys.readouterr()
    assert main(["test", "--policy", str(policy), "--update"]) == 1  # idempotent
    assert path.read_text(encoding="utf-8") == after
    assert "已更新 0 个案例" in capsys.readouterr().out


def test_update_honours_k_and_then_the_file_passes(tmp_path, capsys):
    policy, _ = update_fixture(tmp_path)
    path = policy / "cases" / "t.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:text.index("  - name: 输入有误")], encoding="utf-8")
    raise_value(policy, STD, "2024-07-01", 20)
    assert main(["test", "--policy", str(policy), "--update", "-k", "流式"]) == 0
    out = capsys.readouterr().out
    assert "已更新 流式写法" in out and "差额计发" not in out
    assert main(["test", "--policy", str(policy)]) == 1
    assert "✗ 差额计发" in capsys.readouterr().out
    assert main(["test", "--policy", str(policy), "--update"]) == 0
    assert main(["test", "--policy", str(policy)]) == 0


def test_update_replaces_a_reason_that_changed_wording_by_the_actual_reasons(tmp_path, capsys):
    policy, _ = update_fixture(tmp_path)
    path = policy / "cases" / "t.yaml"
    text = path.read_text(encoding="utf-8")
    text = text[:text.index("\n  # 两个案例之间的注释")] + "\n"
    path.write_text(text.replace("低于当地低保标准", "这句话不在理由中"), encoding="utf-8")
    assert main(["test", "--policy", str(policy), "--update"]) == 0
    ev = evaluator(policy)
    decision = ev.evaluate({k: ev.bundle["cases"][0][k] for k in ("locality", "date", "household")})
    new = path.read_text(encoding="utf-8")
    for reason in decision["programs"]["dibao"]["reasons"]:
        assert f"          - \"{reason['text']}\"" in new  # a block list again, at the same indentation
    assert new.startswith("# 测试用案例：这些注释和排版必须原样保留\n") and "# 行尾注释" in new


def test_update_refuses_a_bundle(tmp_path, capsys):
    assert main(["test", "--bundle", str(tmp_path / "x.json"), "--update"]) == 2


def test_update_replaces_missing_facts_and_referrals_lists(tmp_path, capsys):
    text = "cases:\n" + case("列表", "      dibao: {eligible: true, missing_facts: [\"$.household.members[0].age\"]}\n"
                                   "      referrals: [no.such_item, no.other_item@A]\n")
    policy = policy_with(tmp_path, text)
    assert main(["test", "--policy", str(policy), "--update"]) == 0
    out = capsys.readouterr().out
    assert "dibao.missing_facts：[\"$.household.members[0].age\"] → []" in out
    assert "referrals：去掉 no.such_item、no.other_item@A" in out
    new = (policy / "cases" / "t.yaml").read_text(encoding="utf-8")
    assert "      dibao: {eligible: true, missing_facts: []}\n" in new
    ev = evaluator(policy)
    decision = ev.evaluate({k: ev.bundle["cases"][0][k] for k in ("locality", "date", "household")})
    assert ev.bundle["cases"][0]["expect"]["referrals"] == [
        r["item_id"] + (f"@{r['member']}" if r["member"] is not None else "") + ("?" if r.get("status") == "unknown" else "")
        + (f"={r['amount']}" if r["amount"] is not None else "") for r in decision["referrals"]]
