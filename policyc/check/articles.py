"""The article table: which articles each source document has, and resolving a citation against it."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..diagnostics import Reporter, Span
from ..load.yamlsrc import Located


@dataclass
class Article:
    source: str  # short name of the source document
    number: str  # 二(二)5, 第八条 …
    heading: str
    primary: bool = False
    status: str | None = None  # not_computable | partly | None (fully encoded by what cites it)
    reason: str | None = None
    defined_at: str = ""

    @property
    def citation(self) -> str:
        return self.number if self.primary else f"{self.source} {self.number}"


class Articles:
    def __init__(self, manifest: Located):
        self.sources = {s["id"]: s for s in manifest.data["sources"]}
        self.primary = next((s["id"] for s in manifest.data["sources"] if s.get("primary")),
                            manifest.data["sources"][0]["id"])
        self.by_citation: dict[str, Article] = {}
        primary = next(s for s in manifest.data["sources"] if s["id"] == self.primary)
        self.sections: dict[str, str] = dict(primary.get("sections", {}))
        self.primary_title = primary["title"]
        for i, s in enumerate(manifest.data["sources"]):
            for number, spec in s["articles"].items():
                where = str(manifest.key_span(("sources", i, "articles", number)))
                if isinstance(spec, str):
                    art = Article(s["id"], str(number), spec, s["id"] == self.primary, defined_at=where)
                else:
                    art = Article(s["id"], str(number), spec["heading"], s["id"] == self.primary, spec["status"],
                                  spec["reason"], where)
                self.by_citation[art.citation] = art

    def resolve(self, citation: str, span: Span, reporter: Reporter) -> Article | None:
        """A citation is `条款` in the primary document, or `简称 条款` in another registered one."""
        text = " ".join(citation.split())
        if text in self.by_citation:
            return self.by_citation[text]
        source = text.split(" ", 1)[0] if " " in text else self.primary
        if source not in self.sources:
            reporter.add("E0502", span, source=source)
            return None
        close = difflib.get_close_matches(text, list(self.by_citation), n=3, cutoff=0.5)
        hint = f"是否想写：{'、'.join(close)}？" if close else f"已登记的条款见 policy.yaml 中 {source} 的 articles"
        reporter.add("E0501", span, hint=hint, citation=text)
        return None
