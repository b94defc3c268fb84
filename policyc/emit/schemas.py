"""The request and decision JSON Schemas, generated from the IR so the contract and the rules cannot drift."""
from __future__ import annotations

from ..check.types import type_name, unit_of
from ..ir import Module, is_optional, strip_optional
from ..runtime import notice_block

DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


def _type_schema(m: Module, t: str, lo=None, hi=None) -> dict:
    base = strip_optional(t)
    if base.startswith("money"):
        s = {"type": "number", "minimum": 0, "x-unit": unit_of(base)}
    elif base in ("int", "count", "age", "months", "years"):
        s = {"type": "integer"}
        if unit_of(base):
            s["x-unit"] = unit_of(base)
    elif base in ("ratio", "percent", "number"):
        s = {"type": "number"}
    elif base == "bool":
        s = {"type": "boolean"}
    elif base == "text":
        s = {"type": "string", "minLength": 1, "maxLength": 200}
    elif base == "date":
        s = dict(DATE)
    elif base == "locality":
        s = {"type": "string", "minLength": 1, "maxLength": 200,
             "description": "地区：6 位行政区划代码或地名（如 140105、太原市小店区、小店区）"}
    elif base.startswith("enum:"):
        e = m.enums[base[5:]]
        s = {"enum": [c for c, _ in e.members], "description": "；".join(f"{c}: {label}" for c, label in e.members)}
    elif base.startswith("record:"):
        s = {"$ref": f"#/$defs/{base[7:]}"}
    elif base.startswith("list:"):
        s = {"type": "array", "items": _type_schema(m, base[5:])}
        if lo is not None:
            s["minItems"] = lo
        if hi is not None:
            s["maxItems"] = hi
        lo = hi = None
    else:
        raise ValueError(base)
    if lo is not None:
        s["minimum"] = lo
    if hi is not None:
        s["maximum"] = hi
    if is_optional(t):
        s = {"anyOf": [s, {"type": "null"}]}
    return s


# What leaving a field out, or writing null, means: the contract of unknown facts (issue 9).
_ABSENT = {
    "required": "必填。",
    "none": "未提供或为 null 时按“无”处理。",
    "unknown": "未提供或为 null 时按“未知”处理：取决于它的结果为 null（待补充），并列入 missing_facts。",
    "unknown?": "未提供时按“未知”处理（取决于它的结果为 null，列入 missing_facts）；写 null 表示“无”。",
}


def _field_schema(m: Module, f) -> dict:
    key = f.presence + ("?" if f.presence == "unknown" and is_optional(f.type) else "")
    t = f.type if f.presence == "required" or is_optional(f.type) else "opt:" + f.type
    s = dict(_type_schema(m, t, f.minimum, f.maximum), title=f.name)
    s["description"] = (s.get("description", "") + "。" if s.get("description") else "") + _ABSENT[key]
    s["x-absent"] = {"required": "error", "none": "none", "unknown": "unknown"}[f.presence]
    return s


def _record_defs(m: Module) -> dict:
    defs = {}
    for rec in m.records.values():
        props = {f.id: _field_schema(m, f) for f in rec.fields}
        defs[rec.id] = {"type": "object", "title": rec.name, "additionalProperties": False,
                        "required": [f.id for f in rec.fields if f.presence == "required"], "properties": props}
        if rec.requirements:
            defs[rec.id]["x-requirements"] = [r.message for r in rec.requirements]
    return defs


def request_schema(m: Module, policy_id: str) -> dict:
    props = {"locality": {"type": ["string", "integer"], "title": "地区（6 位行政区划代码或地名）"},
             "date": dict(DATE, title="评估日期")}
    for inp in m.inputs:
        props[inp.id] = _field_schema(m, inp)
    if notice_block.KEY not in props:
        props[notice_block.KEY] = _notice_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://policyc.example/schemas/{policy_id}/household.schema.json",
            "$comment": "由 policyc build 根据规则生成，请勿手工修改",
            "title": "救助评估请求", "type": "object", "additionalProperties": False,
            "required": ["locality", "date"] + [i.id for i in m.inputs if i.presence == "required"],
            "properties": props,
            "$defs": _record_defs(m)}


def _notice_schema() -> dict:
    """The optional `notice` block: who issues the 告知书 (runtime/notice_block.py). Not a fact: it changes no
    decision."""
    text = {"type": "string", "minLength": 1, "maxLength": 200}
    return {"type": ["object", "null"], "title": "告知书信息（不是事实，不影响任何结果）", "additionalProperties": False,
            "description": "policyc eval --notice 用于告知书的承办机关、文号、告知日期和行政复议机关；均可不填，"
                           "不填的在告知书中写明“未填写”",
            "properties": {k: dict(DATE if kind == "date" else text, title=name)
                           for k, (name, kind) in notice_block.FIELDS.items()}}


