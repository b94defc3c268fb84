"""A Diff in Chinese, grouped by article: text for a terminal, Markdown for a pull request, and GitHub workflow
annotations followed by Markdown for the job summary. JSON is Diff.to_json()."""
from __future__ import annotations

from ..names import shown
from ..emit.documents import _md_escape
from .diff import AREA_TEXT, Diff, describe
from .diff_rules import ASPECT_TEXT
from .semver import LEVEL_TEXT

OTHER = "其他"
KIND_TEXT = {"added": "新增", "removed": "删除", "changed": "改变"}


def version_line(d: Diff) -> str:
    v = d.version_check()
    need = LEVEL_TEXT[v["required_bump"]]
    if v["actual_bump"] == "invalid":
        return f"版本：{v['base']} → {v['head']}，不是有效的语义化版本号；这些变化需要{need}"
    if v["ok"]:
        if v["required_bump"] == "none":
            return f"版本：{v['base']} → {v['head']}；没有语义变化"
        return f"版本：{v['base']} → {v['head']}，满足要求（需要升级{need}）"
    if v["actual_bump"] == "lower":
        head = "版本号降低了"
    elif v["actual_bump"] == "none":
        head = "版本号未升级"
    else:
        head = "只升级了" + LEVEL_TEXT[v["actual_bump"]]
    return (f"版本：{v['base']} → {v['head']}，{head}，不够：需要升级{need}（建议 {v['suggested']}）。"
            f"原因：{v['reason']}")


