"""Converts a request's JSON values into exact typed values, naming the JSON path of every problem.

`InputCodegen` writes one converter function per record type (compiled once per bundle; names made by
`pysource.Names`, values written by `pysource.literal`); the small helpers below check one scalar each.
"""
from __future__ import annotations

import datetime as _dt
import reprlib
from decimal import Decimal

from ..ir import Module, strip_optional
from .pysource import Names, literal
from .unknown import fact

MISSING = object()
MAX_MONEY = Decimal("1000000000")
FEN = Decimal("0.01")  # 10亿元: anything larger is a data error, not an income

# What a request's numbers and dates may be (docs/security.md, "Bounds"). Checked where each value is converted,
# before any arithmetic, so that no request reaches the rules with a value their calendar or Decimal arithmetic
# cannot handle:
# - whole numbers (int, count, age, months, years): |x| < 10^18, at most 18 digits (BIGINT; the batch lane's
#   DECIMAL(18+s, s) keeps 18 integer digits);
# - numbers (number, ratio, percent): |x| < 10^18 and at most 12 decimals (the decimals a bundle's own numbers
#   may have), so that 1e-400 is refused rather than silently taken as 0;
# - money: 0 to MAX_MONEY, whole fen;
# - dates: FIRST_DAY to LAST_DAY. Rules add months to dates (渐退期, 复核, 有效期); Python's calendar ends at
#   9999-12-31 and begins at 0001-01-01, so a date near either end made `add_months` fail with a traceback. With
#   every date of a request in 1900–2999, an offset of up to ±1,900 years stays on the calendar (the shipped
#   rules add at most a few years); a computed date off the calendar is an EvaluationError (values.add_months).
#   The same range is the batch lane's clean-row range (batch/sqlinput.py FIRST_DAY, LAST_DAY).
MAX_WHOLE = 10**18
MAX_NUMBER = Decimal(10**18)
MAX_DECIMALS = 12
FIRST_DAY = _dt.date(1900, 1, 1)
LAST_DAY = _dt.date(2999, 12, 31)
DATE_RANGE = f"{FIRST_DAY.isoformat()} 至 {LAST_DAY.isoformat()}"


