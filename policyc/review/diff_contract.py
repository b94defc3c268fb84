"""The request and decision contract between two bundles: their JSON Schemas flattened to fields by path, and
each difference classified for downstream services (docs/review.md “契约”):

request (what services send)                    decision (what services read)
  field removed            不兼容                 field removed                 不兼容
  new required field       不兼容                 new field                     兼容（消费方须容忍新增字段）
  new optional field       兼容                   type or unit changed          不兼容
  type or unit changed     不兼容 (widening 兼容)  may now be null               不兼容
  enum member removed      不兼容                 enum member added             不兼容（严格的消费方不认识新值）
  enum member added        兼容                   enum member removed           兼容
  now required             不兼容                 title, description only       文字
  range narrowed           不兼容 (widened 兼容)
  requirement (要求) added or changed 不兼容, removed 兼容
A breaking change needs a major version; a compatible one a minor version (decisions may change with it); a
change of titles or descriptions only a patch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .diff_params import MAJOR, MINOR, PATCH

SCHEMA_TEXT = {"request": "请求", "decision": "决定"}


@dataclass
class ContractChange:
    schema: str  # request | decision
    path: str  # household.members[].age, programs.tekun.members.*.care
    change: str  # added | removed | type | unit | nullable | enum | required | absent | range | requirement | text
    breaking: bool
    level: str
    old: object = None
    new: object = None
    text: str = ""

    def to_json(self) -> dict:
        return {"schema": self.schema, "path": self.path, "change": self.change, "breaking": self.breaking,
                "level": self.level, "old": self.old, "new": self.new, "text": self.text}


@dataclass
class _Field:
    types: frozenset
    nullable: bool
    enum: tuple | None
    required: bool
    absent: str | None
    unit: str | None
    fmt: str | None
    minimum: object
    maximum: object
    title: str | None
    description: str | None


def flatten(schema: dict) -> dict[str, _Field]:
    """Every field of a schema by its path ("" is the root), $refs resolved, `anyOf [X, null]` read as X or null."""
    defs = schema.get("$defs", {})
    out: dict[str, _Field] = {}

    def visit(node: dict, path: str, required: bool, seen: tuple) -> None:
        title, description = node.get("title"), node.get("description")
        nullable = False
        if "anyOf" in node:
            alts = [a for a in node["anyOf"] if a != {"type": "null"}]
            nullable = len(alts) < len(node["anyOf"])
            node = dict(alts[0], **{k: v for k, v in node.items() if k != "anyOf"}) if len(alts) == 1 else node
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/"):]
            if name in seen:
                return
            seen = seen + (name,)
            node = dict(defs.get(name, {}), **{k: v for k, v in node.items() if k != "$ref"})
        types = node.get("type", ())
        types = frozenset([types] if isinstance(types, str) else types)
        if "null" in types:
            nullable, types = True, types - {"null"}
        enum = tuple(node["enum"]) if "enum" in node else None
        lo = node.get("minimum", node.get("minItems"))
        hi = node.get("maximum", node.get("maxItems"))
        out[path] = _Field(types, nullable, enum, required, node.get("x-absent"), node.get("x-unit"),
                           node.get("format"), lo, hi, title, description)
        needed = set(node.get("required", ()))
        for key, sub in node.get("properties", {}).items():
            visit(sub, f"{path}.{key}" if path else key, key in needed, seen)
        if isinstance(node.get("additionalProperties"), dict):
            visit(node["additionalProperties"], f"{path}.*", False, seen)
        if isinstance(node.get("items"), dict):
            visit(node["items"], f"{path}[]", True, seen)

    visit(schema, "", True, ())
    return out


def _widens(old: frozenset, new: frozenset) -> bool:
    """Every JSON value of a type in `old` is one of a type in `new` (an integer is a number)."""
    return all(t in new or (t == "integer" and "number" in new) for t in old)


def _range_widens(old: _Field, new: _Field) -> bool:
    lo_ok = new.minimum is None or (old.minimum is not None and new.minimum <= old.minimum)
    hi_ok = new.maximum is None or (old.maximum is not None and new.maximum >= old.maximum)
    return lo_ok and hi_ok


def diff_schema(kind: str, old_schema: dict, new_schema: dict) -> list[ContractChange]:
    inbound = kind == "request"
    old, new = flatten(old_schema), flatten(new_schema)
    out: list[ContractChange] = []
    what = SCHEMA_TEXT[kind]

    def add(path, change, breaking, text, o=None, n=None, level=None):
        out.append(ContractChange(kind, path, change, breaking, level or (MAJOR if breaking else MINOR), o, n,
                                  f"{what}字段 {path}：{text}"))

    def under(path: str, paths: set) -> bool:
        return any(path.startswith(p + ".") or path.startswith(p + "[") for p in paths)

    added = {p for p in new if p not in old}
    removed = {p for p in old if p not in new}
    for path in sorted(removed):
        if not under(path, removed):
            add(path, "removed", True, "删除" + ("（仍发送它的请求将被拒绝）" if inbound else "（读取它的服务将取不到）"),
                o=old[path].title)
    for path in sorted(added):
        if under(path, added):
            continue
        f = new[path]
        if inbound and f.required:
            add(path, "added", True, f"新增必填字段“{f.title or path}”（原来的请求缺少它将被拒绝）", n=f.title)
        else:
            add(path, "added", False, f"新增{'可选' if inbound else ''}字段“{f.title or path}”", n=f.title)
    for path in sorted(set(old) & set(new)):
        o, n = old[path], new[path]
        before = len(out)
        if o.types != n.types or o.fmt != n.fmt:
            ok = (_widens(o.types, n.types) if inbound else _widens(n.types, o.types)) and o.fmt == n.fmt
            add(path, "type", not ok, f"类型由 {_types(o)} 改为 {_types(n)}", _types(o), _types(n))
        if o.unit != n.unit:
            add(path, "unit", True, f"单位由 {o.unit or '无'} 改为 {n.unit or '无'}", o.unit, n.unit)
        if o.nullable != n.nullable:
            ok = n.nullable if inbound else not n.nullable
            text = "可以为 null" if n.nullable else "不再可以为 null"
            add(path, "nullable", not ok, text, o.nullable, n.nullable)
        if o.enum != n.enum and o.enum is not None and n.enum is not None:
            gone = [m for m in o.enum if m not in n.enum]
            extra = [m for m in n.enum if m not in o.enum]
            if gone or extra:
                breaking = bool(gone) if inbound else bool(extra)
                parts = ([f"新增取值 {'、'.join(extra)}"] if extra else []) + \
                        ([f"删除取值 {'、'.join(gone)}"] if gone else [])
                add(path, "enum", breaking, "，".join(parts), list(o.enum), list(n.enum))
        if o.required != n.required and path:
            if inbound:
                add(path, "required", n.required, "改为必填" if n.required else "改为可选", o.required, n.required)
            else:
                add(path, "required", not n.required, "不再总是出现" if not n.required else "改为总是出现",
                    o.required, n.required)
        if inbound and o.absent != n.absent and o.required == n.required:
            add(path, "absent", False, f"未提供时的含义由 {o.absent} 改为 {n.absent}", o.absent, n.absent)
        if inbound and (o.minimum, o.maximum) != (n.minimum, n.maximum):
            widens = _range_widens(o, n)
            add(path, "range", not widens, f"取值范围由 {_range(o)} 改为 {_range(n)}{'（放宽）' if widens else '（收紧）'}",
                _range(o), _range(n))
        if (o.title, o.description) != (n.title, n.description) and path and len(out) == before:
            add(path, "text", False, f"标题或说明由“{o.title}”改为“{n.title}”" if o.title != n.title
                else "说明文字改变", o.title, n.title, level=PATCH)
    return out


def diff_requirements(base_ir: dict, head_ir: dict) -> list[ContractChange]:
    """要求 (a record's conditions on the facts of a request): added or changed may refuse requests accepted
    before (不兼容); removed only accepts more (兼容); the same condition with another message is text."""
    def by_record(ir):
        return {(r["id"], _canon(q)): q for r in ir["records"] for q in r.get("requirements", ())}

    old, new = by_record(base_ir), by_record(head_ir)
    out = []
    for key in sorted(old.keys() | new.keys()):
        rid, o, n = key[0], old.get(key), new.get(key)
        if o is None:
            out.append(ContractChange("request", f"$defs.{rid}", "requirement", True, MAJOR, None, n["message"],
                                      f"请求字段 {rid}：新增或改变了要求“{n['message']}”（原来有效的请求可能被拒绝）"))
        elif n is None:
            out.append(ContractChange("request", f"$defs.{rid}", "requirement", False, MINOR, o["message"], None,
                                      f"请求字段 {rid}：删除了要求“{o['message']}”"))
        elif o["message"] != n["message"]:
            out.append(ContractChange("request", f"$defs.{rid}", "text", False, PATCH, o["message"], n["message"],
                                      f"请求字段 {rid}：要求的说明由“{o['message']}”改为“{n['message']}”"))
    return out


def _canon(q: dict) -> str:
    return json.dumps([q["expr"], q["field"]], sort_keys=True, default=str)


def _types(f: _Field) -> str:
    names = sorted(f.types) or (["enum"] if f.enum else ["any"])
    return "|".join(names) + (f"（{f.fmt}）" if f.fmt else "")


def _range(f: _Field) -> str:
    lo = "-∞" if f.minimum is None else str(f.minimum)
    hi = "∞" if f.maximum is None else str(f.maximum)
    return f"[{lo}, {hi}]"


def diff_contract(base: dict, head: dict) -> list[ContractChange]:
    out = diff_schema("request", base["schemas"]["request"], head["schemas"]["request"])
    out += diff_requirements(base["ir"], head["ir"])
    out += diff_schema("decision", base["schemas"]["decision"], head["schemas"]["decision"])
    return out
