"""Why each output has its value, and what would change it: `Evaluator.explain` and `policyc explain`.

The derivation comes from the reference interpreter (`partial.py`), which evaluates every definition once (for each
record, for the records' definitions): `_Recorder` notes, for each, the definitions, parameters and request facts
it read. An output's tree is then rule → the values it combined → facts and parameters, each definition with its
articles, each parameter with its value, place, date and source, each fact with its JSON path and its name.

"What would change it" (`flips`) is found by re-evaluating, never by guessing: for every fact of a request that a
yes/no output read (directly or through the definitions it rests on), one changed request per candidate value —
the other answer for 是否, every other code for an enum, and for a number the nearest value in each direction that
changes the output, found by doubling the step and then halving it (to the fen for money, to 1 for whole
numbers). Every proposal is a request the compiled evaluator decided differently; the value one step nearer to
the fact's own leaves the output as it was, so the change proposed is the smallest along that fact.
An undecided output is changed by supplying its missing facts: the proposal names them.
"""
from __future__ import annotations

import copy
import datetime as _dt
from decimal import Decimal

from ..ir import MONEY, strip_optional
from . import values
from .errors import InputError, RuntimeFault
from .partial import PartialEvaluator
from .unknown import Unknown
from .evaluator import _STEP  # request paths: .field and [index] steps

_WHOLE = {"int", "count", "age", "months", "years"}
_UNIT = {"age": "岁", "months": "个月", "years": "年", "count": "人"}
_MAX_PROBES = 70  # growths of the step by half: 0.01 × 1.5⁷⁰ is beyond any money a request may hold


class _Recorder(PartialEvaluator):
    """The interpreter, noting for every definition what it read: (kind, key) with kind "def" (key: definition
    id and the JSON path of its record, or None), "param" (parameter id; "param_at" with the place) or "fact"
    (JSON path)."""

    def start(self, R: dict, forced: dict | None = None):
        self.forced = forced or {}
        self.paths: dict[int, str] = {}
        self._walk(R, "$")
        self.frames: list[list] = []
        self.reads: dict[tuple, list] = {}
        self.values: dict[tuple, object] = {}
        self.params_read: dict[str, None] = {}
        self.fact_values: dict[str, object] = {}  # JSON path → the value read (typed; Unknown when not given)
        return self

    def _walk(self, value, path: str) -> None:
        if type(value) is dict:
            self.paths[id(value)] = path
            for k, v in value.items():
                self._walk(v, f"{path}.{k}")
        elif type(value) is list:
            for n, v in enumerate(value):
                self._walk(v, f"{path}[{n}]")

    def _note(self, item) -> None:
        if self.frames:
            frame = self.frames[-1]
            if item not in frame:
                frame.append(item)

    def _define(self, d):
        inst = self.env.get("self") if d.scope else None
        key = (d.id, self.paths.get(id(inst)) if inst is not None else None)
        if key in self.forced:  # a value set from outside: what follows from it is what a threshold proposes
            self.values[key] = self.forced[key]
            return self.forced[key]
        self.frames.append([])
        try:
            v = super()._define(d)
        finally:
            self.reads[key] = self.frames.pop()
        self.values[key] = v
        return v

    def x_param(self, e):
        self.params_read[e.value] = None
        self._note(("param", e.value))
        return super().x_param(e)

    def x_lookup(self, e):
        self.params_read[e.value] = None
        self._note(("param", e.value))
        return super().x_lookup(e)

    def x_param_at(self, e):
        code = self.value(e.args[0])
        v = self._param_at(e, code)
        if type(code) is str:
            self._note(("param_at", (e.value, code)))
        return v

    def x_def(self, e):
        self._note(("def", (e.value, None)))
        return super().x_def(e)

    def x_eval_date(self, e):
        self._note(("context", "date"))
        return super().x_eval_date(e)

    def x_locality(self, e):
        self._note(("context", "locality"))
        return super().x_locality(e)

    def x_event(self, e):
        self._note(("context", "event"))
        return super().x_event(e)

    def x_input(self, e):
        v = super().x_input(e)
        if type(v) is not dict:  # a whole input read as a value (有(临时救助申请)): the fact is whether it was given
            path = f"$.{e.value}"
            self.fact_values[path] = v
            self._note(("fact", path))
        return v

    def x_field(self, e):
        obj = self.value(e.args[0])
        v = self._field(e, obj)
        if type(obj) is dict:
            path = self.paths.get(id(obj))
            if path is not None:
                if e.value in self.by_id:
                    self._note(("def", (e.value, path)))
                elif type(v) not in (dict, list):
                    self.fact_values[f"{path}.{e.value}"] = v
                    self._note(("fact", f"{path}.{e.value}"))
        return v


