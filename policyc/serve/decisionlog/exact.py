"""Exact JSON text: every digit of a Decimal kept, RawJSON passed through, shared trace entries written once."""
from __future__ import annotations

import datetime as _dt
import json
import re
import secrets
from decimal import Decimal


class RawJSON(str):
    """JSON text that goes into an entry as it is (e.g. the decision text the service already sent)."""


# Decimals and raw JSON leave the C encoder as marked strings whose marks are then removed (as in jsonio); the
# marks carry a random nonce, so no string in a request can imitate them.
_NONCE = secrets.token_hex(8)
_OPEN, _CLOSE = f'"\\u0000{_NONCE}', f'\\u0000{_NONCE}"'
_MARK = re.compile(re.escape(_OPEN) + r"(.*?)" + re.escape(_CLOSE))


class _RawMarker:
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def dumps_exact(obj) -> str:
    """Compact JSON with every Decimal written with all its digits (jsonio.dumps normalises 1234.50 to 1234.5), and
    RawJSON values of a top-level dict written as they are. Floats, which the runtime never produces, are written
    as Python's shortest round-trip text."""
    raws: list[str] = []

    def default(o):
        if isinstance(o, Decimal):
            if not o.is_finite():
                raise ValueError(f"cannot write {o} as JSON")
            return f"\x00{_NONCE}{o:f}\x00{_NONCE}"  # every digit as given: 1234.50 stays 1234.50
        if isinstance(o, _RawMarker):
            raws.append(o.text)
            return f"\x00{_NONCE}R{len(raws) - 1}\x00{_NONCE}"
        if isinstance(o, _dt.date):
            return o.isoformat()
        if isinstance(o, (tuple, set, frozenset)):
            return list(o)
        raise TypeError(f"{type(o).__name__} is not JSON serializable")

    # json.dumps writes a str subclass itself, without asking `default`: swap RawJSON values for markers
    if isinstance(obj, dict) and any(type(v) is RawJSON for v in obj.values()):
        obj = {k: (_RawMarker(str(v)) if type(v) is RawJSON else v) for k, v in obj.items()}
    text = json.dumps(obj, default=default, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if _OPEN not in text:
        return text

    def repl(m):
        body = m.group(1)
        return raws[int(body[1:])] if body.startswith("R") else body
    return _MARK.sub(repl, text)


try:  # trace entries the runtime shares between decisions (read-only): written once, then reused
    from ...runtime.evaluator import _Frozen as _SHARED_TRACE_ENTRY
except ImportError:  # pragma: no cover
    _SHARED_TRACE_ENTRY = None
_TRACE_TEXT: dict[int, tuple] = {}


def _trace_item_text(item) -> str:
    if _SHARED_TRACE_ENTRY is None or type(item) is not _SHARED_TRACE_ENTRY:
        return dumps_exact(item)
    found = _TRACE_TEXT.get(id(item))
    if found is not None and found[0] is item:
        return found[1]
    text = dumps_exact(item)
    if len(_TRACE_TEXT) >= 50000:
        _TRACE_TEXT.clear()
    _TRACE_TEXT[id(item)] = (item, text)  # the entry is held, so its id is not reused while cached
    return text


def decision_text(decision: dict) -> str:
    """The decision dict as exact JSON, its trace entries that the runtime shares written from a cache."""
    trace = decision.get("trace")
    if not isinstance(trace, list) or not trace:
        return dumps_exact(decision)
    head = dumps_exact({k: v for k, v in decision.items() if k != "trace"})
    body = ",".join(_trace_item_text(t) for t in trace)
    return f'{head[:-1]}{"," if len(head) > 2 else ""}"trace":[{body}]}}'
