"""The runtime's caches: bounded by entry count and by approximate bytes, least recently used out first.

A long-running service sees requests for every place, date and selection of programs; a cache without a bound
grew to gigabytes (issue 15: the evaluate_json trace cache, keyed by the programs a request selects). Each cache
of `Evaluator` is an `LRU`: a hit moves its key to the back, a put evicts from the front until both bounds hold,
and a value larger than the byte bound on its own is computed but not kept. The sizes are estimates (`footprint`:
the containers a value holds, never the strings and numbers it shares with the bundle), good enough to keep a
cache within a small multiple of its bound.

Thread-safe: a lookup is two atomic OrderedDict operations (a concurrent eviction between them costs nothing but
the move); puts and evictions hold a lock.
"""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict

_sizeof = sys.getsizeof


class LRU:
    """A mapping bounded by `max_entries` entries and about `max_bytes` bytes (each put states its value's size)."""

    __slots__ = ("name", "max_entries", "max_bytes", "_data", "_bytes", "_lock", "misses", "evictions")

    def __init__(self, name: str, max_entries: int, max_bytes: int):
        if max_entries < 0 or max_bytes < 0:
            raise ValueError(f"缓存 {name} 的上限不能为负数")
        self.name, self.max_entries, self.max_bytes = name, int(max_entries), int(max_bytes)
        self._data: OrderedDict = OrderedDict()  # key → (value, size)
        self._bytes = 0
        self._lock = threading.Lock()
        self.misses = self.evictions = 0  # counted without the lock: statistics, not invariants

    def get(self, key, default=None):
        data = self._data
        try:
            value = data[key]
            data.move_to_end(key)
        except KeyError:  # absent (or evicted by another thread between the two steps: computed again)
            self.misses += 1
            return default
        return value[0]

    def put(self, key, value, size: int):
        """Keep `value` under `key` (replacing any value there), then evict the least recently used entries until
        both bounds hold. Returns `value`."""
        size = int(size)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes or self.max_entries == 0:
                return value  # larger than the whole cache: used once, not kept
            self._data[key] = (value, size)
            self._bytes += size
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, gone) = self._data.popitem(last=False)
                self._bytes -= gone
                self.evictions += 1
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

    @property
    def bytes(self) -> int:
        return self._bytes

    def stats(self) -> dict:
        return {"entries": len(self._data), "bytes": self._bytes, "max_entries": self.max_entries,
                "max_bytes": self.max_bytes, "misses": self.misses, "evictions": self.evictions}


def footprint(value, depth: int = 8) -> int:
    """Approximate bytes of the containers (dict, list, tuple, set) in `value`, down to `depth` levels. Strings,
    numbers and dates are not counted: in the runtime's caches they are, nearly all, the bundle's own objects,
    shared by every entry, so counting them would make a cache hold far fewer entries than its bound allows."""
    total = 0
    stack = [(value, 0)]
    while stack:
        v, level = stack.pop()
        t = type(v)
        if t is dict or isinstance(v, dict):
            total += _sizeof(v)
            if level < depth:
                stack.extend((x, level + 1) for x in v.values())
        elif t is list or t is tuple or t is set or t is frozenset:
            total += _sizeof(v)
            if level < depth:
                stack.extend((x, level + 1) for x in v)
    return total
