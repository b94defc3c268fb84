"""Which articles of the primary document the policy set encodes, partly encodes, or records as not computable.

policy.yaml gives an article either as a bare heading (fully encoded: rules or parameters must cite it) or as
{heading, status, reason}: `not_computable` (nothing in it can be computed; nothing may cite it), or `partly`,
which overrides “encoded” — cited, it is 部分编码 (some of its computable content is encoded, the reason says what
is not and why); not cited, it is 部分可计算 (the reason says which part could be computed, where or why it is
not encoded, and which part cannot be).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Reporter, Span
from .articles import Articles

STATUS_TEXT = {"encoded": "已编码", "partly": "部分编码", "partly_computable": "部分可计算", "not_computable": "不可计算",
               "unaccounted": "未说明"}


@dataclass
class Row:
    citation: str
    heading: str
    status: str  # encoded | partly | partly_computable | not_computable | unaccounted
    reason: str | None
    rules: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__, status_text=STATUS_TEXT[self.status])


def _normal(citation: str) -> str:
    return " ".join(citation.split())


def coverage(compilation, reporter: Reporter | None = None) -> list[Row]:
    """Rows for every article of the primary source; reports articles nobody accounts for."""
    articles: Articles = compilation.articles
    rules: dict[str, list[str]] = {}
    params: dict[str, list[str]] = {}
    for prog in compilation.module.programs:
        for c in prog.citations:
            rules.setdefault(_normal(c), []).append(prog.id)
    for d in compilation.module.definitions:
        for c in d.citations:
            rules.setdefault(_normal(c), []).append(d.id)
    for e in compilation.events:
        rules.setdefault(_normal(e["citation"]), []).append(f"event:{e['id']}")
    for p in compilation.params.values():
        params.setdefault(_normal(p.citation), []).append(p.id)
        for c in p.constraints:
            params.setdefault(_normal(c["citation"]), []).append(f"{p.id}（约束）")
    out = []
    for art in articles.by_citation.values():
        if not art.primary:
            continue
        r, p = rules.get(art.citation, []), params.get(art.citation, [])
        cited = bool(r or p)
        if art.status == "not_computable":
            status = "not_computable"
            if cited and reporter is not None:
                reporter.add("E0506", _span(art.defined_at), citation=art.citation, by="、".join((r + p)[:5]))
        elif art.status == "partly":
            status = "partly" if cited else "partly_computable"
        else:
            status = "encoded" if cited else "unaccounted"
        if status == "unaccounted" and reporter is not None:
            reporter.add("E0505", _span(art.defined_at), citation=art.citation, heading=art.heading)
        out.append(Row(art.citation, art.heading, status, art.reason, sorted(set(r)), sorted(set(p))))
    return out


def _span(where: str) -> Span:
    file, line, col = where.rsplit(":", 2)
    return Span(file, int(line), int(col))


def render(rows: list[Row]) -> str:
    def names(items: list[str]) -> str:
        return "、".join(items[:3]) + (f" 等 {len(items)} 项" if len(items) > 3 else "")

    lines = ["| 条款 | 标题 | 状态 | 引用它的规则 | 引用它的参数 | 说明 |", "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row.citation} | {row.heading} | {STATUS_TEXT[row.status]} | "
                     f"{names(row.rules)} | {names(row.parameters)} | {row.reason or ''} |")
    counts = {s: sum(r.status == s for r in rows) for s in STATUS_TEXT}
    lines.append("")
    lines.append("共 {} 条：".format(len(rows)) + "，".join(f"{STATUS_TEXT[s]} {n}" for s, n in counts.items()))
    return "\n".join(lines)
