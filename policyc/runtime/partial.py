"""Evaluates the IR over a request some of whose facts are unknown, deciding whatever the known facts settle.

The compiled evaluator (`codegen_rules`) is the fast path for complete requests; this interpreter is the path
for requests with unknown facts, and the reference semantics of the IR: on a complete request the two agree
(tested on every example case). Each operation is the sound counterpart of the compiled one over the values of
`unknown.py`: intervals for numbers and dates, sets of possible values for 是否 and 枚举, lists whose items may
or may not be in them, each carrying the request paths it depends on. An 如果 whose condition is unknown
evaluates both branches and keeps what they agree on; 且/或 follow Kleene's logic. A result that stays unknown
is reported as null with the facts it depends on (`missing_facts`).
"""
from __future__ import annotations

import copy
import datetime as _dt
from decimal import Decimal

from ..ir import MONEY, Definition, Expr, Module, strip_optional
from . import values
from .lru import LRU, footprint
from .unknown import (INF, NINF, NO_DEPS, NUMERIC, UNKNOWN_BOOL, WHOLE, Unknown, bounds, date_bounds, dates,
                      deps_of, fact, join, list_parts, may_be_none, number, possible)

_DECIMAL_TYPES = MONEY | {"ratio", "percent", "number"}
_ORDER = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
          "ge": lambda a, b: a >= b}


PENDING = "（待补充）"
_UNITS = ("元/月", "元/年", "元", "个月", "岁", "人", "倍")  # a unit written after a placeholder
_MAX_SHOWN = Decimal("1000000000")  # an upper bound this high says nothing (money's own limit)


class _Speculative(Exception):
    """Raised inside a branch that may not be taken: the branch's value is then simply unknown."""


def _mul(a, b):
    if a == 0 or b == 0:
        return 0
    return a * b


def _div(a, b):
    if not b.is_finite() if type(b) is Decimal else False:
        return Decimal(0) if (not isinstance(a, Decimal) or a.is_finite()) else None
    if type(a) is not Decimal:
        a = Decimal(a)
    return a / b


def _shifted(day, months):
    """A bound of an unknown date moved by a bound of an unknown month count; None (no bound) when either is
    unbounded or the result would be off the calendar (the value itself, once known, may well be on it)."""
    if day is None or not Decimal(months).is_finite():
        return None
    try:
        return values.add_months(day, months)
    except values.DateOutOfRange:
        return None


