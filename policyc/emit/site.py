"""The site: a handbook for the province and every city and county, a page per program with its rules in Chinese,
the article table, a page per parameter with its history — rendered with jinja2 from the same IR and parameters as
the evaluator, so the two cannot disagree. Escaping and the template environment are in documents.py."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from markupsafe import Markup, escape

from ..check.constraints import _Formula, effective
from ..compiler import Compilation
from ..diagnostics import Reporter, Span
from ..dsl.parser import parse_expr
from .chinese import Renderer, bound_text, formula_text, quantity, tier_rows
from .documents import TEMPLATES, _code_slug, _md_escape, _Md, _param_slug, _plain, environment

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
    - params/<id>: one parameter's values everywhere, its floors and caps, the exceptions recorded to them.
    No page carries a build stamp or the source digest (the bundle's manifest carries it). Every page's version
    line (on screen and on every printed page) shows the policy set's version from style.css, so a version bump
    rewrites the stylesheet and the index only, and, on a handbook or parameter page, the latest date a value it
    shows takes effect."""

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
        self._formulas: dict[str, tuple | None] = {}
        self.exceptions: dict[tuple[str, str, str], list] = {}  # (parameter, expression, place) -> recorded
        for e in getattr(c, "exceptions", ()):  # review's documents over a bundle may have none
            self.exceptions.setdefault((e.parameter, e.expression, e.jurisdiction), []).append(e)

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
            key = p.table["key"]
            return "；".join(f"{key['name']}{low}：{amount}" for low, amount in tier_rows(value, key, p.table["value"]))
        return quantity(value, p.unit)

    def tiers(self, p, value) -> dict | None:
        """A table parameter's value as a table of its own (the handbook and parameter pages show it so)."""
        if not p.table or value is None:
            return None
        return {"key": p.table["key"]["name"], "value": p.table["value"]["name"],
                "rows": tier_rows(value, p.table["key"], p.table["value"])}

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
                out.append({"from": day, "value": "停止适用", "tiers": None, "level": "", "source": "", "own": False,
                            "illustrative": False})
                continue
            owner = self.j[v.jurisdiction]
            level = "本地设定" if v.jurisdiction == code else f"沿用{owner.full_name}"
            out.append({"from": day, "value": self.value_text(p, v.value), "tiers": self.tiers(p, v.value),
                        "level": level, "source": self.source_text(v), "own": v.jurisdiction == code,
                        "illustrative": v.illustrative, "defined_at": v.defined_at})
        return out

    # ── floors and caps: in Chinese, with units, their value at a place, the exceptions recorded ──────
    def formula(self, expression: str):
        """A floor's or cap's expression parsed once: (its tree, its evaluator), or None (the check reports it)."""
        if expression not in self._formulas:
            node = parse_expr(expression, Span("", 1, 1), Reporter())
            self._formulas[expression] = None if node is None else (node, _Formula(node))
        return self._formulas[expression]

    def bound_words(self, p, expression: str, values: dict | None = None) -> str:
        """城市低保标准的1.3倍, or with the values in force: 城市低保标准（每月780元）的1.3倍."""
        def ref(pid: str) -> str:
            q = self.c.params[pid]
            return q.name if values is None else f"{q.name}（{quantity(values[pid], q.unit)}）"
        return formula_text(self.formula(expression)[0], ref, p.unit)

    def bound_rows(self, p, c: dict, code: str, own_value: bool = True) -> list[dict]:
        """A floor or cap at one place over time: on every date a value it involves changes there, the bound, how
        it is computed from the values in force, the parameter's own value and whether it keeps the bound (and
        the exception recorded where it does not). Without `own_value`, a row only where the bound changes."""
        kind = "min" if "min" in c else "max"
        formula = self.formula(c[kind])[1]
        refs = [self.c.params[r] for r in sorted(formula.params)]
        chain = self.chains[code]
        days = sorted({v.start for q in [p, *refs] for level in chain for v in q.timelines.get(level, [])})
        out: list[dict] = []
        for day in days:
            in_force = [effective(q, chain, day) for q in refs]
            if any(v is None for v in in_force):
                continue
            own = effective(p, chain, day)
            if own is None:
                continue  # the parameter does not apply then: nor does its bound
            values = {q.id: v.value for q, v in zip(refs, in_force)}
            bound = formula.value(values).quantize(Decimal("0.01"))
            kept = (Decimal(own.value) >= bound) if kind == "min" else (Decimal(own.value) <= bound)
            exception = None if kept else self.covering(p, c[kind], code, day)
            how = self.bound_words(p, c[kind], values) if refs else ""  # a fixed bound: nothing to compute
            row = {"from": day, "bound": quantity(bound, p.unit), "how": how,
                   "value": quantity(own.value, p.unit), "kept": kept,
                   "breach": "" if kept else ("低于下限" if kind == "min" else "超过上限"),
                   "exception": exception}
            same = ("bound", "how", "value", "kept") if own_value else ("bound", "how")
            if out and all(out[-1][k] == row[k] for k in same):
                continue
            out.append(row)
        return out

    def _in_force(self, p, refs, code: str, day) -> list:
        chain = self.chains[code]
        return [effective(q, chain, day) for q in [p, *refs]]

    def covering(self, p, expression: str, code: str, day):
        """The exception recorded for a bound a value breaks at `code` on `day`: the one the nearest place along its
        chain (itself, its city, …) whose values are the same recorded for that day, if any."""
        refs = [self.c.params[r] for r in sorted(self.formula(expression)[1].params)]
        here = self._in_force(p, refs, code, day)
        for level in self.chains[code]:
            if any(a is not b for a, b in zip(self._in_force(p, refs, level, day), here)):
                return None  # the place above has other values: its exceptions are about those
            for e in sorted(self.exceptions.get((p.id, expression, level), []), key=lambda e: e.date, reverse=True):
                since = dt.date.fromisoformat(e.date)
                if since <= day and all(a is b for a, b in zip(self._in_force(p, refs, level, since), here)):
                    return self.exception_doc(p, e, code)
        return None

    def exception_doc(self, p, e, code: str | None = None) -> dict:
        """A recorded exception as the pages show it: where, since when, the value and the bound, the reason, and
        the file that records it (its name within the policy set, in <code>)."""
        file = "/".join(Path(e.defined_at.rsplit(":", 2)[0]).parts[-2:])
        return {"code": _code_slug(e.jurisdiction), "name": self.j[e.jurisdiction].full_name, "from": e.date,
                "value": quantity(e.value, p.unit), "bound": quantity(e.bound.quantize(Decimal("0.01")), p.unit),
                "breach": "低于下限" if e.kind == "min" else "超过上限", "reason": e.reason,
                "citation": e.citation, "file": file, "inherited": code is not None and code != e.jurisdiction}

    def floors(self, p, code: str | None = None) -> list[dict]:
        """The floors and caps of a parameter, in Chinese: at one place over time (a handbook), or at the
        province with every exception recorded anywhere (its parameter page)."""
        province = self.province
        out = []
        for c in p.constraints:
            kind = "min" if "min" in c else "max"
            if self.formula(c[kind]) is None:
                continue
            rows = self.bound_rows(p, c, code or province, own_value=code is not None)
            if code is None:
                exceptions = [self.exception_doc(p, e) for (pid, expr, _), es in sorted(self.exceptions.items())
                              if pid == p.id and expr == c[kind] for e in es]
            else:
                seen: dict = {}
                for r in rows:
                    if r["exception"] is not None:
                        seen.setdefault((r["exception"]["code"], r["exception"]["from"]), r["exception"])
                exceptions = list(seen.values())
            out.append({"kind": "下限" if kind == "min" else "上限", "computed": any(r["how"] for r in rows),
                        "text": bound_text(kind, c["wording"]) + self.bound_words(p, c[kind]),
                        "wording": c["wording"], "citation": c["citation"], "rows": rows, "exceptions": exceptions})
        return out

    # ── the handbook of one locality: only what is specific to it ──────────────────────
    def handbook(self, code: str) -> dict:
        def make(art):
            params = [{"id": _param_slug(p.id), "name": p.name, "timeline": self.timeline(p, code),
                       "floors": self.floors(p, code)}
                      for p in self.params_by_article.get(art.citation, [])]
            shown = {**self._article(art), "params": params}
            return shown if art.primary or params else None  # other documents: only where values are set
        sections, others = self._outline(make)
        j = self.j[code]
        shown = [v["from"] for s in [*sections, *others] for a in s["articles"] for p in a["params"]
                 for v in p["timeline"]]
        return {"site": self.site, "code": code, "name": j.full_name, "level": LEVEL_TEXT[j.level],
                "latest": max(shown, default=None),
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
        programs = [{"id": pid, "name": self.programs[pid]} for pid in
                    (_param_slug(q.id) for q in self.c.module.programs if p.id in q.parameters)]
        timeline = self.timeline(p, province)
        shown = [v["from"] for v in timeline] + [v["from"] for x in localities for v in x["timeline"]]
        bounding = []  # the floors and caps of other parameters computed from this one
        for q in sorted(self.c.params.values(), key=lambda q: q.id):
            for c in q.constraints:
                kind = "min" if "min" in c else "max"
                parsed = self.formula(c[kind])
                if parsed is not None and p.id in parsed[1].params:
                    bounding.append({"id": _param_slug(q.id), "name": q.name,
                                     "text": bound_text(kind, c["wording"]) + self.bound_words(q, c[kind])})
        return {"site": self.site, "id": p.id, "name": p.name, "unit": p.unit or "", "citation": p.citation,
                "description": p.description, "province": timeline,
                "localities": sorted(localities, key=lambda x: x["code"]), "floors": self.floors(p),
                "programs": programs, "latest": max(shown, default=None), "bounding": bounding,
                "overridable": "、".join({"city": "市", "county": "县（区）"}[x] for x in p.overridable_by)}

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
        """A script the pages load (a script, not a fetched file, so search works from file:// too): for each
        place, parameter, rule page and article its title `t`, kind `k`, address `u`, code or id `c` and other text
        `d` searched (a parameter's description) — names and addresses only, no value, so a value change leaves
        it alone. search.js's search() reads it. Its JSON has no `<`, `>`, `&` or line separators as themselves,
        so it cannot end a script element, open a comment or break a string, wherever it is included."""
        items = [{"t": _plain(j.full_name), "u": f"handbooks/{_code_slug(j.code)}.html", "k": "地区",
                  "c": j.code} for j in self.c.sources.jurisdictions]
        items += [{"t": _plain(p.name), "u": f"params/{_param_slug(p.id)}.html", "k": "参数", "c": p.id,
                   "d": _plain(p.description or "")}
                  for p in sorted(self.c.params.values(), key=lambda p: p.id)]
        items += [{"t": _plain(f"{x['name']}规则"), "u": f"rules/{x['id']}.html", "k": "规则", "c": x["id"]}
                  for x in self._program_links()]
        items += [{"t": _plain(f"{a.citation} {a.heading}"), "u": f"articles.html#{self.anchor[a.citation]}",
                   "k": "条文"} for a in self.articles]
        data = json.dumps(items, ensure_ascii=False, sort_keys=True)
        for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                        ("\u2029", "\\u2029")):
            data = data.replace(ch, esc)
        return "window.POLICYC_INDEX = " + data + ";\n"