class _Shown(reprlib.Repr):
    """A request value as an error message quotes it: short, and never slow or failing — a 10,000-digit integer
    cannot even be turned into text (Python refuses more than 4,300 digits), a list nested 100,000 deep has no
    repr."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlist, self.maxdict = 2, 60, 60, 4, 4

    def repr_int(self, x, level):
        if -10**40 < x < 10**40:
            return repr(x)
        return f"{'-' if x < 0 else ''}（约 {int((x.bit_length() - 1) * 0.30103) + 1} 位的整数）"

    def repr_Decimal(self, x, level):
        text = str(x)  # fast even for 1E+999999999
        if len(text) <= 40:
            return text
        return f"{text[:12]}…（{len(x.as_tuple().digits)} 位数字）"


shown = _Shown().repr


def decimals(x: Decimal) -> int:
    """How many decimals a finite Decimal has once trailing zeros are dropped (1.50 → 1, 1E+3 → 0), read from its
    digits: never rounded by a context, never a slow computation, whatever its exponent."""
    sign, digits, exp = x.as_tuple()
    if exp >= 0:
        return 0
    zeros = 0
    for d in reversed(digits):
        if d or zeros == -exp:
            break
        zeros += 1
    return -exp - zeros


def _where(path, key) -> tuple:
    """A JSON path as nested (parent, key) pairs: cheap to make, rendered only when a problem is reported."""
    return (path, key)


def render_path(path) -> str:
    keys = []
    while isinstance(path, tuple):
        path, key = path
        keys.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return path + "".join(reversed(keys))


class Collected(list):
    """The problems found in a request (JSON path, message), and the paths of the facts it leaves unknown."""

    def __init__(self):
        super().__init__()
        self.unknown: list[str] = []


# What a field left out (or null) means, by its presence: req → an error; unk → unknown; unk? → unknown when
# left out, 无 when null; none → 无.
MODES = {"required": "req", "none": "none"}


def absent_value(x, path, key, errs, mode, kind, lo=None, hi=None, codes=None):
    """The value of a field that is missing or null: None (无), an Unknown fact, or an error."""
    if mode == "req":
        errs.append((_where(path, key), "缺少必填字段" if x is MISSING else "不能为 null"))
        return None
    if mode == "none" or (mode == "unk?" and x is None):
        return None
    where = render_path(_where(path, key))
    errs.unknown.append(where)
    return fact(kind, frozenset((where,)), lo, hi, codes, none=mode == "unk?")


def money(x, path, key, errs, mode="req", lo=None, hi=None):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, 'money', lo, hi)
    if type(x) is int:
        if not 0 <= x <= MAX_MONEY:  # before Decimal(), which takes a while for a 10,000-digit int
            errs.append((_where(path, key), f"金额应在 0 至 {MAX_MONEY} 元之间，实际为 {shown(x)}"[:200]))
            return None
        x = Decimal(x)
    elif type(x) is float:  # from callers that parsed JSON without Decimal: take the shortest exact repr
        x = Decimal(repr(x))
    elif type(x) is not Decimal:
        errs.append((_where(path, key), f"应为金额（数字），实际为 {shown(x)}"[:200]))
        return None
    if not x.is_finite() or x < 0 or x > MAX_MONEY:
        errs.append((_where(path, key), f"金额应在 0 至 {MAX_MONEY} 元之间，实际为 {shown(x)}"[:200]))
        return None
    if decimals(x) > 2:
        errs.append((_where(path, key), f"金额最多两位小数（精确到分），实际为 {shown(x)}"[:200]))
        return None
    return x


def integer(x, path, key, errs, mode="req", lo=None, hi=None):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, 'int', lo, hi)
    if type(x) is Decimal and x.is_finite() and x == x.to_integral_value():
        if x.adjusted() >= 18:  # refused before int(), which would take minutes for 1E+999999
            errs.append((_where(path, key), f"整数的绝对值应小于 10^18（至多 18 位），实际为 {shown(x)}"[:200]))
            return None
        x = int(x)
    if type(x) is not int:
        errs.append((_where(path, key), f"应为整数，实际为 {shown(x)}"[:200]))
        return None
    if not -MAX_WHOLE < x < MAX_WHOLE:
        errs.append((_where(path, key), f"整数的绝对值应小于 10^18（至多 18 位），实际为 {shown(x)}"[:200]))
        return None
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        errs.append((_where(path, key), f"应在 {lo} 至 {hi} 之间，实际为 {x}"))
        return None
    return x


def number(x, path, key, errs, mode="req", lo=None, hi=None):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, 'number', lo, hi)
    if type(x) is int:
        if not -MAX_WHOLE < x < MAX_WHOLE:  # before Decimal(): a 10,000-digit int is refused, never converted
            errs.append((_where(path, key), f"数字的绝对值应小于 10^18（整数部分至多 18 位），实际为 {shown(x)}"[:200]))
            return None
        x = Decimal(x)
    elif type(x) is float:
        x = Decimal(repr(x))
    if type(x) is not Decimal or not x.is_finite():
        errs.append((_where(path, key), f"应为数字，实际为 {shown(x)}"[:200]))
        return None
    if not -MAX_NUMBER < x < MAX_NUMBER:
        errs.append((_where(path, key), f"数字的绝对值应小于 10^18（整数部分至多 18 位），实际为 {shown(x)}"[:200]))
        return None
    if decimals(x) > MAX_DECIMALS:
        errs.append((_where(path, key), f"数字最多 {MAX_DECIMALS} 位小数，实际为 {shown(x)}"[:200]))
        return None
    return x


def boolean(x, path, key, errs, mode="req", lo=None, hi=None):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, 'bool', lo, hi)
    if type(x) is not bool:
        errs.append((_where(path, key), f"应为 true 或 false，实际为 {shown(x)}"[:200]))
        return None
    return x


def text(x, path, key, errs, mode="req", lo=None, hi=None):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, 'text', lo, hi)
    if type(x) is not str or not x or len(x) > 200 or not x.isprintable():
        errs.append((_where(path, key), f"应为 1 至 200 字的文字（不含控制字符和特殊空白），实际为 {shown(x)}"[:200]))
        return None
    return x


def date(x, path, key, errs, mode="req", lo=None, hi=None):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, 'date', lo, hi)
    day = parse_date(x)
    if day is None:
        errs.append((_where(path, key), f"应为日期 YYYY-MM-DD，实际为 {shown(x)}"[:200]))
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        errs.append((_where(path, key), date_range_problem(day)))
        return None
    return day


def date_range_problem(day: _dt.date) -> str:
    return f"日期应在 {DATE_RANGE} 之间（规则要在日期上加减月份，须留在日历之内），实际为 {day.isoformat()}"


def parse_date(x) -> _dt.date | None:
    """A date written YYYY-MM-DD that exists on the calendar, else None."""
    if type(x) is str and len(x) == 10 and x[4] == "-" and x[7] == "-":  # not 2024-W01-1, which 3.11 reads
        try:
            return _dt.date.fromisoformat(x)
        except ValueError:
            pass
    return None


def enum(x, path, key, errs, mode, codes):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, "enum:", codes=codes)
    if type(x) is not str or x not in codes:
        errs.append((_where(path, key), f"应为 {' | '.join(codes)} 之一，实际为 {shown(x)}"[:200]))
        return None
    return x


_SCALARS = {
    "money": "money", "money/month": "money", "money/year": "money",
    "int": "integer", "count": "integer", "age": "integer", "months": "integer", "years": "integer",
    "ratio": "number", "percent": "number", "number": "number",
    "bool": "boolean", "text": "text", "date": "date", "locality": "locality",
}


class InputCodegen:
    """Writes `c_<record>(v, path, errs)` for every record type of the module."""

    def __init__(self, module: Module):
        self.m = module
        self._bounds: tuple = (None, None)
        self.converter = Names("c")
        self.known = Names("k")

    def value(self, t: str, src: str, path: str, key: str, lo=None, hi=None, presence="required") -> str:
        opt = MODES.get(presence) or ("unk?" if t.startswith("opt:") else "unk")
        t = strip_optional(t)
        lo, hi, opt = literal(_bound(lo)), literal(_bound(hi)), literal(opt)
        if t in _SCALARS:
            return f"{_SCALARS[t]}({src}, {path}, {key}, errs, {opt}, {lo}, {hi})"
        if t.startswith("enum:"):
            codes = tuple(c for c, _ in self.m.enums[t[5:]].members)
            return f"enum({src}, {path}, {key}, errs, {opt}, {literal(codes)})"
        if t.startswith("record:"):
            return f"record({src}, {path}, {key}, errs, {opt}, {self.converter(t[7:])})"
        if t.startswith("list:"):
            item = self.value(t[5:], "x", "p", "i")
            return (f"listof({src}, {path}, {key}, errs, {opt}, {lo}, {hi}, "
                    f"lambda x, p, i, errs: {item})")
        raise ValueError(f"no converter for type {t}")

    def fast(self, t: str, call: str) -> str:
        """The converter call, behind an inline test that accepts well-formed values without a call."""
        if t.startswith("opt:"):
            return call
        if t in ("money", "money/month", "money/year"):
            return ("x if type(x) is Decimal and x.is_finite() and ZERO <= x <= MAX_MONEY "
                    f"and x == x.quantize(FEN) else {call}")
        if t == "bool":
            return f"x if type(x) is bool else {call}"
        if t in ("int", "count", "age", "months", "years"):
            lo, hi = (_bound(b) for b in self._bounds)
            test = " and ".join(filter(None, (f"{literal(lo)} <= x" if lo is not None else "",
                                               f"x <= {literal(hi)}" if hi is not None else "")))
            return f"x if type(x) is int{' and ' + test if test else ''} else {call}"
        if t == "text":
            return f"x if type(x) is str and 0 < len(x) <= 200 and x.isprintable() else {call}"
        if t.startswith("enum:"):
            codes = tuple(c for c, _ in self.m.enums[t[5:]].members)
            return f"x if type(x) is str and x in {literal(codes)} else {call}"
        return call

    def generate(self) -> str:
        lines = ["# generated by policyc from the bundle's IR; do not edit"]
        for rec in self.m.records.values():
            known = frozenset(f.id for f in rec.fields)
            conv, names = self.converter(rec.id), self.known(rec.id)
            lines.append(f"{names} = {literal(known)}")
            lines.append(f"def {conv}(v, path, errs):")
            lines.append("    out = {}")
            for f in rec.fields:
                fid = literal(f.id)
                lines.append(f"    x = v.get({fid}, MISSING)")
                call = self.value(f.type, "x", "path", fid, f.minimum, f.maximum, f.presence)
                if f.type.startswith("list:record:"):
                    item = self.converter(f.type[12:])
                    lo = _bound(f.minimum) if f.minimum is not None else 0
                    hi = _bound(f.maximum) if f.maximum is not None else 10**9
                    lines.append(f"    if type(x) is list and {literal(lo)} <= len(x) <= {literal(hi)}:")
                    lines.append(f"        p = (path, {fid})")
                    lines.append(f"        out[{fid}] = [{item}(i, (p, n), errs) if type(i) is dict else "
                                 f"record(i, p, n, errs, 'req', {item}) for n, i in enumerate(x)]")
                    if self.m.records[f.type[12:]].field("id") is not None:
                        lines.append(f"        duplicate_ids(out[{fid}], p, errs)")
                    lines.append("    else:")
                    lines.append(f"        out[{fid}] = {call}")
                    continue
                self._bounds = (f.minimum, f.maximum)
                lines.append(f"    out[{fid}] = {self.fast(f.type, call)}")
            lines.append(f"    if len(v) > {literal(len(known))} or not {names}.issuperset(v):")
            lines.append(f"        for k in sorted(set(v) - {names}, key=str):")
            lines.append("            errs.append((_where(path, k), '未知字段（请检查拼写）'))")
            lines.append("    return out")
        lines.append("def convert(v, errs):")
        lines.append("    out = {}")
        for inp in self.m.inputs:
            lines.append(f"    out[{literal(inp.id)}] = " + self.value(
                inp.type, f"v.get({literal(inp.id)}, MISSING)", "'$'", literal(inp.id), presence=inp.presence))
        lines.append("    return out")
        return "\n".join(lines) + "\n"


def _bound(value):
    """A field's minimum or maximum as a number: an int when whole, else an exact Decimal."""
    if value is None or type(value) is int:
        return value
    value = Decimal(str(value))
    return int(value) if value == value.to_integral_value() else value


