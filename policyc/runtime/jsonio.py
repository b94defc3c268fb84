"""JSON in and out with exact numbers: Decimal in, Decimal out, never float; dates as ISO strings."""
from __future__ import annotations

import datetime as _dt
import json
from decimal import Decimal


def _reject_constant(name: str):
    raise ValueError(f"不允许的数值 {name}（JSON 中不能使用 NaN 或 Infinity）")


def loads(text: str | bytes):
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def _plain(obj):
    if isinstance(obj, Decimal):
        return _DecimalLiteral(obj)
    if isinstance(obj, (_dt.date,)):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


class _DecimalLiteral(float):
    """Carries a Decimal through json's float path and prints its exact digits."""

    def __new__(cls, value: Decimal):
        self = super().__new__(cls, 0.0)
        self.text = _decimal_text(value)
        return self

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _decimal_text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


class _Encoder(json.JSONEncoder):
    def iterencode(self, o, _one_shot=False):
        # the C encoder formats floats itself; the pure-Python one calls float.__repr__, which we override
        return json.encoder._make_iterencode(
            {}, self.default, json.encoder.py_encode_basestring if not self.ensure_ascii
            else json.encoder.py_encode_basestring_ascii,
            self.indent, lambda f: repr(f) if isinstance(f, _DecimalLiteral) else float.__repr__(f),
            self.key_separator, self.item_separator, self.sort_keys, self.skipkeys, _one_shot)(o, 0)


def dumps(obj, indent: int | None = 2, sort_keys: bool = False) -> str:
    return json.dumps(_plain(obj), cls=_Encoder, ensure_ascii=False, indent=indent, sort_keys=sort_keys,
                      separators=(",", ": ") if indent is not None else (",", ":"))
