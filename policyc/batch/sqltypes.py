"""The column types of a population run, made from the IR: one description, written out for DuckDB and for Arrow.

A type is a small tree: ("struct", ((name, type), …)), ("list", type), ("map", key, value), or a scalar name:
"dec" (DECIMAL(38,20), every exact number while computing), "money" (DECIMAL(38,2), money leaving the run),
"bigint", "bool", "text", "date". Names in a struct are made by the IR's closed alphabets (field ids, output
keys) or by this package; `quote` refuses anything else."""
from __future__ import annotations

import re

from ..ir import MONEY, Module, strip_optional

DEC = "DECIMAL(38,20)"
WHOLE = frozenset({"int", "count", "age", "months", "years"})
DECIMALS = MONEY | {"ratio", "percent", "number"}
_SCALARS = {"dec": DEC, "money": "DECIMAL(38,2)", "bigint": "BIGINT", "bool": "BOOLEAN", "text": "VARCHAR",
            "date": "DATE"}
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")


class Unsupported(Exception):
    """A construct the SQL backend does not compile exactly: the program runs in the Python runtime instead."""


def quote(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise Unsupported(f"name {name!r} outside the closed alphabet")
    return f'"{name}"'


def scalar(t: str):
    """The type of a value of IR type `t` while computing (None: not a scalar)."""
    t = strip_optional(t)
    if t in DECIMALS:
        return "dec"
    if t in WHOLE:
        return "bigint"
    if t == "bool":
        return "bool"
    if t in ("text", "locality") or t.startswith("enum:"):
        return "text"
    if t == "date":
        return "date"
    return None


def of(module: Module, t: str, depth: int = 0):
    """The type of a value of IR type `t` (records as the request gives them)."""
    t = strip_optional(t)
    s = scalar(t)
    if s is not None:
        return s
    if depth > 8:
        raise Unsupported("records nested too deeply")
    if t.startswith("list:"):
        return ("list", of(module, t[5:], depth + 1))
    if t.startswith("record:"):
        rec = module.records[t[7:]]
        return ("struct", tuple((f.id, of(module, f.type, depth + 1)) for f in rec.fields))
    raise Unsupported(f"type {t}")


def output(t: str):
    """The type of an output of IR type `t`: money leaves with two decimals."""
    base = strip_optional(t)
    if base in MONEY:
        return "money"
    if base.startswith("list:") and scalar(base[5:]):
        return ("list", output(base[5:]))
    s = scalar(base)
    if s is None:
        raise Unsupported(f"output type {t}")
    return s


def duckdb(t) -> str:
    if isinstance(t, str):
        return _SCALARS[t]
    kind = t[0]
    if kind == "list":
        return duckdb(t[1]) + "[]"
    if kind == "map":
        return f"MAP({duckdb(t[1])}, {duckdb(t[2])})"
    return "STRUCT(" + ", ".join(f"{quote(n)} {duckdb(x)}" for n, x in t[1]) + ")"


def arrow(t):
    import pyarrow as pa

    if isinstance(t, str):
        return {"dec": pa.decimal128(38, 20), "money": pa.decimal128(38, 2), "bigint": pa.int64(),
                "bool": pa.bool_(), "text": pa.string(), "date": pa.date32()}[t]
    kind = t[0]
    if kind == "list":
        return pa.list_(arrow(t[1]))
    if kind == "map":
        return pa.map_(arrow(t[1]), arrow(t[2]))
    return pa.struct([pa.field(n, arrow(x)) for n, x in t[1]])
