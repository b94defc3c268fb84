"""Witnesses of an impact run: for each program and kind of change (gained, lost, amount changed), the smallest
household that shows it (docs/impact.md "见证家庭").

The search starts from the thresholds in the IR: the parameters that comparisons read (directly or through the
definitions they compare), with their values in force at the locality and date in each version — those that
differ between the versions first — times the ratios read in the same comparison. Minimal households (1 member,
then 2, 3; a working-age adult, an older person, a person with a severe disability; urban and rural) get a
per-capita income just below, at and just above each threshold, both versions evaluate them, and the smallest
(fewest members, then lowest income) showing each change is kept. A change the search does not reach but the
population shows is witnessed by the population's own smallest household showing it."""
from __future__ import annotations

from decimal import Decimal

from .. import ir
from .impact_outcomes import status
from .synthetic import fill

COMPARISONS = {"lt", "le", "gt", "ge", "eq", "ne"}
MONEY = {"money", "money/month", "money/year"}
FACTORS = {"ratio", "percent", "number"}
CENT = Decimal("0.01")
MAX_LOCALITIES, MAX_INCOMES, SIZES = 1, 36, (1, 2, 3)
KINDS = ("gained", "lost", "amount_changed")

# (template name, [(relation, age, labor capacity, disability grade)] for 1, 2, 3 members)
TEMPLATES = (
    ("劳动年龄成年人", [("applicant", 40, "full", 0), ("spouse", 38, "full", 0), ("child", 10, "none", 0)]),
    ("老年人", [("applicant", 70, "none", 0), ("spouse", 68, "none", 0), ("child", 40, "full", 0)]),
    ("重度残疾人", [("applicant", 35, "none", 1), ("parent", 62, "partial", 0), ("parent", 60, "partial", 0)]),
)


def threshold_params(module: ir.Module, programs, params: dict) -> tuple[set[str], set[str]]:
    """(money parameters, ratio parameters) that comparisons in these programs read, through definitions too."""
    defs = {d.id: d for d in module.definitions}
    memo: dict = {}

    def reached(expr, depth=0) -> set[str]:
        out = set()
        for n in expr.walk():
            if isinstance(n.value, str) and n.value in params:
                out.add(n.value)
            elif n.op in ("def", "field") and n.value in defs and depth < 30:
                if n.value not in memo:
                    memo[n.value] = set()  # cycles cannot occur in checked IR; guard anyway
                    memo[n.value] = set().union(*(reached(e, depth + 1) for e in defs[n.value].expressions()))
                out |= memo[n.value]
        return out

    money, factors = set(), set()
    chosen = [p for p in module.programs if p.id in programs]
    for d in module.needed(chosen):
        for e in d.expressions():
            for n in e.walk():
                if n.op in COMPARISONS:
                    found = reached(n)
                    money |= {p for p in found if ir.strip_optional(params[p]["type"]) in MONEY}
                    factors |= {p for p in found if ir.strip_optional(params[p]["type"]) in FACTORS}
    return money, factors


def _monthly(pid: str, params: dict, value) -> Decimal | None:
    if not isinstance(value, Decimal | int):
        return None
    value = Decimal(value)
    return (value / 12).quantize(CENT) if params[pid]["type"] == "money/year" else value


def incomes(money: set[str], factors: set[str], values: tuple[dict, dict], params: dict) -> list[Decimal]:
    """Per-capita monthly incomes at and around each threshold; thresholds that differ between versions first."""
    first, rest = [], []
    ratios = {Decimal(1)}
    for pid in factors:
        for v in (values[0].get(pid), values[1].get(pid)):
            if isinstance(v, Decimal | int) and 0 < v <= 10:
                ratios.add(Decimal(v))
    for pid in sorted(money):
        a, b = _monthly(pid, params, values[0].get(pid)), _monthly(pid, params, values[1].get(pid))
        points = [v for v in (a, b) if v is not None]
        if a is not None and b is not None and a != b:
            points.append(((a + b) / 2).quantize(CENT))
        target = first if a != b else rest
        for v in points:
            for r in sorted(ratios):
                x = (v * r).quantize(CENT)
                target += [x - CENT, x, x + CENT]
    out = []
    for x in [Decimal(0)] + first + rest:
        if x >= 0 and x not in out:
            out.append(x)
    return out[:MAX_INCOMES]


