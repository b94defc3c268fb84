"""Names, types, units and citations in rule files: each mistake is caught at its line with an actionable hint."""
import pytest

from conftest import added, diagnose

HEADER = '程序 最低生活保障 (dibao) 依据 "二(二)5"\n'


def with_rules(policy_copy, text, name="extra.policy", warnings=False):
    """Compile with an extra rule file; its errors (and warnings when asked)."""
    (policy_copy / "rules" / name).write_text(text, encoding="utf-8")
    return [d for d in diagnose(policy_copy) if warnings or d.severity == "error"]


def codes(diags):
    return [d.code for d in diags]


def test_unknown_parameter_name_suggests_the_nearest(policy_copy):
    diags = with_rules(policy_copy, HEADER.replace("dibao", "extra") + "定义 试算 (trial): 元/月 = 城镇低保标准 × 2\n")
    assert codes(diags) == ["E0301"]
    assert "城镇低保标准" in diags[0].message and "城市低保标准" in diags[0].hint
    assert diags[0].span.line == 2 and diags[0].span.col == 22


def test_monthly_and_yearly_money_do_not_mix(policy_copy):
    diags = with_rules(policy_copy, "记录 年收入 (yearly) { 金额 (amount): 元/年 }\n输入 年度 (year): 年收入\n"
                                    "定义 合计 (total) = 城市低保标准 + 年度.金额\n")
    assert codes(diags) == ["E0401"]
    assert "元/月" in diags[0].message and "元/年" in diags[0].message and "按月" in diags[0].hint
    assert "参数 dibao.standard.urban，单位 元/月，定义于 " in diags[0].notes[0]
    assert "输入字段" in diags[0].notes[1]


def test_plain_number_against_age_asks_for_a_unit(policy_copy):
    diags = with_rules(policy_copy, "定义 老人 (elderly) = 任一(申请家庭.成员, 年龄 >= 60)\n")
    assert codes(diags) == ["E0405"] and "60 岁" in diags[0].hint
    assert with_rules(policy_copy, "定义 老人 (elderly) = 任一(申请家庭.成员, 年龄 >= 60 岁)\n") == []


def test_money_times_money_is_an_error(policy_copy):
    diags = with_rules(policy_copy, "定义 乘积 (product) = 城市低保标准 × 农村低保标准\n")
    assert codes(diags) == ["E0401"]


def test_optional_value_needs_a_presence_test(policy_copy):
    diags = with_rules(policy_copy, "定义 早于 (before) = 申请家庭.上次核查日期 低于 评估日期\n")
    assert codes(diags) == ["E0404"] and "有(" in diags[0].hint
    ok = with_rules(policy_copy, "定义 早于 (before) = 有(申请家庭.上次核查日期) 且 申请家庭.上次核查日期 低于 评估日期\n")
    assert ok == []


def test_declared_type_must_match(policy_copy):
    diags = with_rules(policy_copy, "定义 人数 (n): 元/月 = 计数(申请家庭.成员)\n")
    assert codes(diags) == ["E0402"]


def test_condition_must_be_boolean(policy_copy):
    diags = with_rules(policy_copy, HEADER.replace("dibao", "extra") + "规则 r (r) 依据 \"二(二)5\": 城市低保标准\n")
    assert codes(diags) == ["E0403"]


def test_cycle_is_reported_with_its_path(policy_copy):
    diags = with_rules(policy_copy, "定义 甲 (a): 元/月 = 乙 + 0 元/月\n定义 乙 (b): 元/月 = 甲\n")
    assert codes(diags) == ["E0308"]
    assert "甲 → 乙 → 甲" in diags[0].message or "乙 → 甲 → 乙" in diags[0].message


def test_unknown_article_and_unknown_source(policy_copy):
    diags = with_rules(policy_copy, '程序 x (x) 依据 "二(二)55"\n定义 y (y) = 1 依据 "某办法 第一条"\n')
    assert sorted(codes(diags)) == ["E0501", "E0502"]


