"""The rest of two bundles: programs, emergencies, jurisdictions, article headings, enum labels, the manifest,
recorded exceptions, funding plans, example cases, and which articles rules and parameters cite (coverage)."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from ..check.cases import path_keys
from .diff_params import MAJOR, MINOR, PATCH, fields_text


def normal(citation: str) -> str:
    return " ".join(str(citation).split())


@dataclass
class Change:
    area: str  # program | event | jurisdiction | article | enum | manifest | exception | funding | case | coverage
    key: str
    kind: str  # added | removed | changed
    level: str
    text: str
    citations: list[str] = field(default_factory=list)
    old: object = None
    new: object = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _strip(item: dict, *keys: str) -> dict:
    return {k: v for k, v in item.items() if k not in keys}


def _keyed(area, old: dict, new: dict, name, level_of, citations=lambda x: []) -> list[Change]:
    """Items keyed by id: added, removed, changed (level_of(old, new) → (level, changed fields))."""
    out = []
    for key in list(new) + [k for k in old if k not in new]:
        o, n = old.get(key), new.get(key)
        if o is None or n is None:
            item = n if o is None else o
            kind = "added" if o is None else "removed"
            level = level_of(None, None) if kind == "added" else level_of(item, None)
            out.append(Change(area, key, kind, level, f"{'新增' if o is None else '删除'}{name(item)}",
                              citations(item)))
            continue
        if _canon(o) == _canon(n):
            continue
        level, fields = level_of(o, n)
        out.append(Change(area, key, "changed", level, f"{name(n)}的{fields_text(fields)}改变", citations(n),
                          {f: o.get(f) for f in fields}, {f: n.get(f) for f in fields}))
    return out


def _fields(o: dict, n: dict) -> list[str]:
    return [k for k in sorted(set(o) | set(n)) if _canon(o.get(k)) != _canon(n.get(k))]


def _leveled(decisive: set[str], on_add=MINOR, on_remove=MINOR):
    def level_of(o, n):
        if n is None:
            return on_add if o is None else on_remove
        fields = _fields(o, n)
        return (MINOR if set(fields) & decisive else PATCH), fields
    return level_of


def diff_programs(base: dict, head: dict) -> list[Change]:
    old = {p["id"]: _strip(p, "parameters") for p in base["ir"]["programs"]}
    new = {p["id"]: _strip(p, "parameters") for p in head["ir"]["programs"]}
    return _keyed("program", old, new, lambda p: f"救助项目“{p['name']}”（{p['id']}）",
                  _leveled({"outputs", "referrals"}), lambda p: list(p["citations"]))


def diff_events(base: dict, head: dict) -> list[Change]:
    old = {e["id"]: _strip(e, "defined_at") for e in base.get("events", [])}
    new = {e["id"]: _strip(e, "defined_at") for e in head.get("events", [])}
    return _keyed("event", old, new, lambda e: f"突发事件“{e['name']}”",
                  _leveled({"localities", "from", "to", "changes"}), lambda e: [e["citation"]])


def diff_jurisdictions(base: dict, head: dict) -> list[Change]:
    """A locality removed refuses requests naming it (不兼容); added or renamed changes how names resolve."""
    old = {j["code"]: j for j in base["jurisdictions"]}
    new = {j["code"]: j for j in head["jurisdictions"]}
    return _keyed("jurisdiction", old, new, lambda j: f"地区“{j['full_name']}”（{j['code']}）",
                  _leveled({"name", "full_name", "parent", "level", "functional_zone"}, MINOR, MAJOR))


def diff_articles(base: dict, head: dict) -> list[Change]:
    old = {normal(c): h for c, h in base["articles"].items()}
    new = {normal(c): h for c, h in head["articles"].items()}
    out = []
    for c in list(new) + [c for c in old if c not in new]:
        if old.get(c) != new.get(c):
            kind = "added" if c not in old else "removed" if c not in new else "changed"
            text = {"added": f"新增条款 {c}“{new.get(c)}”", "removed": f"删除条款 {c}“{old.get(c)}”",
                    "changed": f"条款 {c} 的标题由“{old.get(c)}”改为“{new.get(c)}”"}[kind]
            out.append(Change("article", c, kind, PATCH, text, [c], old.get(c), new.get(c)))
    return out


def diff_enums(base: dict, head: dict) -> list[Change]:
    """Labels only (members a request or decision carries are in the contract; rules that name one change)."""
    old = {e["id"]: e for e in base["ir"]["enums"]}
    new = {e["id"]: e for e in head["ir"]["enums"]}
    out = []
    for eid in new.keys() & old.keys():
        o, n = dict(map(tuple, old[eid]["members"])), dict(map(tuple, new[eid]["members"]))
        for code in sorted(o.keys() & n.keys()):
            if o[code] != n[code]:
                out.append(Change("enum", f"{eid}.{code}", "changed", PATCH,
                                  f"“{new[eid]['name']}”的取值 {code} 的名称由“{o[code]}”改为“{n[code]}”",
                                  old=o[code], new=n[code]))
        if o.keys() != n.keys():
            out.append(Change("enum", eid, "changed", MINOR, f"“{new[eid]['name']}”的取值由 {'、'.join(o)} 改为 "
                              f"{'、'.join(n)}", old=list(o), new=list(n)))
    return out


def diff_manifest(base: dict, head: dict) -> list[Change]:
    out = []
    bm, hm = base["manifest"], head["manifest"]
    if bm["id"] != hm["id"]:
        out.append(Change("manifest", "id", "changed", MAJOR, f"政策集标识由 {bm['id']} 改为 {hm['id']}（决定中的 "
                          "bundle.id 随之改变）", old=bm["id"], new=hm["id"]))
    if bm["title"] != hm["title"]:
        out.append(Change("manifest", "title", "changed", PATCH, f"政策集名称由“{bm['title']}”改为“{hm['title']}”",
                          old=bm["title"], new=hm["title"]))
    return out


def diff_records(area: str, old: list, new: list, key, name) -> list[Change]:
    """Exceptions and funding plans: they document or check, never decide (patch)."""
    o = {key(x): _strip(x, "defined_at") for x in old}
    n = {key(x): _strip(x, "defined_at") for x in new}
    return _keyed(area, o, n, lambda x: name(x), lambda a, b: PATCH if b is None else (PATCH, _fields(a, b)),
                  lambda x: [x["citation"]] if "citation" in x else [])


def diff_cases(base: dict, head: dict, citations: list[str]) -> list[Change]:
    """Example cases by name (their file positions ignored); `covers` labels the rule or boundary a case covers."""
    old = {c["name"]: _as_written(c) for c in base["cases"]}
    new = {c["name"]: _as_written(c) for c in head["cases"]}

    programs = {p["id"]: list(p["citations"]) for p in head["ir"]["programs"] + base["ir"]["programs"]}

    def cite(case) -> list[str]:
        """The article its `covers` label starts with, else that of the first program it expects results of."""
        covers = normal(case.get("covers", ""))
        found = [c for c in sorted(citations, key=len, reverse=True) if covers.startswith(c)]
        expected = [pid for pid in case.get("expect", {}) if programs.get(pid)]
        return found[:1] or ([programs[expected[0]][0]] if expected else [])

    def name(case) -> str:
        return f"示例案例“{case['name']}”（覆盖：{case.get('covers', '')}）"

    return _keyed("case", old, new, name, lambda a, b: PATCH if b is None else (PATCH, _fields(a, b)), cite)


def _as_written(case: dict) -> dict:
    """A case as its author wrote it: a relative input (check/cases.py) is its text, not the value it resolved to
    in this version, so a case that follows a changed standard is not reported as changed."""
    out = copy.deepcopy(_strip(case, "defined_at", "relative_inputs"))
    for path, text in (case.get("relative_inputs") or {}).items():
        keys = path_keys(path)
        node = out
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = text
    return out


def citing(bundle: dict) -> dict[str, set[str]]:
    """Article → the rules, programs, emergencies and parameters (and their constraints) that cite it, as
    policyc/check/coverage.py counts them — from the bundle, which does not carry the articles' declared status."""
    out: dict[str, set[str]] = {}
    for p in bundle["ir"]["programs"]:
        for c in p["citations"]:
            out.setdefault(normal(c), set()).add(p["id"])
    for d in bundle["ir"]["definitions"]:
        for c in d["citations"]:
            out.setdefault(normal(c), set()).add(d["id"])
    for e in bundle.get("events", []):
        out.setdefault(normal(e["citation"]), set()).add(f"event:{e['id']}")
    for pid, p in bundle["parameters"].items():
        out.setdefault(normal(p["citation"]), set()).add(pid)
        for c in p.get("constraints", []):
            out.setdefault(normal(c["citation"]), set()).add(f"{pid}（约束）")
    return out