def decision_schema(m: Module, policy_id: str) -> dict:
    by_id = {d.id: d for d in m.definitions}
    reason = {"type": "object", "required": ["rule", "citation", "text", "rests_on"], "additionalProperties": False,
              "properties": {"rule": {"type": "string"}, "citation": {"type": "string"},
                             "text": {"type": "string", "title": "理由（中文，含所用数值）"},
                             "rests_on": {"type": "object", "required": ["definitions", "facts"],
                                          "additionalProperties": False, "title": "理由所依据的定义与事实",
                                          "properties": {
                                              "definitions": {"type": "array", "items": {"type": "string"},
                                                              "title": "规则直接读取的定义（id）"},
                                              "facts": {"type": "array", "items": {"type": "string"},
                                                        "title": "规则直接读取的请求事实（JSON 路径，[*] 表示列表各项）"}}}}}
    fact = {"type": "object", "required": ["path", "name"], "additionalProperties": False,
            "properties": {"path": {"type": "string", "title": "请求中的位置（JSON 路径）"},
                           "name": {"type": "string", "title": "事实名称"}}}
    missing = {"type": "array", "items": fact, "title": "待补充的事实：只列出能改变尚未确定的结果的事实"}
    undecided = {"type": "array", "items": {"type": "string"},
                 "title": "尚未确定的输出（其值为 null，待补充 missing_facts 后确定）"}
    programs = {}
    for prog in m.programs:
        outputs = [by_id[o] for o in prog.outputs]
        props = _output_props(m, [o for o in outputs if o.scope is None])
        for scope in dict.fromkeys(o.scope for o in outputs if o.scope):
            member = _output_props(m, [o for o in outputs if o.scope == scope])
            member["reasons"] = {"type": "array", "items": reason, "title": "理由及依据"}
            member["missing_facts"] = missing
            member["undecided"] = undecided
            props[_container(m, scope)] = {
                "type": "object", "title": f"按{m.records[scope].name}（以 id 为键）",
                "additionalProperties": _object(member, m.records[scope].name)}
        props["reasons"] = {"type": "array", "items": reason, "title": "理由及依据"}
        props["missing_facts"] = missing
        props["undecided"] = undecided
        programs[prog.id] = _object(props, prog.name)
    referral = {"type": "object", "required": ["program", "item", "item_id", "member", "amount", "citation",
                                               "status", "missing_facts"],
                "additionalProperties": False,
                "properties": {"program": {"type": "string"}, "item": {"type": "string", "title": "救助事项"},
                               "item_id": {"type": "string"}, "member": {"type": ["string", "null"]},
                               "amount": {"anyOf": [{"type": "number", "minimum": 0, "multipleOf": 0.01},
                                                    {"type": "null"}]},
                               "citation": {"type": "string"},
                               "status": {"enum": ["due", "unknown"],
                                          "title": "due：应当转介；unknown：条件尚未确定，待补充 missing_facts"},
                               "missing_facts": missing}}
    trace_item = {"type": "object", "required": ["id", "name", "value", "unit", "effective_from", "jurisdiction", "level",
                                                 "illustrative", "provenance", "citation", "defined_at"],
                  "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                 "value": {}, "unit": {"type": ["string", "null"]}, "label": {"type": "string"},
                                 "effective_from": DATE, "jurisdiction": {"type": "string"},
                                 "level": {"enum": ["province", "city", "county", "case"]},
                                 "illustrative": {"type": "boolean", "title": "示例值（无正式来源）"},
                                 "provenance": {"type": "object", "title": "来源文件，或示例值说明"},
                                 "citation": {"type": "string"}, "defined_at": {"type": "string"},
                                 "at": {"type": "object", "required": ["code", "name"],
                                        "title": "在另一地区读取的取值（地区参数），如急难发生地",
                                        "properties": {"code": {"type": "string"}, "name": {"type": "string"}}}}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://policyc.example/schemas/{policy_id}/decision.schema.json",
            "$comment": "由 policyc build 根据规则生成，请勿手工修改",
            "title": "救助评估决定", "type": "object", "additionalProperties": False,
            "required": ["bundle", "locality", "date", "programs", "referrals", "missing_facts", "trace"],
            "properties": {
                "bundle": {"type": "object", "required": ["id", "version", "sha256"],
                           "properties": {"id": {"type": "string"}, "version": {"type": "string"},
                                          "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}},
                "locality": {"type": "object", "required": ["code", "name"],
                             "properties": {"code": {"type": "string", "pattern": r"^\d{6}$"},
                                            "name": {"type": "string"}}},
                "date": DATE,
                "programs": {"type": "object", "additionalProperties": False, "properties": programs,
                             "description": "全部程序；请求只评估部分程序时，只有这些程序"},
                "referrals": {"type": "array", "items": referral, "title": "专项救助转介"},
                "missing_facts": dict(missing, title="全部待补充的事实（各程序、成员和转介所缺事实的并集）"),
                "trace": {"type": "array", "items": trace_item, "title": "所用参数及来源"},
                "decision_id": {"type": "string", "pattern": "^[0-9A-Za-z_-]{1,64}$", "title": "决定日志编号",
                                "description": "决定服务（policyc serve）记录决定日志时给出；本地评估没有此项"}}}


def _object(props: dict, title: str) -> dict:
    return {"type": "object", "title": title, "additionalProperties": False, "required": list(props),
            "properties": props}


def _output_props(m: Module, outputs) -> dict:
    """Output schemas, nested by dotted keys (recheck.next_date)."""
    props: dict = {}
    for d in outputs:
        schema = _type_schema(m, "opt:" + strip_optional(d.type))  # null: 无, or not yet decided (see undecided)
        if strip_optional(d.type).startswith("money"):
            schema = {"anyOf": [dict(schema["anyOf"][0], multipleOf=0.01), {"type": "null"}]}
        schema = dict(schema, title=d.name, description=type_name(d.type, m.enums)
                      + "；尚未确定时为 null（见 undecided）")
        node = props
        *parents, leaf = d.key.split(".")
        for p in parents:
            node = node.setdefault(p, _object({}, p))["properties"]
        node[leaf] = schema
    _fix_required(props)
    return props


def _fix_required(props: dict) -> None:
    for value in props.values():
        if value.get("type") == "object" and "properties" in value and "additionalProperties" in value:
            value["required"] = list(value["properties"])
            _fix_required(value["properties"])


def _container(m: Module, scope: str) -> str:
    """The list field a record is found in (members), which names its per-record outputs."""
    for rec in m.records.values():
        for f in rec.fields:
            if f.type in (f"list:record:{scope}", f"opt:list:record:{scope}"):
                return f.id
    return scope
