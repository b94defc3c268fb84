"""Evaluates requests against a loaded bundle: household in, decision out, with reasons and a parameter trace."""
from __future__ import annotations

import bisect
import datetime as _dt
import decimal
import re
from decimal import Decimal
from pathlib import Path

from .. import ir
from . import jsonio, notice_block, values
from .bundle import read_bundle, verify
from .codegen_rules import RulesCodegen
from .errors import BundleError, InputError, LocalityError, RuntimeFault
from .inputs import HELPERS, MISSING, Collected, InputCodegen, render_path
from .inputs import absent_value as absent
from .partial import PartialEvaluator
from .locality import LocalityIndex
from .pysource import compile_audited
from .validate import MalformedBundle, check_bundle


class _Frozen(dict):
    """A trace entry shared by every decision made at the same place and date: read-only."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("trace entries are shared between decisions and cannot be changed; copy with dict(entry)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse


# Decisions never depend on the caller's decimal context: every evaluation runs in this one.
_CONTEXT = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999,
                           traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
_INDEX = re.compile(r"\[\d+\]")
_STEP = re.compile(r"\.([a-z_][a-z0-9_]*)|\[(\d+)\]")

_INHERIT = object()  # a city or county value that defers to the level above from its date on


class EvaluationError(RuntimeFault):
    """The request is well-formed but cannot be decided (e.g. no parameter value on that date)."""

    code = "R0301"


def _unique(conds, results, default):
    hits = [r for c, r in zip(conds, results) if c]
    if len(hits) > 1:
        raise EvaluationError("决策表声明为“唯一”命中，但有多行同时满足")
    return hits[0] if hits else default


_RULE_GLOBALS = {
    "Decimal": Decimal, "_date": _dt.date, "ZERO": values.ZERO, "add_months": values.add_months,
    "round_money": values.round_money, "fmt_number": values.fmt_number, "lookup": values.lookup_brackets, "fmt_value": values.fmt_value,
    "money_out": values.money_out, "unique": _unique,
}


def _runtime_value(ptype: str, value):
    """A parameter value as the evaluator computes with it."""
    if value is None:
        return None
    if ptype == "percent":
        return Decimal(value) / 100
    if ptype.startswith("table:"):
        return tuple((Decimal(b), Decimal(v)) for b, v in value)
    if ptype in ("int", "count", "age", "months", "years"):
        return int(value)
    if ptype.startswith("enum:"):
        return value
    return Decimal(value)


class Evaluator:
    """Compiled once from a bundle; `evaluate` is then cheap and thread-safe."""

    CACHE_LIMIT = 4096
    signer: str | None = None  # the key id that verified the bundle, when loaded with keys (runtime.load)

    def __init__(self, bundle: dict, verified: bool = False):
        if not verified:
            verify(bundle)
        check_bundle(bundle)  # before anything is generated from it: the hash alone proves nothing
        try:
            self._build(bundle)
        except BundleError:
            raise
        except Exception as err:  # a shape the check let through but the generators cannot use: still refused
            raise MalformedBundle(f"规则包的内容无法编译为评估器（{type(err).__name__}：{str(err)[:200]}）") from None

    def _build(self, bundle: dict) -> None:
        self.bundle = bundle
        m = bundle["manifest"]
        self.bundle_info = {"id": m["id"], "version": m["version"], "sha256": m["sha256"]}
        self.module = ir.Module.from_json(bundle["ir"])
        self.articles = bundle["articles"]
        self.jurisdictions = {j["code"]: j for j in bundle["jurisdictions"]}
        self.localities = LocalityIndex(bundle["jurisdictions"])
        self._chains = {code: self.localities.chain(code) for code in self.jurisdictions}
        self.params = bundle["parameters"]
        self._timelines = {}
        for pid, p in self.params.items():
            for code, entries in p["timelines"].items():
                starts = [_dt.date.fromisoformat(e["from"]) for e in entries]
                vals = [_INHERIT if e.get("inherit") else None if e.get("end") else _runtime_value(p["type"], e["value"])
                        for e in entries]
                self._timelines[(pid, code)] = (starts, vals, entries)
        self._cache: dict = {}
        self._trace_json: dict = {}
        self.events = sorted(bundle.get("events", []), key=lambda e: (e["from"], e["id"]))
        self._program_params = sorted({pid for prog in self.module.programs for pid in prog.parameters})
        rules = RulesCodegen(self.module)
        self.rules_source = rules.generate()
        self.inputs_source = InputCodegen(self.module).generate()
        names = {code: j["full_name"] for code, j in self.jurisdictions.items()}
        self._rule_globals = dict(_RULE_GLOBALS, locality_name=lambda code: None if code is None
                                  else names.get(code, code))
        self._evaluate = self._compile(self.rules_source, dict(self._rule_globals), "evaluate", "<policyc rules>")
        self.program_ids = [p.id for p in self.module.programs]
        self._variants: dict = {None: (self._evaluate, self._program_params, None)}
        self._convert = self._compile(self.inputs_source, dict(HELPERS, locality=self._locality_input), "convert",
                                      "<policyc inputs>")
        self._has_requirements = any(r.requirements for r in self.module.records.values())
        self.requirements_source = RulesCodegen(self.module).requirements()
        self._may_break = self._compile(self.requirements_source, dict(self._rule_globals), "evaluate",
                                        "<policyc requirements>")
        self._order = {p.id: i for i, p in enumerate(self.module.programs)}
        self._partial = PartialEvaluator(self.module, self._rule_globals["locality_name"])
        self._reads: dict = {}  # program id → the request fields it reads (computed on the first partial request)
        self._explainer = None  # made on the first `explain`

    @staticmethod
    def _compile(source: str, namespace: dict, name: str, filename: str):
        return compile_audited(source, namespace, name, filename)

    @classmethod
    def from_file(cls, path: str | Path) -> "Evaluator":
        return cls(read_bundle(path), verified=True)

    # ── localities and parameters ──────────────────────────────────────────────────────
    def resolve_locality(self, value, path: str = "$.locality") -> dict:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise LocalityError([(path, "应为 6 位行政区划代码或地名")])
        code, others = self.localities.resolve(value)
        if code is not None:
            return self.jurisdictions[code]
        if self.localities.is_ambiguous(value):
            raise LocalityError([(path, f"“{value}”有多个同名地区：{'、'.join(others)}；请使用代码或完整名称")])
        hint = f"，是否指：{'、'.join(others)}？" if others else ""
        raise LocalityError([(path, f"未知的地区“{value}”{hint}")])

    def _locality_input(self, x, path, key, errs, mode="req", lo=None, hi=None):
        """A request field of type 地区: a code or a name, checked and given as its 6-digit code."""
        if x is MISSING or x is None:
            return absent(x, path, key, errs, mode, "locality")
        try:
            return self.resolve_locality(x, "")["code"]
        except LocalityError as err:
            errs.append(((path, key), err.problems[0][1]))
            return None

    def _reader(self, day: _dt.date, reads: list):
        """地区参数 for one request: a parameter's value at another locality that day (with that place's own
        settings and any emergency in force there), noting each value read for the trace."""
        def param_at(pid: str, code: str):
            found, entries = self.params_at(code, day)[:2]
            if pid not in found:
                raise EvaluationError(f"{self.jurisdictions[code]['full_name']} 在 {day.isoformat()} 没有参数"
                                      f"“{self.params[pid]['name']}”（{pid}）的有效取值")
            reads.append((pid, code, entries[pid]))
            return found[pid]
        return param_at

    def _traced_reads(self, reads: list) -> list[dict]:
        out, seen = [], set()
        for pid, code, entry in reads:
            if (pid, code) not in seen:
                seen.add((pid, code))
                out.append(dict(self.describe(pid, entry),
                                at={"code": code, "name": self.jurisdictions[code]["full_name"]}))
        return out

    def chain(self, code: str) -> list[str]:
        return self._chains[code]

    def params_at(self, code: str, day: _dt.date) -> tuple[dict, dict, tuple, str | None]:
        """Every parameter's value at a locality on a day (the nearest level with a value in force wins, then
        any emergency in force there raises it), the entries they come from, the trace of the ones the programs
        read, and the emergency's name. Cached per (locality, day)."""
        key = (code, day)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        chain = self.chain(code)
        found_values, found_entries = {}, {}
        for pid in self.params:
            for level in chain:
                tl = self._timelines.get((pid, level))
                if tl is None:
                    continue
                i = bisect.bisect_right(tl[0], day) - 1
                if i < 0 or tl[1][i] is _INHERIT:
                    continue
                if tl[1][i] is not None:
                    found_values[pid] = tl[1][i]
                    found_entries[pid] = tl[2][i]
                break
        events = [e for e in self.events if e["from"] <= day.isoformat() <= e["to"]
                  and any(c in e["localities"] for c in chain)]
        for event in events:
            self._apply_event(event, found_values, found_entries)
        result = (found_values, found_entries, tuple(self._trace_items(found_entries)),
                  "、".join(e["name"] for e in events) or None)
        if len(self._cache) >= self.CACHE_LIMIT:
            self._cache.clear()
            self._trace_json.clear()
        self._cache[key] = result
        return result

    def _apply_event(self, event: dict, values_: dict, entries: dict) -> None:
        """An emergency's temporary rises (二(四)16): each adds to or sets a parameter for its period."""
        for pid, change in event["changes"].items():
            entry = entries.get(pid)
            if entry is None:
                continue
            base = Decimal(entry["value"])
            new = base + Decimal(change["add"]) if "add" in change else Decimal(change["set"])
            entries[pid] = dict(entry, value=new, base_value=entry["value"],
                                event={"id": event["id"], "name": event["name"], "from": event["from"],
                                       "to": event["to"], "defined_at": event["defined_at"],
                                       "illustrative": bool(event.get("illustrative", True))})
            values_[pid] = _runtime_value(self.params[pid]["type"], new)

    def describe(self, pid: str, entry: dict) -> dict:
        """One parameter value with where it comes from: the form of traces and of `policyc params`."""
        p = self.params[pid]
        item = {"id": pid, "name": p["name"], "value": entry["value"], "unit": p["unit"],
                "effective_from": entry["from"], "jurisdiction": entry["jurisdiction"],
                "level": entry.get("level", "province"),
                "illustrative": entry["illustrative"],
                "provenance": entry.get("source") or {"illustrative": True, "note": "示例值，无正式来源"},
                "citation": p["citation"], "defined_at": entry["defined_at"]}
        if p.get("choices"):
            item["label"] = p["choices"][entry["value"]]
        if "event" in entry:
            item["event"] = entry["event"]
            item["base_value"] = entry["base_value"]
            if entry["event"].get("illustrative", True):  # a value raised by an illustrative event is illustrative
                item["illustrative"] = True
        return item

    def _trace_items(self, entries: dict):
        return (_Frozen(self.describe(pid, entries[pid])) for pid in self._program_params if pid in entries)

    def _override(self, values_: dict, entries: dict, overrides: dict, day: _dt.date) -> tuple[dict, dict]:
        values_, entries = dict(values_), dict(entries)
        for pid, value in overrides.items():
            p = self.params.get(pid)
            if p is None:
                raise InputError([(f"parameters.{pid}", "没有这个参数")])
            try:
                values_[pid] = _runtime_value(p["type"], value)
            except (ArithmeticError, TypeError, ValueError):
                raise InputError([(f"parameters.{pid}", f"取值 {value!r} 不符合参数类型")]) from None
            if p.get("choices") and value not in p["choices"]:
                raise InputError([(f"parameters.{pid}", f"应为 {'、'.join(p['choices'])} 之一")])
            entries[pid] = {"from": day.isoformat(), "value": value, "jurisdiction": "case", "level": "case",
                            "illustrative": True, "defined_at": "案例临时取值"}
        return values_, entries

    def evaluate_json(self, request, locality=None, date=None, programs=None) -> str:
        """The decision as compact JSON text: for services that answer over the wire. The trace, the same for
        every request at a place and date that read the same values, is serialised once and reused."""
        decision = self.evaluate(request, locality, date, programs=programs)
        trace = decision.pop("trace")
        key = (decision["locality"]["code"], decision["date"],  # the place and date fix every value traced
               tuple((t["id"], t["at"]["code"] if "at" in t else None) for t in trace))
        text = self._trace_json.get(key)
        if text is None:
            text = jsonio.dumps(trace, indent=None)
            if len(self._trace_json) >= self.CACHE_LIMIT:
                self._trace_json.clear()
            self._trace_json[key] = text
        head = jsonio.dumps_wire(decision)
        return f'{head[:-1]},"trace":{text}}}'

    # ── evaluation ──────────────────────────────────────────────────────────────────
    def convert(self, request) -> dict:
        """The request as typed values; facts it leaves out are `Unknown` values (runtime/unknown.py)."""
        return self._convert_request(request)[0]

    def _convert_request(self, request) -> tuple[dict, list[str]]:
        if not isinstance(request, dict):
            raise InputError([("$", "请求应为 JSON 对象")])
        errs = Collected()
        converted = self._convert(request, errs)
        known = {"locality", "date"} | {i.id for i in self.module.inputs}
        if notice_block.KEY not in known:  # who issues the notice (notice_block.py): checked, never a fact
            notice_block.check(request.get(notice_block.KEY), errs)
            known.add(notice_block.KEY)
        for k in request:
            if k not in known:
                errs.append((("$", k), "未知字段（请检查拼写）"))
        if errs:
            raise InputError([(render_path(p), m) for p, m in errs])
        return converted, errs.unknown

    def fact_name(self, path: str, request: dict) -> str:
        """A request path in words: $.household.members[0].support_mode → 申请家庭·成员 m1·供养方式."""
        names: list[str] = []
        t, value = None, request
        for field, index in _STEP.findall(path[1:]):
            if index:
                value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
                ident = value.get("id") if isinstance(value, dict) else None
                names[-1] += f" {ident}" if isinstance(ident, str) else f"第{int(index) + 1}项"
                t = t[5:] if t and t.startswith("list:") else t
                continue
            if t is None:
                f = next((i for i in self.module.inputs if i.id == field), None)
            else:
                rec = self.module.records.get(ir.strip_optional(t)[7:])
                f = rec.field(field) if rec else None
            if f is None:
                names.append(field)
                break
            names.append(f.name)
            t = ir.strip_optional(f.type)
            value = value.get(field) if isinstance(value, dict) else None
        return "·".join(names)

    @staticmethod
    def _facts(paths, order: dict, described: dict) -> list[dict]:
        return [dict(described[p]) for p in sorted(paths, key=order.__getitem__)]

    def _finish_partial(self, results: dict, referrals: list, unknown: list[str], request: dict):
        """Turns the interpreter's dependency sets into `missing_facts` lists, in the order of the request."""
        order = {p: i for i, p in enumerate(unknown)}
        described = {p: {"path": p, "name": self.fact_name(p, request)} for p in unknown}  # each named once
        every: set = set()
        for prog in results.values():
            for value in prog.values():
                if isinstance(value, dict):
                    for member in value.values():
                        if isinstance(member, dict) and "_missing" in member:
                            member["missing_facts"] = self._facts(member.pop("_missing"), order, described)
                            member["undecided"] = member.pop("_undecided")
            missing = prog.pop("_missing")
            every |= missing
            prog["missing_facts"] = self._facts(missing, order, described)
            prog["undecided"] = prog.pop("_undecided")
        for ref in referrals:
            missing = ref.pop("_missing")
            every |= missing
            ref["missing_facts"] = self._facts(missing, order, described)
        return self._facts(every, order, described)

    def _may_break_safely(self, inputs, values_, day, code) -> bool:
        """The compiled check of the 要求 (complete requests): True when the interpreter must say which."""
        try:
            return self._may_break(inputs, values_, day, code, None, None)
        except (ArithmeticError, TypeError, KeyError):
            return True

    def _variant(self, programs):
        """The evaluation function, parameters and trace filter for a subset of programs (compiled once)."""
        key = None if programs is None else tuple(sorted(set(programs)))
        hit = self._variants.get(key)
        if hit is not None:
            return hit
        if not key:  # an empty selection would answer with an empty decision, as if nothing applied
            raise InputError([("programs", f"至少选择一个程序（可用：{'、'.join(self.program_ids)}）")])
        unknown = [p for p in key if p not in self.program_ids]
        if unknown:
            raise InputError([("programs", f"没有程序 {'、'.join(unknown)}（可用：{'、'.join(self.program_ids)}）")])
        gen = RulesCodegen(self.module)
        source = gen.generate(key)
        function = self._compile(source, dict(self._rule_globals), "evaluate", f"<policyc rules {'+'.join(key)}>")
        params = sorted({pid for p in self.module.programs if p.id in key for pid in p.parameters})
        variant = (function, params, frozenset(params))
        self._variants[key] = variant
        return variant

    def _mixed(self, inputs, values_, day, code, event, programs, unknown, request, at):
        """A request with unknown facts: the programs that read none of them run compiled, the others in the
        interpreter; results and referrals in the order a single evaluation gives them."""
        keys = {_INDEX.sub("", p[2:]) for p in unknown}
        selected = [p for p in self.program_ids if programs is None or p in programs]
        if not self._reads:
            self._reads = {p.id: self._partial.reads(p) for p in self.module.programs}
        dirty = [p for p in selected if not keys.isdisjoint(self._reads[p])]
        clean = [p for p in selected if p not in dirty]
        results, referrals, used = {}, [], set()
        if clean:
            results, referrals, used = self._variant(clean)[0](inputs, values_, day, code, event, at)
        interpreter = self._partial.fork(at)
        partial, more = interpreter.evaluate(inputs, values_, day, code, event, set(dirty))
        missing = self._finish_partial(partial, more, unknown, request)
        results.update(partial)
        referrals = sorted(referrals + more, key=lambda r: self._order[r["program"]])
        return {p: results[p] for p in selected}, referrals, missing, used | interpreter.used

    def explain(self, request, locality=None, date=None, programs=None, flips: bool = True) -> dict:
        """The decision with `explanation`: for each output its derivation (rule → values → facts and
        parameters → articles) and, for each yes/no output, the changes of one fact that would change it, each
        checked by evaluating the changed request (`explain.py`)."""
        decision = self.evaluate(request, locality, date, programs=programs)
        if self._explainer is None:
            from .explain import Explainer
            self._explainer = Explainer(self)
        if locality is not None or date is not None:
            request = dict(request, **({"locality": locality} if locality is not None else {}),
                           **({"date": date.isoformat() if isinstance(date, _dt.date) else date}
                              if date is not None else {}))
        with decimal.localcontext(_CONTEXT):
            decision["explanation"] = self._explainer.explain(request, decision, programs, flips)
        return decision

    def evaluate(self, request, locality=None, date=None, overrides: dict | None = None, programs=None,
                 interpret: bool = False, explain: bool = False) -> dict:
        """request: the parsed JSON object; `locality` and `date` override the request's own;
        `overrides` replaces parameter values (example cases use it to exercise other settings);
        `programs` limits the evaluation to those programs (and what they depend on), e.g. ("dibao",).
        Requests with unknown facts go to the interpreter (`partial.py`); `interpret` sends complete ones there
        too (the reference semantics, for testing the compiled evaluator against it). The caller's decimal
        context plays no part: evaluation runs in a context of its own. `explain` adds the decision's
        `explanation` (`explain`)."""
        if explain:
            if overrides or interpret:
                raise ValueError("explain=True 不能与 overrides 或 interpret 同用")
            return self.explain(request, locality, date, programs=programs)
        with decimal.localcontext(_CONTEXT):
            return self._decide(request, locality, date, overrides, programs, interpret)

    def _decide(self, request, locality, date, overrides, programs, interpret) -> dict:
        if not isinstance(request, dict):
            raise InputError([("$", "请求应为 JSON 对象")])
        loc = locality if locality is not None else request.get("locality")
        day = date if date is not None else request.get("date")
        problems = []
        if loc is None:
            problems.append(("$.locality", "缺少地区（locality）"))
        if day is None:
            problems.append(("$.date", "缺少评估日期（date）"))
        elif not isinstance(day, _dt.date):
            try:
                day = (_dt.date.fromisoformat(day) if isinstance(day, str) and len(day) == 10 and day[4] == day[7] == "-"
                       else None)
            except ValueError:
                day = None
            if day is None:
                problems.append(("$.date", "应为日期 YYYY-MM-DD"))
        if problems:
            raise InputError(problems)
        juris = self.resolve_locality(loc)
        inputs, unknown = self._convert_request(request)
        values_, entries, trace, event = self.params_at(juris["code"], day)
        if self._has_requirements and (unknown or self._may_break_safely(inputs, values_, day, juris["code"])):
            broken = self._partial.fork(self._reader(day, [])).broken_requirements(inputs, values_, day, juris["code"])
            if broken:
                raise InputError(broken)
        if overrides:
            values_, entries = self._override(values_, entries, overrides, day)
            trace = tuple(self._trace_items(entries))
        function, needed, keep = self._variant(programs)
        if keep is not None:
            trace = tuple(t for t in trace if t["id"] in keep)
        missing = [p for p in needed if p not in values_]
        if missing:
            raise EvaluationError(f"{juris['full_name']} 在 {day.isoformat()} 没有以下参数的有效取值："
                                  + "、".join(f"{self.params[p]['name']}（{p}）" for p in missing))
        reads: list = []
        at = self._reader(day, reads)
        try:
            if interpret:
                interpreter = self._partial.fork(at)
                results, referrals = interpreter.evaluate(inputs, values_, day, juris["code"], event,
                                                          None if programs is None else set(programs))
                missing = self._finish_partial(results, referrals, unknown, request)
                used = interpreter.used
            elif unknown:
                results, referrals, missing, used = self._mixed(inputs, values_, day, juris["code"], event,
                                                                programs, unknown, request, at)
            else:
                results, referrals, used = function(inputs, values_, day, juris["code"], event, at)
                missing = []
        except (ArithmeticError, TypeError) as err:
            raise EvaluationError(f"计算失败：{err}") from None
        trace = [t for t in trace if t["id"] in used]  # only the values this evaluation read
        if reads:
            trace += self._traced_reads(reads)
        return {"bundle": self.bundle_info, "locality": {"code": juris["code"], "name": juris["full_name"]},
                "date": day.isoformat(), "programs": results, "referrals": referrals,
                "missing_facts": missing, "trace": trace}