def candidate(template, size: int, area: str, per_capita: Decimal, code: str, day: str, modules) -> dict:
    """A minimal, complete household: `size` members of the template, the applicant earning all the income."""
    members = []
    for j, (relation, age, labor, grade) in enumerate(template[1][:size]):
        members.append({"id": f"m{j + 1}", "relation": relation, "age": age, "labor_capacity": labor,
                        "monthly_income": Decimal(0), "earned_income": Decimal(0), "disability_grade": grade,
                        "disability_type": "physical" if grade else None, "serious_illness": False,
                        "legally_incapacitated": False, "supporters": [], "resident_supporters": [],
                        "own_assets_within_limit": True, "assets_within_low_income_limit": True,
                        "income_below_local_average": True, "support_mode": "dispersed"})
    total = per_capita * size
    members[0]["monthly_income"] = total
    if members[0]["labor_capacity"] != "none":
        members[0]["earned_income"] = total
        members[0]["employed"] = total > 0
    request = {"locality": code, "date": day, "household": {
        "area": area, "assets_within_limit": True, "income_stable": True, "employment_assisted": False,
        "receiving_dibao": None, "last_check_date": None, "income_12m": total * 12, "members": members,
        "rigid_expenditure_12m": {"living": Decimal(0), "medical": Decimal(0), "education": Decimal(0),
                                  "rehabilitation": Decimal(0), "other": Decimal(0)}},
        "application": {"disputed": False, "notice_objections": False}}
    for module in modules:
        fill(module, request, day)
    return request


def find_witnesses(run, specs, base, head, base_bundle, head_bundle, date, counts: dict, modules) -> list[dict]:
    """`counts`: the report's per-program counts; `modules`: both versions' IR. The search goes on (more
    members) while a change the population shows has no witness yet and the last round found a new one."""
    from .impact import compare
    programs = [p for p in run.programs if p in run.evaluated]
    if not programs:
        return []
    params = dict(base_bundle["parameters"], **head_bundle["parameters"])
    money, factors = set(), set()
    for module, bundle in zip(modules, (base_bundle, head_bundle)):
        m, f = threshold_params(module, programs, bundle["parameters"])
        money |= m
        factors |= f
    filling = modules[:1] if base_bundle["ir"] == head_bundle["ir"] else modules
    wanted = {(p, k) for p in programs for k in KINDS if counts[p][k]}
    found: dict = {}
    places = [(code, date or day) for code, day in _places(run)] if money else []
    pids = sorted(money | factors)
    before = -1
    for n, (code, day) in enumerate(places):
        va = base.call("params", [code], day, pids)[code]
        vb = head.call("params", [code], day, pids)[code]
        points = incomes(money, factors, (va, vb), params)
        for size in SIZES:
            if (n or size > 1) and (wanted <= found.keys() or len(found) == before):
                break  # every change the population shows is witnessed, or the last round found nothing new
            before = len(found)
            cands = list(((size, x * size, t, area), candidate(TEMPLATES[t], size, area, x, code, day, filling))
                         for x in points for t in range(len(TEMPLATES)) for area in ("urban", "rural"))
            cands.sort(key=lambda c: c[0])  # fewest members, lowest income first
            requests = [c[1] for c in cands]
            base.send("evaluate", requests, tuple(programs), None)
            head.send("evaluate", requests, tuple(programs), None)
            for (_, request), a, b in zip(cands, base.receive(), head.receive()):
                if a[0] != "ok" or b[0] != "ok":
                    continue
                for p in programs:
                    ch = compare(a[2].get(p), b[2].get(p))
                    for kind in KINDS:
                        if ch[kind] and (p, kind) not in found:
                            found[(p, kind)] = _witness(p, kind, "threshold", None, request, a[2].get(p),
                                                        b[2].get(p), specs, modules[1], head_bundle, a[1])
    _from_population(run, programs, specs, modules[1], head_bundle, found)
    order = {p: i for i, p in enumerate(run.programs)}
    return [found[k] for k in sorted(found, key=lambda k: (order[k[0]], KINDS.index(k[1])))]


