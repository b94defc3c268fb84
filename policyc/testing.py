"""Runs the example cases that live beside the rules (cases/*.yaml) against a compiled evaluator."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal

from .check.cases import path_keys
from .diagnostics import Reporter, Span
from .runtime.errors import InputError, LocalityError, RuntimeFault
from .runtime.evaluator import Evaluator
from .runtime.values import fmt_value


@dataclass
class CaseResult:
    name: str
    where: str
    failures: list[str]
    error: str | None = None
    decision: dict | None = field(default=None, repr=False)  # what the evaluator returned (for --update)
    relative: list[str] = field(default_factory=list)  # the case's relative inputs, written and resolved

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


def _span(where: str) -> Span:
    file, line, col = where.rsplit(":", 2)
    return Span(file, int(line), int(col))


def _same(expected, actual) -> bool:
    if isinstance(actual, _dt.date):
        return expected == actual.isoformat()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, Decimal)) and isinstance(actual, (int, Decimal)):
        return Decimal(expected) == Decimal(actual)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_same(e, a) for e, a in zip(expected, actual))
    return expected == actual


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return fmt_value(value, "number") if isinstance(value, Decimal) else str(value)


def _compare(expected, actual, path: str, failures: list[str]) -> None:
    """Partial comparison: only what the case lists is checked; `reasons` lists text fragments."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            failures.append(f"{path}：期望对象，实际 {_show(actual)}")
            return
        for key, value in expected.items():
            if key == "missing_facts":
                paths = sorted(f["path"] for f in actual.get("missing_facts") or [])
                if sorted(value or []) != paths:
                    failures.append(f"{path}.missing_facts：期望 {_show(sorted(value or []))}，实际 {_show(paths)}")
            elif key == "reasons":
                texts = " ".join(r["text"] for r in actual.get("reasons") or [])
                for fragment in value if isinstance(value, list) else [value]:
                    if str(fragment) not in texts:
                        failures.append(f"{path}.reasons 中没有“{fragment}”")
            else:
                _compare(value, actual.get(key), f"{path}.{key}", failures)
    elif not _same(expected, actual):
        failures.append(f"{path}：期望 {_show(expected)}，实际 {_show(actual)}")


def _referral_key(r: dict) -> str:
    """item_id@member=amount; an undecided referral (status unknown) ends its item with “?”."""
    key = r["item_id"] + (f"@{r['member']}" if r["member"] is not None else "")
    key += "?" if r.get("status") == "unknown" else ""
    return key + (f"={_show(r['amount'])}" if r["amount"] is not None else "")


def _compare_referrals(expected: list[str], actual: list[dict], failures: list[str]) -> None:
    """The exact set of referrals; an expected entry without =amount matches any amount."""
    got = [_referral_key(r) for r in actual]
    for want in expected:
        if not any(g == want or g.split("=")[0] == want for g in got):
            failures.append(f"referrals 中没有 {want}")
    for g in got:
        if not any(g == want or g.split("=")[0] == want for want in expected):
            failures.append(f"referrals 中多出 {g}")


def check_cases(ev: Evaluator, reporter: Reporter) -> None:
    """Static checks on the cases: names unique, expected outputs exist, overridden parameters exist."""
    outputs = {p.id: _output_keys(ev, p) for p in ev.module.programs}
    seen: dict[str, str] = {}
    for case in ev.bundle["cases"]:
        span = _span(case["defined_at"])
        if case["name"] in seen:
            reporter.add("E0605", span, case=case["name"], other=seen[case["name"]])
        seen[case["name"]] = case["defined_at"]
        for prog, fields in case["expect"].items():
            if prog == "referrals":
                continue
            for key in [prog] if prog not in outputs else [f"{prog}.{k}" for k in fields if k not in outputs[prog]]:
                reporter.add("E0603", span, case=case["name"], key=key,
                             available="、".join(f"{p}.{o}" for p, os in outputs.items() for o in os))
        for pid, value in case.get("parameters", {}).items():
            if pid not in ev.params:
                reporter.add("E0604", span, case=case["name"], id=pid, problem="不存在")
        try:
            ev.resolve_locality(case["locality"])
        except LocalityError as err:
            reporter.add("E0602", span, case=case["name"], locality=case["locality"], problem=err.problems[0][1])
        try:
            ev.convert({i.id: case[i.id] for i in ev.module.inputs if i.id in case})
        except InputError as err:
            for path, problem in err.problems:
                reporter.add("E0601", span, case=case["name"], path=path, problem=problem)


def _output_keys(ev: Evaluator, prog) -> list[str]:
    """The top-level keys of a program's output: outputs (first part of dotted keys), per-record containers."""
    defs = {d.id: d for d in ev.module.definitions}
    keys = []
    for oid in prog.outputs:
        d = defs[oid]
        if d.scope is None:
            keys.append(d.key.split(".")[0])
        else:
            keys.extend(f.id for r in ev.module.records.values() for f in r.fields
                        if f.type.endswith(f"list:record:{d.scope}"))
    return list(dict.fromkeys(keys + ["reasons", "missing_facts", "undecided"]))


def relative_lines(case: dict) -> list[str]:
    """Each relative input of a bundle case as `path：=written → value` (check/cases.py wrote them)."""
    out = []
    written = case.get("relative_inputs")
    for path, text in (written.items() if isinstance(written, dict) else ()):
        node = case
        try:
            for key in path_keys(path):
                node = node[key] if isinstance(key, int) else node.get(key)
        except (AttributeError, IndexError, KeyError, TypeError):
            node = "?"
        out.append(f"相对输入 {str(path).removeprefix('$.')}：{text} → {_show(node)}")
    return out


def run_case(ev: Evaluator, case: dict) -> CaseResult:
    result = CaseResult(case["name"], case["defined_at"], [], relative=relative_lines(case))
    request = {"locality": case["locality"], "date": case["date"]}
    request.update({i.id: case[i.id] for i in ev.module.inputs if i.id in case})
    try:
        decision = ev.evaluate(request, overrides=case.get("parameters"))
    except InputError as err:
        result.error = "输入有误：" + "；".join(f"{p}: {m}" for p, m in err.problems)
        return result
    except RuntimeFault as err:
        result.error = str(err)
        return result
    result.decision = decision
    for prog, fields in case["expect"].items():
        if prog == "referrals":
            _compare_referrals(fields, decision["referrals"], result.failures)
        else:
            _compare(fields, decision["programs"].get(prog), prog, result.failures)
    return result


def run_cases(ev: Evaluator, name_filter: str | None = None) -> list[CaseResult]:
    return [run_case(ev, case) for case in ev.bundle["cases"]
            if not name_filter or name_filter in case["name"]]
