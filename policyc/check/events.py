"""Emergencies (二(四)16): where and when temporary rises of standards and a living subsidy apply."""
from __future__ import annotations

import datetime as dt
import difflib

from ..runtime.locality import LocalityIndex

from ..diagnostics import Reporter
from ..load.project import Jurisdiction
from ..load.yamlsrc import Located
from .articles import Articles
from .params import Param


def resolve_locality(value, jurisdictions: list[Jurisdiction]) -> tuple[str | None, list[str]]:
    """A code, full name or unique short name → (code, []); otherwise (None, candidates or suggestions)."""
    return LocalityIndex([j.to_json() for j in jurisdictions]).resolve(value)


def load_events(files: list[Located], jurisdictions: list[Jurisdiction], params: dict[str, Param],
                articles: Articles, reporter: Reporter) -> list[dict]:
    events: list[dict] = []
    seen: dict[str, str] = {}
    for doc in files:
        for i, e in enumerate(doc.data["events"]):
            base = ("events", i)
            span = doc.span(base)
            if e["id"] in seen:
                reporter.add("E0801", doc.span(base + ("id",)), id=e["id"], other=seen[e["id"]])
                continue
            seen[e["id"]] = str(span)
            articles.resolve(e["citation"], doc.span(base + ("citation",)), reporter)
            try:
                start, end = dt.date.fromisoformat(e["from"]), dt.date.fromisoformat(e["to"])
            except ValueError as err:
                reporter.add("E0206", doc.span(base + ("from",)), value=f"{e['from']} / {e['to']}（{err}）")
                continue
            if end < start:
                reporter.add("E0802", doc.span(base + ("to",)), start=start, end=end)
            codes = []
            for k, loc in enumerate(e["localities"]):
                code, others = resolve_locality(loc, jurisdictions)
                if code is None:
                    reporter.add("E0803", doc.span(base + ("localities", k)), locality=loc,
                                 hint=f"可能是：{'、'.join(others)}" if others else None)
                else:
                    codes.append(code)
            for pid in e["changes"]:
                p = params.get(pid)
                if p is None:
                    close = difflib.get_close_matches(pid, list(params), n=3, cutoff=0.5)
                    reporter.add("E0804", doc.key_span(base + ("changes", pid)), id=pid,
                                 hint=f"是否想写：{'、'.join(close)}？" if close else None)
                elif p.choices is not None or p.table is not None:
                    reporter.add("E0703", doc.key_span(base + ("changes", pid)), id=pid)
            events.append(dict(e, localities=codes, defined_at=str(span)))
    return events
