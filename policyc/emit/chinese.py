"""Renders the IR as Chinese: conditions, formulas and tables in the words a caseworker reads.

The documents backend uses it, so that a change to a rule file changes the text of every handbook.

Brackets（全角括号）are inserted exactly where the reading would otherwise differ from the rule, following the
precedence of the rule language (docs/language.md 第 5 节), from loosest to tightest:

    如果…，为…；否则…   <   较小者/较大者（a、b中的…）  <   或   <   且   <   并非   <   低于、为 …（比较）
    <   加、减   <   乘以、除以   <   负   <   的、折合每月、（未提供时为…）…   <   名称、数值

Binary operators group from the left (“甲减乙加丙” is (甲 − 乙) + 丙, so 甲 − (乙 + 丙) reads “甲减（乙加丙）”),
comparisons do not chain, and a 如果 nested in the condition or the 为-branch of another 如果 is bracketed, while
one in the 否则-branch is not (“…；否则如果…”). So “甲，或乙，且丙” is 甲 或 (乙 且 丙), and (甲 或 乙) 且 丙 reads
“（甲，或乙），且丙”. “a、b中的较小者” is open on the left, so it is bracketed as an operand (its items are not).
Phrases whose start a reader cannot see take a compound operand in brackets: 按…查得的（…）所在档次的数额,
…各自的（…）之和, …中有人（…，且…）, （…）折合每月. No other brackets are added (tests/test_chinese_render.py
reads random renderings back and checks both).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ..check.types import type_name, unit_of
from ..ir import Expr, Module, strip_optional

_CMP = {"lt": "低于", "le": "不高于", "gt": "高于", "ge": "不低于", "eq": "为", "ne": "不为"}
_ARITH = {"add": "加", "sub": "减", "mul": "乘以", "div": "除以"}
_ROUND = {"ceil_yuan": "向上取整到元", "round_yuan": "四舍五入到元", "floor_yuan": "向下取整到元",
          "ceil_jiao": "向上取整到角", "round_jiao": "四舍五入到角", "round_fen": "四舍五入到分"}

# Precedence levels, loosest first: an operand whose level is below what its position needs gets brackets.
IF, LIST, OR, AND, NOT, CMP, ADD, MUL, NEG, POSTFIX, ATOM = range(1, 12)

PRECEDENCE = {
    "if": IF, "case": IF,
    "min": LIST, "max": LIST,
    "or": OR, "and": AND,
    "not": NOT, "present": NOT, "any": NOT, "all": NOT,  # prefixes, or open at the end (“…中有人…”)
    **{op: CMP for op in _CMP},
    "add": ADD, "sub": ADD, "add_months": ADD, "sub_months": ADD,
    "mul": MUL, "div": MUL,
    "neg": NEG, "map": NEG,  # “负…”, “…各自的…” (open at the end)
    "field": POSTFIX, "per_month": POSTFIX, "per_year": POSTFIX, "default": POSTFIX, "round": POSTFIX,
    "month": POSTFIX, "locality_name": POSTFIX, "sum": POSTFIX, "count": POSTFIX, "filter": POSTFIX,
    "param_at": POSTFIX,
}  # everything else (names, literals, 按…查得的…的数额) is an atom


def precedence(e: Expr) -> int:
    return PRECEDENCE.get(e.op, ATOM)


def number(value) -> str:
    d = Decimal(str(value))
    text = format(d.normalize(), "f") if d == d.to_integral_value() else format(d, "f").rstrip("0").rstrip(".")
    return text


def date_text(value) -> str:
    d = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return f"{d.year}年{d.month}月{d.day}日"


def quantity(value, unit: str | None) -> str:
    """720 元/月 → 每月720元; 1.5 倍 → 1.5倍; 30 % → 30%."""
    if unit == "元/月":
        return f"每月{number(value)}元"
    if unit == "元/年":
        return f"每年{number(value)}元"
    if unit in ("月", "个月"):
        return f"{number(value)}个月"
    if unit in ("整数", "数"):  # a type, not a unit: 30, not 30整数
        return number(value)
    return f"{number(value)}{unit or ''}"


class Renderer:
    def __init__(self, module: Module, params: dict):
        self.m = module
        self.params = params  # id -> Param (compiler) or a bundle's parameter dict, for names
        self.defs = {d.id: d for d in module.definitions}
        self.inputs = {i.id: i for i in module.inputs}
        self._inside = 0  # depth of 合计/任一/… being rendered

    # ── expressions ──────────────────────────────────────────────────────────────────
    def expr(self, e: Expr, need: int = 0) -> str:
        """`e` as Chinese, in brackets if it binds more loosely than its position `need`s (0: stands alone)."""
        text = getattr(self, "r_" + e.op, self.r_other)(e)
        return f"（{text}）" if precedence(e) < need else text

    def r_other(self, e: Expr) -> str:
        return e.op

    def r_lit(self, e: Expr) -> str:
        t = strip_optional(e.type)
        if e.value is None:
            return "无"
        if t == "bool":
            return "是" if e.value else "否"
        if t.startswith("enum:"):
            return dict(self.m.enums[t[5:]].members).get(e.value, e.value)
        if t == "date":
            return date_text(e.value)
        if t == "text":
            return f"“{e.value}”"
        if t == "percent":
            return number(Decimal(e.value) * 100) + "%"
        return quantity(e.value, unit_of(t))

    def param_name(self, pid: str) -> str:
        p = self.params[pid]
        return p["name"] if isinstance(p, dict) else p.name

    def r_param(self, e: Expr) -> str:
        return self.param_name(e.value)

    def r_input(self, e: Expr) -> str:
        return self.inputs[e.value].name

    def r_def(self, e: Expr) -> str:
        return self.defs[e.value].name

    def r_elem(self, e: Expr) -> str:
        return f"该{type_name(e.type, self.m.enums, self.m.records)}"

    def r_field(self, e: Expr) -> str:
        obj = e.args[0]
        rec_t = strip_optional(obj.type)
        rec = self.m.records.get(rec_t[7:]) if rec_t.startswith("record:") else None
        name = e.value
        if rec is not None and rec.field(e.value):
            name = rec.field(e.value).name
        elif e.value in self.defs:
            name = self.defs[e.value].name
        if obj.op == "elem":
            return f"本人的{name}" if obj.value == "self" and self._inside else name
        return f"{self.expr(obj, POSTFIX)}的{name}"

    def r_eval_date(self, e: Expr) -> str:
        return "评估日期"

    def r_locality(self, e: Expr) -> str:
        return "本地"

    def r_event(self, e: Expr) -> str:
        return "当时当地的突发公共事件"

    def _left(self, e: Expr, word: str) -> str:
        """A binary operator grouping from the left: 甲减乙减丙 is (甲 − 乙) − 丙."""
        level = precedence(e)
        return f"{self.expr(e.args[0], level)}{word}{self.expr(e.args[1], level + 1)}"

    def _arith(self, e):
        return self._left(e, _ARITH[e.op.removesuffix("_months")])

    r_add = r_sub = r_mul = r_div = r_add_months = r_sub_months = _arith

    def r_neg(self, e):
        return f"负{self.expr(e.args[0], NEG)}"

    def r_per_month(self, e):
        return f"{self.expr(e.args[0], POSTFIX)}折合每月"

    def r_per_year(self, e):
        return f"{self.expr(e.args[0], POSTFIX)}折合每年"

    def _cmp(self, e):  # comparisons do not chain: both sides bind more tightly
        return f"{self.expr(e.args[0], CMP + 1)}{_CMP[e.op]}{self.expr(e.args[1], CMP + 1)}"

    r_lt = r_le = r_gt = r_ge = r_eq = r_ne = _cmp

    def r_and(self, e):
        return self._left(e, "，且")

    def r_or(self, e):
        return self._left(e, "，或")

    def r_not(self, e):
        inner = e.args[0]
        if inner.op == "present":
            return f"{self.expr(inner.args[0], POSTFIX)}为无"
        return f"并非{self.expr(inner, NOT)}"

    def r_if(self, e):
        c, a, b = e.args
        return f"如果{self.expr(c, IF + 1)}，为{self.expr(a, IF + 1)}；否则{self.expr(b, IF)}"

    def r_present(self, e):
        return f"{self.expr(e.args[0], POSTFIX)}不为无"

    def r_default(self, e):
        cite = f"，依据{e.value}" if e.value else ""
        return f"{self.expr(e.args[0], POSTFIX)}（为无时取{self.expr(e.args[1])}{cite}）"

    def r_param_at(self, e):
        return f"{self.expr(e.args[0], POSTFIX)}当地的{self.param_name(e.value)}"

    def r_min(self, e):
        return "、".join(self.expr(a, OR) for a in e.args) + "中的较小者"

    def r_max(self, e):
        return "、".join(self.expr(a, OR) for a in e.args) + "中的较大者"

    def r_round(self, e):
        return f"{self.expr(e.args[0], POSTFIX)}（按{self.expr(e.args[1])}舍入）"

    def r_lookup(self, e):
        return f"按{self.param_name(e.value)}查得的{self.expr(e.args[0], POSTFIX)}所在档次的数额"

    def r_locality_name(self, e):
        return f"{self.expr(e.args[0], POSTFIX)}的地名"

    def r_month(self, e):
        return f"{self.expr(e.args[0], POSTFIX)}的月份"

    def _each(self, e, need: int) -> tuple[str, str | None]:
        """The list (“申请家庭的成员”) and what is computed or tested for each of its items."""
        lst = self.expr(e.args[0], POSTFIX)
        self._inside += 1  # bare names now mean each item; the record a per-record rule is for is 本人
        try:
            body = self.expr(e.args[1], need) if len(e.args) > 1 else None
        finally:
            self._inside -= 1
        return lst, body

    def r_sum(self, e):
        lst, body = self._each(e, POSTFIX)
        return f"{lst}各自的{body}之和"

    def r_count(self, e):
        lst, cond = self._each(e, NOT)
        return f"{lst}的人数" if cond is None else f"{lst}中{cond}的人数"

    def r_any(self, e):
        lst, cond = self._each(e, NOT)
        return f"{lst}中有人{cond}"

    def r_all(self, e):
        lst, cond = self._each(e, NOT)
        return f"{lst}均{cond}"

    def r_filter(self, e):
        lst, cond = self._each(e, NOT)
        return f"{lst}中{cond}的"

    def r_map(self, e):
        lst, body = self._each(e, POSTFIX)
        return f"{lst}各自的{body}"

    def r_case(self, e):
        rows = self.table(e, LIST)
        return "；".join(f"{cond}时为{result}" for cond, result in rows)

    def table(self, e: Expr, need: int = 0) -> list[tuple[str, str]]:
        """A decision table as (condition, result) rows, the last one for 其余."""
        *pairs, default = e.args
        rows = [(self.expr(c, need), self.expr(r, need)) for c, r in zip(pairs[0::2], pairs[1::2])]
        rows.append(("其余情形", self.expr(default, need)))
        return rows

    # ── templates of reasons ─────────────────────────────────────────────────────────
    def template(self, parts) -> str:
        return "".join(p if isinstance(p, str) else f"〔{self.expr(p)}〕" for p in parts)


# ── floors and caps between parameters, and tier tables, as the site shows them ─────────────────────────────
_F_ADD, _F_MUL, _F_NEG, _F_ATOM = range(1, 5)  # a floor's formula: + - < × ÷ < 负 < names, numbers, …的1.3倍


def formula_text(node, ref, unit: str | None = None) -> str:
    """A floor or cap of a parameter (a formula of numbers, percentages, + - × ÷ and parameter ids, parsed by the
    rule language's parser) in Chinese: `1.3 * dibao.standard.urban` → 城市低保标准的1.3倍, `50% *
    wage.monthly_minimum` → 月最低工资标准的50%, `12` → 12个月. `ref(id)` gives the words for a parameter (its
    name, with its value where one is shown: 城市低保标准（每月780元）); a number that is not a factor has `unit`,
    the constrained parameter's own. Brackets only where the reading would otherwise differ: （甲加乙）的1.3倍."""
    return _formula(node, ref, unit)[0]


def _formula(node, ref, unit) -> tuple[str, int]:
    from ..dsl import ast
    from ..check.constraints import dotted
    pid = dotted(node)
    if pid is not None:
        return ref(pid), _F_ATOM
    if isinstance(node, ast.Quantity):
        return ("负" if node.value < 0 else "") + quantity(abs(node.value), node.unit or unit), _F_ATOM
    if isinstance(node, ast.Neg):
        text, level = _formula(node.operand, ref, unit)
        return "负" + (text if level >= _F_NEG else f"（{text}）"), _F_NEG
    if not isinstance(node, ast.BinOp):
        raise ValueError(f"not a formula of a floor or cap: {type(node).__name__}")

    def side(n, need):
        text, level = _formula(n, ref, unit)
        return text if level >= need else f"（{text}）"

    if node.op == "*":
        factor, other = (node.left, node.right) if isinstance(node.left, ast.Quantity) else (node.right, node.left)
        if isinstance(factor, ast.Quantity) and not isinstance(other, ast.Quantity) and factor.value >= 0:
            times = f"{number(factor.value)}%" if factor.unit == "%" else f"{number(factor.value)}倍"
            return f"{side(other, _F_ATOM)}的{times}", _F_MUL
    if node.op in "*/":
        word = "乘以" if node.op == "*" else "除以"
        right = node.right
        if isinstance(right, ast.Quantity) and right.unit is None:  # a divisor or factor is a plain number
            return f"{side(node.left, _F_MUL)}{word}{number(right.value)}", _F_MUL
        return f"{side(node.left, _F_MUL)}{word}{side(right, _F_MUL + 1)}", _F_MUL
    word = "加" if node.op == "+" else "减"
    return f"{side(node.left, _F_ADD)}{word}{side(node.right, _F_ADD + 1)}", _F_ADD


def bound_text(kind: str, wording: str) -> str:
    """How a floor or cap binds, in the policy's words: 原则上不低于, 不得超过 …"""
    if wording == "原则上":
        return "原则上" + ("不低于" if kind == "min" else "不高于")
    return wording


def _unit_tail(unit: str | None) -> str:
    """The part of a quantity after its number: 元 of 每月200元, 个月 of 6个月."""
    return quantity(0, unit).split("0", 1)[1] if unit not in (None, "", "整数") else ""


def tier_rows(rows, key: dict, value: dict) -> list[tuple[str, str]]:
    """A table parameter's tiers as (range, amount): (每月0元至不足200元, 每月150元) … (每月400元及以上, 每月560元);
    a tier holds the keys from its bound up to the next tier's bound (the evaluator's lookup)."""
    kunit, out = key.get("unit"), []
    bounds = [Decimal(str(b)) for b, _ in rows]
    for i, (b, v) in enumerate(rows):
        low = quantity(b, kunit) if kunit not in (None, "", "整数") else number(b)
        high = bounds[i + 1] if i + 1 < len(bounds) else None
        if high is None:
            shown = f"{low}及以上"
        elif kunit in (None, "", "整数") and bounds[i] == bounds[i].to_integral_value() \
                and high == high.to_integral_value():
            shown = low if high - bounds[i] == 1 else f"{low}至{number(high - 1)}"
        else:
            shown = f"{low}至不足{number(high)}{_unit_tail(kunit)}"
        out.append((shown, quantity(v, value.get("unit"))))
    return out
