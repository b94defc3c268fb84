"""A synthetic Shanxi population for `policyc impact --synthetic N --seed S` (docs/impact.md "合成人口").

Reproducible: one `random.Random(seed)` drives every draw, in a fixed order, so the same seed, size, date,
locality and versions give the same households. Money is Decimal. Households are spread evenly over the
county-level divisions (or those under `--locality`); their per-capita income is drawn relative to the 低保
standard in force there (ANCHORS, read from the version's parameters), in bands that put many households just
below and just above it, so that a change of a standard or a threshold shows. Every fact the rules declare is
given (a plausible value, or a neutral default from the IR's declarations), so results are decided."""
from __future__ import annotations

import itertools
import random
from decimal import Decimal

from .population import Household, Population

# The generator's parameters (docs/impact.md documents them; change them here, not in the code below).
ANCHORS = {"urban": "dibao.standard.urban", "rural": "dibao.standard.rural"}  # per-capita income is relative to these
SIZES = ((1, 24), (2, 30), (3, 24), (4, 14), (5, 8))  # household size, weight (%)
INCOME_BANDS = ((Decimal("0"), Decimal("0.6"), 20), (Decimal("0.6"), Decimal("1"), 30),  # (from, to) × standard,
                (Decimal("1"), Decimal("1.6"), 35), (Decimal("1.6"), Decimal("4"), 15))   # weight (%)
URBAN_SHARE = {"区": 0.85, "市": 0.6, "县": 0.3}  # share of urban households by the division's kind
RECEIVING_DIBAO = 0.5  # share of households below the standard already receiving 低保
DISABLED, SERIOUSLY_ILL, INCIDENT = 0.07, 0.04, 0.08
DISABILITY_TYPES = ("physical", "visual", "hearing", "intellectual", "mental")


_BAND_WEIGHTS = list(itertools.accumulate(w for *_, w in INCOME_BANDS))
_SIZE_VALUES, _SIZE_WEIGHTS = [s for s, _ in SIZES], list(itertools.accumulate(w for _, w in SIZES))


class SyntheticError(Exception):
    pass


def localities(jurisdictions: list[dict], within: str | None = None) -> list[dict]:
    """The county-level divisions households are placed in: all of them, or those in `within` (a code)."""
    by_code = {j["code"]: j for j in jurisdictions}
    counties = [j for j in jurisdictions if j["level"] == "county"]
    if within is None or by_code.get(within, {}).get("level") == "province":
        return counties
    if by_code.get(within, {}).get("level") == "county":
        return [by_code[within]]
    return [j for j in counties if j["parent"] == within]


def synthetic_population(n: int, seed: int, *, jurisdictions: list[dict], modules: list, anchors, date: str,
                         within: str | None = None) -> Population:
    """n households. `anchors(code)` gives {"urban": Decimal, "rural": Decimal}, the standards in force at a
    locality on `date`; `modules` (the IR of each version compared) declare the facts every household gets."""
    if n < 1:
        raise SyntheticError("合成人口的户数应至少为 1")
    places = localities(jurisdictions, within)
    if not places:
        raise SyntheticError(f"{within} 下没有县级行政区，无法生成合成人口")
    rng = random.Random(seed)
    modules = [m for i, m in enumerate(modules) if all(m.to_json() != o.to_json() for o in modules[:i])]
    standards = {}
    households = []
    for i in range(n):
        place = places[i % len(places)] if n >= len(places) else rng.choice(places)
        code = place["code"]
        if code not in standards:
            standards[code] = anchors(code)
        request = _household(rng, place, standards[code], date)
        for module in modules:
            fill(module, request, date)
        households.append(Household(f"合成#{i + 1}", request))
    return Population(households, "synthetic", seed=seed)


def _money(x) -> Decimal:
    return Decimal(x).quantize(Decimal("0.01"))


def _band(rng: random.Random) -> Decimal:
    lo, hi, _ = rng.choices(INCOME_BANDS, cum_weights=_BAND_WEIGHTS)[0]
    return lo + (hi - lo) * Decimal(rng.randrange(0, 10000)) / 10000


def _labor(rng: random.Random, age: int, grade: int) -> str:
    if age < 16 or grade in (1, 2) and rng.random() < 0.7:
        return "none"
    if age >= 60:
        return "none" if rng.random() < 0.6 else "partial"
    return rng.choices(("full", "partial", "none"), weights=(85, 10, 5))[0]


