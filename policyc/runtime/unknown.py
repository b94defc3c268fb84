"""Unknown facts as values: what is known about a value that depends on facts a request left out.

A request may leave out any fact that is not structure. The value of such a fact is an `Unknown`: the set of
request paths it depends on (`deps`) and what is known about it anyway — bounds for numbers and dates (money
is never negative, an age lies in its declared range), the possible values of a finite domain (是否, 枚举), whether
it may be 无, and for a list the items surely in it and those that may be. Every operation of the IR has a sound
counterpart here (`policyc.runtime.partial`): whatever values the unknown facts turn out to have, the exact result
lies within what the operation returns. So a result that comes out known is decided by the known facts alone.
"""
from __future__ import annotations

from decimal import Decimal

INF = Decimal("Infinity")
NINF = Decimal("-Infinity")
NUMERIC = frozenset({"money", "money/month", "money/year", "int", "count", "age", "months", "years", "ratio",
                     "percent", "number"})
WHOLE = frozenset({"int", "count", "age", "months", "years"})
NO_DEPS: frozenset = frozenset()


class Unknown:
    """A value the known facts do not settle.

    deps   request paths (`$.household.members[0].support_mode`) whose values could change it
    lo, hi bounds of a number or date (None: unbounded)
    opts   the possible values of a 是否, 枚举 or 文本 (None: any)
    none   whether it may be 无
    sure, maybe   for a list: the items surely in it and the items that may be (sure None: nothing known)
    """

    __slots__ = ("deps", "lo", "hi", "opts", "none", "sure", "maybe")

    def __init__(self, deps=NO_DEPS, lo=None, hi=None, opts=None, none=False, sure=None, maybe=()):
        self.deps = deps
        self.lo, self.hi, self.opts, self.none = lo, hi, opts, none
        self.sure, self.maybe = sure, tuple(maybe)

    def __repr__(self) -> str:
        parts = [f"deps={sorted(self.deps)}"]
        for name in ("lo", "hi", "opts", "sure"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)!r}")
        if self.maybe:
            parts.append(f"maybe={len(self.maybe)}")
        if self.none:
            parts.append("none")
        return f"Unknown({', '.join(parts)})"

    def __bool__(self):  # an unknown must never be mistaken for a decided truth value
        raise TypeError("an unknown value has no truth value")


def deps_of(*values) -> frozenset:
    out = NO_DEPS
    for v in values:
        if type(v) is Unknown and v.deps:
            out = out | v.deps
    return out


def fact(t: str, deps: frozenset, lo=None, hi=None, codes=None, none=False) -> Unknown:
    """A fact of type `t` (without opt:) left out of a request, with the bounds its declaration gives."""
    if t in NUMERIC:
        if lo is None and t.startswith("money") or t in ("count", "age", "months", "years") and lo is None:
            lo = 0
        return Unknown(deps, lo=None if lo is None else Decimal(lo), hi=None if hi is None else Decimal(hi),
                       none=none)
    if t == "bool":
        return Unknown(deps, opts=frozenset((True, False)), none=none)
    if t.startswith("enum:") and codes is not None:
        return Unknown(deps, opts=frozenset(codes), none=none)
    if t.startswith("list:"):  # nothing known of the items; lo/hi bound the length
        return Unknown(deps, lo=None if lo is None else Decimal(lo), hi=None if hi is None else Decimal(hi),
                       none=none)
    return Unknown(deps, none=none)


# ── bounds ──────────────────────────────────────────────────────────────────────────────
def bounds(x) -> tuple:
    """(lo, hi) of a number, ±Infinity for no bound."""
    if type(x) is Unknown:
        return (NINF if x.lo is None else x.lo), (INF if x.hi is None else x.hi)
    return x, x


def date_bounds(x) -> tuple:
    """(lo, hi) of a date, None for no bound."""
    if type(x) is Unknown:
        return x.lo, x.hi
    return x, x


def number(lo, hi, deps, none=False, whole=False):
    """A number within [lo, hi] (±Infinity: unbounded): known when the bounds meet. `whole` for the types held
    as int (整数, 人, 岁, 月, 年)."""
    if lo == hi and not none and (type(lo) is not Decimal or lo.is_finite()):
        return int(lo) if whole else Decimal(lo)
    return Unknown(deps, lo=None if lo == NINF else Decimal(lo), hi=None if hi == INF else Decimal(hi), none=none)


def dates(lo, hi, deps, none=False):
    if lo is not None and lo == hi and not none:
        return lo
    return Unknown(deps, lo=lo, hi=hi, none=none)


def possible(x, t: str):
    """The possible non-无 values of a finite-domain value, or None when there are too many to list."""
    if type(x) is not Unknown:
        return None if x is None else frozenset((x,))
    if x.opts is not None:
        return x.opts
    return frozenset((True, False)) if t == "bool" else None


def may_be_none(x) -> bool:
    return x is None or (type(x) is Unknown and x.none)


UNKNOWN_BOOL = frozenset((True, False))


def join(a, b, t: str, deps=NO_DEPS):
    """What is known of a value that is either `a` or `b` (an 如果 whose condition is unknown)."""
    if type(a) is not Unknown and type(b) is not Unknown and type(a) is type(b) and a == b:
        return a
    deps = deps | deps_of(a, b)
    none = may_be_none(a) or may_be_none(b)
    if a is None or b is None:  # (both 无 is settled above)
        return _widen(b if a is None else a, t, deps, True)
    if t in NUMERIC or t == "date":
        alo, ahi = (date_bounds if t == "date" else bounds)(a)
        blo, bhi = (date_bounds if t == "date" else bounds)(b)
        if t == "date":
            lo = None if alo is None or blo is None else min(alo, blo)
            hi = None if ahi is None or bhi is None else max(ahi, bhi)
            return Unknown(deps, lo=lo, hi=hi, none=none)
        return number(min(alo, blo), max(ahi, bhi), deps, none, t in WHOLE)
    if t == "bool" or t.startswith("enum:") or t in ("text", "locality"):
        pa, pb = possible(a, t), possible(b, t)
        return Unknown(deps, opts=None if pa is None or pb is None else pa | pb, none=none)
    if t.startswith("list:"):
        la, lb = list_parts(a), list_parts(b)
        if la is not None and lb is not None:  # items in both for sure stay sure; the rest may be
            sure = [x for x in la[0] if any(x is y for y in lb[0])]
            maybe = [x for x in (*la[0], *la[1], *lb[0], *lb[1]) if not any(x is y for y in sure)]
            seen: list = []
            for x in maybe:
                if not any(x is y for y in seen):
                    seen.append(x)
            return Unknown(deps, sure=sure, maybe=seen, none=none)
    return Unknown(deps, none=none)


def _widen(x, t: str, deps, none: bool):
    if type(x) is Unknown:
        return Unknown(deps | x.deps, x.lo, x.hi, x.opts, none or x.none, x.sure, x.maybe)
    if t in NUMERIC or t == "date":
        return Unknown(deps, lo=x, hi=x, none=none)
    if t == "bool" or t.startswith("enum:") or t in ("text", "locality"):
        return Unknown(deps, opts=frozenset((x,)), none=none)
    if t.startswith("list:"):
        return Unknown(deps, sure=list(x), none=none)
    return Unknown(deps, none=none)


def list_parts(x):
    """(sure items, maybe items) of a list value, or None when nothing is known of its items."""
    if type(x) is list:
        return x, ()
    if type(x) is Unknown and x.sure is not None:
        return x.sure, x.maybe
    return None
