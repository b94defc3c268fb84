"""The rule language's grammar: what parses into which nodes, and where syntax errors are reported."""
from decimal import Decimal

from policyc.diagnostics import Reporter
from policyc.dsl import ast
from policyc.dsl.parser import parse_file


def parse(text):
    reporter = Reporter()
    tree = parse_file("t.policy", text, reporter)
    return tree, reporter.items


def only_decl(text) -> ast.Decl:
    tree, diags = parse(text)
    assert diags == [] and tree is not None
    return tree.items[-1]


def test_definition_with_chinese_names_units_and_citations():
    d = only_decl('程序 低保 (dibao) 依据 "二(二)5"\n定义 低保标准 (standard): 元/月 = 城市低保标准 × 1.5 倍 依据 "二(二)5", "审核确认办法 第八条"')
    assert d.kind == "value" and d.target.name == "低保标准" and d.ident == "standard"
    assert d.type.kind == "unit" and d.type.name == "元/月"
    assert isinstance(d.expr, ast.BinOp) and d.expr.op == "*"
    assert d.expr.right == ast.Quantity(d.expr.right.span, Decimal("1.5"), "倍")
    assert [c.value for c in d.citations] == ["二(二)5", "审核确认办法 第八条"]


def test_chinese_comparison_words_and_boolean_keywords():
    d = only_decl("定义 x = 不 a 低于 b 且 c 不低于 d 或 e 等于 f")
    assert isinstance(d.expr, ast.BoolOp) and d.expr.op == "or"
    left = d.expr.left
    assert left.op == "and" and isinstance(left.left, ast.Not)
    assert left.left.operand.op == "<" and left.right.op == ">="
    assert d.expr.right.op == "="


def test_if_then_else_nests_in_else_branch():
    d = only_decl("定义 x = 如果 a 则 1 否则 如果 b 则 2 否则 3")
    assert isinstance(d.expr, ast.If) and isinstance(d.expr.otherwise, ast.If)


def test_per_record_definition_calls_and_field_access():
    d = only_decl("定义 家庭成员.扣减 (deduction) = 较小值(劳动收入 × 30%, 申请家庭.上限)")
    assert d.target.scope == "家庭成员" and d.target.name == "扣减"
    call = d.expr
    assert isinstance(call, ast.Call) and call.func == "较小值" and len(call.args) == 2
    assert call.args[0].right.unit == "%"
    assert isinstance(call.args[1], ast.FieldAccess) and call.args[1].name == "上限"


def test_rule_with_reasons_and_only_if():
    d = only_decl('程序 p (p) 依据 "一"\n规则 r (r) 依据 "一": a 低于 b 仅当 c 成立时 "是{a}" 不成立时 "否"')
    assert d.kind == "rule" and d.only_if.name == "c"
    assert d.when_true.value == "是{a}" and d.when_false.value == "否"


def test_decision_table_rows():
    d = only_decl("决策表 档次 (tier): 文本 按 项目数 命中 唯一 {\n [0, 1) => \"全自理\"\n [1, 3] => \"半自理\"\n"
                  " 当 >= 4 => \"全护理\"\n 当 x => \"特殊\"\n 其余 => \"无\"\n}")
    assert d.kind == "table" and d.hit == "唯一"
    assert [r.kind for r in d.rows] == ["half_open", "closed", "compare", "when", "else"]
    assert d.rows[2].op == ">="


def test_records_enums_inputs_and_optional_types():
    tree, diags = parse("枚举 城乡类别 (area) { urban 城市, rural 农村 }\n"
                        "记录 家庭 (household) {\n 城乡 (area): 城乡类别\n 日期 (d): 日期?\n 成员 (members): 列表<人> 范围 1 至 30\n}\n"
                        "输入 申请家庭 (household): 家庭")
    assert diags == []
    enum, record, inp = tree.items
    assert enum.members[0][:2] == ("urban", "城市")
    assert record.fields[1].type.kind == "date" and record.fields[1].type.optional
    assert record.fields[2].type.kind == "list" and record.fields[2].bounds == (1, 30)
    assert inp.type.name == "家庭"


def test_comments_and_dates():
    d = only_decl("# 注释\n定义 x = 2024-01-01 # 行尾注释")
    assert isinstance(d.expr, ast.DateLit) and d.expr.value == "2024-01-01"


def test_keyword_glued_to_a_name_is_a_syntax_error_at_its_place():
    tree, diags = parse("定义 x =\n  如果a 则 1 否则 2")
    assert tree is None and len(diags) == 1
    d = diags[0]
    assert d.code == "E0101" and (d.span.line, d.span.col) == (2, 7)
    assert "则" in d.message


def test_unexpected_character_and_end_of_file():
    _, diags = parse("定义 x = 1 @ 2")
    assert diags[0].code == "E0102" and diags[0].span.col == 10
    _, diags = parse("定义 x = (1 + ")
    assert diags[0].code == "E0103"


def test_every_rule_example_in_the_language_reference_parses():
    import re
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[1] / "docs" / "language.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```\n(.*?)```", doc, re.S)
              if re.match(r"(程序|枚举|记录|输入|定义|规则|说明|决策表|输出) ", b)]
    assert len(blocks) >= 10
    for block in blocks:
        tree, diags = parse(block)
        assert diags == [], (block, [d.message for d in diags])
