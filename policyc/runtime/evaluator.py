"""Evaluates requests against a loaded bundle: household in, decision out, with reasons and a parameter trace."""
from __future__ import annotations

import bisect
import datetime as _dt
import decimal
import re
import sys
from decimal import Decimal
from pathlib import Path

from .. import ir
from . import jsonio, notice_block, values
from .bundle import read_bundle, verify
from .codegen_rules import RulesCodegen
from .errors import BundleError, InputError, LocalityError, RuntimeFault
from .inputs import FIRST_DAY, HELPERS, LAST_DAY, MISSING, Collected, InputCodegen, date_range_problem, parse_date
from .inputs import decimals, render_path, shown
from .inputs import absent_value as absent
from .lru import LRU, footprint
from .partial import PartialEvaluator
from .locality import LocalityIndex
from .pysource import compile_audited
from .validate import MalformedBundle, check_bundle


class _Frozen(dict):
    """A trace entry as the parameter cache keeps it for every decision made at the same place and date: read-only.
    Decisions get copies (`_copies`), never the entry itself: `plain` is the same entry as a plain dict (whose
    .copy() is a fast clone), `nested` says which of its values hold dicts or lists and how to copy each."""

    __slots__ = ("plain", "nested")

    def _refuse(self, *args, **kwargs):
        raise TypeError("trace entries are shared between decisions and cannot be changed; copy with dict(entry)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse


def _fresh(x):
    """A JSON-shaped value copied through every dict and list, so that nothing in it is shared."""
    t = type(x)
    if t is dict or t is _Frozen:
        return {k: _fresh(v) for k, v in x.items()}
    if t is list or t is tuple:
        return [_fresh(v) for v in x]
    return x


def _copier(value):
    """How a value of a trace entry is copied for a decision: None when it cannot be changed (text, numbers,
    dates, booleans), else the cheapest copy that leaves nothing shared."""
    t = type(value)
    if t is dict:
        return dict.copy if all(type(v) not in (dict, list, tuple) for v in value.values()) else _fresh
    if t is list:
        return list.copy if all(type(v) not in (dict, list, tuple) for v in value) else _fresh
    if t is tuple:
        return _fresh
    return None


_PROVENANCE = (("provenance", dict.copy),)  # what nearly every trace entry nests: one flat dict


def _template(item: dict) -> _Frozen:
    entry = _Frozen(item)
    entry.plain = dict(item)
    nested = tuple((k, c) for k, v in item.items() if (c := _copier(v)) is not None)
    entry.nested = _PROVENANCE if nested == _PROVENANCE else nested
    return entry


class _Trace(tuple):
    """The trace entries of every parameter the programs read at a place and date, in parameter order (sorted
    ids), with `by_id`: id → entry, so that a decision picks the ~20 it read without scanning all ~50."""

    def __new__(cls, entries):
        trace = super().__new__(cls, entries)
        trace.by_id = {t["id"]: t for t in trace}
        return trace

    def read(self, used) -> list:
        """The cached entries of the parameters in `used`, in trace order."""
        by_id = self.by_id
        return [by_id[pid] for pid in sorted(used) if pid in by_id]


def _copies(entries) -> list[dict]:
    """The decision's own copies of cached trace entries: new dicts, with new dicts and lists for their nested
    values (provenance, event, a table's rows), so that a caller who edits or redacts one changes nothing else.
    (Inline and without deepcopy: this runs for every decision, ~20 entries.)"""
    out = []
    append = out.append
    for entry in entries:
        copy = entry.plain.copy()
        nested = entry.nested
        if nested is _PROVENANCE:
            copy["provenance"] = copy["provenance"].copy()
        else:
            for key, copier in nested:
                copy[key] = copier(copy[key])
        append(copy)
    return out


_sizeof = sys.getsizeof


# Decisions never depend on the caller's decimal context: every evaluation runs in this one.
_CONTEXT = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999,
                           traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
_INDEX = re.compile(r"\[\d+\]")
_STEP = re.compile(r"\.([a-z_][a-z0-9_]*)|\[(\d+)\]")

_INHERIT = object()  # a city or county value that defers to the level above from its date on


class EvaluationError(RuntimeFault):
    """The request is well-formed but cannot be decided (e.g. no parameter value on that date)."""

    code = "R0301"


def _bounded(value, depth: int = 0) -> bool:
    """Whether a parameter value given as an override (a number, text, or a table's rows) is within what the
    runtime computes with: |x| < 10^18 with at most 12 decimals, text of at most 80 characters. Checked before
    Decimal() or int() touch it (int(Decimal("1E+999999")) takes minutes)."""
    t = type(value)
    if t is bool or value is None:
        return True
    if t is int:
        return -10**18 < value < 10**18
    if t is float:
        return value == value and abs(value) < 1e18
    if t is Decimal:
        return value.is_finite() and abs(value) < 10**18 and decimals(value) <= 12
    if t is str:
        return len(value) <= 80
    if t in (list, tuple):
        return depth < 2 and len(value) <= 1000 and all(_bounded(v, depth + 1) for v in value)
    return False


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
    """Compiled once from a bundle; `evaluate` is then cheap and thread-safe.

    Every decision `evaluate` and `explain` return is the caller's own: no dict or list in it is shared with the
    evaluator or with another decision, so a caller may edit or redact it (e.g. drop `decision["bundle"]`) without
    changing any later decision or `evaluate_json` text.

    Caches (each an LRU bounded by entries and approximate bytes, `CACHE_LIMITS`; `cache_limits=` overrides any of
    them per evaluator, `cache_stats()` reports them):
    - "parameters": per (locality, date), every parameter's value and the trace entries of the values the programs
      read — 16,384 entries, 64 MiB (an entry of the Shanxi bundle is ~4 KB: the trace entries themselves are made
      once per timeline entry of the bundle and shared, `_templates`);
    - "trace_json": `evaluate_json`'s trace text per (locality, date, values read), which depends on the programs
      selected — 4,096 entries, 64 MiB (~16 KB each for the Shanxi bundle);
    - "programs": the evaluator compiled for a selection of programs (`programs=`) — 128 selections (every subset
      of 7 programs), 64 MiB (25–150 KB each for the Shanxi bundle); the one for all programs is kept apart and
      never evicted.
    A value larger than its cache's byte bound is computed and used but not kept. Sizes are estimates
    (`lru.footprint`), within ~20 % of what tracemalloc measures for the Shanxi bundle.
    """

    CACHE_LIMITS = {"parameters": (16384, 64 << 20), "trace_json": (4096, 64 << 20), "programs": (128, 64 << 20)}
    signer: str | None = None  # the key id that verified the bundle, when loaded with keys (runtime.load)

    def __init__(self, bundle: dict, verified: bool = False, cache_limits: dict | None = None):
        """cache_limits: {"parameters" | "trace_json" | "programs": (max_entries, max_bytes)} for this evaluator."""
        limits = dict(self.CACHE_LIMITS)
        for name, bound in (cache_limits or {}).items():
            if name not in limits:
                raise ValueError(f"没有名为 {name!r} 的缓存（可用：{'、'.join(limits)}）")
            limits[name] = tuple(bound)
        self._caches = {name: LRU(name, entries, size) for name, (entries, size) in limits.items()}
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
        self._cache = self._caches["parameters"]
        self._trace_json = self._caches["trace_json"]
        # trace entries of the bundle's own timeline entries, made once: (parameter, id(entry)) → (entry, template).
        # Bounded by the bundle (its entries live as long as the evaluator, so their ids are never reused); every
        # (locality, date) of the parameter cache shares them, and decisions get copies (`_copies`).
        self._templates: dict = {}
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
        self._all = (self._evaluate, self._program_params, None)
        self._variants = self._caches["programs"]
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
    def from_file(cls, path: str | Path, cache_limits: dict | None = None) -> "Evaluator":
        return cls(read_bundle(path), verified=True, cache_limits=cache_limits)

    def cache_stats(self) -> dict:
        """Each cache's entries, approximate bytes, bounds, hits, misses and evictions."""
        return {name: cache.stats() for name, cache in self._caches.items()}

    def clear_caches(self) -> None:
        for cache in self._caches.values():
            cache.clear()

    # ── localities and parameters ──────────────────────────────────────────────────────
    def resolve_locality(self, value, path: str = "$.locality") -> dict:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value) if 0 <= value < 10**12 else None  # (str() of a 5,000-digit int raises ValueError)
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
        read, and the emergency's name. Cached per (locality, day) (the "parameters" cache): what it returns is
        the cache's own and must be treated as read-only (`describe` makes a new description of an entry)."""
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
        trace = _Trace(self._trace_items(found_entries))
        result = (found_values, found_entries, trace, "、".join(e["name"] for e in events) or None)
        # what this entry holds of its own: the two dicts and the tuple (the trace entries of the bundle's own
        # timeline entries are shared, `_templates`), and what an emergency changed
        size = _sizeof(found_values) + _sizeof(found_entries) + _sizeof(trace) + _sizeof(trace.by_id) + 256
        if events:
            size += sum(footprint(t) for t in trace if "event" in t) + 1024
        return self._cache.put(key, result, size)

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
                                       "to": event["to"], "defined_at": event.get("defined_at"),
                                       "illustrative": bool(event.get("illustrative", True))})
            values_[pid] = _runtime_value(self.params[pid]["type"], new)

    def describe(self, pid: str, entry: dict) -> dict:
        """One parameter value with where it comes from: the form of traces and of `policyc params`. A new dict
        whose nested dicts and lists are new too: nothing in it is the bundle's own."""
        p = self.params[pid]
        item = {"id": pid, "name": p["name"], "value": _fresh(entry["value"]), "unit": p["unit"],
                "effective_from": entry["from"], "jurisdiction": entry["jurisdiction"],
                "level": entry.get("level", "province"),
                "illustrative": entry["illustrative"],
                "provenance": _fresh(entry.get("source")) or {"illustrative": True, "note": "示例值，无正式来源"},
                "citation": p["citation"], "defined_at": entry.get("defined_at")}
        if p.get("choices"):
            item["label"] = p["choices"][entry["value"]]
        if "event" in entry:
            item["event"] = dict(entry["event"])
            item["base_value"] = entry["base_value"]
            if entry["event"].get("illustrative", True):  # a value raised by an illustrative event is illustrative
                item["illustrative"] = True
        return item

    def _trace_items(self, entries: dict):
        """The trace entries (read-only templates) of the values the programs read, from `entries`."""
        templates = self._templates
        for pid in self._program_params:
            entry = entries.get(pid)
            if entry is None:
                continue
            hit = templates.get((pid, id(entry)))
            if hit is not None and hit[0] is entry:
                yield hit[1]
                continue
            template = _template(self.describe(pid, entry))
            if self._own_entry(pid, entry):  # an emergency's or an override's entry is made per call: not kept
                templates[(pid, id(entry))] = (entry, template)
            yield template

    def _own_entry(self, pid: str, entry: dict) -> bool:
        timelines = self.params[pid]["timelines"]
        return any(e is entry for entries in timelines.values() for e in entries)

    def _override(self, values_: dict, entries: dict, overrides: dict, day: _dt.date) -> tuple[dict, dict]:
        values_, entries = dict(values_), dict(entries)
        for pid, value in overrides.items():
            p = self.params.get(pid)
            if p is None:
                raise InputError([(f"parameters.{pid}", "没有这个参数")])
            if not _bounded(value):
                raise InputError([(f"parameters.{pid}", f"取值 {shown(value)} 超出可处理的范围"
                                                        "（数字的绝对值应小于 10^18，至多 12 位小数）")])
            try:
                values_[pid] = _runtime_value(p["type"], value)
            except (ArithmeticError, TypeError, ValueError):
                raise InputError([(f"parameters.{pid}", f"取值 {shown(value)} 不符合参数类型")]) from None
            if p.get("choices") and value not in p["choices"]:
                raise InputError([(f"parameters.{pid}", f"应为 {'、'.join(p['choices'])} 之一")])
            entries[pid] = {"from": day.isoformat(), "value": value, "jurisdiction": "case", "level": "case",
                            "illustrative": True, "defined_at": "案例临时取值"}
        return values_, entries

    def evaluate_json(self, request, locality=None, date=None, programs=None) -> str:
        """The decision as compact JSON text: for services that answer over the wire. The trace, the same for
        every request at a place and date that read the same values, is serialised once and reused (the
        "trace_json" cache). The decision is written straight from the evaluator's cached entries: it is text,
        so no copy is needed."""
        with decimal.localcontext(_CONTEXT):
            decision = self._decide(request, locality, date, None, programs, False, fresh=False)
        trace = decision.pop("trace")
        key = (decision["locality"]["code"], decision["date"],  # the place and date fix every value traced
               tuple((t["id"], t["at"]["code"] if "at" in t else None) for t in trace))
        text = self._trace_json.get(key)
        if text is None:
            text = jsonio.dumps(trace, indent=None)
            self._trace_json.put(key, text, _sizeof(text) + _sizeof(key) + 120 * len(key[2]))
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
        """The evaluation function, parameters and trace filter for a subset of programs (compiled once, kept in
        the "programs" cache)."""
        if programs is None:
            return self._all
        if not isinstance(programs, (list, tuple, set, frozenset)) or not all(isinstance(p, str) for p in programs):
            raise InputError([("programs", f"应为程序编号的列表，如 [\"dibao\"]（可用：{'、'.join(self.program_ids)}）")])
        key = tuple(sorted(set(programs)))
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
        # a compiled function takes ~2.5 bytes of memory (code objects, constants) per byte of its source
        return self._variants.put(key, variant, 3 * len(source) + footprint(variant))

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

    def _day(self, day, problems: list):
        """The evaluation date (request text or a date object), or None after noting the problem."""
        if type(day) is _dt.datetime:
            day = day.date()
        elif not isinstance(day, _dt.date):
            day = parse_date(day)
            if day is None:
                problems.append(("$.date", "应为日期 YYYY-MM-DD"))
                return None
        if not FIRST_DAY <= day <= LAST_DAY:
            problems.append(("$.date", date_range_problem(day)))
            return None
        return day

    def _decide(self, request, locality, date, overrides, programs, interpret, fresh: bool = True) -> dict:
        """The decision; `fresh`: every dict and list in it is new (evaluate), else the trace holds the cached
        entries themselves (evaluate_json, which only writes them out)."""
        if not isinstance(request, dict):
            raise InputError([("$", "请求应为 JSON 对象")])
        loc = locality if locality is not None else request.get("locality")
        day = date if date is not None else request.get("date")
        problems = []
        if loc is None:
            problems.append(("$.locality", "缺少地区（locality）"))
        if day is None:
            problems.append(("$.date", "缺少评估日期（date）"))
        else:
            day = self._day(day, problems)
        if problems:
            raise InputError(problems)
        juris = self.resolve_locality(loc)
        inputs, unknown = self._convert_request(request)
        values_, entries, trace, event = self.params_at(juris["code"], day)
        if self._has_requirements and (unknown or self._may_break_safely(inputs, values_, day, juris["code"])):
            try:
                broken = self._partial.fork(self._reader(day, [])).broken_requirements(inputs, values_, day,
                                                                                       juris["code"])
            except (ArithmeticError, TypeError) as err:
                raise EvaluationError(f"计算失败：{err}") from None
            if broken:
                raise InputError(broken)
        if overrides:
            values_, entries = self._override(values_, entries, overrides, day)
            trace = _Trace(self._trace_items(entries))
        function, needed, keep = self._variant(programs)
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
        if keep is not None:  # only the values this evaluation read, of the selected programs' parameters
            used = keep.intersection(used)
        trace = _copies(trace.read(used)) if fresh else trace.read(used)
        if reads:
            trace += self._traced_reads(reads)
        return {"bundle": dict(self.bundle_info) if fresh else self.bundle_info,
                "locality": {"code": juris["code"], "name": juris["full_name"]},
                "date": day.isoformat(), "programs": results, "referrals": referrals,
                "missing_facts": missing, "trace": trace}
