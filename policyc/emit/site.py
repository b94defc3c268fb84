"""The site: a handbook for the province and every city and county, a page per program with its rules in Chinese,
the article table, a page per parameter with its history — rendered with jinja2 from the same IR and parameters as
the evaluator, so the two cannot disagree. Escaping and the template environment are in documents.py."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..check.constraints import effective
from ..compiler import Compilation
from .chinese import Renderer, number, quantity
from .documents import TEMPLATES, _code_slug, _param_slug, _plain, environment

LEVEL_TEXT = {"province": "省", "city": "市", "county": "县（区）"}
KIND_TEXT = {"rule": "规则", "value": "定义", "output": "输出", "referral": "转介"}


@dataclass
class RuleDoc:
    name: str
    kind: str
    text: str
    citations: list[str]
    rows: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[tuple[str, str]] = field(default_factory=list)
    scope: str | None = None


GENERAL = "general"  # the rule page of cited definitions that belong to no program


def _cite(citation: str) -> str:
    return " ".join(citation.split())


class Documents:
    """The pages of the site. Each shows only what it is about, so that a change to a source rewrites only the
    pages that display what changed:
    - rules/<program>: the program's rules in Chinese, by article — the same everywhere, so on one page;
    - articles: the structure of the source documents, what is encoded of each article and why not the rest;
    - handbooks/<code>: the values in force at one place over time (own or inherited), by article, with links
      to the rule and parameter pages;
    - params/<id>: one parameter's values everywhere, its floors and caps.
    No page carries a build stamp or the source digest (the bundle's manifest carries it)."""

    def __init__(self, c: Compilation):
        self.c = c
        self.r = Renderer(c.module, c.params)
        self.j = {j.code: j for j in c.sources.jurisdictions}
        self.chains = c.chains
        self.province = c.sources.manifest.data["jurisdiction"]
        self.articles = list(c.articles.by_citation.values())
        # an article's anchor on the rule and article pages: made here from its citation (hex digits, never the
        # source text), and the same when other articles come or go
        self.anchor = {a.citation: "a" + hashlib.sha256(a.citation.encode("utf-8")).hexdigest()[:10]
                       for a in self.articles}
        self.programs = {_param_slug(p.id): p.name for p in c.module.programs}
        self.rules = self._rules()
        self.params_by_article: dict[str, list] = {}
        for p in sorted(c.params.values(), key=lambda p: p.id):
            self.params_by_article.setdefault(_cite(p.citation), []).append(p)
        manifest = c.sources.manifest.data
        self.site = {"title": manifest["title"], "version": manifest["version"], "source": c.articles.primary_title}

    # ── rules, rendered once, on their program's page ──────────────────────────────────
    def _rules(self) -> dict[str, dict[str, list[RuleDoc]]]:
        """program id -> citation -> the rules citing it, in the order of the rule files."""
        out: dict[str, dict[str, list[RuleDoc]]] = {}
        records = self.c.module.records
        for d in self.c.module.definitions:
            if not d.citations:
                continue
            kind = "说明" if d.kind == "rule" and d.expr.op == "lit" else KIND_TEXT.get(d.kind, d.kind)
            doc = RuleDoc(d.name, kind, "", list(d.citations),
                          scope=records[d.scope].name if d.scope else None)
            if d.expr.op == "case":
                doc.rows = self.r.table(d.expr)
            elif not (d.kind == "rule" and d.expr.op == "lit"):
                doc.text = self.r.expr(d.expr)
            if d.kind == "referral" and d.amount is not None:
                doc.text += f"；数额：{self.r.expr(d.amount)}"
            doc.reasons = [("成立时" if reason.when else "不成立时", self.r.template(reason.parts))
                           for reason in d.reasons]
            program = d.program if d.program in self.programs else GENERAL
            for citation in d.citations:
                out.setdefault(program, {}).setdefault(_cite(citation), []).append(doc)
        if GENERAL in out and GENERAL not in self.programs:
            self.programs[GENERAL] = "通用定义"
        return out

    def programs_citing(self, citation: str) -> list[dict]:
        """Links to the rule pages that have rules citing an article."""
        return [{"id": pid, "name": name, "anchor": self.anchor[citation]}
                for pid, name in self.programs.items() if citation in self.rules.get(pid, {})]

    def rule_page(self, pid: str) -> dict:
        by_citation = self.rules.get(pid, {})
        program = next((p for p in self.c.module.programs if p.id == pid), None)
        articles = [{"citation": a.citation, "heading": a.heading, "anchor": self.anchor[a.citation],
                     "source": "" if a.primary else self.c.articles.sources[a.source]["title"],
                     "rules": by_citation[a.citation]} for a in self.articles if a.citation in by_citation]
        params = [{"id": _param_slug(q), "name": self.c.params[q].name}
                  for q in sorted(program.parameters if program else ()) if q in self.c.params]
        return {"site": self.site, "id": _param_slug(pid), "name": self.programs[pid],
                "citations": "；".join(program.citations) if program else "", "articles": articles,
                "params": params}

    # ── the source documents, article by article ───────────────────────────────────────
    def _status(self, art) -> str | None:
        cited = bool(self.programs_citing(art.citation) or self.params_by_article.get(art.citation))
        status = art.status or ("encoded" if cited else None)
        if status == "partly" and not cited:
            status = "partly_computable"
        return status

    def _outline(self, make) -> tuple[list[dict], list[dict]]:
        """The primary document's sections (every article) and the other documents (the articles `make` keeps),
        each article as `make` renders it."""
        articles = self.c.articles
        sections: list[dict] = []
        others: list[dict] = []
        for art in self.articles:
            shown = make(art)
            if not art.primary:
                if shown is None:
                    continue
                if not others or others[-1]["source"] != art.source:
                    others.append({"source": art.source, "title": articles.sources[art.source]["title"],
                                   "articles": []})
                others[-1]["articles"].append(shown)
                continue
            part = art.number.split("(")[0]
            sub = art.number.rstrip("0123456789") if art.number[-1].isdigit() else None
            key = sub or part
            if not sections or sections[-1]["key"] != key:
                title = articles.sections.get(key, art.heading)
                part_title = articles.sections.get(part, "")
                sections.append({"key": key, "part": part, "part_title": part_title, "title": title,
                                  "new_part": not sections or sections[-1]["part"] != part, "articles": []})
            sections[-1]["articles"].append(shown)
        return sections, others

    def _article(self, art) -> dict:
        return {"citation": art.citation, "heading": art.heading, "status": self._status(art),
                "anchor": self.anchor[art.citation], "programs": self.programs_citing(art.citation)}

    def article_page(self) -> dict:
        def make(art):
            params = [{"id": _param_slug(p.id), "name": p.name}
                      for p in self.params_by_article.get(art.citation, [])]
            return {**self._article(art), "reason": art.reason, "params": params}
        sections, others = self._outline(make)
        return {"site": self.site, "sections": sections, "others": others, "programs": self._program_links()}

    def _program_links(self) -> list[dict]:
        return [{"id": pid, "name": name} for pid, name in self.programs.items() if pid in self.rules]

    # ── parameter values as a locality sees them ───────────────────────────────────────
    def value_text(self, p, value) -> str:
        if p.choices:
            return p.choices.get(value, str(value))
        if p.table:
            key, val = p.table["key"], p.table["value"]
            return "；".join(f"{key['name']}{number(b)}起：{quantity(v, val['unit'])}" for b, v in value)
        return quantity(value, p.unit)

    def source_text(self, v) -> str:
        if v.illustrative:
            return "示例值，无正式来源"
        src = v.source or {}
        return "《" + src.get("document", "") + "》" + (f" {src['article']}" if src.get("article") else "")

    def entries(self, p, code: str) -> list:
        """The value entries in force at a locality over time (None where the parameter stops applying), with the
        day each takes effect: what its handbook shows of the parameter."""
        chain = self.chains[code]
        days = sorted({v.start for level in chain for v in p.timelines.get(level, [])})
        out, last = [], None
        for day in days:
            v = effective(p, chain, day)
            if v is last:
                continue
            last = v
            if v is not None or out:
                out.append((day, v))
        return out

    def timeline(self, p, code: str) -> list[dict]:
        """The values in force at a locality over time, each with the level it comes from."""
        out = []
        for day, v in self.entries(p, code):
            if v is None:
                out.append({"from": day, "value": "停止适用", "level": "", "source": "", "own": False,
                            "illustrative": False})
                continue
            owner = self.j[v.jurisdiction]
            level = "本地设定" if v.jurisdiction == code else f"沿用{owner.full_name}"
            out.append({"from": day, "value": self.value_text(p, v.value), "level": level,
                        "source": self.source_text(v), "own": v.jurisdiction == code,
                        "illustrative": v.illustrative, "defined_at": v.defined_at})
        return out

    # ── the handbook of one locality: only what is specific to it ──────────────────────
    def handbook(self, code: str) -> dict:
        def make(art):
            params = [{"id": _param_slug(p.id), "name": p.name, "timeline": self.timeline(p, code)}
                      for p in self.params_by_article.get(art.citation, [])]
            shown = {**self._article(art), "params": params}
            return shown if art.primary or params else None  # other documents: only where values are set
        sections, others = self._outline(make)
        j = self.j[code]
        return {"site": self.site, "code": code, "name": j.full_name, "level": LEVEL_TEXT[j.level],
                "chain": [self.j[c].full_name for c in reversed(self.chains[code])],
                "own": sorted(p.name for p in self.c.params.values() if code in p.timelines and j.level != "province"),
                "functional_zone": j.functional_zone, "sections": sections, "others": others,
                "programs": self._program_links(),
                "illustrative_note": "标注“示例值”的数额没有正式来源，仅用于说明规则如何计算，不得作为正式标准引用。"}

    # ── parameter history ───────────────────────────────────────────────────────────────
    def parameter(self, p) -> dict:
        province = self.province
        localities = []
        for code, timeline in p.timelines.items():
            if code == province:
                continue
            localities.append({"code": _code_slug(code), "name": self.j[code].full_name,
                               "timeline": self.timeline(p, code)})
        floors = [{"kind": "下限" if "min" in c else "上限", "expr": c.get("min") or c.get("max"),
                   "wording": c["wording"], "citation": c["citation"],
                   "values": self._bounds(c.get("min") or c.get("max"), province)} for c in p.constraints]
        programs = [{"id": pid, "name": self.programs[pid]} for pid in
                    (_param_slug(q.id) for q in self.c.module.programs if p.id in q.parameters)]
        return {"site": self.site, "id": p.id, "name": p.name, "unit": p.unit or "", "citation": p.citation,
                "description": p.description, "province": self.timeline(p, province),
                "localities": sorted(localities, key=lambda x: x["code"]), "floors": floors,
                "programs": programs,
                "overridable": "、".join({"city": "市", "county": "县（区）"}[x] for x in p.overridable_by) or "不可"}

    def _bounds(self, expression: str, code: str) -> list[dict]:
        """A floor or cap over time at one place: its value on every date an input of it changes."""
        from ..check.constraints import _Formula
        from ..diagnostics import Reporter, Span
        from ..dsl.parser import parse_expr
        node = parse_expr(expression, Span("", 1, 1), Reporter())
        if node is None:
            return []
        formula = _Formula(node)
        chain = self.chains[code]
        refs = [self.c.params[r] for r in sorted(formula.params) if r in self.c.params]
        days = sorted({v.start for p in refs for level in chain for v in p.timelines.get(level, [])})
        out = []
        for day in days:
            values = {p.id: effective(p, chain, day) for p in refs}
            if all(v is not None for v in values.values()):
                bound = formula.value({k: v.value for k, v in values.items()})
                out.append({"from": day, "value": number(bound.quantize(Decimal("0.01")))})
        return out

    def index(self) -> dict:
        cities = []
        for j in self.c.sources.jurisdictions:
            if j.level == "city":
                counties = [{"code": _code_slug(k.code), "name": k.name, "zone": k.functional_zone,
                             "own": any(k.code in p.timelines for p in self.c.params.values())}
                            for k in self.c.sources.jurisdictions if k.parent == j.code]
                cities.append({"code": _code_slug(j.code), "name": j.name, "counties": counties,
                               "own": any(j.code in p.timelines for p in self.c.params.values())})
        province = self.province
        params = [{"id": _param_slug(p.id), "name": p.name}
                  for p in sorted(self.c.params.values(), key=lambda p: p.id)]
        return {"site": self.site, "province": {"code": _code_slug(province), "name": self.j[province].full_name},
                "cities": cities, "params": params, "programs": self._program_links()}

    def search_index(self) -> str:
        """A script the pages load: names and addresses only (no value, so a value change leaves it alone). Its
        JSON has no `<`, `>`, `&` or line separators as themselves, so it cannot end a script element, open a
        comment or break a string, wherever it is included."""
        items = [{"t": _plain(j.full_name), "u": f"handbooks/{_code_slug(j.code)}.html", "k": "地区"}
                 for j in self.c.sources.jurisdictions]
        items += [{"t": _plain(f"{p.name}（{p.id}）"), "u": f"params/{_param_slug(p.id)}.html", "k": "参数"}
                  for p in sorted(self.c.params.values(), key=lambda p: p.id)]
        items += [{"t": _plain(f"{x['name']}规则"), "u": f"rules/{x['id']}.html", "k": "规则"}
                  for x in self._program_links()]
        data = json.dumps(items, ensure_ascii=False, sort_keys=True)
        for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                        ("\u2029", "\\u2029")):
            data = data.replace(ch, esc)
        return "window.POLICYC_INDEX = " + data + ";\n"


