"""Masking by path: Mask turns the fields its patterns name (DEFAULT_MASK: names, ids, phones…) into "***"."""
from __future__ import annotations

import json
import re
from typing import Iterable

from .errors import DecisionLogError

MASK_TOKEN = "***"

# Fields that name or reach a person. The request schema (generated/schemas/household.schema.json) has none of
# them today: it is closed (additionalProperties: false) and describes people only by household-local member ids,
# ages, incomes and conditions. These patterns guard against the schema, or a caller's envelope, growing them.
DEFAULT_MASK = [
    "**.name", "**.full_name", "**.id_number", "**.id_card", "**.identity_number", "**.id_card_number",
    "**.phone", "**.mobile", "**.telephone", "**.email", "**.address", "**.bank_account", "**.bank_card",
    "**.birth_date", "**.date_of_birth",
]


_KEY = re.compile(r"\*\*|\*|[^.\[\]*\s]+")
_INDEX = re.compile(r"\[(\*|\d+)\]")
_DEEP, _ANY_KEY, _ANY_ITEM = ("**",), ("*key",), ("*item",)


class Mask:
    """Path patterns for personal fields, compiled. A pattern is dotted keys with `[*]` (every item of an array),
    `[N]` (one item), `*` (every key of an object) and `**` (any depth, also written `..`), optionally starting
    with `$.`: `household.members[*].name`, `household.address`, `**.phone`. A matching value (a whole object or
    array too) is replaced by "***"; null stays null, so a masked entry still shows which fields were absent."""

    def __init__(self, patterns: Iterable[str] | None = None):
        if isinstance(patterns, str):
            patterns = [patterns]
        self.patterns = list(DEFAULT_MASK if patterns is None else patterns)
        self._compiled = [self._compile(p) for p in self.patterns]
        self._steps: dict = {}  # (states, step) -> result: requests repeat their keys
        # a pattern ending in a key can match only if `"key":` occurs in the request's compact JSON
        self._always = any(t[-1][0] != "key" for t in self._compiled)
        self._needles = sorted({json.dumps(t[-1][1], ensure_ascii=False) + ":" for t in self._compiled
                                if t[-1][0] == "key"})

    @staticmethod
    def _compile(pattern) -> tuple:
        def bad(why="应为字段路径，如 household.members[*].name 或 **.phone"):
            return DecisionLogError("L0001", f"屏蔽规则 {pattern!r} 无效：{why}")
        if not isinstance(pattern, str) or not pattern.strip():
            raise bad()
        text = pattern.strip()
        if text.startswith("$"):
            text = text[1:]
        text = re.sub(r"\.\.(?=\[)", ".**", text).replace("..", ".**.")
        if text.startswith("."):
            text = text[1:]
        tokens, pos, need_key = [], 0, True
        while pos < len(text):
            if text[pos] == "[":
                m = _INDEX.match(text, pos)
                if m is None or need_key:
                    raise bad()
                tokens.append(_ANY_ITEM if m.group(1) == "*" else ("item", int(m.group(1))))
                pos, need_key = m.end(), False
                continue
            if text[pos] == ".":
                if need_key:
                    raise bad()
                pos, need_key = pos + 1, True
                continue
            if not need_key:
                raise bad()
            m = _KEY.match(text, pos)
            if m is None:
                raise bad()
            key = m.group(0)
            tokens.append(_DEEP if key == "**" else _ANY_KEY if key == "*" else ("key", key))
            pos, need_key = m.end(), False
        if need_key or not tokens:
            raise bad()
        if tokens[-1] == _DEEP:
            raise bad("不能以 ** 结尾：请写出要屏蔽的字段")
        return tuple(tokens)

    def _step(self, states: frozenset, step) -> tuple[frozenset, bool]:
        """Advance the (pattern, position) states over one step (a key or an index): the new states, and whether a
        pattern ends here."""
        key = (states, step)
        found = self._steps.get(key)
        if found is None:
            found = self._advance(states, step)
            if len(self._steps) < 4096:
                self._steps[key] = found
        return found

    def _advance(self, states, step):
        closure, pending = set(), list(states)
        while pending:  # `**` also matches no step at all
            p, i = pending.pop()
            if (p, i) not in closure:
                closure.add((p, i))
                if self._compiled[p][i] == _DEEP:
                    pending.append((p, i + 1))
        out, hit = set(), False
        for p, i in closure:
            toks = self._compiled[p]
            tok = toks[i]
            if tok == _DEEP:
                out.add((p, i))  # ** swallows this step and stays
                continue
            if isinstance(step, str):
                ok = tok == _ANY_KEY or tok == ("key", step)
            else:
                ok = tok == _ANY_ITEM or tok == ("item", step)
            if ok:
                if i + 1 == len(toks):
                    hit = True
                else:
                    out.add((p, i + 1))
        return frozenset(out), hit

    def apply(self, value, compact_json: str | None = None):
        """A masked copy of the request (the original is not changed; unmasked parts may be shared).
        `compact_json`, the request's compact JSON if the caller has it, lets a request with none of the masked
        keys skip the walk."""
        if not self._compiled:
            return value
        if compact_json is not None and not self._always and not any(n in compact_json for n in self._needles):
            return value
        return self._walk(value, frozenset((p, 0) for p in range(len(self._compiled))))

    def _walk(self, value, states):
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            return value
        out = []
        for k, v in items:
            nxt, hit = self._step(states, k)
            out.append((k, (None if v is None else MASK_TOKEN) if hit else self._walk(v, nxt) if nxt else v))
        return dict(out) if isinstance(value, dict) else [v for _, v in out]


_CACHE: dict[tuple, Mask] = {}


def mask_of(mask) -> Mask:
    """A Mask from a list of patterns (None: DEFAULT_MASK), compiled once and cached; a Mask as it is."""
    if isinstance(mask, Mask):
        return mask
    key = None if mask is None else tuple(mask)
    found = _CACHE.get(key)
    if found is None:
        found = Mask(mask)
        if len(_CACHE) < 64:
            _CACHE[key] = found
    return found
