"""Floors and caps between parameters (`tekun.basic_living.urban >= 1.3 * dibao.standard.urban`), checked on
every date where any value they involve changes. Severity follows the policy's wording: 原则上 is a warning
that a written reason turns into a recorded exception; 不低于 / 不得超过 are errors."""
from __future__ import annotations

import bisect
import datetime as dt
import difflib
from dataclasses import dataclass
from decimal import Decimal

from ..diagnostics import Reporter
from ..dsl import ast
from ..dsl.parser import parse_expr
from ..load.yamlsrc import Located
from .params import Param

SOFT = {"原则上"}


@dataclass
class Exception_:
    """A 原则上 floor or cap that a value does not meet, with the reason its author gave."""

    parameter: str
    date: str
    jurisdiction: str
    value: Decimal
    bound: Decimal
    kind: str
    expression: str
    reason: str
    citation: str
    defined_at: str

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _dotted(node: ast.Node) -> str | None:
    if isinstance(node, ast.Name):
        return node.name
    if isinstance(node, ast.FieldAccess):
        head = _dotted(node.obj)
        return f"{head}.{node.name}" if head else None
    return None


class _Formula:
    """A constraint expression: numbers, percentages, + - × ÷ and parameter ids."""

    def __init__(self, node: ast.Node):
        self.node = node
        self.params: set[str] = set()
        self._collect(node)

    def _collect(self, node) -> None:
        ref = _dotted(node)
        if ref is not None:
            self.params.add(ref)
        elif isinstance(node, ast.BinOp):
            self._collect(node.left)
            self._collect(node.right)
        elif isinstance(node, ast.Neg):
            self._collect(node.operand)

    def value(self, values: dict[str, Decimal], node=None) -> Decimal:
        node = self.node if node is None else node
        ref = _dotted(node)
        if ref is not None:
            return Decimal(values[ref])
        if isinstance(node, ast.Quantity):
            return node.value / 100 if node.unit == "%" else node.value
        if isinstance(node, ast.Neg):
            return -self.value(values, node.operand)
        left, right = self.value(values, node.left), self.value(values, node.right)
        return {"+": left + right, "-": left - right, "*": left * right, "/": left / right}[node.op]


def _at(timeline, day):
    starts = [v.start for v in timeline]
    i = bisect.bisect_right(starts, day) - 1
    return None if i < 0 or timeline[i].end else timeline[i]


def check_constraints(files: list[Located], params: dict[str, Param], reporter: Reporter) -> list[Exception_]:
    exceptions: list[Exception_] = []
    for doc in files:
        for pid, spec in doc.data["parameters"].items():
            p = params.get(pid)
            for i, c in enumerate(spec.get("constraints", [])):
                kind = "min" if "min" in c else "max"
                where = ("parameters", pid, "constraints", i, kind)
                span = doc.span(where)
                node = parse_expr(c[kind], span, reporter)
                if node is None or p is None:
                    continue
                formula = _Formula(node)
                if not _valid(formula, node, params, reporter, span):
                    continue
                for juris, timeline in p.timelines.items():
                    _check_timeline(p, juris, timeline, formula, c, kind, params, reporter, exceptions)
    return exceptions


def _valid(formula: _Formula, node, params: dict[str, Param], reporter: Reporter, span) -> bool:
    ok = True
    for ref in sorted(formula.params):
        if ref not in params:
            close = difflib.get_close_matches(ref, list(params), n=3, cutoff=0.5)
            reporter.add("E0702", span, hint=f"是否想写：{'、'.join(close)}？" if close else None, id=ref)
            ok = False
        elif params[ref].choices is not None or params[ref].table is not None:
            reporter.add("E0703", span, id=ref)
            ok = False
    return ok


def _check_timeline(p: Param, juris: str, timeline, formula: _Formula, c: dict, kind: str,
                    params: dict[str, Param], reporter: Reporter, exceptions: list[Exception_]) -> None:
    involved = [timeline] + [params[ref].timelines.get(juris, []) for ref in sorted(formula.params)]
    days = sorted({v.start for tl in involved for v in tl})
    for day in days:
        own = _at(timeline, day)
        refs = {ref: _at(params[ref].timelines.get(juris, []), day) for ref in formula.params}
        if own is None or any(v is None for v in refs.values()):
            continue
        bound = formula.value({ref: v.value for ref, v in refs.items()})
        value = Decimal(own.value)
        if (value >= bound) if kind == "min" else (value <= bound):
            continue
        detail = "；".join(f"{params[ref].name}（{ref}）= {v.value}，自 {v.start} 起" for ref, v in refs.items())
        relation = "低于下限" if kind == "min" else "超过上限"
        args = dict(name=p.name, id=p.id, date=day.isoformat(), value=value, relation=relation,
                    expr=c[kind], bound=_plain(bound), wording=c["wording"], citation=c["citation"])
        span = _span_of(own)
        if c["wording"] in SOFT:
            if c.get("reason"):
                exceptions.append(Exception_(p.id, day.isoformat(), juris, value, bound, kind, c[kind],
                                             c["reason"], c["citation"], own.defined_at))
            else:
                reporter.add("W0401", span, notes=[detail], **args)
        else:
            reporter.add("E0701", span, notes=[detail], **args)


def _plain(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.01")), "f")
    return text.rstrip("0").rstrip(".")


def _span_of(value):
    from ..diagnostics import Span
    file, line, col = value.defined_at.rsplit(":", 2)
    return Span(file, int(line), int(col))
