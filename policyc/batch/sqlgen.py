"""Compiles the IR's definitions into one DuckDB query that decides a whole population: the SQL twin of
`runtime/codegen_rules.py`, reading the same IR, one method per node kind (sqlglot's Generator shape).

What it computes, and where it stops being sure (docs/batch.md, "两条通道"):

* Every number has a scale known when the query is compiled (`scale`): money read from the request 2 (the
  clean-row check admits at most two decimals), a parameter the most decimals any of its values has (a place and
  date with a value beyond it is left to the Python runtime), a literal its own, a sum the larger, a product the
  sum of its factors', a quotient 20. A number of scale s is a DECIMAL(18+s, s) (`dec`): 18 integer digits
  whatever the scale, so where DuckDB meets two scales (a CASE, coalesce, least, a comparison) it keeps the
  larger, never rounding, and each result is cast back to the type of its scale. DuckDB's 128-bit decimals are
  cheap to widen, add and compare but ≈ 50× dearer to narrow (a division by a power of ten): keeping every number
  at its own scale spares those, where a single DECIMAL(38,20) for everything needed them around every product.
* + − are exact; × is exact when the scales add up to at most 20, and otherwise when each factor has at most 10
  decimals (else the row is flagged); ÷ is allowed only by a whole number and computed in 128-bit integers to 20
  decimals. The Python runtime computes to 28 significant digits: the two agree on every comparison and every
  rounding to the fen, because a quotient of values with ≤ 10 decimals by n differs from any such value by at
  least 10⁻¹⁰/n, far more than the 10⁻²⁰ either side may drop.
* SQL NULL is 无 (None), and only that: rows with unknown facts never reach this query (the clean-row predicate in
  `sqlinput.py` sends them to the Python runtime, which settles what the known facts and bounds settle).
* Beside every value the query computes a fault flag: a condition under which the Python runtime would stop with
  an error (÷0, a missing parameter at another place, two rows of a 唯一 table, …) or this query could differ
  (a product it rounds), and a record that breaks a 要求 of its type (the runtime refuses the request). Each
  flag is guarded by the conditions under which Python evaluates that expression, so
  an `如果` branch not taken raises nothing, as in Python. A flagged row is re-run by the Python runtime.

Every name in the query is made here (i0 inputs, p0 parameters, d0 definitions, h0 lists of records, s0/v0 lambda
variables, `_i0` positions added to records) or is an IR field id, checked against the closed alphabet by `quote`;
every value is written by `_lit_text` or `_lit_dec`.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from ..ir import MONEY, Definition, Expr, Module, is_optional, strip_optional
from ..runtime.pysource import Names
from . import sqltypes as T
from .sqltypes import DEC, WHOLE, Unsupported, quote

_CMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=", "ne": "<>"}
_ROUND = {"ceil_yuan": "CAST(ceil({x}) AS {D})", "round_yuan": "CAST(round({x}, 0) AS {D})",
          "floor_yuan": "CAST(floor({x}) AS {D})",
          "ceil_jiao": "CAST(CAST(ceil({x} * 10) AS DECIMAL(38,0)) * CAST('0.1' AS DECIMAL(2,1)) AS {D})",
          "round_jiao": "CAST(round({x}, 1) AS {D})", "round_fen": "CAST(round({x}, 2) AS {D})"}
_E20 = "CAST('0.00000000000000000001' AS DECIMAL(38,20))"
MAX_MONTHS = 1200  # months added to a date: more would leave the calendar the Python runtime computes in


def _lit_text(s: str) -> str:
    if not isinstance(s, str) or "\x00" in s:
        raise Unsupported("text literal")
    return "'" + s.replace("'", "''") + "'"


def dec(scale: int) -> str:
    """The type of a number of at most `scale` decimals: 18 integer digits at every scale."""
    return f"DECIMAL({18 + scale},{scale})"


def decimals(value) -> int:
    """How many decimals a number literal or parameter value has (a Decimal or its text)."""
    exponent = Decimal(str(value)).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else MAX_SCALE + 1


MAX_SCALE = 20


def _lit_dec(value) -> str:
    d = Decimal(str(value))
    if not d.is_finite() or abs(d) >= Decimal(10) ** 17 or d.as_tuple().exponent < -MAX_SCALE:
        raise Unsupported(f"number {value}")
    return f"CAST('{format(d, 'f')}' AS {dec(decimals(d))})"


def _any(conds: list[str]) -> str:
    return "(" + " OR ".join(conds) + ")" if conds else "FALSE"


def _guard(cond: str, faults: list[str]) -> list[str]:
    """Faults of an expression Python evaluates only when `cond` holds."""
    return [f"(coalesce({cond}, FALSE) AND {f})" for f in faults]


def _origin(cond: str) -> str:
    return f"coalesce({cond}, FALSE)"


class SqlCodegen:
    """One query per selection of programs: `query(source)` reads the typed requests joined with their
    parameters from relation `source` and returns `_row`, `_fault`, `programs` and `referrals`."""

    def __init__(self, module: Module, programs: list[str] | None = None, reasons: bool = False,
                 locality_names: dict | None = None, param_scales: dict | None = None):
        self.m = module
        # parameter id -> the most decimals its values have (the engine types its column so and leaves a place
        # and date with more to the Python runtime); a parameter not named here is a DECIMAL(38,20)
        self.param_scales = dict(param_scales or {})
        self._scales: dict[str, int] = {}  # definition id -> scale
        self.by_id = {d.id: d for d in module.definitions}
        self.selected = [p for p in module.programs if programs is None or p.id in programs]
        self.with_reasons = reasons
        self.names = locality_names or {}
        self.param = Names("p")
        self.input = Names("i")
        self.defn = Names("d")
        self.hoist = Names("h")
        self.var = Names("v")
        self.scopes: dict[str, tuple] = {}  # record id -> (hoisted column, (nested list field ids))
        # a hoisted list cut down to the fields one definition reads (`_slim`): (column, fields) -> its name, and
        # the column -> cut-down column in use while that definition is compiled
        self.slims: dict[tuple, str] = {}
        self.slim_of: dict[str, str] = {}
        self.self_var: str | None = None
        self.scope_vars: list[str] = []
        self.lambdas = 0
        self.needed = module.needed(self.selected)
        for d in self.needed:
            if d.scope is not None:
                self._scope(d.scope)

    # ── places of records ───────────────────────────────────────────────────────────────
    def _scope(self, rid: str) -> tuple:
        if rid in self.scopes:
            return self.scopes[rid]
        paths = self.m.instance_paths(rid)
        if len(paths) != 1:
            raise Unsupported(f"record {rid} occurs in {len(paths)} places")
        path = paths[0]
        ok = (len(path) >= 3 and path[0][0] == "input" and path[1][0] == "field" and path[2][0] == "each"
              and all(k == ("field" if i % 2 == 0 else "each") for i, (k, _) in enumerate(path[3:])))
        if not ok:
            raise Unsupported(f"record {rid} is not an item of a list")
        top = (path[0][1], path[1][1])
        nested = tuple(key for kind, key in path[3::2])
        self.scopes[rid] = (self.hoist(top), nested, top)
        return self.scopes[rid]

    def _lambda(self) -> str:
        self.lambdas += 1
        return f"s{self.lambdas}"

    def over_instances(self, rid: str, body, flatten: bool = True) -> str:
        """A list of `body(var)` for every instance of record `rid` (flattened across the lists it nests in)."""
        col, nested, _ = self._scope(rid)
        outer = self._lambda()

        def level(var: str, steps: tuple) -> str:
            if not steps:
                return body(var)
            inner = self._lambda()
            return f"list_transform({var}.{quote(steps[0])}, lambda {inner}: {level(inner, steps[1:])})"

        src = f"list_transform({self.slim_of.get(col, col)}, lambda {outer}: {level(outer, nested)})"
        for _ in nested if flatten else ():
            src = f"flatten({src})"
        return src

    def hoisted(self) -> list[str]:
        """The select items that take each list of records out of its input, marking every instance, at every
        depth, with its position (`_i0`, `_i1`, …: 1-based, as DuckDB indexes lists)."""
        tops: dict[str, tuple] = {}
        tries: dict[str, dict] = {}
        for col, nested, top in self.scopes.values():
            tops[col] = top
            node = tries.setdefault(col, {})
            for step in nested:
                node = node.setdefault(step, {})

        def level(var: str, node: dict, here: list[str]) -> str:
            src = var
            if node:
                updates = []
                for step, child in node.items():
                    inner, m = self._lambda(), self._lambda()
                    updates.append(f"{quote(step)} := list_transform({var}.{quote(step)}, "
                                   f"lambda {inner}, {m}: {level(inner, child, here + [m])})")
                src = f"struct_update({var}, {', '.join(updates)})"
            marks = ", ".join(f"_i{j} := {v}" for j, v in enumerate(here))
            return f"struct_insert({src}, {marks})"

        out = []
        for col, (inp, fld) in tops.items():
            var, n = self._lambda(), self._lambda()
            src = f"{self.input(inp)}.{quote(fld)}"
            out.append(f"list_transform({src}, lambda {var}, {n}: {level(var, tries[col], [n])}) AS {col}")
        return out

    def slimmed(self) -> list[str]:
        """The select items of the cut-down lists (`_slim`), made from the hoisted lists."""
        out = []
        for (col, fields), name in self.slims.items():
            var = self._lambda()
            keep = ", ".join(f"{quote(f)} := {var}.{quote(f)}" for f in sorted(fields))
            out.append(f"list_transform({col}, lambda {var}: struct_pack({keep + ', ' if keep else ''}"
                       f"_i0 := {var}._i0)) AS {name}")
        return out

    # ── expressions ──────────────────────────────────────────────────────────────────
    def expr(self, e: Expr) -> str:
        fn = getattr(self, "x_" + e.op, None)
        if fn is None:
            raise Unsupported(f"operation {e.op}")
        return fn(e)

    def scale(self, e: Expr) -> int:
        """At most how many decimals the number `e` has, on every row (the module docstring says why)."""
        op, a = e.op, e.args
        if op == "lit":
            return 0 if e.value is None else decimals(e.value)
        if op in ("param", "lookup"):  # a number parameter, or the value column of a table
            return self.param_scales.get(e.value, MAX_SCALE)
        if op in ("input", "field"):
            d = self.by_id.get(e.value) if op == "field" else None
            if d is not None:
                return self.def_scale(d)
            return 2 if strip_optional(e.type) in MONEY else MAX_SCALE
        if op == "def":
            return self.def_scale(self.by_id[e.value])
        if op in ("add", "sub", "min", "max", "default"):
            return max(self._num_scale(x) for x in a)
        if op == "if":
            return max(self._num_scale(a[1]), self._num_scale(a[2]))
        if op == "case":
            *pairs, default = a
            return max([self._num_scale(r) for r in pairs[1::2]] + [self._num_scale(default)])
        if op == "mul":
            return min(MAX_SCALE, sum(self._num_scale(x) for x in a))
        if op in ("neg", "per_year"):
            return self._num_scale(a[0])
        if op == "round":
            return 2
        if op == "sum" and len(a) > 1:
            return self._num_scale(a[1])
        return MAX_SCALE  # ÷, per_month, param_at: DECIMAL(38,20)

    def _num_scale(self, e: Expr) -> int:
        """The scale of an operand: 0 for a whole number."""
        return self.scale(e) if T.scalar(e.type) == "dec" else 0

    def def_scale(self, d: Definition) -> int:
        got = self._scales.get(d.id)
        if got is None:
            got = self._scales[d.id] = self._num_scale(d.expr)
        return got

    def _typed(self, e: Expr, sql: str) -> str:
        """`sql` in the type of `e`'s scale, when `e` is a number."""
        return f"CAST({sql} AS {dec(self.scale(e))})" if T.scalar(e.type) == "dec" else sql

    def x_lit(self, e: Expr) -> str:
        t = strip_optional(e.type)
        if e.value is None:
            s = T.scalar(t)
            return f"CAST(NULL AS {dec(0) if s == 'dec' else T.duckdb(s)})" if s else "NULL"
        if t == "bool":
            return "TRUE" if e.value else "FALSE"
        if t in ("text", "locality") or t.startswith("enum:"):
            return _lit_text(str(e.value))
        if t == "date":
            return f"DATE '{dt.date.fromisoformat(e.value).isoformat()}'"
        if t in WHOLE:
            return str(int(Decimal(str(e.value))))
        return _lit_dec(e.value)

    def x_param(self, e: Expr) -> str:
        return self.param(e.value)

    def x_input(self, e: Expr) -> str:
        return self._typed(e, self.input(e.value))  # as x_field, for the same reason

    def x_def(self, e: Expr) -> str:
        d = self.by_id[e.value]
        if d.scope is not None:
            raise Unsupported("a per-record definition read as a whole")
        return self.defn(e.value)

    def x_elem(self, e: Expr) -> str:
        if e.value == "self":
            if self.self_var is None:
                raise Unsupported("self outside a record")
            return self.self_var
        return self.var(e.value)

    def x_eval_date(self, e: Expr) -> str:
        return "_date"

    def x_locality(self, e: Expr) -> str:
        return "_loc"

    def x_event(self, e: Expr) -> str:
        return "_event"

    def x_locality_name(self, e: Expr) -> str:
        pairs = ", ".join(f"{_lit_text(k)}: {_lit_text(v)}" for k, v in sorted(self.names.items()))
        return f"map_extract_value(MAP {{{pairs}}}, {self.expr(e.args[0])})"

    def x_param_at(self, e: Expr) -> str:
        return f"map_extract_value({self.param(('at', e.value))}, {self.expr(e.args[0])})"

    def x_month(self, e: Expr) -> str:
        return f"CAST(month({self.expr(e.args[0])}) AS BIGINT)"

    def x_field(self, e: Expr) -> str:
        obj, key = e.args[0], e.value
        d = self.by_id.get(key)
        if d is None:
            for col, _, top in self.scopes.values():  # a list of records whose instances carry definitions
                if obj.op == "input" and top == (obj.value, key):
                    return self.slim_of.get(col, col)
            # A request's number is given the type of its scale where it is read, whatever the file's type:
            # DuckDB gives DECIMAL(38,2) and DECIMAL(38,20) meeting in one CASE, coalesce or least the type
            # DECIMAL(38,2) (it keeps integer digits before decimals) and would round 213.997 to 214.00.
            return self._typed(e, f"{self.expr(obj)}.{quote(key)}")
        if d.scope is None:
            raise Unsupported("a definition read as a field")
        return self._scoped_value(d, self.expr(obj))

    def _scoped_value(self, d: Definition, var: str) -> str:
        """A per-record definition's value for the instance `var`: definitions of records are lists beside the
        hoisted list (one value per instance, nested as the records nest), read at the instance's position."""
        _, nested, _ = self._scope(d.scope)
        return self.defn(d.id) + "".join(f"[{var}._i{k}]" for k in range(len(nested) + 1))

    def _arith(self, e: Expr) -> str:
        a, b = (self.expr(x) for x in e.args)
        op = {"add": "+", "sub": "-"}[e.op]
        return self._typed(e, f"({a} {op} {b})")

    x_add = x_sub = _arith

    def x_mul(self, e: Expr) -> str:
        a, b = e.args
        sa, sb = (strip_optional(x.type) in WHOLE for x in e.args)
        if sa and sb:
            return f"({self.expr(a)} * {self.expr(b)})"
        if sa or sb or self._num_scale(a) + self._num_scale(b) <= MAX_SCALE:  # exact in the type of its scale
            return self._typed(e, f"({self.expr(a)} * {self.expr(b)})")
        return (f"CAST((CAST({self.expr(a)} AS DECIMAL(38,10)) * CAST({self.expr(b)} AS DECIMAL(38,10))) "
                f"AS {DEC})")

    def _div(self, a: str, b: str) -> str:
        """a ÷ b for a whole b, to 20 decimals, truncated, in 128-bit integers."""
        units = f"(CAST(CAST({a} AS DECIMAL(38,10)) * 10000000000 AS HUGEINT) * 10000000000)"
        return f"CAST(CAST({units} // nullif({b}, 0) AS DECIMAL(38,0)) * {_E20} AS {DEC})"

    def x_div(self, e: Expr) -> str:
        if strip_optional(e.args[1].type) not in WHOLE:
            raise Unsupported("division by a number that is not whole")
        return self._div(self.expr(e.args[0]), self.expr(e.args[1]))

    def x_neg(self, e: Expr) -> str:
        return f"(-{self.expr(e.args[0])})"

    def _months(self, e: Expr) -> str:
        d, n = (self.expr(x) for x in e.args)
        sign = "+" if e.op == "add_months" else "-"
        return f"CASE WHEN abs({n}) <= {MAX_MONTHS} THEN CAST({d} {sign} to_months(CAST({n} AS INTEGER)) AS DATE) END"

    x_add_months = x_sub_months = _months

    def x_per_month(self, e: Expr) -> str:
        return self._div(self.expr(e.args[0]), "12")

    def x_per_year(self, e: Expr) -> str:
        return self._typed(e, f"({self.expr(e.args[0])} * 12)")

    def _cmp(self, e: Expr) -> str:
        a, b = (self.expr(x) for x in e.args)
        if e.op in ("eq", "ne") and any(is_optional(x.type) for x in e.args):
            return f"({a} IS {'NOT ' if e.op == 'eq' else ''}DISTINCT FROM {b})"
        return f"({a} {_CMP[e.op]} {b})"

    x_lt = x_le = x_gt = x_ge = x_eq = x_ne = _cmp

    def x_and(self, e: Expr) -> str:
        return f"({self.expr(e.args[0])} AND {self.expr(e.args[1])})"

    def x_or(self, e: Expr) -> str:
        return f"({self.expr(e.args[0])} OR {self.expr(e.args[1])})"

    def x_not(self, e: Expr) -> str:
        return f"(NOT {self.expr(e.args[0])})"

    def x_if(self, e: Expr) -> str:
        c, a, b = (self.expr(x) for x in e.args)
        return self._typed(e, f"(CASE WHEN {c} THEN {a} ELSE {b} END)")

    def x_present(self, e: Expr) -> str:
        return f"({self.expr(e.args[0])} IS NOT NULL)"

    def x_default(self, e: Expr) -> str:
        return self._typed(e, f"coalesce({self.expr(e.args[0])}, {self.expr(e.args[1])})")

    def x_min(self, e: Expr) -> str:
        return self._typed(e, f"least({', '.join(self.expr(a) for a in e.args)})")

    def x_max(self, e: Expr) -> str:
        return self._typed(e, f"greatest({', '.join(self.expr(a) for a in e.args)})")

    def x_round(self, e: Expr) -> str:
        x, mode = self.expr(e.args[0]), self.expr(e.args[1])
        arms = " ".join(f"WHEN {_lit_text(k)} THEN {v.format(x=x, D=dec(2))}" for k, v in _ROUND.items())
        return f"(CASE {mode} {arms} END)"

    def x_lookup(self, e: Expr) -> str:
        key = self.expr(e.args[0])
        v = f"v{self.lambdas + 1}"
        self.lambdas += 1
        zero = "0" if T.scalar(e.type) == "bigint" else _lit_dec(0)
        return self._typed(e, f"coalesce(list_extract(list_filter({self.param(e.value)}, lambda {v}: {key} >= {v}.b), "
                              f"-1).v, {zero})")

    def _aggregate(self, e: Expr) -> str:
        if e.op == "count" and len(e.args) == 1:
            return f"CAST(len({self.expr(e.args[0])}) AS BIGINT)"
        lst, body = self.expr(e.args[0]), self.expr(e.args[1])
        v = self.var(e.value)
        if e.op == "sum":
            zero = _lit_dec(0) if T.scalar(e.type) == "dec" else "0"
            cast = dec(self.scale(e)) if T.scalar(e.type) == "dec" else "BIGINT"
            return f"CAST(coalesce(list_sum(list_transform({lst}, lambda {v}: {body})), {zero}) AS {cast})"
        if e.op == "count":
            return f"CAST(len(list_filter({lst}, lambda {v}: {body})) AS BIGINT)"
        if e.op == "any":
            return f"coalesce(list_bool_or(list_transform({lst}, lambda {v}: {body})), FALSE)"
        if e.op == "all":
            return f"coalesce(list_bool_and(list_transform({lst}, lambda {v}: {body})), TRUE)"
        if e.op == "filter":
            return f"list_filter({lst}, lambda {v}: {body})"
        return f"list_transform({lst}, lambda {v}: {body})"

    x_sum = x_count = x_any = x_all = x_filter = x_map = _aggregate

    def x_case(self, e: Expr) -> str:
        *pairs, default = e.args
        arms = " ".join(f"WHEN {self.expr(c)} THEN {self.expr(r)}" for c, r in zip(pairs[0::2], pairs[1::2]))
        return self._typed(e, f"(CASE {arms} ELSE {self.expr(default)} END)")

    # ── faults: where the Python runtime would stop, under the conditions it evaluates there ──────
    def fault(self, e: Expr) -> list[str]:
        op, a = e.op, e.args
        if op in ("lit", "param", "input", "def", "elem", "eval_date", "locality", "event"):
            return []
        if op == "and":
            return self.fault(a[0]) + _guard(self.expr(a[0]), self.fault(a[1]))
        if op == "or":
            return self.fault(a[0]) + _guard(f"NOT {self.expr(a[0])}", self.fault(a[1]))
        if op == "if":
            c = self.expr(a[0])
            return self.fault(a[0]) + _guard(c, self.fault(a[1])) + _guard(f"NOT {c}", self.fault(a[2]))
        if op == "default":
            return self.fault(a[0]) + _guard(f"{self.expr(a[0])} IS NULL", self.fault(a[1]))
        if op == "case":
            *pairs, default = a
            out, before = [], []
            for c, r in zip(pairs[0::2], pairs[1::2]):
                cs = self.expr(c)
                if e.value == "unique":
                    out += self.fault(c) + self.fault(r)
                else:
                    prior = " AND ".join(f"NOT coalesce({p}, FALSE)" for p in before) or "TRUE"
                    out += _guard(prior, self.fault(c)) + _guard(f"{prior} AND {cs}", self.fault(r))
                before.append(cs)
            if e.value == "unique":
                hits = " + ".join(f"CAST(coalesce({c}, FALSE) AS INTEGER)" for c in before)
                return out + self.fault(default) + [f"(({hits}) > 1)"]
            prior = " AND ".join(f"NOT coalesce({p}, FALSE)" for p in before) or "TRUE"
            return out + _guard(prior, self.fault(default))
        if op in ("sum", "count", "any", "all", "filter", "map"):
            out = self.fault(a[0])
            if is_optional(a[0].type):
                out.append(_origin(f"{self.expr(a[0])} IS NULL"))
            if len(a) > 1:
                inner = self.fault(a[1])
                if inner:
                    v = self.var(e.value)
                    out.append(_origin(f"list_bool_or(list_transform({self.expr(a[0])}, lambda {v}: {_any(inner)}))"))
            return out
        out = [f for x in a for f in self.fault(x)]
        if op == "div" or op == "per_month":
            if op == "div":
                out.append(_origin(f"{self.expr(a[1])} = 0"))
            out += self._ten_decimals(a[0])
        elif (op == "mul" and not any(strip_optional(x.type) in WHOLE for x in a)
              and self._num_scale(a[0]) + self._num_scale(a[1]) > MAX_SCALE):
            out += [f for x in a for f in self._ten_decimals(x)]
        elif op in ("lt", "le", "gt", "ge", "min", "max", "lookup", "month") or (op == "field" and not is_optional(a[0].type)):
            out += [_origin(f"{self.expr(x)} IS NULL") for x in a if is_optional(x.type)]
        elif op == "round":  # a rounding mode this generator does not know: the runtime decides
            modes = ", ".join(_lit_text(k) for k in _ROUND)
            out.append(_origin(f"{self.expr(a[1])} NOT IN ({modes})"))
        elif op in ("add_months", "sub_months"):
            out.append(_origin(f"abs({self.expr(a[1])}) > {MAX_MONTHS}"))
        elif op == "param_at":
            out.append(_origin(f"{self.expr(a[0])} IS NOT NULL AND {self.expr(e)} IS NULL"))
        return out

    def _ten_decimals(self, x: Expr) -> list[str]:
        """The fault of a factor or dividend with more than 10 decimals (none when its scale says so)."""
        if self._num_scale(x) <= 10:
            return []
        return [_origin(f"CAST({self.expr(x)} AS DECIMAL(38,10)) <> {self.expr(x)}")]

    # ── the query ───────────────────────────────────────────────────────────────────
    def _depends(self, d: Definition) -> set[str]:
        return {n.value for x in d.expressions() for n in x.walk()
                if n.op in ("def", "field") and n.value in self.by_id and n.value != d.id}

    def layers(self) -> list[list[Definition]]:
        level: dict[str, int] = {}
        for d in self.needed:  # topologically sorted
            level[d.id] = 1 + max((level.get(x, 0) for x in self._depends(d)), default=0)
        out: dict[int, list[Definition]] = {}
        for d in self.needed:
            out.setdefault(level[d.id], []).append(d)
        return [out[k] for k in sorted(out)]

    def _bound(self, var: str, fn):
        saved = self.self_var
        self.self_var = var
        try:
            return fn()
        finally:
            self.self_var = saved

    def steps(self) -> list[str]:
        """The SELECT list of each step after the first: every layer of definitions."""
        out = []
        for layer in self.layers():
            items = []
            for d in layer:
                if d.scope is None:
                    name = self.defn(d.id)
                    items.append(f"{self.expr(d.expr)} AS {name}")
                    items.append(f"{_any(self.fault(d.expr))} AS f_{name}")
            for d in layer:
                if d.scope is not None:
                    name = self.defn(d.id)
                    self.slim_of = self._slim(d)
                    values = self.over_instances(d.scope, lambda v, d=d: self._bound(v, lambda: self.expr(d.expr)),
                                                 flatten=False)
                    items.append(f"{values} AS {name}")
                    faults = self.fault_of_scoped(d)
                    items.append(f"{faults} AS f_{name}")
                    self.slim_of = {}
            sel = "*"
            out.append(", ".join([sel] + items))
        return out

    def any_instance(self, scope: str, faults_of) -> str:
        """Whether the fault `faults_of()` (compiled with `self` bound to an instance of record `scope`) holds for
        any instance."""
        seen: list[str] = []

        def body(v):
            seen.append(self._bound(v, faults_of))
            return seen[-1]
        lst = self.over_instances(scope, body)
        return "FALSE" if seen == ["FALSE"] else f"coalesce(list_bool_or({lst}), FALSE)"

    def _slim(self, d: Definition) -> dict:
        """For a per-record definition that goes over its own records again for each one (第四条's pair test of
        co-resident supporters): its list cut down to the fields it reads, {column: cut-down column}. Inside a
        lambda DuckDB copies every value a nested lambda reads from outside it — here the whole list of members
        and the member, once per pair — and copying a few fields is ≈ 2× cheaper than copying every field."""
        col, nested, top = self._scope(d.scope)
        own = f"record:{d.scope}"
        walk = list(d.expr.walk())
        again = [n for n in walk if n.op in ("sum", "count", "any", "all", "filter", "map") and n.args
                 and n.args[0].op == "field" and n.args[0].args and n.args[0].args[0].op == "input"
                 and (n.args[0].args[0].value, n.args[0].value) == top]
        if nested or not again:
            return {}
        fields = set()
        for n in walk:
            for a in n.args:
                if a.op == "elem" and strip_optional(a.type) == own:
                    if n.op != "field":
                        return {}  # the record itself is used: keep it whole
                    if n.value not in self.by_id:
                        fields.add(n.value)
        if d.expr.op == "elem":
            return {}
        key = (col, frozenset(fields))
        if key not in self.slims:
            self.slims[key] = f"{col}_{len(self.slims)}"
        return {col: self.slims[key]}

    def fault_of_scoped(self, d: Definition) -> str:
        return self.any_instance(d.scope, lambda: _any(self.fault(d.expr)))

    def _all_faults(self) -> list[str]:
        return [f"f_{self.defn(d.id)}" for d in self.needed]

    def value_of(self, d: Definition) -> str:
        return self._scoped_value(d, self.self_var) if d.scope else self.defn(d.id)

    def _reasons(self, rules: list[Definition]) -> tuple[str, list[str]]:
        """The rule ids of the reasons that hold (one per sentence, as the runtime lists them), and the faults
        of evaluating them."""
        items, faults = [], []
        for rule in rules:
            for reason in rule.reasons:
                cond = self.value_of(rule) if reason.when else f"NOT {self.value_of(rule)}"
                if reason.only_if is not None:
                    faults += self.fault(reason.only_if)
                    cond = f"coalesce({self.expr(reason.only_if)}, FALSE) AND {cond}"
                parts = [f for p in reason.parts if not isinstance(p, str) for f in self._part_faults(p)]
                faults += _guard(cond, parts)
                items.append(f"CASE WHEN {cond} THEN {_lit_text(rule.id)} END")
        if not items:
            return "CAST([] AS VARCHAR[])", faults
        return f"list_filter([{', '.join(items)}], lambda x: x IS NOT NULL)", faults

    def _part_faults(self, p: Expr) -> list[str]:
        """A reason's figure is shown, not used: only its faults matter here (locality names cannot fail)."""
        if any(n.op == "locality_name" for n in p.walk()):
            return [f for a in p.args for f in self.fault(a)] if p.op == "locality_name" else []
        return self.fault(p)

    def _outputs(self, outputs: list[Definition], extra: list[tuple[str, str]]) -> str:
        tree: dict = {}
        for o in outputs:
            src = self.value_of(o)
            if strip_optional(o.type) in MONEY:
                src = f"CAST({src} AS DECIMAL(38,2))"
            node = tree
            *parents, leaf = o.key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = src
        for k, v in extra:
            tree[k] = v

        def show(node) -> str:
            return "struct_pack(" + ", ".join(
                f"{quote(k)} := {show(v) if isinstance(v, dict) else v}" for k, v in node.items()) + ")"
        return show(tree)

    def output_type(self):
        """The type of the `programs` column (as `sqltypes` describes types)."""
        missing = ("list", ("struct", (("path", "text"), ("name", "text"))))
        progs = []
        for prog in self.selected:
            outs = [self.by_id[o] for o in prog.outputs]

            def tree(defs, extra):
                node: dict = {}
                for o in defs:
                    n = node
                    *parents, leaf = o.key.split(".")
                    for p in parents:
                        n = n.setdefault(p, {})
                    n[leaf] = T.output(o.type)
                node.update(extra)

                def conv(x):
                    return ("struct", tuple((k, conv(v) if isinstance(v, dict) else v) for k, v in x.items()))
                return conv(node)

            extra: dict = {}
            for scope in dict.fromkeys(o.scope for o in outs if o.scope):
                col, nested, top = self._scope(scope)
                if nested:
                    raise Unsupported("outputs of records nested in records")
                member = dict([("reasons", ("list", "text"))] if self.with_reasons else [])
                member.update(missing_facts=missing, undecided=("list", "text"))
                extra[top[1]] = ("map", "text", tree([o for o in outs if o.scope == scope], member))
            if self.with_reasons:
                extra["reasons"] = ("list", "text")
            extra.update(missing_facts=missing, undecided=("list", "text"))
            progs.append((prog.id, tree([o for o in outs if o.scope is None], extra)))
        return ("struct", tuple(progs))

    REFERRAL = ("struct", (("program", "text"), ("item_id", "text"), ("member", "text"), ("amount", "money"),
                           ("status", "text"), ("missing_facts", ("list", ("struct", (("path", "text"), ("name", "text")))))))

    def _referral(self, ref: Definition) -> str:
        amount = "CAST(NULL AS DECIMAL(38,2))"
        if ref.amount is not None:
            amount = f"CAST({self.expr(ref.amount)} AS DECIMAL(38,2))"
        member = f"{self.self_var}.{quote('id')}" if ref.scope else "CAST(NULL AS VARCHAR)"
        item = (f"struct_pack(program := {_lit_text(ref.program)}, item_id := {_lit_text(ref.key)}, "
                f"member := {member}, amount := {amount}, status := 'due', "
                f"missing_facts := CAST([] AS STRUCT(path VARCHAR, name VARCHAR)[]))")
        return f"CASE WHEN {self.value_of(ref)} THEN {item} END"

    def final(self) -> str:
        """The last SELECT: the programs' results, the referrals and the row's fault flag."""
        programs, refs, faults = [], [], self._all_faults()
        empty = "CAST([] AS STRUCT(path VARCHAR, name VARCHAR)[])"
        for prog in self.selected:
            rules = [self.by_id[r] for r in prog.rules]
            outputs = [self.by_id[o] for o in prog.outputs]
            extra: list[tuple[str, str]] = []
            for scope in dict.fromkeys(o.scope for o in outputs if o.scope):
                col, nested, top = self._scope(scope)

                def member(var, scope=scope):
                    def build():
                        own = []
                        if self.with_reasons:
                            reasons, fs = self._reasons([r for r in rules if r.scope == scope])
                            own.append(("reasons", reasons))
                        own += [("missing_facts", empty), ("undecided", "CAST([] AS VARCHAR[])")]
                        fields = self._outputs([o for o in outputs if o.scope == scope], own)
                        return f"struct_pack(key := {var}.{quote('id')}, value := {fields})"
                    return self._bound(var, build)
                extra.append((top[1], f"map_from_entries({self.over_instances(scope, member)})"))
                faults.append(self.any_instance(
                    scope, lambda scope=scope: _any(self._reasons([r for r in rules if r.scope == scope])[1])))
            reasons, fs = self._reasons([r for r in rules if r.scope is None])
            faults += fs
            if self.with_reasons:
                extra.append(("reasons", reasons))
            extra += [("missing_facts", empty), ("undecided", "CAST([] AS VARCHAR[])")]
            programs.append((prog.id, self._outputs([o for o in outputs if o.scope is None], extra)))
            refs_of = [self.by_id[x] for x in prog.referrals]
            for ref in refs_of:
                if ref.scope is None:
                    refs.append(f"[{self._referral(ref)}]")
                    if ref.amount is not None:
                        faults += _guard(self.value_of(ref), self.fault(ref.amount))
            for scope in dict.fromkeys(r.scope for r in refs_of if r.scope):
                scoped = [r for r in refs_of if r.scope == scope]
                refs.append(self.over_instances(scope, lambda v: self._bound(
                    v, lambda: "[" + ", ".join(self._referral(r) for r in scoped) + "]")))
                refs[-1] = f"flatten({refs[-1]})"
                faults.append(self.any_instance(scope, lambda scoped=scoped: _any(
                    [f for r in scoped if r.amount is not None for f in _guard(self.value_of(r), self.fault(r.amount))])))
        faults += self._requirement_faults()
        ptype = T.duckdb(self.output_type())
        rtype = T.duckdb(("list", self.REFERRAL))
        progs = "struct_pack(" + ", ".join(f"{quote(p)} := {s}" for p, s in programs) + ")"
        referrals = (f"list_filter(flatten([{', '.join(refs)}]), lambda x: x IS NOT NULL)" if refs
                     else "[]")
        return (f"_row, id, _loc, _date, {_any(faults)} AS _fault, CAST({progs} AS {ptype}) AS programs, "
                f"CAST({referrals} AS {rtype}) AS referrals")

    def _requirement_faults(self) -> list[str]:
        """A record that breaks a 要求 of its type makes the runtime refuse the request (whatever the programs):
        every instance whose requirement is not TRUE flags the row (stricter than Python, which refuses only a
        FALSE one), so that Python gives the error or the decision."""
        out = []
        for rid, rec in self.m.records.items():
            if not rec.requirements or not self.m.instance_paths(rid):
                continue
            self._scope(rid)  # Unsupported unless its records are items of a list

            def body(v, rec=rec):
                return self._bound(v, lambda: _any(
                    [f"NOT coalesce({self.expr(r.expr)}, FALSE)" for r in rec.requirements]
                    + [f for r in rec.requirements for f in self.fault(r.expr)]))
            out.append(f"coalesce(list_bool_or({self.over_instances(rid, body)}), FALSE)")
        return out

    def query(self, source: str) -> str:
        """The whole query over relation `source` (columns _row, id, _loc, _date, _event, the inputs by id, the
        parameters by `parameter_columns`); it returns _row, id, _loc, _date, _fault, programs, referrals."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", source):
            raise Unsupported("relation name")
        steps = self.steps()  # names parameters, definitions and lists as it goes
        final = self.final()
        first = ["_row", "id", "_loc", "_date", "_event"]
        first += [f"{quote(i.id)} AS {self.input(i.id)}" for i in self.m.inputs]
        first += [f"{c} AS {c}" for c in self.parameter_columns().values()]
        ctes = [f"q0 AS (SELECT {', '.join(first)} FROM {source})"]
        hoist = self.hoisted()
        if hoist:
            ctes.append(f"q1 AS (SELECT *, {', '.join(hoist)} FROM q0)")
        if self.slims:
            ctes.append(f"q{len(ctes)} AS (SELECT *, {', '.join(self.slimmed())} FROM q{len(ctes) - 1})")
        for step in steps:
            ctes.append(f"q{len(ctes)} AS (SELECT {step} FROM q{len(ctes) - 1})")
        return f"WITH {', '.join(ctes)} SELECT {final} FROM q{len(ctes) - 1}"

    def read_fields(self) -> set[tuple[str, str]]:
        """(record id, field id) of every record field the query reads: the fields its expressions name, the
        lists that lead to records with definitions, and the ids of those records (keys of per-member
        outputs). Other fields may be left out of the input columns."""
        out: set[tuple[str, str]] = set()
        for d in self.needed:
            for x in d.expressions():
                for node in x.walk():
                    if node.op == "field" and node.args:
                        t = strip_optional(node.args[0].type)
                        if t.startswith("record:"):
                            out.add((t[7:], node.value))
        for rid in list(self.scopes):
            out.add((rid, "id"))
            (inp, fld), rec_type = self.scopes[rid][2], None
            rec_type = strip_optional(next(i.type for i in self.m.inputs if i.id == inp))
            for step in (fld,) + self.scopes[rid][1]:
                rec = rec_type[7:]
                out.add((rec, step))
                rec_type = strip_optional(self.m.records[rec].field(step).type)
                while rec_type.startswith("list:"):
                    rec_type = strip_optional(rec_type[5:])
        return out

    def parameter_columns(self) -> dict:
        """Parameter id (or ("at", id) for a parameter read at another place) → its column name."""
        return dict(self.param.by_key)
