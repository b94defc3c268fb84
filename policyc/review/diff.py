"""The semantic diff of two versions of a policy set, as data: what changed in parameters, rules, the
request/decision contract, programs, emergencies, localities, articles, cases and coverage, which handbooks
render differently, and the version bump it all requires. Reads two bundles, never sources; file positions
(`defined_at`) are ignored, so a base compiled in a temporary directory compares equal where nothing changed.

Like an edit script over two trees (sqlglot's diff.py), each part matches items by a stable key (parameter id and
jurisdiction and date, definition id, schema path, case name…) and lists them added, removed or changed; each
change carries the level (patch/minor/major) semver.py needs and the articles it belongs to."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import semver
from .diff_contract import ContractChange, diff_contract
from .diff_handbooks import Handbooks, diff_handbooks
from .diff_other import Change, diff_cases, diff_coverage, diff_other, normal
from .diff_params import ParamChange, diff_parameters
from .diff_rules import ASPECT_TEXT, RuleChange, diff_rules

AREA_TEXT = {"parameter": "参数", "rule": "规则", "contract": "契约", "program": "救助项目", "event": "突发事件",
             "jurisdiction": "地区", "article": "条款", "enum": "取值名称", "manifest": "政策集", "exception": "例外",
             "funding": "资金安排", "case": "示例案例", "coverage": "编码情况"}


@dataclass
class Diff:
    base_label: str
    head_label: str
    base_version: str
    head_version: str
    articles: dict[str, str]  # citation → heading (head's, then base's)
    parameters: list[ParamChange] = field(default_factory=list)
    rules: list[RuleChange] = field(default_factory=list)
    contract: list[ContractChange] = field(default_factory=list)
    other: list[Change] = field(default_factory=list)
    cases: list[Change] = field(default_factory=list)
    coverage: list[Change] = field(default_factory=list)
    handbooks: Handbooks = field(default_factory=Handbooks)

    def changes(self) -> list[tuple[str, object]]:
        """Every change with its area, in the order the levels are explained."""
        return ([("contract", c) for c in self.contract] + [("parameter", c) for c in self.parameters]
                + [("rule", c) for c in self.rules] + [(c.area, c) for c in self.other]
                + [("case", c) for c in self.cases] + [("coverage", c) for c in self.coverage])

    @property
    def empty(self) -> bool:
        return not self.changes()

    @property
    def required_bump(self) -> str:
        return semver.required(c.level for _, c in self.changes())

    def version_check(self) -> dict:
        need = self.required_bump
        ok, actual = semver.check(self.base_version, self.head_version, need)
        return {"base": self.base_version, "head": self.head_version, "required_bump": need,
                "actual_bump": actual, "ok": ok, "reason": self.reason(),
                "suggested": semver.next_version(self.base_version, need) if not ok and actual != "invalid"
                else None}

    def reason(self) -> str | None:
        """The first change that requires the bump, in words."""
        need = self.required_bump
        for area, c in self.changes():
            if c.level == need:
                return f"{AREA_TEXT.get(area, area)}：{describe(area, c)}"
        return None

    def to_json(self) -> dict:
        return {"version": self.version_check(), "base": self.base_label, "head": self.head_label,
                "parameters": [c.to_json() for c in self.parameters],
                "rules": [c.to_json() for c in self.rules],
                "contract": [c.to_json() for c in self.contract],
                "other": [c.to_json() for c in self.other],
                "cases": [c.to_json() for c in self.cases],
                "coverage": [c.to_json() for c in self.coverage],
                "handbooks": self.handbooks.to_json()}


def describe(area: str, c) -> str:
    if area == "rule":
        what = {"added": "新增", "removed": "删除", "changed": "改变"}[c.kind]
        return f"{what}“{c.name}”（{c.id}）" + (f"：{'、'.join(ASPECT_TEXT.get(a, a) for a in c.aspects)}改变" if c.aspects else "")
    return c.text


def diff_versions(base, head) -> Diff:
    """`base` and `head` are review.versions.Version (a label and a bundle)."""
    b, h = base.bundle, head.bundle
    articles = {normal(k): v for k, v in b["articles"].items()}
    articles.update({normal(k): v for k, v in h["articles"].items()})
    d = Diff(base.label, head.label, b["manifest"]["version"], h["manifest"]["version"], articles)
    d.parameters = diff_parameters(b, h)
    d.rules = diff_rules(b, h)
    d.contract = diff_contract(b, h)
    d.other = diff_other(b, h)
    d.cases = diff_cases(b, h, list(articles))
    d.coverage = diff_coverage(b, h)
    d.handbooks = diff_handbooks(b, h, d.parameters, d.rules, d.other + d.coverage)
    return d
