"""`policyc impact`: both versions over one population, compared per program and per locality (docs/impact.md).

Per program: households gaining and losing eligibility, households whose amount changed, the exact monthly cost
delta (Decimal 元, households whose amount is decided in both versions), households whose undecided results
changed; the same per locality; and witnesses (witnesses.py). Only programs whose definitions or parameters differ
are evaluated (impact_outcomes.changed_programs); the others are the same by construction and reported as such."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal

from .. import ir
from ..runtime.locality import LocalityIndex
from .impact_outcomes import program_specs, status
from .impact_sides import LocalSide, ProcessSide, SideError
from .population import MAX_LISTED, Population, PopulationError
from .synthetic import ANCHORS, SyntheticError, localities

COUNTS = ("gained", "lost", "amount_changed", "undecided_changed")
KINDS = ("gained", "lost", "amount_changed")


class ImpactError(Exception):
    """Bad usage or input of an impact run (exit 2): an unknown locality, a population that cannot be used."""


@dataclass
class Run:
    """What one run compared: the raw material of the report and of the witnesses."""

    size: int  # households in the population (all of them; `counted` are those compared)
    seed: int | None
    source: str
    base_outcomes: list  # per household: ("ok", locality code, {program: outcome}, members, date)
    head_outcomes: list
    counted: list[int]  # indices of the households compared (in --locality, when given)
    programs: list[str]  # every program, in the head's order, then those only the base has
    evaluated: set[str]
    fetch: object = None  # indices -> [(where, request)] from the head's side
    timings: dict = field(default_factory=dict)


def _counters() -> dict:
    c = {k: 0 for k in COUNTS}
    c["monthly_cost_delta"] = Decimal(0)
    return c


def _absent() -> tuple:
    return (), Decimal(0), ()  # a program a version does not have: not eligible, nothing paid, nothing undecided


def compare(a: tuple | None, b: tuple | None) -> dict:
    """The changes between two outcomes of one household in one program. `amount_changed`: the amount differs
    for a household that neither gained nor lost eligibility; `delta` (for the monthly cost) counts every
    household whose amount is decided in both versions, gained and lost ones too."""
    a, b = a or _absent(), b or _absent()
    ea, eb = dict(a[0]), dict(b[0])
    gained = [k for k in ea.keys() | eb.keys() if ea.get(k, False) is False and eb.get(k, False) is True]
    lost = [k for k in ea.keys() | eb.keys() if ea.get(k, False) is True and eb.get(k, False) is False]
    delta = b[1] - a[1] if a[1] is not None and b[1] is not None else None
    return {"gained": bool(gained), "lost": bool(lost), "members_gained": sum(k != "" for k in gained),
            "members_lost": sum(k != "" for k in lost), "amount_changed": bool(delta) and not gained and not lost,
            "delta": delta or Decimal(0), "undecided_changed": a[2] != b[2]}


def run_impact(base_loader, head_loader, *, population=None, synthetic: int | None = None, seed: int = 0,
               date: str | None = None, locality: str | None = None, processes: bool = True,
               witnesses: bool = True) -> dict:
    """Loads both versions (each a callable returning a Version: versions.load_version), runs them over the
    population (a file path, a Population, or a synthetic one of `synthetic` households) and returns the report
    (JSON-ready, Decimals; `timings` in seconds per phase). `processes`: True one process per version, False
    both in this process, "auto" the former when two cores are free."""
    t0, c0 = time.perf_counter(), time.process_time()
    if processes == "auto":
        processes = free_cores() >= 2
    if processes and "fork" not in multiprocessing.get_all_start_methods():
        processes = False  # the sides are forked (their loaders need not pickle); without fork, one process
    Side = ProcessSide if processes else LocalSide
    base = head = None
    done = False
    try:
        base, head = Side(base_loader), Side(head_loader)
        base_bundle, head_bundle = base.bundle, head.bundle
        timings = {"load": time.perf_counter() - t0}
        report = _run(base, head, base_bundle, head_bundle, population, synthetic, seed, date, locality, witnesses,
                      timings)
        timings["total"] = time.perf_counter() - t0
        report["timings"] = {k: round(v, 3) for k, v in timings.items()}
        report["timings"]["cpu"] = {"base": base.call("stats"), "head": head.call("stats"),
                                    "main": {"total": time.process_time() - c0}}
        done = True
        return report
    finally:
        for side in (base, head):
            if side is not None:
                side.close(wait=done)  # after an error or Ctrl-C, a side still computing is stopped at once


def free_cores() -> float:
    """Cores not busy over the last minute (by the load average). Two processes of one command only help when
    two cores are free: where the kernel shares CPU per session and others keep the cores busy, one process
    gets as much (benchmarks/README.md)."""
    try:
        return (os.cpu_count() or 1) - os.getloadavg()[0]
    except OSError:
        return 0.0


def _within(index: LocalityIndex, locality: str | None) -> dict | None:
    if locality is None:
        return None
    code, others = index.resolve(locality)
    if code is None:
        what = "有多个同名地区" if index.is_ambiguous(locality) else "未知的地区"
        raise ImpactError(f"--locality：{what}“{locality}”" + (f"（{'、'.join(others)}）" if others else ""))
    return index.by_code[code]


def _source(base, base_bundle, head_bundle, population, synthetic, seed, day, within) -> tuple:
    """What each side loads: the file, the given population, or the synthetic one's recipe (with the 低保
    standards in force in the base version, read once here, so both sides draw the same households)."""
    if isinstance(population, Population):
        return ("given", population)
    if population is not None:
        return ("file", str(population))
    if synthetic is None:
        raise ImpactError("请给出 --population FILE 或 --synthetic N")
    codes = [j["code"] for j in localities(base_bundle["jurisdictions"], within)]
    values = base.call("params", codes, day, list(ANCHORS.values()))
    anchors = {}
    for code in codes:
        found = {area: values[code][pid] for area, pid in ANCHORS.items()}
        missing = [ANCHORS[a] for a, v in found.items() if v is None]
        if missing:
            raise ImpactError(f"{code} 在 {day} 没有参数 {'、'.join(missing)} 的取值，无法按低保标准生成收入")
        anchors[code] = found
    return ("synthetic", synthetic, seed, day, within, anchors, base_bundle["jurisdictions"],
            (base_bundle["ir"], head_bundle["ir"]))


def _load(base, head, source) -> tuple:
    if isinstance(base, LocalSide) and isinstance(head, LocalSide) and source[0] != "given":
        loaded = base.call("load_population", source)  # one process: read or generate once, share it
        head.call("load_population", ("given", base.population))
        return loaded
    base.send("load_population", source)
    head.send("load_population", source)
    try:
        loaded = base.receive()
    finally:
        loaded_head = head.receive()
    if loaded != loaded_head:  # e.g. the file changed between the two reads: comparing them would be wrong
        raise ImpactError(f"两个版本读到的人口不一致（{loaded[0]} 户与 {loaded_head[0]} 户），请重试")
    return loaded


def _run(base, head, base_bundle, head_bundle, population, synthetic, seed, date, locality, witnesses,
         timings) -> dict:
    from .impact_outcomes import changed_programs
    t = time.perf_counter()
    index = LocalityIndex(head_bundle["jurisdictions"])
    within = _within(index, locality)
    base_module, head_module = ir.Module.from_json(base_bundle["ir"]), ir.Module.from_json(head_bundle["ir"])
    if date is not None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
                raise ValueError(date)
            dt.date.fromisoformat(date)
        except ValueError:
            raise ImpactError(f"--date：“{date}”不是日期 YYYY-MM-DD") from None
    day = date or dt.date.today().isoformat()
    source = _source(base, base_bundle, head_bundle, population, synthetic, seed, day,
                     within["code"] if within else None)
    try:
        size, seed_used, source_name = _load(base, head, source)
    except SyntheticError as err:
        raise ImpactError(str(err)) from None
    timings["population"] = time.perf_counter() - t
    evaluated = changed_programs(base_bundle, head_bundle, (base_module, head_module))
    order = [p.id for p in head_module.programs] + [p.id for p in base_module.programs
                                                    if p.id not in {q.id for q in head_module.programs}]
    t = time.perf_counter()
    programs = tuple(p for p in order if p in evaluated)
    base.send("evaluate_population", programs, date)
    head.send("evaluate_population", programs, date)
    outcomes_a, outcomes_b = base.receive(), head.receive()
    timings["evaluate"] = time.perf_counter() - t
    invalid = [line for o in outcomes_b if o[0] == "error" for line in o[1]]
    invalid += [f"{line}（基线版本 {base.label}）" for oa, ob in zip(outcomes_a, outcomes_b)
                if oa[0] == "error" and ob[0] != "error" for line in oa[1]]
    if invalid:
        raise PopulationError(invalid[:MAX_LISTED], total=len(invalid))
    counted = [i for i, o in enumerate(outcomes_b) if within is None or within["code"] in index.chain(o[1])]
    run = Run(size, seed_used, source_name, outcomes_a, outcomes_b, counted, order, evaluated,
              fetch=lambda indices: head.call("requests", list(indices)), timings=timings)
    t = time.perf_counter()
    specs = program_specs(head_module)
    specs.update({k: v for k, v in program_specs(base_module).items() if k not in specs})
    report = _report(run, specs, index, base, head, base_bundle, head_bundle, date, within)
    timings["compare"] = time.perf_counter() - t
    if witnesses:
        from .witnesses import find_witnesses
        t = time.perf_counter()
        report["witnesses"] = find_witnesses(run, specs, base, head, base_bundle, head_bundle, date,
                                             report["programs"], (base_module, head_module))
        timings["witnesses"] = time.perf_counter() - t
    else:
        report["witnesses"] = []
    return report


def _version(side, bundle) -> dict:
    m = bundle["manifest"]
    return {"label": side.label, "version": m["version"], "sha256": m["sha256"]}


def _report(run: Run, specs, index, base, head, base_bundle, head_bundle, date, within) -> dict:
    programs, places = {}, {}
    for p in run.programs:
        spec = specs[p]
        c = _counters()
        c.update({"name": spec.name, "evaluated": p in run.evaluated, "monthly": spec.monthly,
                  "amount_outputs": [k if s is None else f"{s}.{k}" for k, s in spec.amounts]
                  + [f"referral:{item}" for item in sorted(spec.referral_amounts)]})
        if any(s is not None for _, s in spec.eligibility):
            c.update(members_gained=0, members_lost=0)
        c.update(eligible_base=0, eligible_head=0, monthly_cost_base=Decimal(0), monthly_cost_head=Decimal(0))
        programs[p] = c
    evaluated = [p for p in run.programs if p in run.evaluated]
    monthly = {p: specs[p].monthly for p in evaluated}
    for i in run.counted:
        a, b = run.base_outcomes[i], run.head_outcomes[i]
        code = b[1]
        place = places.setdefault(code, {"households": 0, "programs": {}})
        place["households"] += 1
        for p in evaluated:
            oa, ob = a[2].get(p), b[2].get(p)
            c = programs[p]
            for side, o in (("base", oa), ("head", ob)):
                if o is not None:
                    c[f"eligible_{side}"] += status(o[0]) is True
                    if monthly[p] and o[1] is not None:
                        c[f"monthly_cost_{side}"] += o[1]
            if oa == ob:
                continue
            ch = compare(oa, ob)
            for k in COUNTS:
                c[k] += ch[k]
            if "members_gained" in c:
                c["members_gained"] += ch["members_gained"]
                c["members_lost"] += ch["members_lost"]
            if monthly[p]:
                c["monthly_cost_delta"] += ch["delta"]
            if any(ch[k] for k in COUNTS):
                lc = place["programs"].setdefault(p, _counters())
                for k in COUNTS:
                    lc[k] += ch[k]
                if monthly[p]:
                    lc["monthly_cost_delta"] += ch["delta"]
    for c in programs.values():
        if not c["monthly"]:
            for k in ("monthly_cost_delta", "monthly_cost_base", "monthly_cost_head"):
                c[k] = None
        if not c["evaluated"]:
            for k in ("eligible_base", "eligible_head", "monthly_cost_base", "monthly_cost_head"):
                c[k] = None
    rows = []
    for code, place in places.items():
        for p, lc in place["programs"].items():
            if not specs[p].monthly:
                lc["monthly_cost_delta"] = None
        changed = sum(lc[k] for lc in place["programs"].values() for k in COUNTS)
        rows.append({"code": code, "name": index.by_code[code]["full_name"], "households": place["households"],
                     "changed": changed, "programs": place["programs"]})
    rows.sort(key=lambda r: (-r["changed"], r["code"]))
    first = next((o[4] for o in run.head_outcomes if o[0] == "ok"), None)
    return {"base": _version(base, base_bundle), "head": _version(head, head_bundle),
            "population": {"size": len(run.counted), "seed": run.seed, "source": run.source,
                           "date": date or (first if run.source == "synthetic" else None)},
            "locality": {"code": within["code"], "name": within["full_name"]} if within else None,
            "programs": programs, "localities": rows}


__all__ = ["run_impact", "ImpactError", "PopulationError", "SideError", "compare", "KINDS"]