def _stage(rng: random.Random, age: int):
    if 3 <= age <= 5:
        return "preschool"
    if 6 <= age <= 15:
        return "compulsory"
    if 16 <= age <= 18:
        return "high_school"
    if 19 <= age <= 22 and rng.random() < 0.4:
        return "higher"
    return None


def _members(rng: random.Random, size: int) -> list[tuple[str, int]]:
    """(relation, age) of each member: an applicant, a spouse, children, perhaps a parent."""
    age = rng.randint(20, 88)
    out = [("applicant", age)]
    if size >= 2 and rng.random() < 0.7:
        out.append(("spouse", max(18, age + rng.randint(-5, 5))))
    if size >= 3 and age <= 60 and rng.random() < 0.25:
        out.append(("parent", min(100, age + rng.randint(22, 32))))
    while len(out) < size:
        out.append(("child", max(0, min(age - 18, rng.randint(age - 40, age - 18)))))
    return out


def _household(rng: random.Random, place: dict, standards: dict, date: str) -> dict:
    size = rng.choices(_SIZE_VALUES, cum_weights=_SIZE_WEIGHTS)[0]
    area = "urban" if rng.random() < URBAN_SHARE.get(place["name"][-1], 0.5) else "rural"
    standard = standards[area]
    per_capita = _money(standard * _band(rng))
    total = _money(per_capita * size)
    people = _members(rng, size)
    members = []
    for j, (relation, age) in enumerate(people):
        grade = rng.randint(1, 4) if rng.random() < DISABLED else 0
        members.append({
            "id": f"m{j + 1}", "relation": relation, "age": age, "monthly_income": Decimal(0),
            "earned_income": Decimal(0), "labor_capacity": _labor(rng, age, grade), "disability_grade": grade,
            "disability_type": rng.choice(DISABILITY_TYPES) if grade else None,
            "serious_illness": rng.random() < SERIOUSLY_ILL, "legally_incapacitated": False,
            "self_care_unmet_items": rng.randint(1, 6) if age >= 75 and rng.random() < 0.4 else 0,
            "support_mode": "centralized" if rng.random() < 0.1 else "dispersed",
            "supporters": _supporters(rng) if relation in ("applicant", "spouse", "parent") and age >= 55 else [],
            "resident_supporters": _resident(people, j), "disability_components": [],
            "student_stage": _stage(rng, age), "out_of_school": False,
            "wants_work": False, "hard_to_employ": False, "employed": False,
            "own_assets_within_limit": rng.random() < 0.9, "own_income_stable": rng.random() < 0.5,
            "event_hardship": False})
    _share_income(rng, members, total)
    receiving = None
    below = total < standard * size
    if below and rng.random() < RECEIVING_DIBAO or not below and rng.random() < 0.05:
        receiving = {"monthly_amount": _money(max(standard * size - total, Decimal(0))), "since": "2022-01-01",
                     "income_above_standard_since": None if below else date[:8] + "01",
                     "determined_income": total if below else None, "determined_size": size if below else None}
    for m in members:
        m["dibao_recipient"] = receiving is not None
        m["income_below_local_average"] = per_capita < standard * 2
        m["assets_within_low_income_limit"] = rng.random() < 0.85
    household = {
        "area": area, "assets_within_limit": rng.random() < 0.9, "income_stable": rng.random() < 0.5,
        "employment_assisted": receiving is not None and rng.random() < 0.1, "receiving_dibao": receiving,
        "last_check_date": None, "unsafe_housing": rng.random() < 0.03, "income_12m": total * 12,
        "rigid_expenditure_12m": {"living": _money(standard * size * 12 * Decimal("0.8")),
                                  "medical": (Decimal(rng.randrange(0, 3000000)) / 100 if rng.random() < 0.2
                                              else Decimal(0)),
                                  "education": Decimal(rng.randrange(0, 1000000)) / 100 if size > 2 else Decimal(0),
                                  "rehabilitation": Decimal(0), "other": Decimal(0)},
        "rigid_assets_within_limit": rng.random() < 0.85, "rigid_other_conditions_met": True,
        "members": members}
    request = {"locality": place["code"], "date": date, "household": household,
               "application": {"disputed": rng.random() < 0.05, "notice_objections": False}}
    if rng.random() < INCIDENT:
        request["incident"] = {
            "type": rng.choice(("emergency", "expenditure")), "severity": rng.randint(1, 3),
            "cost": Decimal(rng.randrange(50000, 3000000)) / 100, "case_by_case": False, "occurred_in": place["code"],
            "disposable_income_per_capita": per_capita * 12, "assets_within_limit": rng.random() < 0.9}
    return request


