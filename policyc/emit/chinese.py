"""Renders the IR as Chinese: conditions, formulas and tables in the words a caseworker reads.

The documents backend uses it, so that a change to a rule file changes the text of every handbook.
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
_WEAK = {"and", "or", "if", "add", "sub"}  # operations that need brackets inside tighter ones


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
    return f"{number(value)}{unit or ''}"


class Renderer:
    def __init__(self, module: Module, params: dict):
        self.m = module
        self.params = params  # id -> Param (compiler) for names and units
        self.defs = {d.id: d for d in module.definitions}
        self.inputs = {i.id: i for i in module.inputs}

    # ── expressions ──────────────────────────────────────────────────────────────────
    def expr(self, e: Expr, parent: str | None = None) -> str:
        text = getattr(self, "r_" + e.op, self.r_other)(e)
        if parent is not None and e.op in _WEAK and parent not in _WEAK | {"if", None}:
            return f"（{text}）"
        return text

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

    def r_param(self, e: Expr) -> str:
        p = self.params[e.value]
        return p.name

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
            return name
        return f"{self.expr(obj, 'field')}的{name}"

    def r_eval_date(self, e: Expr) -> str:
        return "评估日期"

    def r_locality(self, e: Expr) -> str:
        return "本地"

    def r_event(self, e: Expr) -> str:
        return "当时当地的突发公共事件"

    def _binary(self, e: Expr, word: str) -> str:
        return f"{self.expr(e.args[0], e.op)}{word}{self.expr(e.args[1], e.op)}"

    def r_add(self, e):
        return self._binary(e, "加")

    def r_sub(self, e):
        return self._binary(e, "减")

    def r_mul(self, e):
        return self._binary(e, "乘以")

    def r_div(self, e):
        return self._binary(e, "除以")

    def r_neg(self, e):
        return f"负{self.expr(e.args[0], 'neg')}"

    def r_add_months(self, e):
        return f"{self.expr(e.args[0], 'add')}加{self.expr(e.args[1], 'add')}"

    def r_sub_months(self, e):
        return f"{self.expr(e.args[0], 'sub')}减{self.expr(e.args[1], 'sub')}"

    def r_per_month(self, e):
        return f"{self.expr(e.args[0], 'mul')}折合每月"

    def r_per_year(self, e):
        return f"{self.expr(e.args[0], 'mul')}折合每年"

    def _cmp(self, e):
        return self._binary(e, _CMP[e.op])

    r_lt = r_le = r_gt = r_ge = r_eq = r_ne = _cmp

    def r_and(self, e):
        return f"{self.expr(e.args[0], 'and')}，且{self.expr(e.args[1], 'and')}"

    def r_or(self, e):
        return f"{self.expr(e.args[0], 'or')}，或{self.expr(e.args[1], 'or')}"

    def r_not(self, e):
        inner = e.args[0]
        if inner.op == "present":
            return f"未提供{self.expr(inner.args[0], 'not')}"
        return f"并非{self.expr(inner, 'not')}"

    def r_if(self, e):
        c, a, b = e.args
        return f"如果{self.expr(c, 'if')}，为{self.expr(a, 'if')}；否则{self.expr(b, 'if')}"

    def r_present(self, e):
        return f"已提供{self.expr(e.args[0], 'present')}"

    def r_default(self, e):
        return f"{self.expr(e.args[0], 'default')}（未提供时为{self.expr(e.args[1], 'default')}）"

    def r_min(self, e):
        return "、".join(self.expr(a, "min") for a in e.args) + "中的较小者"

    def r_max(self, e):
        return "、".join(self.expr(a, "max") for a in e.args) + "中的较大者"

    def r_round(self, e):
        return f"{self.expr(e.args[0], 'round')}（按{self.expr(e.args[1], 'round')}舍入）"

    def r_lookup(self, e):
        table = self.params[e.value]
        return f"按{table.name}查得的{self.expr(e.args[0], 'lookup')}所在档次的数额"

    def r_locality_name(self, e):
        return f"{self.expr(e.args[0], 'month')}的地名"

    def r_month(self, e):
        return f"{self.expr(e.args[0], 'month')}的月份"

    def _each(self, e) -> tuple[str, str | None]:
        lst = self.expr(e.args[0], "each")
        body = self.expr(e.args[1], "each") if len(e.args) > 1 else None
        return lst, body

    def r_sum(self, e):
        lst, body = self._each(e)
        return f"{lst}各自的{body}之和"

    def r_count(self, e):
        lst, cond = self._each(e)
        return f"{lst}的人数" if cond is None else f"{lst}中{cond}的人数"

    def r_any(self, e):
        lst, cond = self._each(e)
        return f"{lst}中有人{cond}"

    def r_all(self, e):
        lst, cond = self._each(e)
        return f"{lst}均{cond}"

    def r_filter(self, e):
        lst, cond = self._each(e)
        return f"{lst}中{cond}的"

    def r_map(self, e):
        lst, body = self._each(e)
        return f"{lst}各自的{body}"

    def r_case(self, e):
        rows = self.table(e)
        return "；".join(f"{cond}时为{result}" for cond, result in rows)

    def table(self, e: Expr) -> list[tuple[str, str]]:
        """A decision table as (condition, result) rows, the last one for 其余."""
        *pairs, default = e.args
        rows = [(self.expr(c), self.expr(r)) for c, r in zip(pairs[0::2], pairs[1::2])]
        rows.append(("其余情形", self.expr(default)))
        return rows

    # ── templates of reasons ─────────────────────────────────────────────────────────
    def template(self, parts) -> str:
        return "".join(p if isinstance(p, str) else f"〔{self.expr(p)}〕" for p in parts)
