"""JSON in and out with exact numbers: Decimal in, Decimal out, never float; dates as ISO strings."""
from __future__ import annotations

import datetime as _dt
import json
from decimal import Decimal


def _reject_constant(name: str):
    raise ValueError(f"不允许的数值 {name}（JSON 中不能使用 NaN 或 Infinity）")


def loads(text: str | bytes):
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


# A Decimal leaves the C encoder as a marked string, "\u0000D<digits>\u0000", whose quotes are then removed.
# Request strings cannot contain NUL (the runtime accepts printable text only) and policy texts are checked
# for it, so no other string can carry the marker.
_OPEN, _CLOSE = '"\\u0000D', '\\u0000"'


def _default(obj):
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"cannot write {obj} as JSON")
        text = str(int(obj)) if obj == obj.to_integral_value() else format(obj.normalize(), "f")
        return f"\x00D{text}\x00"
    if isinstance(obj, _dt.date):
        return obj.isoformat()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj, indent: int | None = 2, sort_keys: bool = False) -> str:
    text = json.dumps(obj, default=_default, ensure_ascii=False, indent=indent, sort_keys=sort_keys,
                      allow_nan=False, separators=(",", ": ") if indent is not None else (",", ":"))
    return text.replace(_OPEN, "").replace(_CLOSE, "") if _OPEN in text else text
