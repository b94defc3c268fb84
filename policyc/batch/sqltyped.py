"""Requests that arrive typed (Parquet, Arrow): the clean-row predicate over typed columns, and the expressions
that give the rules query its input columns in the types `sqlinput.InputSql.structure(True)` describes.

The file's schema stands for the request's keys: a column or struct field the file lacks is a field left out of
every request, a NULL is an explicit JSON null (so the row means what `to_json` of it means, and that is the text
the Python runtime gets for the rows SQL must not decide). The clean rules are those of `sqlinput.py` — ranges,
enum codes, whole fen, unique ids, required and unknown fields present, printable text of 1 to 200 characters —
checked on typed values; a leaf of another type than the natural one (money as text, a float) is not clean, the
Python runtime says why. A column or field the IR does not know, or a value of the wrong kind (a list where a
record belongs), is an error about the whole file (`SchemaMismatch`).
"""
from __future__ import annotations

from decimal import Decimal

import pyarrow as pa

from ..ir import MONEY, Field, Module, is_optional, strip_optional
from ..runtime.inputs import MAX_MONEY
from .sqlgen import _lit_text
from .sqlinput import FIRST_DAY, LAST_DAY, MAX_INT, MAX_ITEMS, PRINTABLE, _typed_leaf
from .sqltypes import WHOLE, Unsupported, quote

TOP = ("id", "locality", "date")


class SchemaMismatch(ValueError):
    """The file's columns do not fit the request format: the message (Chinese) names the column."""


def _kind(t: pa.DataType) -> str:
    if pa.types.is_struct(t):
        return "record"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "list"
    if pa.types.is_map(t) or pa.types.is_dictionary(t) or pa.types.is_union(t):
        return "other"
    return "scalar"


def _children(t: pa.DataType) -> dict[str, pa.DataType]:
    return {t.field(i).name: t.field(i).type for i in range(t.num_fields)}