def test_unknown_field_and_unknown_enum_member(policy_copy):
    diags = with_rules(policy_copy, "定义 a (a) = 申请家庭.城镇\n")
    assert codes(diags) == ["E0306"] and "城乡" in diags[0].hint
    diags = with_rules(policy_copy, "定义 a (a) = 申请家庭.城乡 = 郊区\n")
    assert codes(diags) == ["E0310"]


def test_rule_needs_a_program_and_an_id(policy_copy):
    diags = with_rules(policy_copy, '规则 孤立 (lonely) 依据 "二(二)5": 真\n')
    assert codes(diags) == ["E0309"]
    diags = with_rules(policy_copy, HEADER.replace("dibao", "extra") + '规则 无标识 依据 "二(二)5": 真\n')
    assert codes(diags) == ["E0311"]


def test_bad_identifier(policy_copy):
    diags = with_rules(policy_copy, "定义 a (MonthlyAmount) = 1\n")
    assert codes(diags) == ["E0304"]


def test_duplicate_names(policy_copy):
    diags = with_rules(policy_copy, "定义 低保标准 (std2) = 1\n")
    assert codes(diags) == ["E0302"]


def test_table_lookup_key_type(policy_copy):
    diags = with_rules(policy_copy, "定义 档 (tier) = 查表(低保分档补助表, 3 岁)\n")
    assert codes(diags) == ["E0413"]


def test_decision_table_without_else_and_mixed_results(policy_copy):
    diags = with_rules(policy_copy, "决策表 t (t): 文本 命中 首条 { 当 真 => \"a\" }\n")
    assert codes(diags) == ["E0411"]
    diags = with_rules(policy_copy, "决策表 t (t) 命中 首条 { 当 真 => \"a\" 其余 => 1 元/月 }\n")
    assert codes(diags) == ["E0407"]


def test_bad_placeholder_in_reason(policy_copy):
    diags = with_rules(policy_copy, HEADER.replace("dibao", "extra")
                       + '规则 r (r) 依据 "二(二)5": 真 成立时 "标准{不存在的名字}元"\n')
    assert codes(diags) == ["E0301"]
    assert diags[0].span.line == 2


@pytest.mark.parametrize("expr,ok", [
    ("如果 真 则 1 元/月 否则 无", True),
    ("如果 真 则 1 元/月 否则 \"文字\"", False),
    ("较小值(1 元/月, 2 元/年)", False),
    ("合计(申请家庭.成员, 月收入) / 计数(申请家庭.成员)", True),
    ("评估日期 + 6 个月", True),
    ("评估日期 + 6", False),
    ("按年(城市低保标准) - 12 元/年", True),
])
def test_typing_rules(policy_copy, expr, ok):
    diags = with_rules(policy_copy, f"定义 试 (trial) = {expr}\n")
    assert (diags == []) == ok, [d.message for d in diags]


def test_unused_definitions_and_fields_are_warned_about(policy_copy, baseline):
    diags = added(with_rules(policy_copy, "记录 附加 (extra) { 备注 (note): 文本? }\n输入 附加信息 (extra_info): 附加?\n"
                                          "定义 闲置 (idle) = 城市低保标准 × 2\n", warnings=True), baseline)
    assert sorted(d.code for d in diags) == ["W0302", "W0303"]
    assert {d.span.line for d in diags} == {1, 3}


def test_unused_parameter_is_warned_about(policy_copy, baseline):
    params = policy_copy / "parameters" / "extra.yaml"
    params.write_text("parameters:\n  extra.unused:\n    name: 闲置参数\n    unit: 元\n    citation: 二(二)5\n"
                      "    values:\n      - {from: 2024-01-01, value: 1, illustrative: true}\n", encoding="utf-8")
    diags = added(diagnose(policy_copy), baseline)
    assert [(d.code, d.span.line) for d in diags] == [("W0301", 2)]


def test_no_unused_warnings_after_an_error(policy_copy, baseline):
    rules = policy_copy / "rules" / "dibao.policy"
    rules.write_text(rules.read_text(encoding="utf-8").replace("城市低保标准 否则", "城镇低保标准 否则"),
                     encoding="utf-8")
    assert [d.code for d in added(diagnose(policy_copy), baseline)] == ["E0301"]