def _places(run) -> list[tuple[str, str]]:
    """The localities to search in (those with most changed households, else most households), each with the
    date of its first household."""
    counts: dict = {}
    for i in run.counted:
        code = run.head_outcomes[i][1]
        changed = run.base_outcomes[i][2] != run.head_outcomes[i][2]
        n, day = counts.get(code, (0, run.head_outcomes[i][4]))
        counts[code] = (n + 1 + 1000 * changed, day)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(code, day) for code, (_, day) in ranked[:MAX_LOCALITIES] if isinstance(day, str)]


def _from_population(run, programs, specs, module, head_bundle, found: dict) -> None:
    from .impact import compare
    best: dict = {}
    for i in run.counted:
        a, b = run.base_outcomes[i], run.head_outcomes[i]
        size = b[3]
        for p in programs:
            ch = None
            for kind in KINDS:
                if (p, kind) in found:
                    continue
                if ch is None:
                    ch = compare(a[2].get(p), b[2].get(p))
                if ch[kind] and ((p, kind) not in best or size < best[(p, kind)][0]):
                    best[(p, kind)] = (size, i)
    rows = dict(zip((i for _, i in best.values()), run.fetch([i for _, i in best.values()]))) if best else {}
    for (p, kind), (_, i) in best.items():
        where, request = rows[i]
        a, b = run.base_outcomes[i], run.head_outcomes[i]
        found[(p, kind)] = _witness(p, kind, "population", where, request, a[2].get(p), b[2].get(p), specs,
                                    module, head_bundle, b[1])


def _labels(module) -> dict:
    return {f"{e.id}:{c}": label for e in module.enums.values() for c, label in e.members}


def describe(request: dict, module, jurisdictions: dict) -> str:
    """A household in a line of Chinese: 城市 2 人户（40岁 完全劳动能力；38岁 …），家庭月收入 1520 元."""
    labels = _labels(module)
    hh = request.get("household", {})
    members = hh.get("members", [])
    parts = []
    for m in members:
        text = f"{m.get('age')}岁 {labels.get('labor_capacity:' + str(m.get('labor_capacity')), '')}"
        if m.get("disability_grade"):
            text += f" {m['disability_grade']}级残疾"
        parts.append(text.strip())
    income = sum((m.get("monthly_income") or Decimal(0) for m in members), Decimal(0))
    area = labels.get(f"area:{hh.get('area')}", hh.get("area", ""))
    return f"{area}{len(members)}人户（{'；'.join(parts)}），家庭月收入{_yuan(income)}元"


def _yuan(x) -> str:
    x = Decimal(x)
    return str(int(x)) if x == x.to_integral_value() else format(x.normalize(), "f")


def _side(o, spec, names: dict) -> dict:
    side = {"eligible": False, "amount": Decimal(0)} if o is None else {"eligible": status(o[0]), "amount": o[1]}
    due = [k for k, v in (o[0] if o else ()) if k and v is True]
    if spec.referrals:  # "事项（成员 m1）"
        side["referrals_due"] = [names.get(k.split(":")[0], k.split(":")[0])
                                 + (f"（成员 {k.split(':', 1)[1]}）" if k.split(":", 1)[1] else "") for k in due]
    elif any(scope is not None for _, scope in spec.eligibility):
        side["eligible_members"] = due
    return side


def _witness(p, kind, source, where, request, a, b, specs, module, head_bundle, code) -> dict:
    jurisdictions = {j["code"]: j for j in head_bundle["jurisdictions"]}
    names = {d.key.removeprefix(f"{d.scope}.") if d.scope else d.key: d.name
             for d in module.definitions if d.kind == "referral"}
    return {"program": p, "program_name": specs[p].name, "kind": kind, "source": source, "where": where,
            "locality": {"code": code, "name": jurisdictions[code]["full_name"]}, "date": request.get("date"),
            "members": len(request["household"]["members"]),
            "description": describe(request, module, jurisdictions),
            "before": _side(a, specs[p], names), "after": _side(b, specs[p], names), "request": request}
