"""Parameter values between two bundles: dated values added, changed, removed or ended, per jurisdiction, with
what was in force there before (resolved along the jurisdiction chain, as the runtime does) and provenance."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..emit.chinese import date_text, number, quantity

PATCH, MINOR, MAJOR = "patch", "minor", "major"
_PROVENANCE = ("illustrative", "source", "note")
FIELD_TEXT = {"name": "名称", "description": "说明", "citation": "依据", "citations": "依据", "unit": "单位",
              "type": "类型", "overridable_by": "可由下级设定", "minimum": "下限", "maximum": "上限",
              "constraints": "约束", "choices": "选项", "table": "表格结构", "outputs": "输出", "rules": "规则",
              "referrals": "转介", "localities": "地区", "from": "开始日期", "to": "结束日期", "changes": "调整",
              "note": "说明", "illustrative": "示例值标记", "full_name": "全称", "parent": "上级", "level": "层级",
              "functional_zone": "功能区", "reason": "理由", "value": "取值", "bound": "界限",
              "household": "家庭", "expect": "期望结果", "date": "日期", "locality": "地区", "covers": "覆盖",
              "incident": "临时救助申请", "application": "申请", "parameters": "参数", "relative_inputs": "相对输入"}


def fields_text(fields) -> str:
    return "、".join(FIELD_TEXT.get(f, f) for f in fields)


@dataclass
class ParamChange:
    """One dated value of one parameter at one jurisdiction (`kind`: added | changed | removed | ended | inherit |
    provenance), or the parameter itself (`kind`: parameter_added | parameter_removed | metadata)."""

    id: str
    name: str
    citation: str
    kind: str
    level: str
    jurisdiction: str | None = None
    jurisdiction_name: str | None = None
    start: str | None = None  # "from"
    old: object = None  # the value in force there on that date before (None: none)
    new: object = None
    illustrative: bool = False  # the new value (or the old one, when removed) is a 示例值
    provenance: dict | None = None  # {"old": …, "new": …} when the source, note or 示例值 mark changed
    fields: list[str] = field(default_factory=list)  # metadata: which fields changed
    text: str = ""

    def to_json(self) -> dict:
        out = {"id": self.id, "name": self.name, "citation": self.citation, "kind": self.kind,
               "level": self.level, "jurisdiction": self.jurisdiction, "jurisdiction_name": self.jurisdiction_name,
               "from": self.start, "old": self.old, "new": self.new, "illustrative": self.illustrative,
               "text": self.text}
        if self.provenance is not None:
            out["provenance"] = self.provenance
        if self.fields:
            out["fields"] = self.fields
        return out


def chains(bundle: dict) -> dict[str, list[str]]:
    """code → [code, parent, …, province]."""
    parent = {j["code"]: j["parent"] for j in bundle["jurisdictions"]}
    out = {}
    for code in parent:
        chain, c = [], code
        while c and c not in chain:
            chain.append(c)
            c = parent.get(c)
        out[code] = chain
    return out


def entry_at(timelines: dict, chain: list[str], day: str) -> dict | None:
    """The entry in force at the first level of `chain` that has one on `day` (None: none, or ended)."""
    for level in chain:
        found = None
        for entry in timelines.get(level, ()):
            if entry["from"] <= day:
                found = entry
        if found is None or found.get("inherit"):
            continue
        return None if found.get("end") else found
    return None


def value_text(p: dict, value) -> str:
    if value is None:
        return "无"
    if p.get("choices"):
        return p["choices"].get(value, str(value))
    if p.get("table"):
        key, val = p["table"]["key"], p["table"]["value"]
        return "；".join(f"{key['name']}{number(b)}起：{quantity(v, val['unit'])}" for b, v in value)
    return quantity(value, p.get("unit"))


def source_text(entry: dict | None) -> str:
    if entry is None:
        return "无"
    if entry.get("illustrative"):
        return "示例值（无正式来源）"
    src = entry.get("source") or {}
    text = f"《{src.get('document', '')}》" + (f"{src['article']}" if src.get("article") else "")
    return text if src else "未载明来源"


def _same_value(a, b) -> bool:
    return a == b


def diff_parameters(base: dict, head: dict) -> list[ParamChange]:
    bp, hp = base["parameters"], head["parameters"]
    bchains, hchains = chains(base), chains(head)
    names = {j["code"]: j["full_name"] for j in base["jurisdictions"]}
    names.update({j["code"]: j["full_name"] for j in head["jurisdictions"]})
    out: list[ParamChange] = []
    for pid in sorted(set(bp) | set(hp)):
        p = hp.get(pid) or bp[pid]
        if pid not in bp or pid not in hp:
            kind = "parameter_added" if pid in hp else "parameter_removed"
            change = ParamChange(pid, p["name"], p["citation"], kind, MINOR)
            change.text = f"{'新增' if pid in hp else '删除'}参数“{p['name']}”（{pid}）"
            out.append(change)
            continue
        b, h = bp[pid], hp[pid]
        meta = [k for k in sorted(set(b) | set(h)) if k != "timelines" and k != "defined_at" and b.get(k) != h.get(k)]
        if meta:
            level = MINOR if {"type", "unit", "choices", "table"} & set(meta) else PATCH
            change = ParamChange(pid, h["name"], h["citation"], "metadata", level, fields=meta)
            change.text = f"参数“{h['name']}”（{pid}）的{fields_text(meta)}改变"
            out.append(change)
        for code in sorted(set(b["timelines"]) | set(h["timelines"])):
            out += _timeline(pid, b, h, code, names.get(code, code), bchains.get(code, [code]),
                             hchains.get(code, [code]))
    return out


def _timeline(pid, b, h, code, place, bchain, hchain) -> list[ParamChange]:
    old_own = {e["from"]: e for e in b["timelines"].get(code, ())}
    new_own = {e["from"]: e for e in h["timelines"].get(code, ())}
    out = []
    for day in sorted(set(old_own) | set(new_own)):
        o, n = old_own.get(day), new_own.get(day)
        before, after = entry_at(b["timelines"], bchain, day), entry_at(h["timelines"], hchain, day)
        old_v = before["value"] if before else None
        new_v = after["value"] if after else None
        if n is None:
            kind = "removed"
        elif o is None:
            kind = "ended" if n.get("end") else "inherit" if n.get("inherit") else "added"
        elif bool(o.get("end")) != bool(n.get("end")) or bool(o.get("inherit")) != bool(n.get("inherit")) \
                or not _same_value(o.get("value"), n.get("value")):
            kind = "ended" if n.get("end") else "inherit" if n.get("inherit") else "changed"
        elif any(o.get(k) != n.get(k) for k in _PROVENANCE):
            kind = "provenance"
        else:
            continue
        c = ParamChange(pid, h["name"], h["citation"], kind, PATCH if kind == "provenance" else MINOR, code, place,
                        day, old_v, new_v)
        c.illustrative = bool((after or {}).get("illustrative")) if kind != "removed" else bool((o or {}).get(
            "illustrative"))
        if o is not None and n is not None and any(o.get(k) != n.get(k) for k in _PROVENANCE):
            c.provenance = {"old": {k: o.get(k) for k in _PROVENANCE}, "new": {k: n.get(k) for k in _PROVENANCE}}
        c.text = sentence(c, h, o, n)
        out.append(c)
    return out


def sentence(c: ParamChange, p: dict, o: dict | None, n: dict | None) -> str:
    """自2024年1月1日起，山西省城市低保标准由每月760元调整为780元（示例值；二(二)5）."""
    when = f"自{date_text(c.start)}起，"
    what = f"{c.jurisdiction_name}{c.name}"
    mark = "示例值；" if c.illustrative else ""
    tail = f"（{mark}{c.citation}）"
    old, new = value_text(p, c.old), value_text(p, c.new)
    if c.kind == "provenance":
        return (f"{what}自{date_text(c.start)}起的取值{new}，来源由{source_text(o)}改为{source_text(n)}"
                f"（{c.citation}）")
    if c.kind == "ended":
        return f"{when}{what}停止适用（此前为{old}）{tail}" if c.old is not None else f"{when}{what}停止适用{tail}"
    if c.kind == "inherit":
        return f"{when}{c.jurisdiction_name}不再自定{c.name}，改为沿用上级取值{new}{tail}"
    if c.kind == "removed":
        dropped = value_text(p, o.get("value")) if o and not (o.get("end") or o.get("inherit")) else \
            ("停止适用" if o and o.get("end") else "沿用上级取值")
        rest = f"，该日起为{new}" if c.new is not None else "，该日起无取值"
        return f"撤销{what}自{date_text(c.start)}起的取值（{dropped}）{rest}{tail}"
    if c.old is None:
        return f"{when}{what}为{new}{tail}"
    if _same_value(c.old, c.new):
        return f"{when}{what}为{new}（与此前相同）{tail}"
    for prefix in ("每月", "每年"):  # 由每月760元调整为780元
        if old.startswith(prefix) and new.startswith(prefix):
            new = new[len(prefix):]
    return f"{when}{what}由{old}调整为{new}{tail}"