_Recorder._ops = {name[2:]: getattr(_Recorder, name) for name in dir(_Recorder) if name.startswith("x_")}


class Explainer:
    """Explanations for one evaluator (thread-safe: every call works on its own recorder)."""

    def __init__(self, evaluator):
        self.ev = evaluator
        self.m = evaluator.module
        self.by_id = {d.id: d for d in self.m.definitions}
        self.labels = {e.id: dict(e.members) for e in self.m.enums.values()}
        self._base = _Recorder(self.m, evaluator._rule_globals["locality_name"])

    # ── the derivation ────────────────────────────────────────────────────────────────
    def record(self, request: dict, code: str, day: _dt.date, programs, forced: dict | None = None) -> _Recorder:
        ev = self.ev
        inputs, _ = ev._convert_request(request)
        values_, entries, _, event = ev.params_at(code, day)
        reads: list = []
        rec = self._base.fork(ev._reader(day, reads)).start(inputs, forced)
        rec.evaluate(inputs, values_, day, code, event, None if programs is None else set(programs))
        rec.entries = entries
        rec.at_reads = reads  # (parameter, place, entry) of every 地区参数 read, as the evaluator traces them
        return rec

    def explain(self, request: dict, decision: dict, programs=None, flips: bool = True) -> dict:
        """The explanation of `decision` (the evaluator's for `request`): per program, each output's derivation
        tree and, for its yes/no outputs, what would change them; and the parameters the evaluation read."""
        code, day = decision["locality"]["code"], _dt.date.fromisoformat(decision["date"])
        rec = self.record(request, code, day, programs)
        read = [self.describe(pid, rec.entries[pid]) for pid in rec.params_read if pid in rec.entries]
        out = {"programs": {}, "parameters_read": read + self.ev._traced_reads(rec.at_reads)}
        for prog in self.m.programs:
            if prog.id not in decision["programs"]:
                continue
            items = []
            for oid in prog.outputs:
                o = self.by_id[oid]
                keys = [k for k in rec.values if k[0] == oid]
                for key in keys:
                    item = {"output": o.key, "name": o.name, "member": self._member(request, key[1]),
                            "tree": self._tree(rec, key, request, set())}
                    if flips:
                        results = _results(decision, prog.id, item["member"])
                        if o.key in results.get("undecided", []):
                            item["flips"] = self.supply(results, o, rec.values.get(key), request)
                        elif strip_optional(o.type) == "bool":
                            item["flips"] = (self.thresholds(request, code, day, prog.id, o, key, rec)
                                             + self.flips(request, decision, prog.id, o, key[1], rec))
                    items.append(item)
            refs = [r for r in decision["referrals"] if r["program"] == prog.id]
            out["programs"][prog.id] = {"name": prog.name, "outputs": items, "referrals": refs}
        return out

    @staticmethod
    def _member(request: dict, path: str | None):
        if path is None:
            return None
        node = _get(request, path)
        return node.get("id") if isinstance(node, dict) else path

    def _tree(self, rec: _Recorder, key: tuple, request: dict, seen: set) -> dict:
        d = self.by_id[key[0]]
        v = rec.values.get(key)
        node = {"kind": "definition" if d.kind == "value" else d.kind, "id": d.id, "name": d.name,
                "value": self.show(v, d.type), "citations": list(d.citations)}
        member = self._member(request, key[1])
        if member is not None:
            node["member"] = member
        if key in seen:
            node["repeated"] = True  # shown in full above
            return node
        seen.add(key)
        children = []
        for kind, k in rec.reads.get(key, []):
            if kind == "def":
                children.append(self._tree(rec, k, request, seen))
            elif kind == "param":
                children.append(self._param(rec, k))
            elif kind == "param_at":
                read = [r for r in rec.at_reads if (r[0], r[1]) == k][:1]
                children += [dict(t, kind="parameter") for t in self.ev._traced_reads(read)]
            elif kind == "context":
                children.append(self._context(k, rec))
            else:
                children.append({"kind": "fact", "path": k, "name": self.ev.fact_name(k, request),
                                 "value": self.show_fact(k, rec)})
        node["reads"] = children
        return node

    def _param(self, rec: _Recorder, pid: str) -> dict:
        entry = rec.entries.get(pid)
        if entry is None:
            return {"kind": "parameter", "id": pid, "value": None}
        return dict(self.describe(pid, entry), kind="parameter")

    def describe(self, pid: str, entry: dict) -> dict:
        """The evaluator's description of a parameter value, with the name of the place that set it."""
        item = self.ev.describe(pid, entry)
        place = self.ev.jurisdictions.get(item["jurisdiction"])
        if place is not None:
            item["jurisdiction_name"] = place["full_name"]
        return item

    # ── display ─────────────────────────────────────────────────────────────────────
    def show(self, v, t: str) -> str:
        t = strip_optional(t)
        if type(v) is Unknown:
            return "待定"
        if v is None:
            return "无"
        if t.startswith("enum:"):
            return values.fmt_value(v, "enum", self.labels.get(t[5:]))
        if t.startswith("list:"):
            inner = strip_optional(t[5:])
            if inner.startswith("record:"):
                ids = [x.get("id") for x in v if isinstance(x, dict)]
                return "、".join(str(i) for i in ids if i is not None) or "无"
            return "、".join(self.show(x, inner) for x in v) or "无"
        if t.startswith("record:"):
            return "（记录）"
        if t == "bool":
            return "是" if v else "否"
        if t == "date":
            return values.fmt_date(v) if isinstance(v, _dt.date) else str(v)
        if t == "locality":
            return self.ev.jurisdictions.get(v, {}).get("full_name", str(v))
        text = values.fmt_number(v)
        return text + ("元" if t in MONEY else _UNIT.get(t, ""))

    def field_of(self, path: str):
        """The IR field a request path names (None: not a field of the request format)."""
        t, f = None, None
        for name, index in _STEP.findall(path[1:]):
            if index:
                t = t[5:] if t and t.startswith("list:") else t
                continue
            if t is None:
                f = next((i for i in self.m.inputs if i.id == name), None)
            else:
                rec = self.m.records.get(strip_optional(t)[7:]) if strip_optional(t).startswith("record:") else None
                f = rec.field(name) if rec else None
            if f is None:
                return None
            t = strip_optional(f.type)
        return f

    def show_fact(self, path: str, rec) -> str:
        """A fact as the evaluation read it: 未提供（待补充） when the request left it unknown."""
        v = rec.fact_values.get(path)
        if type(v) is Unknown:
            return "未提供（待补充）"
        f = self.field_of(path)
        if f is None:
            return "无" if v is None else str(v)
        t = strip_optional(f.type)
        if t.startswith("record:"):
            return "无" if v is None else "已提供"
        return self.show(v, t)

    def _context(self, what: str, rec) -> dict:
        if what == "date":
            return {"kind": "context", "name": "评估日期", "value": values.fmt_date(rec.day)}
        if what == "locality":
            return {"kind": "context", "name": "评估地区", "value": self.show(rec.loc, "locality")}
        return {"kind": "context", "name": "处于应急期的突发事件", "value": rec.event or "无"}

    # ── what would change it ─────────────────────────────────────────────────────────
    @staticmethod
    def walk(rec: _Recorder, key: tuple, through=None):
        """(kind, what) of every read under the definition `key`, depth first in the order read, each definition
        visited once (`key` itself first, as ("def", key)); `through(def_key)` limits the definitions descended
        into."""
        stack, seen = [("def", key)], set()
        while stack:
            kind, x = stack.pop()
            if kind == "def":
                if x in seen:
                    continue
                seen.add(x)
                if x != key and through is not None and not through(x):
                    continue
                stack += reversed(rec.reads.get(x, []))
            yield kind, x

    def facts_under(self, rec: _Recorder, key: tuple) -> list[str]:
        """Every request fact the definition `key` rests on, in the order first read."""
        return list(dict.fromkeys(x for kind, x in self.walk(rec, key) if kind == "fact"))

    def flips(self, request: dict, decision: dict, program: str, output, member_path, rec) -> list[dict]:
        """The changes of one fact that change the yes/no output `output` (of the record at `member_path`)."""
        member = self._member(request, member_path)
        current = _output(decision, program, output, member)
        if current is None:
            return []
        out = []
        for path in self.facts_under(rec, (output.id, member_path)):
            f = self.field_of(path)
            old = _get(request, path)
            if f is None or old is None:
                continue
            t = strip_optional(f.type)

            def flipped(new, path=path):
                changed = _set(request, path, new)
                try:
                    d = self.ev.evaluate(changed, programs=[program])
                except (InputError, RuntimeFault):
                    return None
                v = _output(d, program, output, member)
                return v if v is not None and v != current else None

            if t == "bool":
                got = flipped(not old)
                if got is not None:
                    out.append(self._proposal(path, request, f, old, not old, output, current, got))
            elif t.startswith("enum:"):
                for code in self.labels.get(t[5:], {}):
                    if code != old:
                        got = flipped(code)
                        if got is not None:
                            out.append(self._proposal(path, request, f, old, code, output, current, got))
            elif t in MONEY or t in _WHOLE:
                best = None
                for direction in (-1, 1):
                    found = self._nearest(Decimal(str(old)), direction, f, t, flipped)
                    if found is not None and (best is None or abs(found - Decimal(str(old))) < abs(best - Decimal(str(old)))):
                        best = found
                if best is not None:
                    new = int(best) if t in _WHOLE else best
                    out.append(self._proposal(path, request, f, old, new, output, current, flipped(new)))
        return out

    def thresholds(self, request: dict, code, day, program: str, output, key: tuple, rec) -> list[dict]:
        """Changes of a computed amount: every comparison of a household-level number (家庭月收入 低于
        家庭低保标准合计) in the output's derivation gives the value at which it turns; a proposal is kept only
        when the interpreter, given that value, changes the output."""
        before = rec.values.get(key)
        if type(before) is not bool:
            return []
        turns: dict[str, set] = {}  # definition → the values at which one of its comparisons turns
        for dkey in [x for kind, x in self.walk(rec, key) if kind == "def"]:
            for node in self.by_id[dkey[0]].expr.walk():
                if node.op not in ("lt", "le", "gt", "ge"):
                    continue
                for side, other in ((0, 1), (1, 0)):
                    target = node.args[side]
                    if target.op != "def":
                        continue
                    d = self.by_id[target.value]
                    t = strip_optional(d.type)
                    if d.scope or t not in MONEY or not self._rests_on_money(rec, (d.id, None)):
                        continue
                    new = self._turning_point(node.op, side, rec.values.get((d.id, None)),
                                              self._known(node.args[other], rec), t)
                    if new is not None:
                        turns.setdefault(d.id, set()).add(new)
        out = []
        for did, candidates in turns.items():
            old = rec.values[(did, None)]
            t = strip_optional(self.by_id[did].type)
            unit = Decimal(1) if t in _WHOLE else values.FEN

            def after(v, did=did):
                return self.record(request, code, day, [program], {(did, None): v}).values.get(key)
            for new in sorted(candidates, key=lambda v: abs(v - old)):
                got = after(new)
                if type(got) is not bool or got == before:
                    continue
                direction = 1 if new > old else -1
                # another comparison (of a value computed from this one) may turn nearer: the smallest change
                dist = _narrow(Decimal(0), abs(Decimal(new) - Decimal(old)), unit,
                               lambda dd: after(_typed(old + direction * dd, t)) not in (before, None))
                new = _typed(old + direction * dist, t)
                got = after(new)
                delta = new - old
                name = self.by_id[did].name
                out.append({"kind": "threshold", "definition": did, "name": name, "from": old, "to": new,
                            "by": str(delta),
                            "text": f"{name}{'增加' if delta > 0 else '减少'}{self.show(abs(delta), t)}"
                                    f"（由{self.show(old, t)}至{self.show(new, t)}），{output.name}即由"
                                    f"“{self.show(before, 'bool')}”变为“{self.show(got, 'bool')}”"})
                break
        return out

    def _rests_on_money(self, rec, key: tuple) -> bool:
        """Whether a computed amount rests on money the request reports (家庭月收入 does; 家庭低保标准合计, set by
        the standard and the household's size, does not: a change of it is not the household's to make). Only
        amounts of money are followed: a count (家庭人口) is not money the household reports."""
        def money(k):
            return strip_optional(self.by_id[k[0]].type) in MONEY
        for kind, x in self.walk(rec, key, through=money):
            if kind == "fact":
                f = self.field_of(x)
                if f is not None and strip_optional(f.type) in MONEY:
                    return True
        return False

    def _known(self, e, rec):
        """The value of a comparison's other side when it is a definition, a parameter or a literal."""
        if e.op == "def":
            return rec.values.get((e.value, None))
        if e.op == "param":
            return rec.P.get(e.value)
        if e.op == "lit":
            return rec.value(e)
        return None

    @staticmethod
    def _turning_point(op: str, side: int, value, other, t: str):
        """The value nearest to `value`, on the grid of the fen (or of 1 for whole numbers), that the side `side`
        of `a op b` must take for the comparison to turn, the other side staying `other`."""
        if type(value) not in (Decimal, int) or type(other) not in (Decimal, int):
            return None
        unit = Decimal(1) if t in _WHOLE else values.FEN
        rel = op if side == 0 else {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}[op]  # x rel other
        x, o = Decimal(value), Decimal(other)
        holds = {"lt": x < o, "le": x <= o, "gt": x > o, "ge": x >= o}[rel]
        below = (o / unit).to_integral_value(rounding="ROUND_FLOOR") * unit  # the grid at or below o
        above = (o / unit).to_integral_value(rounding="ROUND_CEILING") * unit
        # the nearest grid value on the other side of the boundary: (largest below, or smallest above), strict or not
        new = {("lt", False): below - unit if below == o else below, ("le", False): below,
               ("gt", False): above + unit if above == o else above, ("ge", False): above,
               ("lt", True): above, ("le", True): above + unit if above == o else above,
               ("gt", True): below, ("ge", True): below - unit if below == o else below}[(rel, holds)]
        if t in _WHOLE:
            new = int(new)
        return new if new != value else None

    def supply(self, results: dict, output, value, request: dict) -> list[dict]:
        """An undecided output: the facts whose values would decide it (those it depends on, of the results'
        missing facts)."""
        facts = results.get("missing_facts", [])
        deps = getattr(value, "deps", None)
        if deps:
            facts = [m for m in facts if m["path"] in deps] or facts
        if not facts:
            return []
        names = "、".join(m["name"] for m in facts)
        return [{"kind": "supply", "facts": [m["path"] for m in facts], "text": f"补充{names}后可确定{output.name}"}]

    @staticmethod
    def _nearest(old: Decimal, direction: int, f, t: str, flipped):
        """The value nearest to `old` in `direction` at which the output changes (None: none within the field's
        range), by doubling the step and then halving the interval."""
        unit = Decimal(1) if t in _WHOLE else values.FEN
        lo_bound = Decimal(str(f.minimum)) if f.minimum is not None else Decimal(0)
        hi_bound = Decimal(str(f.maximum)) if f.maximum is not None else None

        def inside(x):
            return x >= lo_bound and (hi_bound is None or x <= hi_bound)

        def probe(x):
            return flipped(int(x) if t in _WHOLE else x) is not None

        step, last = unit, Decimal(0)
        hit = None
        for _ in range(_MAX_PROBES):
            x = old + direction * step
            if not inside(x):
                edge = lo_bound if direction < 0 else hi_bound
                if edge is not None and edge != old + direction * last and probe(edge):
                    hit = abs(edge - old)
                break
            if probe(x):
                hit = step
                break
            # × 1.5, not × 2: an output that changes only inside a band (a 低保边缘 income between 1 and 1.5
            # times the standard) is skipped only when the band is narrower than a third of its distance
            last, step = step, max(unit, ((step * 3 / 2) / unit).to_integral_value() * unit)
            if step <= last:
                step = last + unit
        if hit is None:
            return None
        return old + direction * _narrow(last, hit, unit, lambda d: probe(old + direction * d))

    def _proposal(self, path, request, f, old, new, output, current, got) -> dict:
        t = strip_optional(f.type)
        name = self.ev.fact_name(path, request)
        shown_old, shown_new = self.show_value(old, t), self.show_value(new, t)
        if t in MONEY or t in _WHOLE:
            delta = Decimal(str(new)) - Decimal(str(old))
            how = "增加" if delta > 0 else "减少"
            amount = self.show_value(abs(delta), t)
            text = f"{name}由{shown_old}{how}{amount}至{shown_new}，{output.name}即由“{self.show(current, 'bool')}”变为“{self.show(got, 'bool')}”"
            change = {"by": str(delta)}
        else:
            text = f"若{name}为“{shown_new}”（现为“{shown_old}”），{output.name}即由“{self.show(current, 'bool')}”变为“{self.show(got, 'bool')}”"
            change = {}
        return dict({"kind": "change", "path": path, "name": name, "from": old, "to": new, "text": text}, **change)

    def show_value(self, v, t: str) -> str:
        if t in MONEY or t in _WHOLE:
            v = Decimal(str(v))
        return self.show(v, t)


