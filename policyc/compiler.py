"""The pipeline: load → validate → resolve localities → check → lower to IR. Backends read its result."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from .check.articles import Articles
from .check.cases import resolve_cases
from .check.checker import check_rules
from .check.constraints import Exception_, check_constraints, constraint_refs
from .check.events import load_events
from .check.funding import CAP_PARAM, check_funding
from .check.localities import LocalityFile, load_localities
from .check.params import Param, load_params
from .diagnostics import Reporter, Span
from .load.project import Sources, load


@dataclass
class Compilation:
    sources: Sources
    articles: Articles
    params: dict[str, Param]
    module: ir.Module
    exceptions: list[Exception_]
    events: list[dict]
    funding: list[dict]
    localities: dict[str, LocalityFile]
    chains: dict[str, list[str]]  # jurisdiction code -> itself, its city, the province
    cases: list[dict] = field(default_factory=list)  # example cases, relative inputs resolved (check/cases.py)


def compile_policy(root: str | Path, reporter: Reporter) -> Compilation:
    """Run every stage; raises PolicyError after reporting when the policy set has errors."""
    sources = load(Path(root), reporter)
    articles = Articles(sources.manifest)
    params = load_params(sources.parameter_files, sources.manifest.data["jurisdiction"], articles, reporter)
    reporter.stop_if_errors()
    province = sources.manifest.data["jurisdiction"]
    localities = load_localities(sources.locality_files, sources.jurisdictions, params, reporter)
    reporter.stop_if_errors()
    parents = {j.code: j.parent for j in sources.jurisdictions}
    chains = {code: _chain(code, parents) for code in parents}
    exceptions = check_constraints(sources.parameter_files, params, chains,
                                   {code: loc.exceptions for code, loc in localities.items()}, reporter)
    events = load_events(sources.event_files, sources.jurisdictions, params, articles, reporter)
    funding = check_funding(sources.funding_files, sources.jurisdictions, params, province, reporter)
    module, used = check_rules(sources.rule_files, params, articles, reporter)
    if not reporter.has_errors():  # after an error, uses inside the broken definitions are unknown
        _unused_parameters(params, used | constraint_refs(sources.parameter_files) | {CAP_PARAM}, reporter)
    cases = resolve_cases(sources, params, chains, events, module, reporter)
    reporter.stop_if_errors()
    return Compilation(sources, articles, params, module, exceptions, events, funding, localities, chains, cases)


def _unused_parameters(params: dict[str, Param], used: set[str], reporter: Reporter) -> None:
    for pid, p in params.items():
        if pid not in used:
            file, line, col = p.defined_at.rsplit(":", 2)
            reporter.add("W0301", Span(file, int(line), int(col)), id=pid)


def _chain(code: str | None, parents: dict) -> list[str]:
    out = []
    while code:
        out.append(code)
        code = parents[code]
    return out
