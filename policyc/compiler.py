"""The pipeline: load → validate → resolve localities → check → lower to IR. Backends read its result."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import ir
from .check.articles import Articles
from .check.checker import check_rules
from .check.params import Param, load_params
from .diagnostics import Reporter
from .load.project import Sources, load


@dataclass
class Compilation:
    sources: Sources
    articles: Articles
    params: dict[str, Param]
    module: ir.Module


def compile_policy(root: str | Path, reporter: Reporter) -> Compilation:
    """Run every stage; raises PolicyError after reporting when the policy set has errors."""
    sources = load(Path(root), reporter)
    articles = Articles(sources.manifest)
    params = load_params(sources.parameter_files, sources.manifest.data["jurisdiction"], articles, reporter)
    reporter.stop_if_errors()
    module = check_rules(sources.rule_files, params, articles, reporter)
    reporter.stop_if_errors()
    return Compilation(sources, articles, params, module)
