"""Rules rendered as Chinese keep their meaning: brackets where precedence needs them, and nowhere else.

The expressions are built directly in the IR. A small parser for the rendered form (precedence as documented in
policyc/emit/chinese.py) reads the text back; random trees must come back as the same tree, and removing any
bracket pair must change what the text says.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyc.emit.chinese import Renderer
from policyc.ir import Definition, Enum, Expr, Field, Module, Record

NAMES = {"a": "甲", "b": "乙", "c": "丙", "d": "丁"}


def module() -> Module:
    defs = [Definition(i, n, "value", "number", Expr("lit", "number", value="0"), None) for i, n in NAMES.items()]
    member = Record("member", "家庭成员", [Field("income", "月收入", "money/month"),
                                         Field("deduction", "就业成本扣减", "money/month"),
                                         Field("age", "年龄", "age"), Field("student", "在校", "bool")])
    return Module({"area": Enum("area", "城乡类别", [("urban", "城市"), ("rural", "农村")])}, {"member": member},
                  [Field("members", "成员", "list:record:member")], defs, [], {})


PARAMS = {"table": SimpleNamespace(name="低保分档补助表"), "cap": SimpleNamespace(name="就业成本扣减上限")}
R = Renderer(module(), PARAMS)


# ── building and reading trees ─────────────────────────────────────────────────────────
def v(name: str) -> Expr:
    return Expr("def", "number", value=name)


def op(name: str, *args: Expr) -> Expr:
    return Expr(name, "number", tuple(args))


a, b, c, d = (v(x) for x in "abcd")
money = Expr("lit", "money/month", value="0")


def shape(e: Expr):
    """The tree as nested tuples, leaves as their Chinese names."""
    return NAMES[e.value] if e.op == "def" else (e.op, *map(shape, e.args))


def render(e: Expr, renderer: Renderer = R) -> str:
    return renderer.expr(e)


_CMP = {"低于": "lt", "不高于": "le", "高于": "gt", "不低于": "ge", "为": "eq", "不为": "ne"}
_TOKENS = sorted(["（", "）", "，且", "，或", "，为", "；否则", "如果", "并非", "负", "加", "减", "乘以", "除以", "、",
                  "中的较小者", "中的较大者", *_CMP, *NAMES.values()], key=len, reverse=True)
_TOKEN = re.compile("|".join(map(re.escape, _TOKENS)))


class Unparsable(Exception):
    pass


def parse(text: str):
    """Reads the rendered form back into a tree (nested tuples), or raises Unparsable.

    Grammar, loosest first (the one chinese.py documents):
      if   := 如果 list ，为 list ；否则 if | list
      list := or (、 or)* 中的较小者|中的较大者 | or
      or   := and (，或 and)*        and := not (，且 not)*        not := 并非 not | cmp
      cmp  := sum (低于|… sum)?      sum := prod ((加|减) prod)*      prod := neg ((乘以|除以) neg)*
      neg  := 负 neg | atom          atom := 甲|乙|丙|丁 | （ if ）
    """
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise Unparsable(f"unknown text at {pos}: {text[pos:]!r}")
        tokens.append(m.group())
        pos = m.end()
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else None

    def take(*expected):
        nonlocal i
        if peek() not in expected:
            raise Unparsable(f"expected {expected} at token {i}, found {peek()!r} in {text!r}")
        i += 1
        return tokens[i - 1]

    def left(sub, ops: dict):
        tree = sub()
        while peek() in ops:
            tree = (ops[take(*ops)], tree, sub())
        return tree

    def if_():
        if peek() == "如果":
            take("如果")
            cond = list_()
            take("，为")
            then = list_()
            take("；否则")
            return ("if", cond, then, if_())
        return list_()

    def list_():
        items = [or_()]
        while peek() == "、":
            take("、")
            items.append(or_())
        if len(items) > 1 or peek() in ("中的较小者", "中的较大者"):
            return ("min" if take("中的较小者", "中的较大者") == "中的较小者" else "max", *items)
        return items[0]

    def or_():
        return left(and_, {"，或": "or"})

    def and_():
        return left(not_, {"，且": "and"})

    def not_():
        if peek() == "并非":
            take("并非")
            return ("not", not_())
        return cmp()

    def cmp():
        tree = sum_()
        if peek() in _CMP:
            tree = (_CMP[take(*_CMP)], tree, sum_())
        return tree

    def sum_():
        return left(prod, {"加": "add", "减": "sub"})

    def prod():
        return left(neg, {"乘以": "mul", "除以": "div"})

    def neg():
        if peek() == "负":
            take("负")
            return ("neg", neg())
        return atom()

    def atom():
        if peek() == "（":
            take("（")
            tree = if_()
            take("）")
            return tree
        if peek() in NAMES.values():
            return take(*NAMES.values())
        raise Unparsable(f"expected a name or （ at token {i}, found {peek()!r} in {text!r}")

    tree = if_()
    if i != len(tokens):
        raise Unparsable(f"text left over at token {i} in {text!r}")
    return tree


def bracket_pairs(text: str) -> list[tuple[int, int]]:
    stack, pairs = [], []
    for k, ch in enumerate(text):
        if ch == "（":
            stack.append(k)
        elif ch == "）":
            pairs.append((stack.pop(), k))
    return pairs


def parse_or_none(text: str):
    try:
        return parse(text)
    except Unparsable:
        return None


# ── examples ────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("tree, text", [
    # 且 binds more tightly than 或, as in the rule language
    (op("or", a, op("and", b, c)), "甲，或乙，且丙"),
    (op("and", op("or", a, b), c), "（甲，或乙），且丙"),
    (op("and", a, op("or", b, c)), "甲，且（乙，或丙）"),
    (op("or", op("and", a, b), c), "甲，且乙，或丙"),
    (op("and", op("and", a, b), c), "甲，且乙，且丙"),
    (op("and", a, op("and", b, c)), "甲，且（乙，且丙）"),
    # 不
    (op("not", op("and", a, b)), "并非（甲，且乙）"),
    (op("and", op("not", a), b), "并非甲，且乙"),
    (op("not", op("or", a, b)), "并非（甲，或乙）"),
    (op("not", op("lt", a, b)), "并非甲低于乙"),
    (op("not", op("not", a)), "并非并非甲"),
    # arithmetic groups from the left
    (op("sub", a, op("add", b, c)), "甲减（乙加丙）"),
    (op("add", op("sub", a, b), c), "甲减乙加丙"),
    (op("sub", a, op("sub", b, c)), "甲减（乙减丙）"),
    (op("sub", op("sub", a, b), c), "甲减乙减丙"),
    (op("div", a, op("mul", b, c)), "甲除以（乙乘以丙）"),
    (op("mul", op("div", a, b), c), "甲除以乙乘以丙"),
    (op("div", a, op("div", b, c)), "甲除以（乙除以丙）"),
    (op("mul", a, op("add", b, c)), "甲乘以（乙加丙）"),
    (op("mul", op("add", a, b), c), "（甲加乙）乘以丙"),
    (op("add", a, op("mul", b, c)), "甲加乙乘以丙"),
    (op("neg", op("add", a, b)), "负（甲加乙）"),
    (op("sub", a, op("neg", b)), "甲减负乙"),
    (op("mul", op("neg", a), b), "负甲乘以乙"),
    (op("neg", op("mul", a, b)), "负（甲乘以乙）"),
    # comparisons bind more loosely than arithmetic and do not chain
    (op("lt", op("add", a, b), op("mul", c, d)), "甲加乙低于丙乘以丁"),
    (op("eq", op("lt", a, b), c), "（甲低于乙）为丙"),
    (op("and", op("lt", a, b), op("ge", c, d)), "甲低于乙，且丙不低于丁"),
    # 如果 is loosest: bracketed inside anything, chained after 否则
    (op("add", op("if", a, b, c), d), "（如果甲，为乙；否则丙）加丁"),
    (op("sub", d, op("if", a, b, c)), "丁减（如果甲，为乙；否则丙）"),
    (op("mul", op("if", a, b, c), d), "（如果甲，为乙；否则丙）乘以丁"),
    (op("not", op("if", a, b, c)), "并非（如果甲，为乙；否则丙）"),
    (op("if", a, b, op("if", c, d, a)), "如果甲，为乙；否则如果丙，为丁；否则甲"),
    (op("if", a, op("if", b, c, d), a), "如果甲，为（如果乙，为丙；否则丁）；否则甲"),
    (op("if", op("if", a, b, c), d, a), "如果（如果甲，为乙；否则丙），为丁；否则甲"),
    (op("if", op("or", a, b), op("add", c, d), op("and", a, b)), "如果甲，或乙，为丙加丁；否则甲，且乙"),
    (op("or", op("if", a, b, c), d), "（如果甲，为乙；否则丙），或丁"),
    # 较小者 / 较大者: the list is open on the left, so as an operand it is bracketed; its items are not
    (op("lt", op("max", op("sub", a, b), op("sub", b, a)), c), "（甲减乙、乙减甲中的较大者）低于丙"),
    (op("add", c, op("min", a, b)), "丙加（甲、乙中的较小者）"),
    (op("min", op("mul", a, b), c), "甲乘以乙、丙中的较小者"),
    (op("if", a, op("min", b, c), d), "如果甲，为乙、丙中的较小者；否则丁"),
    (op("min", op("if", a, b, c), d), "（如果甲，为乙；否则丙）、丁中的较小者"),
    (op("min", op("max", a, b), c), "（甲、乙中的较大者）、丙中的较小者"),
])
def test_brackets_where_precedence_needs_them(tree, text):
    assert render(tree) == text
    assert parse(text) == shape(tree)


def test_the_two_groupings_of_or_and_and_read_differently():
    assert render(op("or", a, op("and", b, c))) != render(op("and", op("or", a, b), c))
    assert render(op("sub", a, op("add", b, c))) != render(op("add", op("sub", a, b), c))


member_list = Expr("input", "list:record:member", value="members")


def item(fid: str, t: str = "money/month") -> Expr:
    return Expr("field", t, (Expr("elem", "record:member", value="e1"),), fid)


@pytest.mark.parametrize("tree, text", [
    # what is summed is bracketed when compound: “各自的月收入减就业成本扣减之和” could be read as 月收入 − Σ扣减
    (Expr("sum", "money/month", (member_list, Expr("sub", "money/month", (item("income"), item("deduction")))), "e1"),
     "成员各自的（月收入减就业成本扣减）之和"),
    (Expr("sum", "money/month", (member_list, item("income")), "e1"), "成员各自的月收入之和"),
    (Expr("sub", "money/month", (money, Expr("sum", "money/month", (member_list, item("income")), "e1"))),
     "每月0元减成员各自的月收入之和"),
    # a condition joined by 且 / 或 is bracketed, so that “，且” after it is not read as part of it
    (Expr("and", "bool", (Expr("any", "bool", (member_list, Expr("and", "bool", (
        Expr("lt", "bool", (item("age", "age"), Expr("lit", "age", value="16"))), item("student", "bool")))), "e1"),
        Expr("lit", "bool", value=True))),
     "成员中有人（年龄低于16岁，且在校），且是"),
    (Expr("count", "count", (member_list, Expr("ge", "bool", (item("age", "age"), Expr("lit", "age", value="60")))),
          "e1"), "成员中年龄不低于60岁的人数"),
    (Expr("not", "bool", (Expr("all", "bool", (member_list, item("student", "bool")), "e1"),)), "并非成员均在校"),
    # the key of a lookup is bracketed when compound: “查得的低保标准减…” would read as a standard looked up
    (Expr("lookup", "money/month", (Expr("sub", "money/month", (a, b)),), "table"), "按低保分档补助表查得的（甲减乙）所在档次的数额"),
    (Expr("mul", "money/month", (Expr("lookup", "money/month", (a,), "table"), b)), "按低保分档补助表查得的甲所在档次的数额乘以乙"),
    # postfix phrases take their operand whole
    (Expr("per_month", "money/month", (Expr("add", "money/year", (a, b)),)), "（甲加乙）折合每月"),
    (Expr("add", "money/month", (a, Expr("per_month", "money/month", (b,)))), "甲加乙折合每月"),
    (Expr("default", "money/month", (Expr("add", "money/month", (a, b)), Expr("if", "money/month", (c, a, b)))),
     "（甲加乙）（为无时取如果丙，为甲；否则乙）"),
    (Expr("add", "date", (Expr("default", "date", (a, b)), c)), "甲（为无时取乙）加丙"),
    (Expr("not", "bool", (Expr("present", "bool", (a,)),)), "甲为无"),
    (Expr("and", "bool", (Expr("present", "bool", (a,)), Expr("lt", "bool", (a, b)))), "甲不为无，且甲低于乙"),
    (Expr("eq", "bool", (Expr("input", "enum:area", value="members"), Expr("lit", "enum:area", value="urban"))),
     "成员为城市"),
])
def test_brackets_around_the_operands_of_phrases(tree, text):
    assert render(tree) == text


# ── random trees ────────────────────────────────────────────────────────────────────────
BINARY = ["and", "or", "add", "sub", "mul", "div", "lt", "ge", "eq", "ne"]
leaves = st.sampled_from("abcd").map(v)


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(BINARY), children, children).map(lambda t: op(t[0], t[1], t[2])),
        st.tuples(st.sampled_from(["not", "neg"]), children).map(lambda t: op(t[0], t[1])),
        st.tuples(children, children, children).map(lambda t: op("if", *t)),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(children, min_size=2, max_size=3))
        .map(lambda t: op(t[0], *t[1])),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(trees)
def test_the_rendering_reads_back_as_the_same_tree(tree):
    text = render(tree)
    assert parse(text) == shape(tree), text


@settings(max_examples=300, deadline=None)
@given(trees, trees)
def test_different_trees_never_render_alike(one, other):
    if shape(one) != shape(other):
        assert render(one) != render(other)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_no_bracket_can_be_left_out(tree):
    text = render(tree)
    for start, end in bracket_pairs(text):
        without = text[:start] + text[start + 1:end] + text[end + 1:]
        assert parse_or_none(without) != shape(tree), f"{text}: the brackets at {start} are not needed"


class NoBrackets(Renderer):
    """A renderer that ignores precedence, as this one once did inside 且/或/加/减."""

    def expr(self, e, need=0):
        return super().expr(e, 0)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # the report of the failure
def test_the_round_trip_check_catches_a_renderer_that_drops_brackets():
    broken = NoBrackets(module(), PARAMS)
    assert render(op("or", a, op("and", b, c)), broken) == render(op("and", op("or", a, b), c), broken)

    @settings(max_examples=300, deadline=None, database=None)
    @given(trees)
    def round_trip(tree):
        assert parse_or_none(render(tree, broken)) == shape(tree)

    with pytest.raises(AssertionError):
        round_trip()