def site_files(c: Compilation, out: Path) -> dict[Path, bytes]:
    """Every file of generated/docs/, as bytes; deterministic for the same sources, and each page a function of
    only what it shows (see Documents)."""
    docs = Documents(c)
    md, html = environment(False), environment(True)
    files: dict[Path, bytes] = {}

    def put(path: Path, text: str) -> None:
        files[path] = (text if text.endswith("\n") else text + "\n").encode("utf-8")

    def page(path: Path, template: str, data: dict) -> None:
        put(path.parent / f"{path.name}.md", md.get_template(f"{template}.md.j2").render(**data))
        put(path.parent / f"{path.name}.html", html.get_template(f"{template}.html.j2").render(**data))

    for j in c.sources.jurisdictions:
        page(out / "handbooks" / _code_slug(j.code), "handbook", docs.handbook(j.code))
    for p in c.params.values():
        page(out / "params" / _param_slug(p.id), "parameter", docs.parameter(p))
    for x in docs._program_links():
        page(out / "rules" / x["id"], "rules", docs.rule_page(x["id"]))
    page(out / "articles", "articles", docs.article_page())
    put(out / "index.html", html.get_template("index.html.j2").render(**docs.index()))
    put(out / "search-index.js", docs.search_index())
    put(out / "style.css", (TEMPLATES / "style.css").read_text(encoding="utf-8"))
    put(out / "search.js", (TEMPLATES / "search.js").read_text(encoding="utf-8"))
    return files
