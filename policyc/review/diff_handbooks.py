"""Which pages of generated/docs/ a change rewrites, computed by making each page's data from both bundles with
the site's own code (site_view.py) and comparing: the handbooks of the places where what they show differs (the
chain, the values in force there over time, status tags, parameter names, article headings, links), and the
shared pages — rules/<program>, articles, params/<id>, index, search-index. Every page's HTML also prints the
policy set's title, so a new title rewrites them all (`stamp`); the version is printed on the index only."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import site_view

HANDBOOK = "handbooks/"


@dataclass
class Handbooks:
    all: bool = False  # every handbook is rewritten (its content changes everywhere, or the stamp)
    reasons: list[str] = field(default_factory=list)  # why every handbook is rewritten
    total: int = 0
    localities: list[dict] = field(default_factory=list)  # [{code, name, parameters: [ids], renamed}]
    pages: list[dict] = field(default_factory=list)  # shared pages: [{page, change: added|removed|changed}]
    stamp: str | None = None  # the title every page's HTML prints changed: all pages are rewritten,
    # besides the handbooks and pages listed, whose content changes

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _shared_reasons(params, other) -> list[str]:
    """In words, the changes that alter what every handbook shows."""
    out = []
    meta = [c.name for c in params if c.kind in ("parameter_added", "parameter_removed") or
            (c.kind == "metadata" and {"name", "citation"} & set(c.fields))]
    if meta:
        out.append(f"各地手册都列出的参数改变：{'、'.join(dict.fromkeys(meta))}")
    out += [c.text for c in other if c.area in ("article", "coverage", "program")]
    return out or ["各地手册共有的条文、链接或编码标记改变"]


def diff_handbooks(base: dict, head: dict, params, rules, other) -> Handbooks:
    bdocs, hdocs = site_view.documents(base), site_view.documents(head)
    bpages, hpages = site_view.pages(bdocs), site_view.pages(hdocs)
    out = Handbooks(total=len(head["jurisdictions"]))
    bstamp, hstamp = site_view.stamp(bdocs), site_view.stamp(hdocs)
    if bstamp != hstamp:
        out.stamp = f"标题 {bstamp['title']} → {hstamp['title']}"
    for page in list(hpages) + [p for p in bpages if p not in hpages]:
        old, new = bpages.get(page), hpages.get(page)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        if not page.startswith(HANDBOOK):
            out.pages.append({"page": page, "change": change})
            continue
        if new is None:
            continue  # a place no longer there: its handbook is not rewritten
        code = page[len(HANDBOOK):]
        out.localities.append({"code": code, "name": new["name"], "parameters": _params(old, new),
                               "renamed": old is None or (old["name"], old["chain"]) != (new["name"], new["chain"])})
    if out.total and len(out.localities) == out.total:
        out.reasons = _shared_reasons(params, other)
    if out.stamp:
        out.reasons.insert(0, f"每页都印有的{out.stamp}")
    out.all = bool(out.reasons)
    return out


def _timelines(page: dict | None) -> dict[str, list]:
    if page is None:
        return {}
    return {p["id"]: p["timeline"] for group in ("sections", "others") for part in page[group]
            for a in part["articles"] for p in a["params"]}


def _params(old: dict | None, new: dict) -> list[str]:
    """The parameters whose values in force at the place, as its handbook lists them, differ."""
    before, after = _timelines(old), _timelines(new)
    return sorted(pid for pid in set(before) | set(after) if before.get(pid) != after.get(pid))
