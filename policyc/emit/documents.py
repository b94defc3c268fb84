"""The documents backend: a Chinese handbook for the province and every city and county, parameter history pages,
a searchable static site, and decision notices — all rendered with jinja2 from the same IR and parameters as the
evaluator, so the two cannot disagree."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..check.constraints import effective
from ..compiler import Compilation
from ..names import DOTTED, is_unsafe
from .chinese import Renderer, date_text, number, quantity

TEMPLATES = Path(__file__).with_name("templates")
LEVEL_TEXT = {"province": "省", "city": "市", "county": "县（区）"}
KIND_TEXT = {"rule": "规则", "value": "定义", "output": "输出", "referral": "转介"}


# Every value a template shows comes from policy sources or a request, so every one is escaped for where it goes:
# HTML by jinja's autoescape, Markdown by _md_escape (applied to every {{ … }} of a Markdown template, so a
# template cannot forget it). Both first make control and invisible characters visible (_plain): a bidi override
# in a request could otherwise reorder what a caseworker reads.
_BREAKS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_MD_CHARS = re.compile(r"([\\`*_\[\]|~])")
_MD_LEADING = re.compile(r"^(?:([#+=-])|([0-9]{1,9})([.)])(?=\s|$))")  # heading, list, setext underline


def _plain(text: str) -> str:
    """One line of printable text: line breaks and tabs become spaces, other control or invisible characters
    U+FFFD."""
    if not any(is_unsafe(ch) for ch in text):
        return text
    return "".join(" " if ch in _BREAKS else "\ufffd" if is_unsafe(ch) else ch for ch in text)


class _Md(str):
    """Text already escaped for Markdown."""


def _md_escape(text) -> str:
    """Policy text in Markdown must stay text, wherever a template puts it (a table cell, a list item, the start
    of a line): no HTML, entity, emphasis, code, link, image, strike-through, table cell break, heading, list,
    quote or line break from a name, reason or request value."""
    if isinstance(text, _Md):
        return text
    text = _plain(str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_CHARS.sub(r"\\\1", text)
    text = _MD_LEADING.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), text)
    stripped = text.lstrip(" ")
    if stripped != text:  # four leading spaces would make a code block
        text = "&#32;" * (len(text) - len(stripped)) + stripped
    return _Md(text)


def _html_finalize(value):
    """Every value of an HTML template, before autoescape: Markup (none comes from sources) stays as it is."""
    if isinstance(value, Markup):
        return value
    return _plain(str(value)) if isinstance(value, str) else value


def environment(html: bool) -> Environment:
    if html:
        env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                          autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=True,
                                                       default_for_string=True),
                          finalize=_html_finalize,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    else:
        env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=False,
                          finalize=_md_escape,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = _md_escape
    env.filters["date"] = date_text
    env.filters["ident"] = _ident  # an identifier shown as written: its alphabet has nothing to escape
    return env


def _ident(value) -> str:
    """A parameter or program id as written: lower-case words and dots cannot start Markdown or HTML markup (an
    underscore inside a word is not emphasis); anything else is refused rather than shown."""
    return _Md(_param_slug(str(value)))


_CODE = re.compile(r"[0-9]{6}")


def _param_slug(pid: str) -> str:
    """A parameter id as it goes into a file name and an href: only from the closed alphabet of identifiers."""
    if not DOTTED.fullmatch(pid):
        raise ValueError(f"parameter id {pid!r} cannot name a page")
    return pid


def _code_slug(code: str) -> str:
    if not _CODE.fullmatch(code):
        raise ValueError(f"jurisdiction code {code!r} cannot name a page")
    return code


@dataclass
class RuleDoc:
    name: str
    kind: str
    text: str
    citations: list[str]
    rows: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[tuple[str, str]] = field(default_factory=list)
    scope: str | None = None


class Documents:
    def __init__(self, c: Compilation):
        self.c = c
        self.r = Renderer(c.module, c.params)
        self.j = {j.code: j for j in c.sources.jurisdictions}
        self.chains = c.chains
        self.rules_by_article = self._rules()
        manifest = c.sources.manifest.data
        self.site = {"title": manifest["title"], "version": manifest["version"],
                     "digest": c.sources.digest[:12], "source": c.articles.primary_title}

    # ── rules, rendered once ───────────────────────────────────────────────────────────
    def _rules(self) -> dict[str, list[RuleDoc]]:
        out: dict[str, list[RuleDoc]] = {}
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
            for citation in d.citations:
                out.setdefault(" ".join(citation.split()), []).append(doc)
        return out

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

    def timeline(self, p, code: str) -> list[dict]:
        """The values in force at a locality over time, each with the level it comes from."""
        chain = self.chains[code]
        days = sorted({v.start for level in chain for v in p.timelines.get(level, [])})
        out, last = [], None
        for day in days:
            v = effective(p, chain, day)
            if v is last:
                continue
            last = v
            if v is None:
                if out:
                    out.append({"from": day, "value": "停止适用", "level": "", "source": "", "own": False,
                                "illustrative": False})
                continue
            owner = self.j[v.jurisdiction]
            level = "本地设定" if v.jurisdiction == code else f"沿用{owner.full_name}"
            out.append({"from": day, "value": self.value_text(p, v.value), "level": level,
                        "source": self.source_text(v), "own": v.jurisdiction == code,
                        "illustrative": v.illustrative, "defined_at": v.defined_at})
        return out

    # ── the handbook of one locality ───────────────────────────────────────────────────
    def handbook(self, code: str) -> dict:
        articles = self.c.articles
        params_by_article: dict[str, list] = {}
        for p in self.c.params.values():
            params_by_article.setdefault(" ".join(p.citation.split()), []).append(p)
        sections: list[dict] = []
        for art in articles.by_citation.values():
            if not art.primary:
                continue
            part = art.number.split("(")[0]
            sub = art.number.rstrip("0123456789") if art.number[-1].isdigit() else None
            key = sub or part
            if not sections or sections[-1]["key"] != key:
                title = articles.sections.get(key, art.heading)
                part_title = articles.sections.get(part, "")
                sections.append({"key": key, "part": part, "part_title": part_title, "title": title,
                                  "new_part": not sections or sections[-1]["part"] != part, "articles": []})
            params = [{"id": _param_slug(p.id), "name": p.name, "unit": p.unit, "timeline": self.timeline(p, code),
                       "description": p.description}
                      for p in sorted(params_by_article.get(art.citation, []), key=lambda p: p.id)]
            cited = bool(self.rules_by_article.get(art.citation) or params)
            status = art.status or ("encoded" if cited else None)
            if status == "partly" and not cited:
                status = "partly_computable"
            sections[-1]["articles"].append({
                "citation": art.citation, "heading": art.heading, "status": status, "reason": art.reason,
                "rules": self.rules_by_article.get(art.citation, []), "params": params})
        j = self.j[code]
        return {"site": self.site, "code": code, "name": j.full_name, "level": LEVEL_TEXT[j.level],
                "chain": [self.j[c].full_name for c in reversed(self.chains[code])],
                "own": sorted(p.name for p in self.c.params.values() if code in p.timelines and j.level != "province"),
                "functional_zone": j.functional_zone, "sections": sections,
                "illustrative_note": "标注“示例值”的数额没有正式来源，仅用于说明规则如何计算，不得作为正式标准引用。"}

    # ── parameter history ───────────────────────────────────────────────────────────────
    def parameter(self, p) -> dict:
        province = self.c.sources.manifest.data["jurisdiction"]
        localities = []
        for code, timeline in p.timelines.items():
            if code == province:
                continue
            localities.append({"code": _code_slug(code), "name": self.j[code].full_name,
                               "timeline": self.timeline(p, code)})
        floors = [{"kind": "下限" if "min" in c else "上限", "expr": c.get("min") or c.get("max"),
                   "wording": c["wording"], "citation": c["citation"],
                   "values": self._bounds(c.get("min") or c.get("max"), province)} for c in p.constraints]
        return {"site": self.site, "id": p.id, "name": p.name, "unit": p.unit or "", "citation": p.citation,
                "description": p.description, "province": self.timeline(p, province),
                "localities": sorted(localities, key=lambda x: x["code"]), "floors": floors,
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
        province = self.c.sources.manifest.data["jurisdiction"]
        params = [{"id": _param_slug(p.id), "name": p.name}
                  for p in sorted(self.c.params.values(), key=lambda p: p.id)]
        return {"site": self.site, "province": {"code": _code_slug(province), "name": self.j[province].full_name},
                "cities": cities, "params": params}

    def search_index(self) -> str:
        """A script the pages load: its JSON has no `<`, `>`, `&` or line separators as themselves, so it cannot
        end a script element, open a comment or break a string, wherever it is included."""
        items = [{"t": _plain(j.full_name), "u": f"handbooks/{_code_slug(j.code)}.html", "k": "地区"}
                 for j in self.c.sources.jurisdictions]
        items += [{"t": _plain(f"{p.name}（{p.id}）"), "u": f"params/{_param_slug(p.id)}.html", "k": "参数"}
                  for p in sorted(self.c.params.values(), key=lambda p: p.id)]
        data = json.dumps(items, ensure_ascii=False, sort_keys=True)
        for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                        ("\u2029", "\\u2029")):
            data = data.replace(ch, esc)
        return "window.POLICYC_INDEX = " + data + ";\n"


def site_files(c: Compilation, out: Path) -> dict[Path, bytes]:
    """Every file of generated/docs/, as bytes; deterministic for the same sources."""
    docs = Documents(c)
    md, html = environment(False), environment(True)
    files: dict[Path, bytes] = {}

    def put(path: Path, text: str) -> None:
        files[path] = (text if text.endswith("\n") else text + "\n").encode("utf-8")

    for j in c.sources.jurisdictions:
        data = docs.handbook(j.code)
        put(out / "handbooks" / f"{_code_slug(j.code)}.md", md.get_template("handbook.md.j2").render(**data))
        put(out / "handbooks" / f"{_code_slug(j.code)}.html", html.get_template("handbook.html.j2").render(**data))
    for p in c.params.values():
        data = docs.parameter(p)
        put(out / "params" / f"{_param_slug(p.id)}.md", md.get_template("parameter.md.j2").render(**data))
        put(out / "params" / f"{_param_slug(p.id)}.html", html.get_template("parameter.html.j2").render(**data))
    put(out / "index.html", html.get_template("index.html.j2").render(**docs.index()))
    put(out / "search-index.js", docs.search_index())
    put(out / "style.css", (TEMPLATES / "style.css").read_text(encoding="utf-8"))
    put(out / "search.js", (TEMPLATES / "search.js").read_text(encoding="utf-8"))
    return files


PENDING = "待补充"  # a result the known facts do not settle: never 否


def _show(value, t: str, enums: dict) -> str:
    from ..runtime.values import fmt_value
    base = t[4:] if t.startswith("opt:") else t
    if value is None:
        return "无"
    if isinstance(value, bool):
        return "是" if value else "否"
    if base.startswith("enum:"):
        return enums.get(base[5:], {}).get(value, str(value))
    if isinstance(value, list):
        return "、".join(map(str, value)) or "无"
    if base == "date":
        return date_text(value)
    if base.startswith("money"):
        return fmt_value(value, "number") + "元"
    return fmt_value(value, "number")


def notice(decision: dict, bundle: dict, fmt: str) -> str:
    """A decision as a 告知书 (Markdown or HTML): each program's result in Chinese, the reasons and the articles
    they rest on, the recheck date, referrals, and how to object."""
    ir = bundle["ir"]
    enums = {e["id"]: dict(e["members"]) for e in ir["enums"]}
    defs = {d["id"]: d for d in ir["definitions"]}
    programs = []
    for prog in ir["programs"]:
        if prog["id"] not in decision["programs"]:
            continue
        out = decision["programs"][prog["id"]]
        rows, members = [], {}
        for oid in prog["outputs"]:
            d = defs[oid]
            prefix = ".".join(filter(None, (prog["id"], d["scope"]))) + "."
            key = oid[len(prefix):]
            if d["scope"] is None:
                value = out
                for k in key.split("."):
                    value = value.get(k) if isinstance(value, dict) else None
                shown = PENDING if key in out.get("undecided", ()) else _show(value, d["type"], enums)
                rows.append((d["name"], shown))
            else:
                for mid, mout in out.get("members", {}).items():
                    members.setdefault(mid, {"rows": [], "reasons": mout.get("reasons", []),
                                             "missing": mout.get("missing_facts", [])})
                    shown = PENDING if key in mout.get("undecided", ()) else _show(mout.get(key), d["type"], enums)
                    members[mid]["rows"].append((d["name"], shown))
        programs.append({"name": prog["name"], "citations": "；".join(prog["citations"]), "rows": rows,
                         "members": members, "reasons": out.get("reasons", []),
                         "missing": out.get("missing_facts", [])})
    return environment(fmt == "html").get_template(f"notice.{fmt}.j2").render(
        decision=decision, programs=programs, referrals=decision.get("referrals", []),
        illustrative=[t for t in decision["trace"] if t["illustrative"]], site={"title": "社会救助评估告知书"})
