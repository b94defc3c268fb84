"""Exact values used by generated evaluators: money as Decimal, dates, rounding, display in Chinese."""
from __future__ import annotations

import calendar
import datetime as _dt
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
FEN = Decimal("0.01")

# Rounding modes a policy may name (the codes of a rounding parameter's choices).
_ROUNDING = {
    "ceil_yuan": (Decimal(1), ROUND_CEILING),
    "round_yuan": (Decimal(1), ROUND_HALF_UP),
    "floor_yuan": (Decimal(1), ROUND_FLOOR),
    "ceil_jiao": (Decimal("0.1"), ROUND_CEILING),
    "round_jiao": (Decimal("0.1"), ROUND_HALF_UP),
    "round_fen": (FEN, ROUND_HALF_UP),
}
ROUNDING_MODES = tuple(_ROUNDING)


def round_money(value, mode: str):
    if value is None:
        return None
    quantum, how = _ROUNDING[mode]
    return value.quantize(quantum, rounding=how)


_CALENDAR_MONTHS = 12 * (_dt.MAXYEAR - _dt.MINYEAR + 1)


class DateOutOfRange(OverflowError):
    """A computed date off the calendar (before 0001-01-01 or after 9999-12-31): an ArithmeticError, so the
    evaluator reports it as EvaluationError R0301 like any other calculation that cannot be done."""


def add_months(day: _dt.date | None, months) -> _dt.date | None:
    """Calendar month addition; a day past the end of the target month becomes its last day (1月31日 + 1个月 = 2月末).
    A result off the calendar raises DateOutOfRange (never ValueError): request dates are bounded (inputs.FIRST_DAY
    to LAST_DAY), but a month count can come from a parameter or a computation."""
    if day is None or months is None:
        return None
    # (a count beyond the whole calendar is refused before int(): int(Decimal("1E+999998")) takes minutes)
    year = month = 0
    if -_CALENDAR_MONTHS < months < _CALENDAR_MONTHS:
        months = int(months)
        year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not _dt.MINYEAR <= year <= _dt.MAXYEAR:
        count = abs(months)
        count = str(count) if count < 10**30 else "逾十万"
        raise DateOutOfRange(f"日期 {fmt_date(day)}{'加' if months >= 0 else '减'} {count} 个月超出了日历的范围"
                             f"（公元 {_dt.MINYEAR} 年至 {_dt.MAXYEAR} 年）")
    month += 1
    return _dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def lookup_brackets(rows, key):
    """rows: ((lower_bound, value), ...) ascending; the value of the last row whose bound <= key.
    A key below the first bound falls in no tier: 0."""
    found = ZERO
    for bound, value in rows:
        if key >= bound:
            found = value
        else:
            break
    return found


def fmt_number(value) -> str:
    """A number as people write it, to the fen and without needless zeros: 650, 1.5. A figure with more
    decimals (a per-capita income 2459.99 ÷ 3) is shown rounded with 约 (约820), so that a reason never reads as
    if it contradicted its comparison ("人均820元，低于标准820元")."""
    if type(value) is not Decimal:
        return str(value)
    text = str(value)
    dot = text.find(".")
    if "E" not in text and (dot < 0 or len(text) - dot <= 3):  # already at most two decimals
        return text.rstrip("0").rstrip(".") if dot >= 0 else text
    rounded = value.quantize(FEN, rounding=ROUND_HALF_UP)
    text = format(rounded, "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return text if rounded == value else "约" + text


def fmt_date(day: _dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def fmt_value(value, kind: str, labels: dict | None = None) -> str:
    if value is None:
        return "无"
    if kind == "bool":
        return "是" if value else "否"
    if kind == "date":
        return fmt_date(value)
    if kind == "percent":
        return fmt_number(value * 100) + "%"
    if labels is not None:
        return labels.get(value, str(value))
    if isinstance(value, (list, tuple)):
        return "、".join(fmt_value(v, kind) for v in value) or "无"
    return fmt_number(value)


def money_out(value):
    """Money leaves the runtime with at most two decimals (half up to the fen)."""
    if value is None:
        return None
    return value.quantize(FEN, rounding=ROUND_HALF_UP) if value.as_tuple().exponent < -2 else value
