"""Requests as DuckDB reads them: JSON text per row in, typed STRUCT columns out, and the clean-row predicate
that decides which rows the SQL query may decide.

A row is clean when the Python runtime would convert it without an error and without an unknown fact, and the
typed columns hold exactly what the runtime would compute with: every field the request format requires or
leaves unknown is present and non-null (an optional field whose absence means "unknown" is present, null or
not), every value has its JSON type, range, enum code and two decimals for money, no key is unknown or repeated,
ids in a list differ, and the place is a 6-digit code of the bundle. Anything else — and any number written with
more digits than a double keeps exactly — goes to the Python runtime, which gives the decision or the error with
its JSON path. The predicate may be stricter than the runtime, never looser.
"""
from __future__ import annotations

import json
from decimal import Decimal

from ..ir import MONEY, Field, Module, is_optional, strip_optional
from ..runtime.inputs import MAX_MONEY
from .sqltypes import Unsupported, WHOLE, quote
from .sqlgen import _lit_text

MAX_INT = 10**9  # larger whole numbers are for the Python runtime (products stay far inside DECIMAL(38,20))
MAX_ITEMS = 1000
FIRST_DAY, LAST_DAY = "1900-01-01", "2999-12-31"
# Checked once per row on the whole JSON text, so that no value needs a pattern of its own: every character
# printable (letters, marks, digits, punctuation, symbols, the space; JSON's own punctuation is among them) and no
# backslash, so every string is its text as written and printable as the runtime requires.
PRINTABLE = r"[\p{L}\p{M}\p{N}\p{P}\p{S} ]*"
# a number literal a double may not hold exactly (≥ 16 digits, an exponent): the row goes to the Python runtime
GUARD = r"[0-9]{16}|[0-9.]{17}|[0-9][eE]"


def _typed_leaf(t: str) -> str:
    t = strip_optional(t)
    if t in MONEY:
        return "DECIMAL(38,2)"
    if t in WHOLE:
        return "BIGINT"
    if t in ("ratio", "percent", "number"):
        raise Unsupported(f"input of type {t}")
    return {"bool": "BOOLEAN", "date": "DATE"}.get(t, "VARCHAR")


