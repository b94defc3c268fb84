"""Stage 2, resolve localities: city and county files that set dated values for overridable parameters.

Inheritance is province → city → county, nearest level wins, date by date: on a given day a county's own value in
force wins over its city's, which wins over the province's. A county that set a value keeps it when its city later
changes, until the county itself writes a new value or `inherit: true` (from then on it follows its city again).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..diagnostics import Reporter
from ..load.project import Jurisdiction
from ..load.yamlsrc import Located
from .events import resolve_locality
from .params import Param, read_values


@dataclass
class LocalityFile:
    code: str
    level: str
    defined_at: str
    overrides: list[str] = field(default_factory=list)  # parameter ids it sets
    exceptions: dict[str, str] = field(default_factory=dict)  # parameter id -> written reason

    def to_json(self) -> dict:
        return dict(self.__dict__)


def load_localities(files: list[Located], jurisdictions: list[Jurisdiction], params: dict[str, Param],
                    reporter: Reporter) -> dict[str, LocalityFile]:
    by_code = {j.code: j for j in jurisdictions}
    out: dict[str, LocalityFile] = {}
    for doc in files:
        code, others = resolve_locality(doc.data["locality"], jurisdictions)
        if code is None:
            reporter.add("E0803", doc.span(("locality",)), locality=doc.data["locality"],
                         hint=f"可能是：{'、'.join(others)}" if others else None)
            continue
        j = by_code[code]
        if j.level == "province":
            reporter.add("E0905", doc.span(("locality",)), locality=j.full_name)
            continue
        if code in out:
            reporter.add("E0904", doc.span(("locality",)), locality=j.full_name, other=out[code].defined_at)
            continue
        loc = LocalityFile(code, j.level, str(doc.span(())))
        out[code] = loc
        for pid in doc.data["overrides"]:
            where = ("overrides", pid)
            p = params.get(pid)
            if p is None:
                close = difflib.get_close_matches(pid, list(params), n=3, cutoff=0.5)
                reporter.add("E0901", doc.key_span(where), id=pid, hint=f"是否想写：{'、'.join(close)}？" if close else None)
                continue
            if j.level not in p.overridable_by:
                levels = "、".join({"city": "市", "county": "县"}[x] for x in p.overridable_by) or "无"
                reporter.add("E0902", doc.key_span(where), id=pid, name=p.name,
                             level={"city": "市", "county": "县"}[j.level], levels=levels)
                continue
            p.timelines[code] = read_values(p, doc, where, code, j.level, reporter, f"{j.full_name} {pid}")
            loc.overrides.append(pid)
        for k, e in enumerate(doc.data.get("exceptions", [])):
            if e["parameter"] not in params:
                reporter.add("E0901", doc.span(("exceptions", k, "parameter")), id=e["parameter"])
            loc.exceptions[e["parameter"]] = e["reason"]
    return out
