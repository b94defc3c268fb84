"""Moments in the log: a datetime, date or ISO text as aware UTC, and the fixed-width UTC text that is stored."""
from __future__ import annotations

import datetime as _dt
import re

from .errors import DecisionLogError


def utc(moment) -> _dt.datetime:
    """A datetime, date or ISO text as an aware UTC datetime (naive values are taken as UTC)."""
    if isinstance(moment, str):
        moment = _parse(moment)
    elif isinstance(moment, _dt.date) and not isinstance(moment, _dt.datetime):
        moment = _dt.datetime(moment.year, moment.month, moment.day)
    if not isinstance(moment, _dt.datetime):
        raise DecisionLogError("L0005", f"时间 {moment!r} 无效，应为 ISO 8601 日期或时间")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_dt.timezone.utc)
    try:
        return moment.astimezone(_dt.timezone.utc)
    except OverflowError:  # 9999-12-31T23:00-14:00 is in year 10000 in UTC, 0001-01-01T00:00+14:00 in year 0
        raise DecisionLogError("L0005", f"时间 {moment.isoformat()} 换算为 UTC 后超出日历范围（0001 至 9999 年）") from None


def _parse(text: str) -> _dt.datetime:
    raw = text.strip()
    value = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return _dt.datetime.combine(_dt.date.fromisoformat(value), _dt.time())
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:?\d{2})?", value):
            raise ValueError
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        raise DecisionLogError("L0005", f"时间 {text!r} 无效，应为 ISO 8601 格式，如 2024-07-01 或 "
                                        f"2024-07-01T08:00:00Z（不带时区按 UTC）") from None


def time_text(moment: _dt.datetime) -> str:
    """Fixed-width UTC text, so that text order is time order: 2024-07-01T08:00:00.000000Z."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