def _narrow(lo: Decimal, hi: Decimal, unit: Decimal, changes) -> Decimal:
    """The smallest distance in (lo, hi] on the grid of `unit` at which `changes(distance)` holds, given that it
    does not hold at lo and holds at hi (halving the interval)."""
    while hi - lo > unit:
        mid = ((lo + hi) / 2 / unit).to_integral_value() * unit
        if mid <= lo or mid >= hi:
            break
        if changes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _results(decision: dict, program: str, member) -> dict:
    """A program's results, or one record's within them (per-record outputs are keyed by the record's id)."""
    res = decision["programs"].get(program, {})
    if member is None:
        return res
    for v in res.values():
        if isinstance(v, dict) and isinstance(v.get(member), dict):
            return v[member]
    return {}


def _output(decision: dict, program: str, output, member):
    node = _results(decision, program, member)
    for part in output.key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _typed(x, t: str):
    return int(x) if t in _WHOLE else Decimal(x)


def _get(request, path: str):
    node = request
    for name, index in _STEP.findall(path[1:]):
        if index:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        else:
            node = node.get(name) if isinstance(node, dict) else None
    return node


def _set(request: dict, path: str, value) -> dict:
    """A copy of `request` with the fact at `path` set to `value` (the original is not touched)."""
    out = copy.deepcopy(request)
    steps = _STEP.findall(path[1:])
    node = out
    for name, index in steps[:-1]:
        node = node[int(index)] if index else node[name]
    name, index = steps[-1]
    if isinstance(value, Decimal):
        value = value if value != value.to_integral_value() else int(value)
    if index:
        node[int(index)] = value
    else:
        node[name] = value
    return out