def _supporters(rng: random.Random) -> list[dict]:
    """Legal supporters living elsewhere (children of an older member): none for some."""
    return [{"age": rng.randint(25, 65), "tekun": False, "dibao": rng.random() < 0.2, "severe_disability": False,
             "intellectual_or_mental_grade3": False, "income_below_local_average": rng.random() < 0.4,
             "assets_within_low_income_limit": rng.random() < 0.6, "incapacitated_missing_or_imprisoned": False}
            for _ in range(rng.choices((0, 1, 2), weights=(35, 40, 25))[0])]


def _resident(people: list[tuple[str, int]], j: int) -> list[dict]:
    """Co-resident legal supporters of member j: a minor child's adult parents; an older parent's adult children."""
    relation, age = people[j]
    ids = []
    for k, (other, other_age) in enumerate(people):
        if k == j or other_age < 18:
            continue
        if relation == "child" and age < 18 and other in ("applicant", "spouse"):
            ids.append(f"m{k + 1}")
        elif relation == "parent" and other == "applicant":
            ids.append(f"m{k + 1}")
    return [{"member_id": i} for i in ids]


def _share_income(rng: random.Random, members: list[dict], total: Decimal) -> None:
    """The household's income: earned by the working-age members able to work, else a pension of the eldest."""
    earners = [m for m in members if 18 <= m["age"] < 60 and m["labor_capacity"] != "none"]
    if not earners:
        eldest = max(members, key=lambda m: m["age"])
        eldest["monthly_income"] = total
        return
    rest = total
    for m in earners[:-1]:
        part = _money(rest * Decimal(rng.randrange(30, 71)) / 100)
        m["monthly_income"] = m["earned_income"] = part
        rest -= part
    earners[-1]["monthly_income"] = earners[-1]["earned_income"] = rest
    for m in earners:
        m["employed"] = m["monthly_income"] > 0
        m["wants_work"] = not m["employed"]


def fill(module, request: dict, date: str) -> None:
    """Every fact `module` declares that `request` leaves out, given a neutral value (see _fill)."""
    plans = _plans(module, date)
    _fill(plans, request, None)


def _fill(plans: dict, value: dict, record: str | None) -> None:
    """Every declared fact the generator did not set gets a neutral value from its declaration (no, zero, the
    first choice, an empty list, the evaluation date), so results are decided in both versions."""
    defaults, records = plans[record]
    for fid in defaults.keys() - value.keys():
        default = defaults[fid]
        if default is not _LEAVE_OUT:
            value[fid] = default() if callable(default) else default
    for fid, sub in records:
        v = value.get(fid)
        if isinstance(v, dict):
            _fill(plans, v, sub)
        elif isinstance(v, list):
            for item in v:
                if isinstance(item, dict):
                    _fill(plans, item, sub)


_PLANS: dict = {}
_LEAVE_OUT = object()  # a fact whose absence means 无 (presence "none"): left out


def _plans(module, date: str) -> dict:
    """Per record type (None: the request): ({field id: default or a factory}, [(field id, record type)])."""
    key = (id(module), date)
    plans = _PLANS.get(key)
    if plans is not None and plans[0] is module:
        return plans[1]
    plans = {}
    for rid, fields in [(None, module.inputs)] + [(r.id, r.fields) for r in module.records.values()]:
        defaults, records = {}, []
        for f in fields:
            t = f.type[4:] if f.type.startswith("opt:") else f.type
            record = t[7:] if t.startswith("record:") else t[12:] if t.startswith("list:record:") else None
            default = _neutral(module, t, f, date) if f.presence != "none" else _LEAVE_OUT
            if isinstance(default, (list, dict)):
                default = list if isinstance(default, list) else dict
            defaults[f.id] = default
            if record is not None:
                records.append((f.id, record))
        plans[rid] = (defaults, records)
    if len(_PLANS) > 16:
        _PLANS.clear()
    _PLANS[key] = (module, plans)
    return plans


def _neutral(module, t: str, f, date: str):
    if f.type.startswith("opt:") and not t.startswith("record:"):
        return None
    if t.startswith("money") or t in ("number", "ratio", "percent"):
        return Decimal(0)
    if t in ("int", "count", "age", "months", "years"):
        return int(f.minimum) if f.minimum is not None else 0
    if t == "bool":
        return False
    if t.startswith("enum:"):
        return module.enums[t[5:]].members[0][0]
    if t == "date":
        return date
    if t.startswith("list:"):
        return []
    if t.startswith("record:"):
        return {}
    if t == "text":
        return "—"
    return None