class PartialEvaluator:
    """Interprets a module's definitions over values that may be `Unknown`."""

    def __init__(self, module: Module, locality_name):
        self.m = module
        self.param_at = None  # (parameter id, locality code) → value there and then; set per request by fork
        self.by_id = {d.id: d for d in module.definitions}
        self.locality_name = locality_name
        self.labels = {e.id: dict(e.members) for e in module.enums.values()}
        self._lits: dict[int, object] = {}
        self._step_cache: dict = {}
        # the definitions each selection of programs needs: bounded (a selection is any subset of the programs)
        self._needed_cache = LRU("needed", 64, 8 << 20)
        self._inst_cache: dict = {}
        self._basis: dict = {}  # id(reason) → what it rests on (the module's reasons live as long as this)
        self.R = None

    def fork(self, param_at=None) -> "PartialEvaluator":
        """An interpreter for one request: its own request state, the module's caches shared (thread-safe use:
        one fork per evaluation). `param_at` reads a parameter at another locality (地区参数)."""
        clone = copy.copy(self)
        clone._inst_cache = {}
        clone.param_at = param_at
        return clone

    # ── the request ──────────────────────────────────────────────────────────────────
    def _steps(self, record_id: str) -> list[list[tuple[str, str]]]:
        """Access paths from the inputs to every place a record of this type occurs (computed once)."""
        hit = self._step_cache.get(record_id)
        if hit is not None:
            return hit
        found = self.m.instance_paths(record_id)
        self._step_cache[record_id] = found
        return found

    def reads(self, program) -> frozenset[str]:
        """Every request field the program's results may read, as index-free paths with all their prefixes
        (`household`, `household.members`, `household.members.age`, …): a fact left out elsewhere cannot change
        them, so such a program can be decided by the compiled evaluator."""
        fields: set[tuple[str, str]] = set()
        inputs: set[str] = set()
        for d in self.m.needed([program]):
            for e in d.expressions():
                for n in e.walk():
                    if n.op == "input":
                        inputs.add(n.value)
                    elif n.op == "field":
                        rec = strip_optional(n.args[0].type)
                        if rec.startswith("record:") and self.m.records[rec[7:]].field(n.value) is not None:
                            fields.add((rec[7:], n.value))
        out: set[str] = set(inputs)
        for rec_id, fid in fields:
            for steps in self._steps(rec_id):
                path = ".".join(name for kind, name in steps if kind in ("field", "input"))
                out.add(f"{path}.{fid}")
        prefixes = set()
        for path in out:
            parts = path.split(".")
            prefixes.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return frozenset(prefixes)

    def instances(self, R: dict, record_id: str, paths: bool = False) -> list[tuple]:
        """Every record of this type in the request whose value is known, with the list field it is in (and,
        with `paths`, its JSON path)."""
        key = (record_id, paths)
        hit = self._inst_cache.get(key) if R is self.R else None
        if hit is not None:
            return hit
        found: list[tuple] = []
        for steps in self._steps(record_id):
            level = [(R, "", "$")]
            for kind, name in steps:
                nxt = []
                for value, container, path in level:
                    if kind in ("field", "input"):
                        v = value.get(name) if type(value) is dict else None
                        if v is not None and type(v) is not Unknown:
                            nxt.append((v, name, f"{path}.{name}"))
                    elif type(value) is list:
                        nxt.extend((item, container, f"{path}[{n}]") for n, item in enumerate(value))
                level = nxt
            found.extend(level if paths else [(v, c) for v, c, _ in level])
        if R is self.R:
            self._inst_cache[key] = found
        return found

    def broken_requirements(self, R: dict, P: dict, day, locality) -> list[tuple[str, str]]:
        """(JSON path, message) for every record that breaks a 要求 of its type; unknown facts break nothing."""
        self.R, self.P, self.day, self.loc, self.event = R, P, day, locality, None
        self.used = set()
        self._inst_cache = {}
        self.env, self.spec = {}, 0
        problems = []
        for rec in self.m.records.values():
            if not rec.requirements:
                continue
            for inst, _, path in self.instances(R, rec.id, paths=True):
                self.env["self"] = inst
                for req in rec.requirements:
                    if self.value(req.expr) is False:
                        problems.append((f"{path}.{req.field}", req.message))
        return problems

    # ── evaluation ───────────────────────────────────────────────────────────────────
    def evaluate(self, R: dict, P: dict, day: _dt.date, locality: str, event, only=None):
        """The program results and referrals, as the compiled evaluator gives them, plus for every undecided
        value the request paths it depends on: (results, referrals, missing) with `missing` holding, for each
        program, member and referral, a frozenset of paths under the key `_missing` (removed by the caller)."""
        self.R, self.P, self.day, self.loc, self.event = R, P, day, locality, event
        self._inst_cache = {}
        self.env: dict[str, object] = {}
        self.spec = 0
        self.defs: dict[str, object] = {}
        self.used: set[str] = set()  # the parameters read: the decision's trace
        selected = [p for p in self.m.programs if only is None or p.id in only]
        key = tuple(p.id for p in selected)
        needed = self._needed_cache.get(key)
        if needed is None:
            needed = self.m.needed(selected)
            self._needed_cache.put(key, needed, footprint(needed, 1))
        for d in needed:
            if d.scope is None:
                self.defs[d.id] = self._define(d)
            else:
                for inst, _ in self.instances(R, d.scope):
                    self.env["self"] = inst
                    inst[d.id] = self._define(d)
        results: dict = {}
        referrals: list = []
        for prog in selected:
            results[prog.id] = self._program(prog, R)
            for rid in prog.referrals:
                ref = self.by_id[rid]
                if ref.scope is None:
                    self.env.pop("self", None)
                    self._referral(ref, referrals)
            for scope in dict.fromkeys(self.by_id[r].scope for r in prog.referrals if self.by_id[r].scope):
                for inst, _ in self.instances(R, scope):
                    self.env["self"] = inst
                    for rid in prog.referrals:
                        if self.by_id[rid].scope == scope:
                            self._referral(self.by_id[rid], referrals)
        return results, referrals

    def _define(self, d: Definition):
        """A definition's value (for the record in `self.env["self"]` when it has a scope): the hook where
        `explain.py` records what each definition read."""
        return self.value(d.expr)

    def _stored(self, d: Definition):
        return self.env["self"][d.id] if d.scope else self.defs[d.id]

    def _program(self, prog, R) -> dict:
        rules = [self.by_id[r] for r in prog.rules]
        outputs = [self.by_id[o] for o in prog.outputs]
        self.env.pop("self", None)
        missing: set = set()
        undecided: list = []
        out = self._fields([o for o in outputs if o.scope is None], missing, undecided)
        for scope in dict.fromkeys(d.scope for d in outputs if d.scope):
            members: dict = {}
            container = scope
            for inst, container in self.instances(R, scope):
                self.env["self"] = inst
                own: set = set()
                own_undecided: list = []
                fields = self._fields([o for o in outputs if o.scope == scope], own, own_undecided)
                fields["reasons"] = self._reasons([r for r in rules if r.scope == scope])
                fields["_missing"] = frozenset(own)
                fields["_undecided"] = own_undecided
                missing |= own
                members[inst["id"]] = fields
            out[container] = members
        self.env.pop("self", None)
        out["reasons"] = self._reasons([r for r in rules if r.scope is None])
        out["_missing"] = frozenset(missing)
        out["_undecided"] = undecided
        return out

    def _fields(self, outputs: list[Definition], missing: set, undecided: list) -> dict:
        tree: dict = {}
        for o in outputs:
            v = self._stored(o)
            if type(v) is Unknown:
                missing |= v.deps
                undecided.append(o.key)
                v = None
            elif strip_optional(o.type) in MONEY and type(v) is Decimal:
                v = values.money_out(v)
            node = tree
            *parents, leaf = o.key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = v
        return tree

    def _reasons(self, rules: list[Definition]) -> list:
        out = []
        for rule in rules:
            v = self._stored(rule)
            if type(v) is Unknown:
                continue
            for reason in rule.reasons:
                if v != reason.when:
                    continue
                if reason.only_if is not None and self.value(reason.only_if) is not True:
                    continue
                basis = self._basis.get(id(reason))
                if basis is None:
                    basis = self._basis[id(reason)] = self.m.reason_basis(rule, reason)
                defs, facts = basis
                out.append({"rule": rule.id, "citation": "；".join(rule.citations), "text": self._text(reason.parts),
                            "rests_on": {"definitions": defs, "facts": facts}})
        return out

    def _referral(self, ref: Definition, out: list) -> None:
        v = self._stored(ref)
        if v is False:
            return
        missing = set(deps_of(v))
        amount = None
        if ref.amount is not None and v is True:  # an undecided referral carries no amount that could read as due
            amount = self._guarded(ref.amount, v)
            if type(amount) is Unknown:
                missing |= amount.deps
                amount = None
            elif type(amount) is Decimal:
                amount = values.money_out(amount)
        out.append({"program": ref.program, "item": ref.name, "item_id": ref.key,
                    "member": self.env["self"]["id"] if ref.scope else None, "amount": amount,
                    "citation": "；".join(ref.citations),
                    "status": "due" if v is True else "unknown", "_missing": frozenset(missing)})

    def _guarded(self, e: Expr, cond):
        """Evaluate `e` where it matters only if `cond` holds: under an unknown condition, a failure is unknown."""
        if cond is True:
            return self.value(e)
        self.spec += 1
        try:
            return self.value(e)
        except (_Speculative, ArithmeticError, TypeError, ValueError):
            return Unknown(deps_of(cond))
        finally:
            self.spec -= 1

    # ── display ─────────────────────────────────────────────────────────────────────
    def display(self, e: Expr) -> str:
        t = strip_optional(e.type)
        v = self.value(e)
        if type(v) is Unknown:
            return self._display_unknown(v, t)
        if t.startswith("enum:"):
            return values.fmt_value(v, "enum", self.labels[t[5:]])
        if v is not None and (t in _DECIMAL_TYPES - {"percent"} or t in WHOLE):
            return values.fmt_number(v)
        if t.startswith("list:"):
            return values.fmt_value(v, t[5:])
        if t == "locality":
            return values.fmt_value(self.locality_name(v), "text")
        return values.fmt_value(v, t)

    def _text(self, parts) -> str:
        """A reason's sentence. An undecided figure reads （待补充） and takes its unit with it: “保持原低保金（待补充）”,
        not “（待补充）元”."""
        out: list[str] = []
        pending = False
        for p in parts:
            if isinstance(p, str):
                if pending:
                    p = next((p[len(u):] for u in _UNITS if p.startswith(u)), p)
                out.append(p)
                pending = False
            else:
                shown = self.display(p)
                pending = shown == PENDING
                out.append(shown)
        return "".join(out)

    def _display_unknown(self, v: Unknown, t: str) -> str:
        """What is known of an undecided value, when it says something: 至少900, 320～620, 2～3, 分散供养或集中供养,
        甲、乙（另有丙待确定）; otherwise （待补充）."""
        def show(x):
            return values.fmt_date(x) if isinstance(x, _dt.date) else values.fmt_number(
                Decimal(x).quantize(values.FEN) if type(x) is Decimal and x.as_tuple().exponent < -2 else x)
        if t in MONEY:
            lo = v.lo if v.lo is not None and v.lo > 0 else None
            hi = v.hi if v.hi is not None and v.hi < _MAX_SHOWN else None
            if lo is not None and hi is not None:
                return f"{show(lo)}～{show(hi)}"
            if lo is not None:
                return f"至少{show(lo)}"
            if hi is not None:
                return f"至多{show(hi)}"
        elif t in WHOLE:
            if v.lo is not None and v.hi is not None and v.hi - v.lo <= 5:  # a household of 2～3, not an age 0～150
                return f"{show(v.lo)}～{show(v.hi)}"
        elif t.startswith("enum:") and v.opts is not None and len(v.opts) < len(self.labels[t[5:]]):
            return "或".join(self.labels[t[5:]][c] for c in sorted(v.opts))
        elif t.startswith("list:") and v.sure is not None and all(type(x) is str for x in (*v.sure, *v.maybe)):
            maybe = "、".join(v.maybe)
            if v.sure:
                return "、".join(v.sure) + (f"（另有{maybe}待确定）" if maybe else "")
            return f"{maybe}（待确定）" if maybe else PENDING
        return PENDING

    # ── expressions ─────────────────────────────────────────────────────────────────
    def value(self, e: Expr):
        return self._ops[e.op](self, e)

    def x_lit(self, e: Expr):
        key = id(e)
        if key in self._lits:
            return self._lits[key]
        t = e.type
        if e.value is None:
            v = None
        elif t == "bool":
            v = bool(e.value)
        elif t in ("text", "locality") or t.startswith("enum:"):
            v = e.value
        elif t == "date":
            v = _dt.date.fromisoformat(e.value)
        else:
            d = Decimal(e.value)
            v = d if t in _DECIMAL_TYPES - {"number"} or d != int(d) else int(d)
        self._lits[key] = v
        return v

    def x_param(self, e):
        self.used.add(e.value)
        return self.P[e.value]

    def x_input(self, e):
        return self.R[e.value]

    def x_def(self, e):
        return self.defs[e.value]

    def x_elem(self, e):
        return self.env[e.value]

    def x_eval_date(self, e):
        return self.day

    def x_locality(self, e):
        return self.loc

    def x_event(self, e):
        return self.event

    def x_locality_name(self, e):
        x = self.value(e.args[0])
        return Unknown(x.deps, none=x.none) if type(x) is Unknown else self.locality_name(x)

    def x_param_at(self, e):
        return self._param_at(e, self.value(e.args[0]))

    def _param_at(self, e, code):
        """地区参数 at the place `code` (the value of e's argument)."""
        if code is None:
            return None
        if type(code) is Unknown:
            t = strip_optional(e.type)
            return fact(t, code.deps, codes=self._codes(t), none=code.none)
        return self.param_at(e.value, code)

    def x_month(self, e):
        x = self.value(e.args[0])
        if type(x) is not Unknown:
            return x.month
        if x.lo is not None and x.hi is not None and (x.lo.year, x.lo.month) == (x.hi.year, x.hi.month):
            return x.lo.month
        return Unknown(x.deps, lo=Decimal(1), hi=Decimal(12))

    def x_field(self, e):
        return self._field(e, self.value(e.args[0]))

    def _field(self, e, obj):
        """Field `e.value` of `obj` (the value of e's argument)."""
        if obj is None:
            return None
        if type(obj) is not Unknown:
            return obj[e.value]
        rec = self.m.records[strip_optional(e.args[0].type)[7:]]
        f = rec.field(e.value)
        t = strip_optional(e.type)
        none = obj.none or e.type.startswith("opt:")
        if f is None:  # a per-record definition of an unknown record
            return fact(t, obj.deps, codes=self._codes(t), none=none)
        return fact(t, obj.deps, f.minimum, f.maximum, self._codes(t), none)

    def _codes(self, t: str):
        return [c for c, _ in self.m.enums[t[5:]].members] if t.startswith("enum:") else None

    # arithmetic
    def _operands(self, e):
        return [self.value(a) for a in e.args]

    def _arith(self, e, concrete, interval):
        xs = self._operands(e)
        if any(x is None for x in xs):
            return None
        if not any(type(x) is Unknown for x in xs):
            return concrete(*xs)
        t = strip_optional(e.type)
        lo, hi = interval(*(bounds(x) for x in xs))
        return number(lo, hi, deps_of(*xs), any(may_be_none(x) for x in xs), t in WHOLE)

    def x_add(self, e):
        return self._arith(e, lambda a, b: a + b, lambda a, b: (a[0] + b[0], a[1] + b[1]))

    def x_sub(self, e):
        return self._arith(e, lambda a, b: a - b, lambda a, b: (a[0] - b[1], a[1] - b[0]))

    def x_mul(self, e):
        def interval(a, b):
            corners = [_mul(x, y) for x in a for y in b]
            return min(corners), max(corners)
        return self._arith(e, lambda a, b: a * b, interval)

    def x_div(self, e):
        decimal_left = strip_optional(e.args[0].type) in _DECIMAL_TYPES - {"number"}

        def concrete(a, b):
            return (a if decimal_left else Decimal(a)) / b

        def interval(a, b):
            blo, bhi = b
            if strip_optional(e.args[1].type) in WHOLE and blo == 0:
                blo = 1  # a whole divisor of 0 fails the exact evaluation: only the others can give a decision
            if blo <= 0 <= bhi:
                return NINF, INF
            corners = [c for c in (_div(x, y) for x in a for y in (blo, bhi)) if c is not None]
            return (min(corners), max(corners)) if len(corners) == 4 else (NINF, INF)
        return self._arith(e, concrete, interval)

    def x_neg(self, e):
        return self._arith(e, lambda a: -a, lambda a: (-a[1], -a[0]))

    def x_per_month(self, e):
        return self._arith(e, lambda a: a / 12, lambda a: (a[0] / 12, a[1] / 12))

    def x_per_year(self, e):
        return self._arith(e, lambda a: a * 12, lambda a: (a[0] * 12, a[1] * 12))

    def _months(self, e, sign: int):
        d, n = self._operands(e)
        if d is None or n is None:
            return None
        if type(d) is not Unknown and type(n) is not Unknown:
            return values.add_months(d, sign * n)
        dlo, dhi = date_bounds(d)
        nlo, nhi = bounds(n)
        if sign < 0:
            nlo, nhi = -nhi, -nlo
        lo = _shifted(dlo, nlo)
        hi = _shifted(dhi, nhi)
        return dates(lo, hi, deps_of(d, n), may_be_none(d) or may_be_none(n))

    def x_add_months(self, e):
        return self._months(e, 1)

    def x_sub_months(self, e):
        return self._months(e, -1)

    # comparisons and logic
    def _order(self, e):
        a, b = self._operands(e)
        if type(a) is not Unknown and type(b) is not Unknown:
            if a is None or b is None:
                return self._fail("比较的对象没有值")
            return _ORDER[e.op](a, b)
        deps = deps_of(a, b)
        if a is None or b is None:
            return Unknown(deps, opts=UNKNOWN_BOOL)
        bnd = date_bounds if strip_optional(e.args[0].type) == "date" else bounds
        alo, ahi = bnd(a)
        blo, bhi = bnd(b)
        op = e.op
        if op in ("gt", "ge"):  # a > b is b < a
            alo, ahi, blo, bhi = blo, bhi, alo, ahi
        strict = op in ("lt", "gt")
        if ahi is not None and blo is not None and (ahi < blo if strict else ahi <= blo):
            return True
        if alo is not None and bhi is not None and (alo >= bhi if strict else alo > bhi):
            return False
        return Unknown(deps, opts=UNKNOWN_BOOL)

    x_lt = x_le = x_gt = x_ge = _order

    def x_eq(self, e):
        a, b = self._operands(e)
        if type(a) is not Unknown and type(b) is not Unknown:
            return a == b
        deps = deps_of(a, b)
        t = strip_optional(e.args[0].type)
        if a is None or b is None:  # 是否为无
            other = b if a is None else a
            return False if not other.none else Unknown(deps, opts=UNKNOWN_BOOL)
        if t in NUMERIC or t == "date":
            bnd = date_bounds if t == "date" else bounds
            alo, ahi = bnd(a)
            blo, bhi = bnd(b)
            if (ahi is not None and blo is not None and ahi < blo) or (alo is not None and bhi is not None
                                                                        and alo > bhi):
                return False
            return Unknown(deps, opts=UNKNOWN_BOOL)
        pa, pb = possible(a, t), possible(b, t)
        if pa is not None and pb is not None and not (pa & pb):
            return False
        return Unknown(deps, opts=UNKNOWN_BOOL)

    def x_ne(self, e):
        v = self.x_eq(e)
        return (not v) if type(v) is bool else v

    def x_and(self, e):
        a = self.value(e.args[0])
        if a is False:
            return False
        b = self.value(e.args[1])
        if a is True:
            return b
        if b is False:
            return False
        return Unknown(deps_of(a, b), opts=UNKNOWN_BOOL)

    def x_or(self, e):
        a = self.value(e.args[0])
        if a is True:
            return True
        b = self.value(e.args[1])
        if a is False:
            return b
        if b is True:
            return True
        return Unknown(deps_of(a, b), opts=UNKNOWN_BOOL)

    def x_not(self, e):
        a = self.value(e.args[0])
        return (not a) if type(a) is bool else a

    def x_if(self, e):
        c = self.value(e.args[0])
        if c is True:
            return self.value(e.args[1])
        if c is False:
            return self.value(e.args[2])
        return join(self._guarded(e.args[1], c), self._guarded(e.args[2], c), strip_optional(e.type), c.deps)

    def x_case(self, e):
        *pairs, default = e.args
        t = strip_optional(e.type)
        if e.value == "unique":
            return self._unique(pairs, default, t)
        return self._first(list(zip(pairs[0::2], pairs[1::2])), default, t)

    def _first(self, rows, default, t):
        for i, (cond, result) in enumerate(rows):
            c = self.value(cond)
            if c is True:
                return self.value(result)
            if c is not False:
                return join(self._guarded(result, c), self._rest(rows[i + 1:], default, t, c), t, c.deps)
        return self.value(default)

    def _rest(self, rows, default, t, cond):
        self.spec += 1
        try:
            return self._first(rows, default, t)
        except (_Speculative, ArithmeticError, TypeError, ValueError):
            return Unknown(deps_of(cond))
        finally:
            self.spec -= 1

    def _unique(self, pairs, default, t):
        conds = [self.value(c) for c in pairs[0::2]]
        results = pairs[1::2]
        hits = [i for i, c in enumerate(conds) if c is True]
        if len(hits) > 1:
            return self._fail("决策表声明为“唯一”命中，但有多行同时满足")
        maybe = [i for i, c in enumerate(conds) if c is not True and c is not False]
        if not maybe:
            return self.value(results[hits[0]]) if hits else self.value(default)
        deps = deps_of(*conds)
        options = [self._guarded(results[i], conds[i]) for i in hits + maybe]
        if not hits:
            options.append(self._guarded(default, Unknown(deps)))
        out = options[0]
        for o in options[1:]:
            out = join(out, o, t, deps)
        return out

    def _fail(self, message: str):
        if self.spec:
            raise _Speculative(message)
        from .evaluator import EvaluationError
        raise EvaluationError(message)

    def x_present(self, e):
        x = self.value(e.args[0])
        if type(x) is not Unknown:
            return x is not None
        return Unknown(x.deps, opts=UNKNOWN_BOOL) if x.none else True

    def x_default(self, e):
        x = self.value(e.args[0])
        if x is None:
            return self.value(e.args[1])
        if type(x) is not Unknown or not x.none:
            return x
        present = Unknown(x.deps, x.lo, x.hi, x.opts, False, x.sure, x.maybe)
        return join(present, self.value(e.args[1]), strip_optional(e.type))

    def _extreme(self, e, pick):
        xs = self._operands(e)
        if not any(type(x) is Unknown for x in xs):
            return pick(xs)
        bs = [bounds(x) for x in xs]
        return number(pick(b[0] for b in bs), pick(b[1] for b in bs), deps_of(*xs),
                      any(may_be_none(x) for x in xs), strip_optional(e.type) in WHOLE)

    def x_min(self, e):
        return self._extreme(e, min)

    def x_max(self, e):
        return self._extreme(e, max)

    def x_round(self, e):
        x, mode = self._operands(e)
        if type(x) is not Unknown:
            return values.round_money(x, mode)
        lo, hi = bounds(x)
        lo = values.round_money(lo, mode) if lo.is_finite() else lo
        hi = values.round_money(hi, mode) if hi.is_finite() else hi
        return number(lo, hi, x.deps, x.none)

    def x_lookup(self, e):
        self.used.add(e.value)
        rows = self.P[e.value]
        key = self.value(e.args[0])
        if type(key) is not Unknown:
            return values.lookup_brackets(rows, key)
        lo, hi = bounds(key)
        found = []
        if not rows or lo < rows[0][0]:
            found.append(values.ZERO)
        for i, (bound, value) in enumerate(rows):
            upper = rows[i + 1][0] if i + 1 < len(rows) else INF
            if bound <= hi and upper > lo:
                found.append(value)
        return number(min(found), max(found), key.deps, whole=strip_optional(e.type) in WHOLE)

    # lists
    def _each(self, e, items):
        var, body = e.value, e.args[1]
        saved = self.env.get(var)
        out = []
        try:
            for item in items:
                self.env[var] = item
                out.append(self.value(body))
        finally:
            self.env[var] = saved
        return out

    def _aggregate(self, e):
        lst = self.value(e.args[0])
        kind = e.op
        parts = list_parts(lst)
        if kind == "count" and len(e.args) == 1:
            if type(lst) is list:
                return len(lst)
            if parts is None:
                lo, hi = bounds(lst)
                return number(max(lo, Decimal(0)), hi, lst.deps, whole=True)
            return number(Decimal(len(parts[0])), Decimal(len(parts[0]) + len(parts[1])), lst.deps, whole=True)
        t = strip_optional(e.type)
        if parts is None:
            return self._opaque(kind, lst, t, e)
        sure, maybe = parts
        list_deps = deps_of(lst)
        got_sure = self._each(e, sure)
        got_maybe = self._each(e, maybe)
        return getattr(self, "_agg_" + kind)(sure, maybe, got_sure, got_maybe, list_deps, t)

    x_sum = x_count = x_any = x_all = x_filter = x_map = _aggregate

    def _opaque(self, kind, lst, t, e):
        """An aggregate over a list of which nothing is known."""
        if kind in ("any", "all"):
            return Unknown(lst.deps, opts=UNKNOWN_BOOL)
        if kind == "count":
            return number(Decimal(0), INF if lst.hi is None else lst.hi, lst.deps, whole=True)
        if kind == "sum":
            return number(NINF, INF, lst.deps, whole=t in WHOLE)
        return Unknown(lst.deps)

    def _agg_sum(self, sure, maybe, got_sure, got_maybe, deps, t):
        if not maybe and not any(type(v) is Unknown for v in got_sure):
            return sum(got_sure, values.ZERO if t in _DECIMAL_TYPES else 0)
        lo = hi = values.ZERO if t in _DECIMAL_TYPES else 0
        for v in got_sure:
            vlo, vhi = bounds(v)
            lo, hi = lo + vlo, hi + vhi
        for v in got_maybe:
            vlo, vhi = bounds(v)
            lo, hi = lo + min(vlo, 0), hi + max(vhi, 0)
        return number(lo, hi, deps | deps_of(*got_sure, *got_maybe), whole=t in WHOLE)

    def _agg_count(self, sure, maybe, got_sure, got_maybe, deps, t):
        yes = sum(1 for v in got_sure if v is True)
        may = sum(1 for v in got_sure if type(v) is Unknown) + sum(1 for v in got_maybe if v is not False)
        if not may:
            return yes
        return number(Decimal(yes), Decimal(yes + may), deps | deps_of(*got_sure, *got_maybe), whole=True)

    def _agg_any(self, sure, maybe, got_sure, got_maybe, deps, t):
        if any(v is True for v in got_sure):
            return True
        open_ = [v for v in got_sure if v is not False] + [v for v in got_maybe if v is not False]
        if not open_:
            return False
        return Unknown(deps_of(*open_) | (deps if any(v is not False for v in got_maybe) else NO_DEPS),
                       opts=UNKNOWN_BOOL)

    def _agg_all(self, sure, maybe, got_sure, got_maybe, deps, t):
        if any(v is False for v in got_sure):
            return False
        open_ = [v for v in got_sure if v is not True] + [v for v in got_maybe if v is not True]
        if not open_:
            return True
        return Unknown(deps_of(*open_) | (deps if any(v is not True for v in got_maybe) else NO_DEPS),
                       opts=UNKNOWN_BOOL)

    def _agg_filter(self, sure, maybe, got_sure, got_maybe, deps, t):
        keep = [x for x, v in zip(sure, got_sure) if v is True]
        may = [x for x, v in zip(sure, got_sure) if type(v) is Unknown] + \
              [x for x, v in zip(maybe, got_maybe) if v is not False]
        if not may:
            return keep
        return Unknown(deps | deps_of(*got_sure, *got_maybe), sure=keep, maybe=may)

    def _agg_map(self, sure, maybe, got_sure, got_maybe, deps, t):
        if not maybe and not any(type(v) is Unknown for v in got_sure):
            return got_sure
        return Unknown(deps | deps_of(*got_sure, *got_maybe), sure=got_sure, maybe=got_maybe)


PartialEvaluator._ops = {name[2:]: getattr(PartialEvaluator, name) for name in dir(PartialEvaluator)
                         if name.startswith("x_")}
