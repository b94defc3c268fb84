"""The jurisdiction tree with each city's and county's own values, as data and as text (`policyc localities`)."""
from __future__ import annotations

from ..compiler import Compilation
from ..runtime import jsonio


def tree(c: Compilation) -> list[dict]:
    children: dict[str | None, list] = {}
    for j in c.sources.jurisdictions:
        children.setdefault(j.parent, []).append(j)

    def node(j) -> dict:
        loc = c.localities.get(j.code)
        out = {"code": j.code, "name": j.full_name, "level": j.level, "functional_zone": j.functional_zone,
               "overrides": [], "exceptions": loc.exceptions if loc else {}}
        for pid in (loc.overrides if loc else []):
            p = c.params[pid]
            out["overrides"].append({"id": pid, "name": p.name, "values": [
                {"from": v.start.isoformat(), **({"inherit": True} if v.inherit else {"value": v.value}),
                 "defined_at": v.defined_at} for v in p.timelines[j.code]]})
        out["children"] = [node(k) for k in children.get(j.code, [])]
        return out

    return [node(j) for j in children.get(None, [])]


def render(nodes: list[dict], total: int, with_overrides: int) -> str:
    lines: list[str] = []

    def show(n: dict, depth: int) -> None:
        pad = "  " * depth
        mark = "（功能区）" if n["functional_zone"] else ""
        own = f"  自定 {len(n['overrides'])} 项" if n["overrides"] else ""
        lines.append(f"{pad}{n['code']} {n['name']}{mark}{own}")
        for o in n["overrides"]:
            values = "；".join(f"{v['from']} 起" + ("沿用上级" if v.get("inherit")
                                                    else f" {jsonio.dumps(v['value'], indent=None)}")
                              for v in o["values"])
            lines.append(f"{pad}    · {o['name']}（{o['id']}）：{values}")
        for pid, reason in n["exceptions"].items():
            lines.append(f"{pad}    · 例外 {pid}：{reason}")
        for k in n["children"]:
            show(k, depth + 1)

    for n in nodes:
        show(n, 0)
    lines.append(f"共 {total} 个地区，{with_overrides} 个有自定参数")
    return "\n".join(lines)
