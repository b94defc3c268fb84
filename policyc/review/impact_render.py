"""The impact report in Chinese: text for the terminal, Markdown for a pull request, JSON for machines."""
from __future__ import annotations

from decimal import Decimal

from ..runtime import jsonio

TOP_LOCALITIES = 10
KIND_NAMES = {"gained": "新增符合", "lost": "不再符合", "amount_changed": "金额变化"}


def yuan(x, sign: bool = False) -> str:
    if x is None:
        return "—"
    x = Decimal(x)
    text = f"{x.normalize() if x != x.to_integral_value() else x.quantize(Decimal(1)):,}"
    return ("+" if sign and x > 0 else "") + text


def render_json(report: dict) -> str:
    return jsonio.dumps({k: v for k, v in report.items() if k != "timings"})


def _header(report: dict) -> list[str]:
    b, h, pop = report["base"], report["head"], report["population"]
    where = "合成人口" if pop["source"] == "synthetic" else pop["source"]
    seed = f"，种子 {pop['seed']}" if pop["seed"] is not None else ""
    date = f"，日期 {pop['date']}" if pop["date"] else ""
    loc = f"，地区 {report['locality']['name']}" if report["locality"] else ""
    return [f"影响评估：基线 {b['label']}（{b['version']}）→ 对比 {h['label']}（{h['version']}）",
            f"人口：{where} {pop['size']} 户{seed}{date}{loc}"]


def program_line(pid: str, c: dict) -> str:
    if not c["evaluated"]:
        return f"{c['name']}（{pid}）：规则与参数未变，结果相同（未重新评估）"
    members = ""
    if "members_gained" in c:
        members = f"（成员：新增 {c['members_gained']} 人、不再符合 {c['members_lost']} 人）"
    cost = f"、每月支出变化 {yuan(c['monthly_cost_delta'], sign=True)} 元" if c["monthly"] else ""
    line = (f"{c['name']}（{pid}）：新增符合 {c['gained']} 户、不再符合 {c['lost']} 户{members}、"
            f"金额变化 {c['amount_changed']} 户{cost}")
    if c["undecided_changed"]:
        line += f"；待补充结果变化 {c['undecided_changed']} 户"
    return line


def _totals(c: dict) -> str:
    text = f"符合 {c['eligible_base']} → {c['eligible_head']} 户"
    if c["monthly"]:
        text += f"；每月支出 {yuan(c['monthly_cost_base'])} → {yuan(c['monthly_cost_head'])} 元"
    return text


def _locality_changes(row: dict, programs: dict) -> str:
    parts = []
    for pid, c in row["programs"].items():
        text = f"{programs[pid]['name']} 新增{c['gained']} 不再{c['lost']} 金额{c['amount_changed']}"
        if c["monthly_cost_delta"] is not None:
            text += f" 每月{yuan(c['monthly_cost_delta'], sign=True)}元"
        if c["undecided_changed"]:
            text += f" 待补充{c['undecided_changed']}"
        parts.append(text)
    return "；".join(parts)


def _side(s: dict, monthly: bool, amounts: bool = True) -> str:
    state = {True: "符合", False: "不符合", None: "待补充"}[s["eligible"]]
    if "referrals_due" in s:
        state = "转介 " + "、".join(s["referrals_due"]) if s["referrals_due"] else "无转介"
    if not amounts:
        return state
    if s["amount"] is None:
        return f"{state}，金额待补充"
    unit = "每月" if monthly else "金额"
    return f"{state}，{unit} {yuan(s['amount'])} 元" if s["amount"] or s["eligible"] else state


def _witness_lines(w: dict, programs: dict) -> list[str]:
    monthly = programs[w["program"]]["monthly"]
    amounts = bool(programs[w["program"]]["amount_outputs"])
    source = "阈值搜索" if w["source"] == "threshold" else f"人口中的家庭 {w['where']}"
    return [f"{w['program_name']}·{KIND_NAMES[w['kind']]}：{w['locality']['name']} {w['date']}，{w['description']}"
            f"（{source}）",
            f"    之前：{_side(w['before'], monthly, amounts)}；之后：{_side(w['after'], monthly, amounts)}"]


def render_text(report: dict) -> str:
    programs = report["programs"]
    lines = _header(report) + [""]
    for pid, c in programs.items():
        lines.append(program_line(pid, c))
        if c["evaluated"]:
            lines.append(f"    {_totals(c)}")
    rows = [r for r in report["localities"] if r["changed"]]
    lines += ["", f"按地区（变化最多的 {min(TOP_LOCALITIES, len(rows))} 个，共 {len(rows)} 个地区有变化）："]
    for r in rows[:TOP_LOCALITIES]:
        lines.append(f"  {r['name']}（{r['households']} 户）：{_locality_changes(r, programs)}")
    if not rows:
        lines.append("  （没有变化）")
    lines += ["", "见证家庭（每种变化最小的例子）："]
    for w in report["witnesses"]:
        lines += ["  " + x for x in _witness_lines(w, programs)]
    if not report["witnesses"]:
        lines.append("  （没有变化，无见证家庭）")
    return "\n".join(lines)


def render_md(report: dict) -> str:
    programs = report["programs"]
    head = _header(report)
    lines = [f"### {head[0]}", "", head[1], "",
             "| 项目 | 新增符合（户） | 不再符合（户） | 金额变化（户） | 每月支出变化（元） | 待补充结果变化（户） | 符合户数 |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for pid, c in programs.items():
        if not c["evaluated"]:
            lines.append(f"| {c['name']}（`{pid}`） | 0 | 0 | 0 | {'0' if c['monthly'] else '—'} | 0 | 未变 |")
            continue
        cost = yuan(c["monthly_cost_delta"], sign=True) if c["monthly"] else "—"
        lines.append(f"| {c['name']}（`{pid}`） | {c['gained']} | {c['lost']} | {c['amount_changed']} | {cost} | "
                     f"{c['undecided_changed']} | {c['eligible_base']} → {c['eligible_head']} |")
    rows = [r for r in report["localities"] if r["changed"]]
    lines += ["", f"#### 按地区（变化最多的 {min(TOP_LOCALITIES, len(rows))} 个，共 {len(rows)} 个地区有变化）", "",
              "| 地区 | 户数 | 项目 | 新增符合 | 不再符合 | 金额变化 | 每月支出变化（元） |",
              "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in rows[:TOP_LOCALITIES]:
        for pid, c in r["programs"].items():
            lines.append(f"| {r['name']} | {r['households']} | {programs[pid]['name']} | {c['gained']} | {c['lost']} | "
                         f"{c['amount_changed']} | {yuan(c['monthly_cost_delta'], sign=True)} |")
    lines += ["", "#### 见证家庭", ""]
    for w in report["witnesses"]:
        first, second = _witness_lines(w, programs)
        lines += [f"- {first}", f"  {second.strip()}"]
    if not report["witnesses"]:
        lines.append("（没有变化，无见证家庭）")
    return "\n".join(lines)