# An ASCII word in policy prose (a reason, a description, a source's note) is a reference to a file, a field or an
# identifier — “登记在 events 目录”, “临时救助事项（incident）”, “recheck.significant_change 已停用” — and is shown
# as code (<code>), never as a word of the Chinese text. Upper-case abbreviations (“三晋通”APP) are words as
# written. tests/test_pages.py checks that no other ASCII word is visible on any page.
_ASCII_REF = re.compile(r"[A-Za-z0-9_*]+(?:[./][A-Za-z0-9_*]+)*")
_REF_SHAPE = re.compile(r"[A-Za-z]{2}|[A-Za-z][._]|[._][A-Za-z]")  # a word, or a letter joined by _ or .


def _is_ref(token: str) -> bool:
    return bool(_REF_SHAPE.search(token)) and not token.isupper()


def prose(text) -> Markup:
    """Policy prose for HTML: escaped, with each ASCII reference in it as <code>."""
    text = _plain(str(text))
    out, last = [], 0
    for m in _ASCII_REF.finditer(text):
        if _is_ref(m.group()):
            out.append(escape(text[last:m.start()]))
            out.append(Markup("<code>%s</code>") % m.group())
            last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _version_css(version: str) -> str:
    """The policy set's version as the text of every page's version line (.stamp-version): in the stylesheet, so
    that a version bump rewrites it and the index, not every page. Each character a CSS escape: no version can end
    the string or the rule."""
    escaped = "".join(f"\\{ord(ch):06x}" for ch in _plain(str(version)))
    return "\n/* the policy set's version, on every page's version line */\n" \
           f'.stamp-version::before {{ content: "政策集版本 {escaped}"; }}\n'


def _md_code(text) -> _Md:
    """A file name as Markdown code (`localities/140200-datong.yaml`) when its characters cannot end or escape a
    code span; else as escaped text."""
    text = str(text)
    return _Md(f"`{text}`") if re.fullmatch(r"[A-Za-z0-9_./-]+", text) else _md_escape(text)


def site_files(c: Compilation, out: Path) -> dict[Path, bytes]:
    """Every file of generated/docs/, as bytes; deterministic for the same sources, and each page a function of
    only what it shows (see Documents)."""
    docs = Documents(c)
    md, html = environment(False), environment(True)
    html.filters["prose"] = prose
    md.filters["mdcode"] = _md_code
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
    put(out / "style.css", (TEMPLATES / "style.css").read_text(encoding="utf-8") + _version_css(docs.site["version"]))
    put(out / "search.js", (TEMPLATES / "search.js").read_text(encoding="utf-8"))
    return files
