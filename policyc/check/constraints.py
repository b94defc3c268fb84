"""Floors and caps between parameters (`tekun.basic_living.urban >= 1.3 * dibao.standard.urban`), checked on
every date where any value they involve changes. Severity follows the policy's wording: 原则上 is a warning
that a written reason turns into a recorded exception; 不低于 / 不得超过 are errors."""
from __future__ import annotations

import bisect
import difflib
from dataclasses import dataclass
from decimal import Decimal

from ..diagnostics import Reporter, Span
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


def dotted(node: ast.Node) -> str | None:
    """A parameter id written in a formula (`dibao.standard.urban`), or None for anything else."""
    if isinstance(node, ast.Name):
        return node.name
    if isinstance(node, ast.FieldAccess):
        head = dotted(node.obj)
        return f"{head}.{node.name}" if head else None
    return None


class _Formula:
    """A constraint expression: numbers, percentages, + - × ÷ and parameter ids."""

    def __init__(self, node: ast.Node):
        self.node = node
        self.params: set[str] = set()
        self._collect(node)

    def _collect(self, node) -> None:
        ref = dotted(node)
        if ref is not None:
            self.params.add(ref)
        elif isinstance(node, ast.BinOp):
            self._collect(node.left)
            self._collect(node.right)
        elif isinstance(node, ast.Neg):
            self._collect(node.operand)

    def value(self, values: dict[str, Decimal], node=None) -> Decimal:
        node = self.node if node is None else node
        ref = dotted(node)
        if ref is not None:
            return Decimal(values[ref])
        if isinstance(node, ast.Quantity):
            return node.value / 100 if node.unit == "%" else node.value
        if isinstance(node, ast.Neg):
            return -self.value(values, node.operand)
        left, right = self.value(values, node.left), self.value(values, node.right)
        return {"+": left + right, "-": left - right, "*": left * right, "/": left / right}[node.op]


def _at(timeline, day):
    """The value in force on day in one level's timeline (None if none, or if the parameter ended)."""
    starts = [v.start for v in timeline]
    i = bisect.bisect_right(starts, day) - 1
    return None if i < 0 or timeline[i].end else timeline[i]


def effective(p: Param, chain: list[str], day):
    """The value in force at a locality on day: nearest level first; `inherit` defers to the level above."""
    for level in chain:
        timeline = p.timelines.get(level)
        if not timeline:
            continue
        i = bisect.bisect_right([v.start for v in timeline], day) - 1
        if i < 0 or timeline[i].inherit:
            continue
        return None if timeline[i].end else timeline[i]
    return None


def check_constraints(files: list[Located], params: dict[str, Param], chains: dict[str, list[str]],
                      reasons: dict[str, dict[str, str]], reporter: Reporter) -> list[Exception_]:
    """Check every constraint for every jurisdiction that sets one of its values itself (the province always),
    on every date where a value involved changes at any level above it. `reasons[code][param]` are written
    exceptions of localities; the province's is the constraint's own `reason`."""
    exceptions: list[Exception_] = []
    for doc in files:
        for pid, spec in doc.data["parameters"].items():
            p = params.get(pid)
            for i, c in enumerate(spec.get("constraints", [])):
                kind = "min" if "min" in c else "max"
                span = doc.span(("parameters", pid, "constraints", i, kind))
                node = parse_expr(c[kind], span, reporter)
                if node is None or p is None:
                    continue
                formula = _Formula(node)
                if not _valid(formula, node, params, reporter, span):
                    continue
                involved = [p] + [params[ref] for ref in sorted(formula.params)]
                for code, chain in chains.items():
                    if len(chain) > 1 and not any(code in x.timelines for x in involved):
                        continue  # inherits everything: the levels above are checked themselves
                    reason = c.get("reason") if len(chain) == 1 else reasons.get(code, {}).get(pid)
                    _check_at(p, code, chain, formula, c, kind, involved, params, reason, reporter, exceptions)
    return exceptions


def constraint_refs(files: list[Located]) -> set[str]:
    """Every parameter id a constraint expression names."""
    refs: set[str] = set()
    for doc in files:
        for pid, spec in doc.data["parameters"].items():
            for c in spec.get("constraints", []):
                node = parse_expr(c.get("min") or c.get("max"), Span("", 1, 1), Reporter())
                if node is not None:
                    refs |= _Formula(node).params
    return refs


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


def _check_at(p: Param, code: str, chain: list[str], formula: _Formula, c: dict, kind: str, involved: list[Param],
              params: dict[str, Param], reason: str | None, reporter: Reporter, exceptions: list[Exception_]) -> None:
    days = sorted({v.start for x in involved for level in chain for v in x.timelines.get(level, [])})
    for day in days:
        own = effective(p, chain, day)
        refs = {ref: effective(params[ref], chain, day) for ref in formula.params}
        if own is None or any(v is None for v in refs.values()):
            continue
        mine = [v for v in [own, *refs.values()] if v.jurisdiction == code]
        if not mine:
            continue  # nothing this jurisdiction sets is in force: reported where it is set
        bound = formula.value({ref: v.value for ref, v in refs.items()})
        value = Decimal(own.value)
        if (value >= bound) if kind == "min" else (value <= bound):
            continue
        detail = "；".join(f"{params[ref].name}（{ref}）= {v.value}，{_where(v)}自 {v.start} 起"
                          for ref, v in refs.items())
        relation = "低于下限" if kind == "min" else "超过上限"
        args = dict(name=p.name, id=p.id, date=day.isoformat(), value=value, relation=relation,
                    expr=c[kind], bound=_plain(bound), wording=c["wording"], citation=c["citation"],
                    where=_where(own))
        span = mine[0].value_span()  # the caret under the value that breaks the bound, not its `from:` line
        if c["wording"] in SOFT:
            if reason:
                exceptions.append(Exception_(p.id, day.isoformat(), code, value, bound, kind, c[kind], reason,
                                             c["citation"], mine[0].defined_at))
            else:
                reporter.add("W0401", span, notes=[detail], **args)
        else:
            reporter.add("E0701", span, notes=[detail], **args)


def _where(v) -> str:
    return "" if v.level == "province" else f"{v.jurisdiction} 设定，"


def _plain(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.01")), "f")
    return text.rstrip("0").rstrip(".")
