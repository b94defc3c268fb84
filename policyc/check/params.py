"""Parameters: dated values with provenance, checked for order, type and range."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..diagnostics import Reporter
from ..ir import Enum
from ..load.yamlsrc import Located, number_problem
from .articles import Articles
from .types import UNIT_TYPES


@dataclass
class ParamValue:
    start: dt.date
    value: Any  # Decimal/int for numbers, a choice code, [[bound, value], …] for tables; None when `end`
    end: bool
    illustrative: bool
    source: dict | None
    note: str | None
    defined_at: str
    jurisdiction: str
    level: str = "province"
    inherit: bool = False  # a city or county stops setting its own value and defers to the level above
    value_at: str = field(default="", compare=False)  # where the `value:` (or `rows:`) itself is written

    def value_span(self):
        """The span of the value itself (for a diagnostic about the value), else of its `- from:` entry."""
        from ..diagnostics import Span
        file, line, col = (self.value_at or self.defined_at).rsplit(":", 2)
        return Span(file, int(line), int(col))

    def to_json(self) -> dict:
        out = {"from": self.start.isoformat(), "value": self.value, "defined_at": self.defined_at,
               "jurisdiction": self.jurisdiction, "level": self.level}
        if self.end:
            out["end"] = True
        if self.inherit:
            out["inherit"] = True
        out["illustrative"] = self.illustrative
        if self.source:
            out["source"] = self.source
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Param:
    id: str
    name: str
    type: str
    unit: str | None
    citation: str
    description: str
    defined_at: str
    choices: dict[str, str] | None = None
    table: dict | None = None
    overridable_by: list[str] = field(default_factory=list)
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    constraints: list[dict] = field(default_factory=list)
    timelines: dict[str, list[ParamValue]] = field(default_factory=dict)

    def enum(self) -> Enum | None:
        return Enum(f"param:{self.id}", self.name, list(self.choices.items())) if self.choices else None

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "type": self.type, "unit": self.unit,
                "citation": self.citation, "description": self.description, "defined_at": self.defined_at,
                "choices": self.choices, "table": self.table, "overridable_by": self.overridable_by,
                "minimum": self.minimum, "maximum": self.maximum, "constraints": self.constraints,
                "timelines": {code: [v.to_json() for v in values] for code, values in self.timelines.items()}}


def _in_fen(value) -> bool:
    value = Decimal(value)
    return value == value.quantize(Decimal("0.01"))


def _date(text: str, span, reporter: Reporter) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        reporter.add("E0206", span, value=text)
        return None


def check_value(p: Param, value, span, reporter: Reporter, what: str = "") -> Any:
    """The value as the runtime stores it, or None after reporting why it does not fit the parameter."""
    pid = what or p.id
    if p.choices is not None:
        if value not in p.choices:
            reporter.add("E0204", span, id=pid, value=value, detail=f"应为 {'、'.join(p.choices)} 之一")
            return None
        return value
    if p.table is not None:
        rows = value
        if not isinstance(rows, list):
            reporter.add("E0204", span, id=pid, value=value, detail="表格参数的取值应写在 rows 下")
            return None
        bounds = [r["from"] for r in rows]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            reporter.add("E0204", span, id=pid, value="表格", detail="各行的 from 必须严格递增")
            return None
        if p.type.split(">")[-1].startswith("money") and any(not _in_fen(r["value"]) for r in rows):
            reporter.add("E0204", span, id=pid, value="表格", detail="金额最多两位小数（精确到分）")
            return None
        return [[r["from"], r["value"]] for r in rows]
    if isinstance(value, str) or isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        reporter.add("E0204", span, id=pid, value=value, detail=f"应为以 {p.unit} 计的数字")
        return None
    problem = number_problem(value)  # the loader refuses such numbers; this keeps every Decimal below bounded
    if problem is not None:
        reporter.add("E0018", span, value=value, detail=problem)
        return None
    if p.type.startswith("money") and not _in_fen(value):
        reporter.add("E0204", span, id=pid, value=value, detail="金额最多两位小数（精确到分）")
        return None
    if p.type in ("int", "count", "months", "years", "age") and value != int(value):
        reporter.add("E0204", span, id=pid, value=value, detail=f"以 {p.unit} 计，应为整数")
        return None
    for bound, ok in ((p.minimum, lambda v, b: v >= b), (p.maximum, lambda v, b: v <= b)):
        if bound is not None and not ok(value, bound):
            reporter.add("E0205", span, id=pid, value=value, bound=f"[{p.minimum if p.minimum is not None else '-∞'}, "
                         f"{p.maximum if p.maximum is not None else '∞'}]")
            return None
    return value


def read_values(p: Param, doc: Located, where: tuple, juris: str, level: str, reporter: Reporter,
                what: str = "") -> list[ParamValue]:
    """The dated values listed at `where` in doc, checked: ascending dates, type, range, unit."""
    timeline: list[ParamValue] = []
    for i, v in enumerate(doc.data_at(where)):
        at = where + (i,)
        start = _date(v["from"], doc.span(at + ("from",)), reporter)
        if start is None:
            continue
        if timeline and start <= timeline[-1].start:
            reporter.add("E0203", doc.span(at + ("from",)), id=p.id, date=start, previous=timeline[-1].start)
            continue
        if "unit" in v and v["unit"] != (p.unit or ""):
            reporter.add("E0903", doc.span(at + ("unit",)), id=p.id, unit=v["unit"], expected=p.unit or "无单位")
            continue
        value, value_at = None, ""
        if not (v.get("end") or v.get("inherit")):
            key = "rows" if "rows" in v else "value"
            value_at = str(doc.span(at + (key,)))
            value = check_value(p, v.get(key), doc.span(at + (key,)), reporter, what)
            if value is None:
                continue
        timeline.append(ParamValue(start, value, bool(v.get("end")), bool(v.get("illustrative")), v.get("source"),
                                   v.get("note"), str(doc.span(at)), juris, level, bool(v.get("inherit")), value_at))
    return timeline


def load_params(files: list[Located], province: str, articles: Articles, reporter: Reporter) -> dict[str, Param]:
    params: dict[str, Param] = {}
    names: dict[str, Param] = {}
    for doc in files:
        for pid, spec in doc.data["parameters"].items():
            base = ("parameters", pid)
            span = doc.key_span(base)
            if pid in params:
                reporter.add("E0201", span, id=pid, other=params[pid].defined_at)
                continue
            if "choices" in spec:
                ptype = f"enum:param:{pid}"
            elif "table" in spec:
                ptype = f"table:{UNIT_TYPES[spec['table']['key']['unit']]}>{UNIT_TYPES[spec['table']['value']['unit']]}"
            else:
                ptype = UNIT_TYPES[spec["unit"]]
            articles.resolve(spec["citation"], doc.span(base + ("citation",)), reporter)
            p = Param(pid, spec["name"], ptype, spec.get("unit"), spec["citation"], spec.get("description", ""),
                      str(span), spec.get("choices"), spec.get("table"), spec.get("overridable_by", []),
                      spec.get("minimum"), spec.get("maximum"), spec.get("constraints", []))
            if p.name in names:
                reporter.add("E0202", doc.span(base + ("name",)), name=p.name, other=names[p.name].id)
            names[p.name] = p
            params[pid] = p
            p.timelines[province] = read_values(p, doc, base + ("values",), province, "province", reporter)
    return params


def report_expiring(params: dict[str, Param], today: dt.date, days: int, reporter: Reporter) -> None:
    """Warn about values that stop applying within `days` (an `end`, or a locality's `inherit`)."""
    from ..diagnostics import Span
    horizon = today + dt.timedelta(days=days)
    for p in params.values():
        for code, timeline in p.timelines.items():
            for before, v in zip(timeline, timeline[1:]):
                if (v.end or v.inherit) and today <= v.start <= horizon and not before.end:
                    file, line, col = v.defined_at.rsplit(":", 2)
                    reporter.add("W0601", Span(file, int(line), int(col)), name=p.name, id=p.id, date=v.start,
                                 days=(v.start - today).days, what="停止适用" if v.end else "改为沿用上级取值",
                                 jurisdiction=code)
