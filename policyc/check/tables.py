"""Decision tables keyed by a value (按 …): overlaps in a 唯一 table and gaps in a table without 其余, each
reported with the rows involved and an example value that falls in it."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..diagnostics import Reporter, Span
from ..ir import Expr, Record, strip_optional

INF = Decimal("Infinity")
WHOLE = {"int", "count", "age", "months", "years"}


@dataclass
class Interval:
    lo: Decimal
    lo_in: bool
    hi: Decimal
    hi_in: bool
    row: int  # 1-based row number in the table
    span: Span

    def contains(self, x: Decimal) -> bool:
        return (self.lo < x or (self.lo_in and self.lo == x)) and (x < self.hi or (self.hi_in and self.hi == x))


def interval(tests: list[tuple[str, Expr]], row: int, span: Span) -> Interval | None:
    """The interval a range row covers, when its bounds are written as numbers; None otherwise."""
    lo, lo_in, hi, hi_in = -INF, False, INF, False
    for op, bound in tests:
        if bound.op != "lit" or bound.value is None or strip_optional(bound.type).startswith("enum:"):
            return None
        b = Decimal(bound.value)
        if op in (">", ">="):
            lo, lo_in = b, op == ">="
        elif op in ("<", "<="):
            hi, hi_in = b, op == "<="
        elif op == "=":
            lo, lo_in, hi, hi_in = b, True, b, True
        else:
            return None
    return Interval(lo, lo_in, hi, hi_in, row, span)


def domain(key: Expr, records: dict[str, Record]) -> tuple[Decimal, Decimal]:
    """Bounds the key can take: a record field's 范围 (also through 缺省), counts from 0; else unbounded."""
    if key.op == "default":
        key = key.args[0]
    if key.op == "field":
        obj = strip_optional(key.args[0].type)
        rec = records.get(obj[7:]) if obj.startswith("record:") else None
        f = rec.field(key.value) if rec else None
        if f is not None:
            lo = Decimal(str(f.minimum)) if f.minimum is not None else -INF
            hi = Decimal(str(f.maximum)) if f.maximum is not None else INF
            return lo, hi
    if key.op == "count":
        return Decimal(0), INF
    return -INF, INF


def _show(x: Decimal) -> str:
    return format(x.normalize(), "f")


def analyse(name: str, span: Span, key: Expr, intervals: list[Interval], complete: bool, hit: str,
            optional_result: bool, records: dict[str, Record], reporter: Reporter) -> bool:
    """Report overlaps and gaps; True when a gap was reported."""
    whole = strip_optional(key.type) in WHOLE
    if hit == "unique":
        for i, a in enumerate(intervals):
            for b in intervals[i + 1:]:
                x = _common(a, b, whole)
                if x is not None:
                    reporter.add("E0415", b.span, name=name, first=a.row, second=b.row, example=_show(x))
    if complete:
        return False
    lo, hi = domain(key, records)
    x = _uncovered(intervals, lo, hi, whole)
    if x is not None:
        code = "W0402" if optional_result else "E0416"
        reporter.add(code, span, name=name, example=_show(x))
    return x is not None


def _candidates(points: list[Decimal], lo: Decimal, hi: Decimal, whole: bool) -> list[Decimal]:
    finite = sorted({p for p in points if p.is_finite()} | {b for b in (lo, hi) if b.is_finite()})
    out = []
    step = Decimal(1) if whole else None
    for i, p in enumerate(finite):
        out.append(p)
        if whole:
            out += [p - step, p + step]
        elif i + 1 < len(finite):
            out.append((p + finite[i + 1]) / 2)
    if not whole:
        if finite:
            out += [finite[0] - 1, finite[-1] + 1]
        else:
            out.append(Decimal(0))
    elif not finite:
        out.append(Decimal(0))
    return [x for x in out if lo <= x <= hi]


def _uncovered(intervals: list[Interval], lo: Decimal, hi: Decimal, whole: bool) -> Decimal | None:
    points = [p for iv in intervals for p in (iv.lo, iv.hi)]
    for x in _candidates(points, lo, hi, whole):
        if not any(iv.contains(x) for iv in intervals):
            return x
    return None


def _common(a: Interval, b: Interval, whole: bool) -> Decimal | None:
    points = [a.lo, a.hi, b.lo, b.hi]
    for x in _candidates(points, -INF, INF, whole):
        if a.contains(x) and b.contains(x):
            return x
    return None