class TypedInputs:
    def __init__(self, module: Module, localities):
        self.m = module
        self.codes = ", ".join(_lit_text(c) for c in sorted(localities))
        self.n = 0

    def _var(self) -> str:
        self.n += 1
        return f"x{self.n}"

    # ── the schema ──────────────────────────────────────────────────────────────────
    def check(self, schema: pa.Schema) -> None:
        """Raises SchemaMismatch when the file's columns are not a request's keys."""
        known = {i.id: i for i in self.m.inputs}
        for name in schema.names:
            if name == "_row" or name in TOP:
                if name in TOP and _kind(schema.field(name).type) != "scalar":
                    raise SchemaMismatch(f"列 {name} 应为文字")
                continue
            if name not in known:
                raise SchemaMismatch(f"列 {name} 不是评估请求的字段（应为 {', '.join(TOP + tuple(known))} 之一）")
            self._check(known[name].type, schema.field(name).type, name)

    def _check(self, t: str, at: pa.DataType, path: str) -> None:
        t = strip_optional(t)
        want = "list" if t.startswith("list:") else "record" if t.startswith("record:") else "scalar"
        got = _kind(at)
        if got != want:
            words = {"list": "列表", "record": "结构（struct）", "scalar": "单个值", "other": "该类型"}
            raise SchemaMismatch(f"列 {path} 应为{words[want]}，文件中为 {at}")
        if want == "list":
            self._check(t[5:], at.value_type, path + "[]")
        elif want == "record":
            rec = self.m.records[t[7:]]
            for name, sub in _children(at).items():
                f = rec.field(name)
                if f is None:
                    raise SchemaMismatch(f"列 {path}.{name} 不是 {rec.id} 的字段")
                self._check(f.type, sub, f"{path}.{name}")

    # ── the clean-row predicate ─────────────────────────────────────────────────────
    def clean(self, schema: pa.Schema, locality, day) -> str:
        """The predicate over the columns of a relation with `schema` (already `check`ed)."""
        cols = {n: schema.field(n).type for n in schema.names}
        conds = []
        if "id" in cols:
            t = cols["id"]
            if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)):
                conds.append(f"{quote('id')} IS NULL")
        if "locality" in cols:
            conds.append(self._leaf("locality", quote("locality"), cols["locality"], Field("locality", "", "locality")))
        elif not locality:
            conds.append("FALSE")
        if "date" in cols:
            conds.append(self._leaf("date", quote("date"), cols["date"], Field("date", "", "date")))
        elif not day:
            conds.append("FALSE")
        for inp in self.m.inputs:
            conds.append(self._field(inp, quote(inp.id), cols.get(inp.id)))
        self.conditions = conds
        return " AND ".join(f"coalesce({c}, FALSE)" for c in conds)

    def _field(self, f: Field, v: str, at: pa.DataType | None) -> str:
        """A field of a record (or an input): `at` is its type in the file, None when the file lacks it."""
        if at is None:  # left out of every request: 无 only when the field says so
            return "TRUE" if f.presence == "none" else "FALSE"
        null_ok = f.presence == "none" or (f.presence == "unknown" and is_optional(f.type))
        return f"({v} IS NULL AND {'TRUE' if null_ok else 'FALSE'} OR {v} IS NOT NULL AND {self._value(f, v, at)})"

    def _value(self, f: Field, v: str, at: pa.DataType) -> str:
        t = strip_optional(f.type)
        if t.startswith("record:"):
            rec = self.m.records[t[7:]]
            have = _children(at)
            return "(" + " AND ".join(self._field(g, f"{v}.{quote(g.id)}", have.get(g.id)) for g in rec.fields) + ")"
        if t.startswith("list:"):
            inner = strip_optional(t[5:])
            lo = 0 if f.minimum is None else int(Decimal(str(f.minimum)))
            hi = MAX_ITEMS if f.maximum is None else min(MAX_ITEMS, int(Decimal(str(f.maximum))))
            x = self._var()
            item = Field("item", "", inner)
            conds = [f"len({v}) BETWEEN {lo} AND {hi}",
                     f"coalesce(list_bool_and(list_transform({v}, lambda {x}: {x} IS NOT NULL AND "
                     f"{self._value(item, x, at.value_type)})), TRUE)"]
            if inner.startswith("record:") and self.m.records[inner[7:]].field("id") is not None:
                y = self._var()
                conds.append(f"len(list_distinct(list_transform({v}, lambda {y}: {y}.{quote('id')}))) = len({v})")
            return "(" + " AND ".join(conds) + ")"
        return self._leaf(f.id, v, at, f)

    def _leaf(self, name: str, v: str, at: pa.DataType, f: Field) -> str:
        t = strip_optional(f.type)
        text = pa.types.is_string(at) or pa.types.is_large_string(at)
        if t in MONEY:
            if pa.types.is_decimal(at):
                whole_fen = "" if at.scale <= 2 else f"{v} = round({v}, 2) AND "
                return f"({whole_fen}{v} BETWEEN 0 AND {MAX_MONEY})"
            if pa.types.is_integer(at):
                return f"({v} BETWEEN 0 AND {MAX_MONEY})"
            return "FALSE"
        if t in WHOLE:
            lo = -MAX_INT if f.minimum is None else max(-MAX_INT, int(Decimal(str(f.minimum))))
            hi = MAX_INT if f.maximum is None else min(MAX_INT, int(Decimal(str(f.maximum))))
            return f"({v} BETWEEN {lo} AND {hi})" if pa.types.is_integer(at) else "FALSE"
        if t == "bool":
            return "TRUE" if pa.types.is_boolean(at) else "FALSE"
        if t == "date":
            if pa.types.is_date32(at) or pa.types.is_date64(at):
                return f"({v} BETWEEN DATE '{FIRST_DAY}' AND DATE '{LAST_DAY}')"
            if text:
                return (f"(length({v}) = 10 AND {v}[5] = '-' AND {v}[8] = '-' AND "
                        f"TRY_CAST({v} AS DATE) BETWEEN DATE '{FIRST_DAY}' AND DATE '{LAST_DAY}')")
            return "FALSE"
        if not text:
            return "FALSE"
        if t == "text":
            return f"(length({v}) BETWEEN 1 AND 200 AND regexp_full_match({v}, '{PRINTABLE}'))"
        if t == "locality":
            return f"({v} IN ({self.codes}))"
        if t.startswith("enum:"):
            return f"({v} IN ({', '.join(_lit_text(c) for c, _ in self.m.enums[t[5:]].members)}))"
        raise Unsupported(f"input of type {t}")

    # ── the typed columns ───────────────────────────────────────────────────────────
    def column(self, inp: Field, at: pa.DataType | None, keep=None) -> str:
        """The input `inp` in the type the rules query reads (clean rows only): the column as it is when the
        file has it in that type, else rebuilt. `keep` holds the record fields the rules read ((record id,
        field id), as `project` leaves them), None: all fields."""
        if at is None:
            return f"CAST(NULL AS {self.sql_type(inp.type, (inp.id,), keep)})"
        return self._conv(inp.type, quote(inp.id), at, (inp.id,), keep)[0]

    def sql_type(self, t: str, path: tuple, keep) -> str:
        t = strip_optional(t)
        if t.startswith("list:"):
            return self.sql_type(t[5:], path, keep) + "[]"
        if t.startswith("record:"):
            rec = self.m.records[t[7:]]
            fields = [f"{quote(g.id)} {self.sql_type(g.type, path + (g.id,), keep)}" for g in rec.fields
                      if keep is None or (rec.id, g.id) in keep]
            return f"STRUCT({', '.join(fields)})" if fields else "STRUCT(_ BOOLEAN)"
        return _typed_leaf(t)

    def _conv(self, t: str, v: str, at: pa.DataType, path: tuple, keep) -> tuple[str, bool]:
        """(expression, changed) for value `v` of file type `at` as IR type `t`."""
        t = strip_optional(t)
        if t.startswith("list:"):
            x = self._var()
            inner, changed = self._conv(t[5:], x, at.value_type, path, keep)
            return (f"list_transform({v}, lambda {x}: {inner})", True) if changed else (v, False)
        if t.startswith("record:"):
            rec = self.m.records[t[7:]]
            have = _children(at)
            parts, changed = [], False
            wanted = [g for g in rec.fields if keep is None or (rec.id, g.id) in keep]
            if not wanted:  # read as a whole (present or not): as `project` left it
                return v, False
            if [g.id for g in wanted] != list(have):
                changed = True
            for g in wanted:
                sub = have.get(g.id)
                if sub is None:
                    parts.append(f"{quote(g.id)} := CAST(NULL AS {self.sql_type(g.type, path + (g.id,), keep)})")
                    continue
                e, c = self._conv(g.type, f"{v}.{quote(g.id)}", sub, path + (g.id,), keep)
                changed |= c
                parts.append(f"{quote(g.id)} := {e}")
            if not parts:
                parts = ["_ := TRUE"]
            if not changed:
                return v, False
            return f"CASE WHEN {v} IS NOT NULL THEN struct_pack({', '.join(parts)}) END", True
        want = _typed_leaf(t)
        # any decimal the rules widen exactly where they read it (`sqlgen.x_field`: DECIMAL(38,20)) is used as
        # the file has it: rebuilding every record to change DECIMAL(18,2) into DECIMAL(38,2) cost 40 % of a run
        same = {"DECIMAL(38,2)": pa.types.is_decimal128(at) and at.scale <= 20 and at.precision - at.scale <= 18,
                "BIGINT": at == pa.int64(),
                "BOOLEAN": pa.types.is_boolean(at), "DATE": pa.types.is_date32(at),
                "VARCHAR": pa.types.is_string(at) or pa.types.is_large_string(at)}[want]
        return (v, False) if same else (f"CAST({v} AS {want})", True)

    # ── projection ──────────────────────────────────────────────────────────────────
    def project(self, table: pa.Table, read: set[tuple[str, str]]) -> pa.Table:
        """The table with only the record fields in `read` ((record id, field id)), without copying a value:
        the rules query then scans no column it does not read. Top-level columns stay."""
        cols, names = [], []
        for name in table.column_names:
            inp = next((i for i in self.m.inputs if i.id == name), None)
            col = table.column(name)
            if inp is not None:
                col = pa.chunked_array([_project(self.m, inp.type, c, read) for c in col.chunks],
                                       type=None if col.num_chunks else col.type)
            cols.append(col)
            names.append(name)
        return pa.Table.from_arrays(cols, names=names)


