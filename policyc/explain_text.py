"""`policyc explain` in Chinese: the explanation `runtime/explain.py` builds as data, rendered as indented trees."""
from __future__ import annotations

_KIND = {"rule": "规则", "output": "", "definition": "", "referral": "转介"}


def render(decision: dict, depth: int = 6) -> str:
    ex = decision["explanation"]
    full: dict = {}  # (id, member) → the node with its reads: a repeated node is shown from it
    for prog in ex["programs"].values():
        for item in prog["outputs"]:
            _collect(item["tree"], full)
    lines = [f"评估地区：{decision['locality']['name']}；评估日期：{decision['date']}"]
    for prog in ex["programs"].values():
        lines.append("")
        lines.append(f"【{prog['name']}】")
        for item in prog["outputs"]:
            who = f"（成员 {item['member']}）" if item["member"] is not None else ""
            lines.append(f"■ {item['name']}{who}：{item['tree']['value']}")
            shown: set = set()  # nodes shown with their reads under this output
            for child in item["tree"].get("reads", []):
                _node(child, "  ", depth - 1, lines, full, shown)
            flips = item.get("flips")
            if flips:
                lines.append("  如何改变：")
                lines += [f"    · {f['text']}" for f in flips]
            elif flips is not None and item["tree"]["value"] in ("是", "否"):
                lines.append("  如何改变：只改一项已知的是否、类别或数额事实，未找到能改变这一结果的办法"
                             "（日期、地区和同时改变多项不在搜索之列）")
        for ref in prog.get("referrals", []):
            who = f"（成员 {ref['member']}）" if ref.get("member") else ""
            amount = f"，{ref['amount']}元" if ref.get("amount") is not None else ""
            status = "应当转介" if ref["status"] == "due" else "待补充材料后确定"
            lines.append(f"■ 转介 {ref['item']}{who}：{status}{amount}〔{ref['citation']}〕")
    used = ex.get("parameters_read", [])
    if used:
        lines.append("")
        lines.append("本次评估读取的参数：")
        lines += [f"  · {_param(p)}" for p in used]
    return "\n".join(lines) + "\n"


def _key(node: dict) -> tuple:
    return node.get("id"), node.get("member")


def _collect(node: dict, full: dict) -> None:
    if "reads" in node:
        full.setdefault(_key(node), node)
        for child in node["reads"]:
            _collect(child, full)


def _node(node: dict, indent: str, depth: int, lines: list, full: dict, shown: set) -> None:
    kind = node["kind"]
    if kind == "parameter":
        lines.append(f"{indent}└ 参数 {_param(node)}")
        return
    if kind in ("fact", "context"):
        lines.append(f"{indent}└ {'事实 ' if kind == 'fact' else ''}{node['name']}：{node['value']}")
        return
    label = _KIND.get(kind, "")
    cites = f"〔{'；'.join(node['citations'])}〕" if node.get("citations") else ""
    who = f"（{node['member']}）" if node.get("member") else ""
    head = f"{indent}└ {label + ' ' if label else ''}{node['name']}{who}：{node['value']}{cites}"
    key = _key(node)
    if key in shown:
        lines.append(head + "（见上）")
        return
    children = full.get(key, node).get("reads", [])
    if depth <= 0 and children:
        lines.append(head + "（……）")
        return
    lines.append(head)
    shown.add(key)
    for child in children:
        _node(child, indent + "   ", depth - 1, lines, full, shown)


_UNITS = {"月": "个月", "年": "年"}  # a parameter's unit after a number: 6个月, not 6月 (June)


def _param(p: dict) -> str:
    value = p.get("label") or p.get("value")
    unit = p.get("unit") or ""
    unit = _UNITS.get(unit, unit)
    where = p.get("at", {}).get("name") or p.get("jurisdiction_name") or p.get("jurisdiction", "")
    source = "示例值" if p.get("illustrative") else "有正式来源"
    cite = f"〔{p['citation']}〕" if p.get("citation") else ""
    base = f"{where}，自{p.get('effective_from', '')}起，{source}"
    event = p.get("event")
    if event:  # raised for an emergency: the place's own value and the event that raised it, each with its source
        own = "示例值" if (p.get("provenance") or {}).get("illustrative") else "有正式来源"
        base = (f"{where}自{p.get('effective_from', '')}起的取值为{p.get('base_value')}{unit}（{own}），"
                f"突发事件“{event['name']}”期间（{event['from']}至{event['to']}）调整为此值，"
                f"{'示例事件' if event.get('illustrative', True) else '见事件设定'}")
    return f"{p.get('name', p.get('id'))}：{value}{unit}（{base}）{cite}"
