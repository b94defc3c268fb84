"""Runs the example cases that live beside the rules (cases/*.yaml) against a compiled evaluator."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .diagnostics import Reporter, Span
from .runtime.errors import InputError, RuntimeFault
from .runtime.evaluator import Evaluator
from .runtime.values import fmt_value


@dataclass
class CaseResult:
    name: str
    where: str
    failures: list[str]
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


def _span(where: str) -> Span:
    file, line, col = where.rsplit(":", 2)
    return Span(file, int(line), int(col))


def _same(expected, actual) -> bool:
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


def check_cases(ev: Evaluator, reporter: Reporter) -> None:
    """Static checks on the cases: names unique, expected outputs exist, overridden parameters exist."""
    outputs = {p.id: [o[len(p.id) + 1:] for o in p.outputs] + ["reasons"] for p in ev.module.programs}
    seen: dict[str, str] = {}
    for case in ev.bundle["cases"]:
        span = _span(case["defined_at"])
        if case["name"] in seen:
            reporter.add("E0605", span, case=case["name"], other=seen[case["name"]])
        seen[case["name"]] = case["defined_at"]
        for prog, fields in case["expect"].items():
            for key in [prog] if prog not in outputs else [f"{prog}.{k}" for k in fields if k not in outputs[prog]]:
                reporter.add("E0603", span, case=case["name"], key=key,
                             available="、".join(f"{p}.{o}" for p, os in outputs.items() for o in os))
        for pid, value in case.get("parameters", {}).items():
            if pid not in ev.params:
                reporter.add("E0604", span, case=case["name"], id=pid, problem="不存在")


def run_case(ev: Evaluator, case: dict) -> CaseResult:
    result = CaseResult(case["name"], case["defined_at"], [])
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
    for prog, fields in case["expect"].items():
        actual_prog = decision["programs"].get(prog, {})
        for key, expected in fields.items():
            actual = actual_prog.get(key)
            if key == "reasons":
                texts = " ".join(r["text"] for r in actual or [])
                for fragment in expected if isinstance(expected, list) else [expected]:
                    if str(fragment) not in texts:
                        result.failures.append(f"{prog}.reasons 中没有“{fragment}”")
                continue
            if not _same(expected, actual):
                result.failures.append(f"{prog}.{key}：期望 {_show(expected)}，实际 {_show(actual)}")
    return result


def run_cases(ev: Evaluator, name_filter: str | None = None) -> list[CaseResult]:
    return [run_case(ev, case) for case in ev.bundle["cases"]
            if not name_filter or name_filter in case["name"]]
