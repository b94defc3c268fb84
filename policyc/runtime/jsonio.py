"""JSON in and out with exact numbers: Decimal in, Decimal out, never float; dates as ISO strings."""
from __future__ import annotations

import datetime as _dt
import json
import secrets
from decimal import Decimal

from .errors import InputError


def _reject_constant(name: str):
    raise ValueError(f"不允许的数值 {name}（JSON 中不能使用 NaN 或 Infinity）")


# Numbers are bounded where they are read: a 13-byte "1e1000000" would otherwise become a Decimal whose
# conversion to int or text takes minutes (a denial of service by one request or one bundle field). A number
# outside these bounds is never converted: the parser keeps a marker in its place and, once the text is read,
# `loads` refuses it with the JSON path of every such number (NumberRangeError). Each field then applies its own,
# narrower range (runtime/inputs.py: money, 18-digit whole numbers, dates).
MAX_DIGITS = 40
MAX_EXPONENT = 40


class NumberRangeError(InputError, ValueError):
    """Numbers a JSON text holds that are too long or too large or small to be read, each with its JSON path: an
    InputError (R0101, a request's problems), and a ValueError, as every other reason a text is not usable JSON."""


class _Unreadable:
    """Stands, while the text is parsed, where a number too long or out of range was."""

    __slots__ = ("problem",)

    def __init__(self, problem: str):
        self.problem = problem


def _decimal(text: str):
    if len(text) > 2 * MAX_DIGITS:
        return _Unreadable(f"数字过长（{len(text)} 个字符，至多 {2 * MAX_DIGITS} 个）")
    value = Decimal(text)
    if not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        return _Unreadable(f"数字 {text[:40]} 超出可处理的范围（量级应在 1e-{MAX_EXPONENT} 至 1e{MAX_EXPONENT} 之间）")
    return value


def _integer(text: str):
    if len(text) > MAX_DIGITS:
        return _Unreadable(f"整数过长（{len(text)} 位，至多 {MAX_DIGITS} 位）")
    return int(text)


def _object(pairs: list) -> dict:
    """An object whose keys are all different: with a key given twice, which value counts would depend on the
    reader (this one took the last) — a silent wrong answer. It is refused, naming the key."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"对象中的键“{key[:100]}”出现了不止一次（同一对象中每个键只能出现一次）")
    return obj


def loads(text: str | bytes):
    """JSON text → Python values, numbers as int and Decimal (never float). Raises ValueError for anything that
    is not such JSON; NumberRangeError (a ValueError and an InputError) names the JSON path of each number out
    of range."""
    found: list = []

    def decimal(t: str):
        v = _decimal(t)
        if type(v) is _Unreadable:
            found.append(v)
        return v

    def integer(t: str):
        if len(t) <= MAX_DIGITS:
            return int(t)
        found.append(_integer(t))
        return found[-1]

    value = json.loads(text, parse_float=decimal, parse_int=integer, parse_constant=_reject_constant,
                       object_pairs_hook=_object)
    if found:
        raise NumberRangeError(_unreadable(value))
    return value


def _unreadable(value) -> list[tuple[str, str]]:
    """(JSON path, problem) of every marker left by the parser, in document order (at most 20)."""
    problems: list = []
    stack = [("$", value)]
    while stack and len(problems) < 20:
        path, v = stack.pop()
        if type(v) is _Unreadable:
            problems.append((path, v.problem))
        elif type(v) is dict:
            stack.extend((f"{path}.{k}", x) for k, x in reversed(v.items()))
        elif type(v) is list:
            stack.extend((f"{path}[{i}]", x) for i, x in reversed(list(enumerate(v))))
    return problems


# A Decimal leaves the C encoder as a marked string, "\u0000<nonce><digits><nonce>\u0000", whose quotes and marks are then
# removed. The nonce is random per process, so no string in the data — a bundle is untrusted, and a string
# "\u0000D5\u0000" must never serialise like the number 5, or two different bundles would share a hash and a
# signature — can carry the mark.
_NONCE = secrets.token_hex(8)
_OPEN, _CLOSE = f'"\\u0000{_NONCE}', f'{_NONCE}\\u0000"'


def _default(obj):
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"cannot write {obj} as JSON")
        text = str(int(obj)) if obj == obj.to_integral_value() else format(obj.normalize(), "f")
        return f"\x00{_NONCE}{text}{_NONCE}\x00"
    if isinstance(obj, _dt.date):
        return obj.isoformat()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj, indent: int | None = 2, sort_keys: bool = False) -> str:
    text = json.dumps(obj, default=_default, ensure_ascii=False, indent=indent, sort_keys=sort_keys,
                      allow_nan=False, separators=(",", ": ") if indent is not None else (",", ":"))
    return text.replace(_OPEN, "").replace(_CLOSE, "") if _OPEN in text else text


try:  # the wire encoder: Decimals written as exact numbers, five times faster than the stdlib's with a default hook
    import msgspec as _msgspec
    _WIRE = _msgspec.json.Encoder(decimal_format="number")
except ImportError:  # pragma: no cover - msgspec is a dependency; a runtime without it still answers, slower
    _WIRE = None


def dumps_wire(obj) -> str:
    """Compact JSON for an answer over the wire (`Evaluator.evaluate_json`). The numbers are the same Decimals as
    `dumps` writes, exactly, but as the Decimal spells itself (1200.00, not 1200): JSON has one number type,
    and a client reading it as Decimal gets the same value. Anything msgspec refuses (a non-finite number, a
    type it does not know) goes through `dumps`, which says why."""
    if _WIRE is not None:
        try:
            return _WIRE.encode(obj).decode("utf-8")
        except (TypeError, ValueError, _msgspec.EncodeError):
            pass
    return dumps(obj, indent=None)