def _project(m: Module, t: str, arr: pa.Array, read) -> pa.Array:
    t = strip_optional(t)
    if t.startswith("list:") and (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        values = _project(m, t[5:], arr.values, read)
        if values is arr.values:
            return arr
        cls = pa.LargeListArray if pa.types.is_large_list(arr.type) else pa.ListArray
        return cls.from_arrays(arr.offsets, values, mask=arr.is_null() if arr.null_count else None)
    if t.startswith("record:") and pa.types.is_struct(arr.type):
        rid = t[7:]
        rec = m.records[rid]
        children = arr.flatten()  # the children as the struct's slice sees them
        keep, names = [], []
        for i in range(arr.type.num_fields):
            name = arr.type.field(i).name
            f = rec.field(name)
            if f is None or (rid, name) not in read:
                continue
            keep.append(_project(m, f.type, children[i], read))
            names.append(name)
        if not names and arr.type.num_fields:  # the record is read as a whole (present or not): one field keeps its shape
            keep, names = [children[0]], [arr.type.field(0).name]
        if names == [arr.type.field(i).name for i in range(arr.type.num_fields)] and all(
                k is c for k, c in zip(keep, children)) and arr.offset == 0 and arr.null_count == 0:
            return arr
        return pa.StructArray.from_arrays(keep, names=names, mask=arr.is_null() if arr.null_count else None)
    return arr