def record(x, path, key, errs, mode, conv):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, "record")
    if type(x) is not dict:
        errs.append((_where(path, key), f"应为对象（{{…}}），实际为 {type(x).__name__}"))
        return None
    return conv(x, _where(path, key), errs)


def listof(x, path, key, errs, mode, lo, hi, conv):
    if x is MISSING or x is None:
        return absent_value(x, path, key, errs, mode, "list:", lo, hi)
    if type(x) is not list:
        errs.append((_where(path, key), f"应为列表（[…]），实际为 {type(x).__name__}"))
        return None
    if (lo is not None and len(x) < lo) or (hi is not None and len(x) > hi):
        errs.append((_where(path, key), f"应有 {lo} 至 {hi} 项，实际为 {len(x)} 项"))
        return None
    where = _where(path, key)
    return [conv(item, where, i, errs) for i, item in enumerate(x)]


def duplicate_ids(items, path, errs) -> None:
    """Records in a list are told apart by their `id`: two with the same id are an error naming both."""
    if len(items) < 2:
        return
    seen: dict = {}
    for n, item in enumerate(items):
        ident = item.get("id") if type(item) is dict else None
        if type(ident) is not str:
            continue
        if ident in seen:
            first = render_path(_where(_where(path, seen[ident]), "id"))
            errs.append((_where(_where(path, n), "id"), f"编号“{ident}”与 {first} 重复，每项的 id 必须不同"))
        else:
            seen[ident] = n


ZERO = Decimal(0)
HELPERS = {name: globals()[name] for name in
           ("MISSING", "Decimal", "ZERO", "MAX_MONEY", "FEN", "_where", "money", "integer", "number", "boolean", "text", "date", "enum", "record", "duplicate_ids",
            "listof")}

