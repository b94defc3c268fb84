"""What each page of generated/docs/ shows, computed from a bundle: the bundle is turned back into the few objects
policyc/emit/site.py's Documents reads, and Documents itself makes each page's data, so the diff of handbooks and
pages cannot drift from what a build renders. Only what the bundle lacks is left the same on both sides: the
articles' declared status and reason, the primary document's section titles and the other documents' titles."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from ..check.articles import Article
from ..check.params import Param, ParamValue
from ..emit.documents import _code_slug, _param_slug
from ..emit.site import Documents
from ..ir import Module
from .diff_params import chains


def _value(v: dict) -> ParamValue:
    return ParamValue(dt.date.fromisoformat(v["from"]), v.get("value"), bool(v.get("end")),
                      bool(v.get("illustrative")), v.get("source"), v.get("note"), "", v["jurisdiction"],
                      v.get("level", "province"), bool(v.get("inherit")))


def _param(p: dict) -> Param:
    return Param(p["id"], p["name"], p.get("type", ""), p.get("unit"), p["citation"], p.get("description", ""), "",
                 p.get("choices"), p.get("table"), list(p.get("overridable_by") or []), p.get("minimum"),
                 p.get("maximum"), list(p.get("constraints") or []),
                 {code: [_value(v) for v in values] for code, values in p["timelines"].items()})


def _article(citation: str, heading: str) -> Article:
    source, _, number = citation.partition(" ")  # another document's articles are cited as `简称 条款`
    if number:
        return Article(source, number, heading, False)
    return Article("", citation, heading, True)


def documents(bundle: dict) -> Documents:
    """Documents over a bundle (a JSON-round-tripped one, as review.versions makes)."""
    arts = [_article(c, h) for c, h in bundle["articles"].items()]
    articles = SimpleNamespace(by_citation={a.citation: a for a in arts}, sections={}, primary_title="",
                               sources={a.source: {"title": a.source} for a in arts})
    juris = [SimpleNamespace(**j) for j in bundle["jurisdictions"]]
    province = next(j.code for j in juris if j.parent is None)
    manifest = SimpleNamespace(data={"jurisdiction": province, "title": bundle["manifest"]["title"],
                                     "version": bundle["manifest"]["version"]})
    c = SimpleNamespace(module=Module.from_json(bundle["ir"]),
                        params={pid: _param(p) for pid, p in bundle["parameters"].items()},
                        sources=SimpleNamespace(jurisdictions=juris, manifest=manifest),
                        articles=articles, chains=chains(bundle))
    return Documents(c)


def _strip(data):
    """Page data without file positions (templates never show them) and the site stamp (compared apart)."""
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k not in ("defined_at", "site")}
    if isinstance(data, list | tuple):
        return [_strip(x) for x in data]
    if hasattr(data, "__dataclass_fields__"):
        return _strip(dict(data.__dict__))
    return data


def pages(docs: Documents) -> dict[str, object]:
    """Page (its path under generated/docs/ without .md/.html) → what it shows, besides the site stamp."""
    out: dict[str, object] = {}
    for j in docs.c.sources.jurisdictions:
        out[f"handbooks/{_code_slug(j.code)}"] = _strip(docs.handbook(j.code))
    for p in docs.c.params.values():
        out[f"params/{_param_slug(p.id)}"] = _strip(docs.parameter(p))
    for x in docs._program_links():
        out[f"rules/{x['id']}"] = _strip(docs.rule_page(x["id"]))
    out["articles"] = _strip(docs.article_page())
    out["index"] = {"version": docs.site["version"], "page": _strip(docs.index())}  # only the index shows it
    out["search-index"] = docs.search_index()
    return out


def stamp(docs: Documents) -> dict:
    """What every page prints of the policy set: its title (the version is on the index only)."""
    return {"title": docs.site["title"]}