class InputSql:
    def __init__(self, module: Module, localities):
        self.m = module
        self.codes = sorted(localities)
        self.key_paths: list[tuple[str, list[Field], list[str]]] = []  # json path, fields, extra keys
        self.type_paths: list[str] = []  # json paths whose JSON type must be read apart

    # ── structures for json_transform ─────────────────────────────────────────────────
    def structure(self, typed: bool) -> str:
        """The json_transform structure of a request: leaves as "JSON" (raw, for checking) or typed."""
        def of(t: str, depth: int):
            t = strip_optional(t)
            if depth > 8:
                raise Unsupported("records nested too deeply")
            if t.startswith("list:"):
                return [of(t[5:], depth + 1)]
            if t.startswith("record:"):
                return {f.id: of(f.type, depth + 1) for f in self.m.records[t[7:]].fields}
            return _typed_leaf(t) if typed else "JSON"
        top = {i.id: of(i.type, 0) for i in self.m.inputs}
        top.update({"locality": "JSON", "date": "JSON", "id": "JSON"} if not typed else {})
        return json.dumps(top, ensure_ascii=True)

    # ── the clean-row predicate ─────────────────────────────────────────────────────────
    def clean(self, raw: str, row_keys: str, keys: dict[str, str], types: dict[str, str]) -> str:
        """The predicate over the raw struct `raw`, the top-level keys `row_keys`, and the key lists and JSON
        types read per path (`keys` and `types` map a JSON path to the SQL expression holding them)."""
        conds = [f"list_bool_and(list_transform({row_keys}, lambda k: k IN "
                 f"({', '.join(_lit_text(x) for x in ['id', 'locality', 'date'] + [i.id for i in self.m.inputs])})))",
                 f"len({row_keys}) = len(list_distinct({row_keys}))",
                 f"({raw}.id IS NULL OR json_type({raw}.id) IN ('VARCHAR', 'UBIGINT', 'BIGINT'))",
                 f"({raw}.locality IS NULL OR {raw}.locality->>'$' IN ({', '.join(_lit_text(c) for c in self.codes)}))",
                 f"({raw}.date IS NULL OR {self._date(f'{raw}.date')})"]
        for inp in self.m.inputs:
            conds.append(self._field(inp, f"{raw}.{quote(inp.id)}", "$." + inp.id, types))
        for path, expr in keys.items():
            conds.append(self._keys(path, expr))
        self.conditions = conds
        return " AND ".join(f"coalesce({c}, FALSE)" for c in conds)

    def object_paths(self) -> dict[str, object]:
        """JSON path (with [*]) → record, for every object of a request."""
        out: dict[str, object] = {}

        def visit(t: str, path: str, depth: int):
            t = strip_optional(t)
            if depth > 8:
                raise Unsupported("records nested too deeply")
            if t.startswith("list:"):
                visit(t[5:], path + "[*]", depth + 1)
            elif t.startswith("record:"):
                rec = self.m.records[t[7:]]
                out[path] = rec
                for f in rec.fields:
                    visit(f.type, f"{path}.{f.id}", depth + 1)
        for inp in self.m.inputs:
            visit(inp.type, "$." + inp.id, 0)
        return out

    def typed_paths(self) -> list[str]:
        """Paths of records and lists that may be null or left out: their JSON type is read apart, since the
        raw struct shows a value of the wrong type as null too."""
        out = []

        def visit(t: str, path: str, presence: str, depth: int):
            base = strip_optional(t)
            if base.startswith(("record:", "list:")) and (presence == "none" or is_optional(t)):
                out.append(path)
            if base.startswith("list:"):
                inner = base[5:]
                if inner.startswith("record:"):
                    for f in self.m.records[inner[7:]].fields:
                        visit(f.type, f"{path}[*].{f.id}", f.presence, depth + 1)
            elif base.startswith("record:"):
                for f in self.m.records[base[7:]].fields:
                    visit(f.type, f"{path}.{f.id}", f.presence, depth + 1)
        for inp in self.m.inputs:
            visit(inp.type, "$." + inp.id, inp.presence, 0)
        return out

    def _keys(self, path: str, expr: str) -> str:
        rec = self.object_paths()[path]
        known = ", ".join(_lit_text(f.id) for f in rec.fields)
        must = [f.id for f in rec.fields if f.presence == "unknown" and is_optional(f.type)]
        per = [f"list_bool_and(list_transform(ks, lambda k: k IN ({known})))", "len(ks) = len(list_distinct(ks))"]
        if must:
            per.append(f"list_has_all(ks, [{', '.join(_lit_text(m) for m in must)}])")
        body = " AND ".join(per)
        lists = expr if "[*]" in path else f"list_filter([{expr}], lambda ks: ks IS NOT NULL)"
        return f"coalesce(list_bool_and(list_transform({lists}, lambda ks: {body})), TRUE)"

    def _absent_ok(self, f: Field) -> bool:
        """Whether null or leaving the field out gives a known value (无): presence `none`, or an optional field
        whose absence means unknown (the key check requires the key, so only an explicit null remains)."""
        return f.presence == "none" or (f.presence == "unknown" and is_optional(f.type))

    def _field(self, f: Field, v: str, path: str, types: dict[str, str]) -> str:
        t = strip_optional(f.type)
        ok_absent = "TRUE" if self._absent_ok(f) else "FALSE"
        if t.startswith(("record:", "list:")):
            present = self._value(t, v, path, f, types)
            if path in types:  # null, left out, or of the right kind
                kind = "OBJECT" if t.startswith("record:") else "ARRAY"
                return (f"(({types[path]} IS NULL OR {types[path]} = 'NULL') AND {ok_absent} "
                        f"OR {types[path]} = '{kind}' AND {present})")
            return f"({v} IS NULL AND {ok_absent} OR {v} IS NOT NULL AND {present})"
        return (f"({v} IS NULL AND {ok_absent} OR {v} IS NOT NULL AND json_type({v}) <> 'NULL' AND "
                f"{self._scalar(t, v, f)})")

    def _value(self, t: str, v: str, path: str, f: Field, types: dict[str, str]) -> str:
        if t.startswith("record:"):
            rec = self.m.records[t[7:]]
            return "(" + " AND ".join(self._field(g, f"{v}.{quote(g.id)}", f"{path}.{g.id}", types)
                                      for g in rec.fields) + ")"
        inner = strip_optional(t[5:])
        lo = 0 if f.minimum is None else int(Decimal(str(f.minimum)))
        hi = MAX_ITEMS if f.maximum is None else min(MAX_ITEMS, int(Decimal(str(f.maximum))))
        conds = [f"len({v}) BETWEEN {lo} AND {hi}"]
        if inner.startswith("record:"):
            rec = self.m.records[inner[7:]]
            body = " AND ".join(self._field(g, f"x.{quote(g.id)}", f"{path}[*].{g.id}", types) for g in rec.fields)
            conds.append(f"coalesce(list_bool_and(list_transform({v}, lambda x: x IS NOT NULL AND {body})), TRUE)")
            if rec.field("id") is not None:
                conds.append(f"len(list_distinct(list_transform({v}, lambda x: x.id->>'$'))) = len({v})")
        else:
            item = Field("item", "", inner)
            conds.append(f"coalesce(list_bool_and(list_transform({v}, lambda x: x IS NOT NULL AND "
                         f"json_type(x) <> 'NULL' AND {self._scalar(inner, 'x', item)})), TRUE)")
        return "(" + " AND ".join(conds) + ")"

    def _scalar(self, t: str, v: str, f: Field) -> str:
        jt = f"json_type({v})"
        if t in MONEY:
            return (f"{jt} IN ('UBIGINT', 'BIGINT', 'DOUBLE') AND TRY_CAST({v}::VARCHAR AS DECIMAL(38,12)) "
                    f"= TRY_CAST({v}::VARCHAR AS DECIMAL(38,2)) AND TRY_CAST({v} AS DECIMAL(38,2)) BETWEEN 0 AND {MAX_MONEY}")
        if t in WHOLE:
            lo = -MAX_INT if f.minimum is None else max(-MAX_INT, int(Decimal(str(f.minimum))))
            hi = MAX_INT if f.maximum is None else min(MAX_INT, int(Decimal(str(f.maximum))))
            return f"{jt} IN ('UBIGINT', 'BIGINT') AND TRY_CAST({v} AS BIGINT) BETWEEN {lo} AND {hi}"
        if t == "bool":
            return f"{jt} = 'BOOLEAN'"
        if t == "date":
            return self._date(v)
        if t == "text":
            return f"{jt} = 'VARCHAR' AND length({v}->>'$') BETWEEN 1 AND 200"
        if t == "locality":
            return f"{jt} = 'VARCHAR' AND {v}->>'$' IN ({', '.join(_lit_text(c) for c in self.codes)})"
        if t.startswith("enum:"):
            codes = ", ".join(_lit_text(c) for c, _ in self.m.enums[t[5:]].members)
            return f"{jt} = 'VARCHAR' AND {v}->>'$' IN ({codes})"
        raise Unsupported(f"input of type {t}")

    @staticmethod
    def _date(v: str) -> str:
        s = f"({v}->>'$')"
        return (f"json_type({v}) = 'VARCHAR' AND length({s}) = 10 AND {s}[5] = '-' AND {s}[8] = '-' "
                f"AND TRY_CAST({s} AS DATE) BETWEEN DATE '{FIRST_DAY}' AND DATE '{LAST_DAY}'")