def diff_coverage(base: dict, head: dict) -> list[Change]:
    old, new = citing(base), citing(head)
    headings = dict(base["articles"], **head["articles"])
    out = []
    for c in sorted(set(old) | set(new), key=lambda c: list(headings).index(c) if c in headings else 10**6):
        o, n = old.get(c, set()), new.get(c, set())
        if o == n:
            continue
        parts = []
        if not o:
            parts.append("由未被引用变为被引用（编码）")
        elif not n:
            parts.append("由被引用变为未被引用（policyc coverage 将要求说明其状态）")
        if n - o:
            parts.append("新增引用：" + "、".join(sorted(n - o)))
        if o - n:
            parts.append("不再引用：" + "、".join(sorted(o - n)))
        out.append(Change("coverage", c, "changed", PATCH, f"条款 {c} {'；'.join(parts)}", [c],
                          sorted(o), sorted(n)))
    return out


def diff_other(base: dict, head: dict) -> list[Change]:
    out = diff_programs(base, head) + diff_events(base, head) + diff_jurisdictions(base, head)
    out += diff_articles(base, head) + diff_enums(base, head) + diff_manifest(base, head)
    out += diff_records("exception", base.get("exceptions", []), head.get("exceptions", []),
                        lambda x: f"{x['parameter']}@{x['jurisdiction']}@{x['date']}",
                        lambda x: f"记录在案的例外（{x['parameter']}，{x['jurisdiction']}，{x['date']}）")
    out += diff_records("funding", base.get("funding", []), head.get("funding", []),
                        lambda x: f"{x['locality']}@{x['year']}",
                        lambda x: f"{x['locality']} {x['year']} 年的资金安排")
    return out