def collapsed(items: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """More than three cases changed under one article: one line for them."""
    cases = [c for area, c in items if area == "case"]
    if len(cases) <= 3:
        return items
    kinds = {k: [c for c in cases if c.kind == k] for k in KIND_TEXT}
    text = "；".join(f"{KIND_TEXT[k]} {len(cs)} 个：" + "、".join(f"“{c.key}”" for c in cs[:3])
                     + (" 等" if len(cs) > 3 else "") for k, cs in kinds.items() if cs)
    from .diff_other import Change
    summary = Change("case", "", "changed", max((c.level for c in cases), key=["patch", "minor", "major"].index),
                     text)
    return [(area, c) for area, c in items if area != "case"] + [("case", summary)]


def groups(d: Diff) -> dict[str, list[tuple[str, object]]]:
    """Article citation → its changes (area, change), in the order of the articles; OTHER last."""
    order = list(d.articles)
    out: dict[str, list] = {}

    def put(citations, area, c):
        key = next((x for x in (" ".join(str(c).split()) for c in citations) if x in d.articles), OTHER)
        out.setdefault(key, []).append((area, c))

    for c in d.parameters:
        put([c.citation], "parameter", c)
    for c in d.rules:
        put(c.citations, "rule", c)
    for c in d.other + d.coverage + d.cases:
        put(c.citations, c.area, c)
    return dict(sorted(out.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


PAGE_TEXT = {"articles": "条文对照", "index": "首页", "search-index": "搜索索引"}


def _page_name(page: str) -> str:
    kind, _, name = page.partition("/")
    return {"rules": f"规则页 {name}", "params": f"参数页 {name}"}.get(kind, PAGE_TEXT.get(page, page))


def handbook_lines(d: Diff) -> list[str]:
    """Which generated pages (generated/docs/) a build would rewrite: handbooks by place, then the shared pages."""
    h = d.handbooks
    out = []
    content = [loc for loc in h.localities if loc["parameters"] or loc["renamed"]]
    if h.all:
        out.append(f"全部 {h.total} 个地区的手册都会改写：" + "；".join(h.reasons))
    if h.localities and (not h.all or len(content) < len(h.localities)):
        shown_locs = content if h.all else h.localities
        names = [loc["name"] for loc in shown_locs]
        params = sorted({p for loc in shown_locs for p in loc["parameters"]})
        if names:
            shown_names = "、".join(names[:12]) + (f" 等 {len(names)} 个" if len(names) > 12 else "")
            out.append(f"{len(names)} 个地区的手册会变化：{shown_names}"
                       + (f"（参数 {'、'.join(params)}）" if params else ""))
    elif not h.all:
        out.append("各地手册不变")
    if h.pages:
        marks = {"added": "（新增）", "removed": "（删除）", "changed": ""}
        out.append("共用页面会变化：" + "、".join(_page_name(p["page"]) + marks[p["change"]] for p in h.pages))
    return out


def _item_lines(area: str, c) -> list[str]:
    """One change as a bullet and, for rules, the sentences before and after."""
    if area == "rule":
        aspects = "、".join(ASPECT_TEXT.get(a, a) for a in c.aspects)
        head = f"{KIND_TEXT[c.kind]}{'' if c.level == 'minor' or c.kind != 'changed' else '（仅文字）'} " \
               f"“{c.name}”（{c.id}）" + (f"：{aspects}改变" if aspects else "")
        lines = [head]
        if c.before and c.before == c.after:
            return lines + ["中文表述不变（只有规则内部的标识或类型改变）：" + c.after[0]]
        if c.before:
            lines += ["原：" + c.before[0]] + ["    " + x.strip() for x in c.before[1:]]
        if c.after:
            lines += ["新：" + c.after[0]] + ["    " + x.strip() for x in c.after[1:]]
        return lines
    if area == "parameter":
        return [c.text]
    return [f"[{AREA_TEXT.get(area, area)}] {describe(area, c)}"]


def _contract_text(c) -> str:
    mark = "不兼容" if c.breaking else "文字" if c.level == "patch" else "兼容"
    return f"{mark} {c.text}"


def render_text(d: Diff) -> str:
    out = [f"policyc diff：{d.base_label}（{d.base_version}）→ {d.head_label}（{d.head_version}）",
           version_line(d)]
    if d.empty:
        out.append("两个版本没有语义差异")
        return "\n".join(out)
    for key, items in groups(d).items():
        out.append("")
        out.append(key if key == OTHER else f"{key} {d.articles[key]}")
        for area, c in collapsed(items):
            first, *rest = _item_lines(area, c)
            out.append(f"  · {first}")
            out += [f"      {x}" for x in rest]
    if d.contract:
        out += ["", "请求与决定契约"]
        out += [f"  · {_contract_text(c)}" for c in d.contract]
    out += ["", "手册"] + [f"  · {x}" for x in handbook_lines(d)]
    return "\n".join(out)


def _md(text: str) -> str:
    return _md_escape(text)


def render_md(d: Diff) -> str:
    out = [f"## 政策变更：{_md(d.base_label)}（{_md(d.base_version)}）→ {_md(d.head_label)}（{_md(d.head_version)}）",
           "", _md(version_line(d))]
    if d.empty:
        out += ["", "两个版本没有语义差异"]
        return "\n".join(out) + "\n"
    for key, items in groups(d).items():
        out += ["", f"### {_md(key)}" + ("" if key == OTHER else f" {_md(d.articles[key])}"), ""]
        for area, c in collapsed(items):
            first, *rest = _item_lines(area, c)
            out.append(f"- {_md(first)}")
            out += [f"  - {_md(x.strip())}" if x.startswith(("原：", "新：")) else f"    - {_md(x.strip())}"
                    for x in rest]
    if d.contract:
        out += ["", "### 请求与决定契约", "", "| 兼容性 | 变化 |", "| --- | --- |"]
        for c in d.contract:
            mark = "**不兼容**" if c.breaking else "文字" if c.level == "patch" else "兼容"
            out.append(f"| {mark} | {_md(c.text)} |")
    out += ["", "### 手册", ""] + [f"- {_md(x)}" for x in handbook_lines(d)]
    return "\n".join(out) + "\n"


def _annotation(kind: str, title: str, message: str) -> str:
    msg = shown(message, 10**6).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    title = title.replace("%", "%25").replace(",", "%2C").replace(":", "%3A").replace("\n", " ")
    return f"::{kind} title={title}::{msg}"


def render_github(d: Diff, check_version: bool = False) -> str:
    """Workflow annotations (the version check, breaking contract changes), then the Markdown for
    $GITHUB_STEP_SUMMARY."""
    v = d.version_check()
    lines = []
    if not v["ok"]:
        lines.append(_annotation("error" if check_version else "warning", "版本号", version_line(d)))
    for c in d.contract:
        if c.breaking:
            lines.append(_annotation("warning", "不兼容的契约变化", c.text))
    return "\n".join(lines + [render_md(d)])
