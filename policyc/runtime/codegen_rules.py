"""Turns the IR's definitions into the Python source of one evaluation function, compiled once per bundle.

Names in the source are made here (`Names`: i0 for inputs, v0 for list elements, p0 for parameters, …) and every
value from the IR is written by `pysource.literal`; the IR has been checked by `validate` before, and the
source is audited after (`pysource.compile_audited`)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ..ir import MONEY, Definition, Expr, Module, is_optional, strip_optional
from .pysource import Names, comment, literal

_CMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_ARITH = {"add": "+", "sub": "-", "mul": "*"}
_DECIMAL_TYPES = MONEY | {"ratio", "percent", "number"}
_AGGREGATES = {
    "sum": "sum(({body} for {v} in {lst}), {zero})",
    "count": "sum(1 for {v} in {lst} if {body})",
    "any": "any({body} for {v} in {lst})",
    "all": "all({body} for {v} in {lst})",
    "filter": "[{v} for {v} in {lst} if {body}]",
    "map": "[{body} for {v} in {lst}]",
}


class RulesCodegen:
    def __init__(self, module: Module):
        self.m = module
        self.by_id = {d.id: d for d in module.definitions}
        self.fen_memo: dict[str, bool] = {}
        self.consts: dict[object, str] = {}
        self.const_src: list[str] = []
        self.param = Names("p")
        self.input = Names("i")
        self.var = Names("v")
        self.scoped = Names("m")
        self.defs: dict[str, str] = {}
        self.tmp = 0
        self.labels: dict[str, str] = {}

    # ── names ────────────────────────────────────────────────────────────────────────
    def const(self, key, src: str) -> str:
        if key not in self.consts:
            name = f"K{len(self.consts)}"
            self.consts[key] = name
            self.const_src.append(f"{name} = {src}")
        return self.consts[key]

    def temp(self) -> str:
        self.tmp += 1
        return f"t{self.tmp}"

    def label_map(self, enum_id: str) -> str:
        if enum_id not in self.labels:
            members = dict(self.m.enums[enum_id].members)
            self.labels[enum_id] = self.const(("labels", enum_id), literal(members))
        return self.labels[enum_id]

    # ── expressions ──────────────────────────────────────────────────────────────────
    def expr(self, e: Expr) -> str:
        return getattr(self, "x_" + e.op)(e)

    def x_lit(self, e: Expr) -> str:
        t = strip_optional(e.type)
        if e.value is None:
            return "None"
        if t == "bool":
            return literal(bool(e.value))
        if t in ("text", "locality") or t.startswith("enum:"):
            return literal(str(e.value))
        if t == "date":
            return self.const(("date", e.value), literal(dt.date.fromisoformat(e.value)))
        value = Decimal(str(e.value))
        if t in _DECIMAL_TYPES - {"number"} or value != int(value):
            return self.const(("dec", str(value)), literal(value))
        return literal(int(value))

    def x_param(self, e: Expr) -> str:
        return f"(U({literal(e.value)}) or {self.param(e.value)})"  # U notes the value as read (the trace)

    def x_input(self, e: Expr) -> str:
        return self.input(e.value)

    def x_def(self, e: Expr) -> str:
        return self.defs[e.value]

    def x_elem(self, e: Expr) -> str:
        return "self_" if e.value == "self" else self.var(e.value)

    def x_eval_date(self, e: Expr) -> str:
        return "EVAL_DATE"

    def x_locality(self, e: Expr) -> str:
        return "LOCALITY"

    def x_event(self, e: Expr) -> str:
        return "EVENT"

    def x_locality_name(self, e: Expr) -> str:
        return f"locality_name({self.expr(e.args[0])})"

    def x_param_at(self, e: Expr) -> str:
        return self._nullable(e, lambda code: f"AT({literal(e.value)}, {code})")

    def x_month(self, e: Expr) -> str:
        return f"{self.expr(e.args[0])}.month"

    def x_field(self, e: Expr) -> str:
        obj = e.args[0]
        src = self.expr(obj)
        if is_optional(obj.type):
            t = self.temp()
            return f"(None if ({t} := {src}) is None else {t}[{literal(e.value)}])"
        return f"{src}[{literal(e.value)}]"

    def _nullable(self, e: Expr, build) -> str:
        """Arithmetic that yields nothing when an operand is missing."""
        srcs = [self.expr(a) for a in e.args]
        opt = [is_optional(a.type) for a in e.args]
        if not any(opt):
            return build(*srcs)
        names = []
        tests = []
        for src, o in zip(srcs, opt):
            if o:
                t = self.temp()
                tests.append(f"({t} := {src}) is None")
                names.append(t)
            else:
                names.append(src)
        return f"(None if {' or '.join(tests)} else {build(*names)})"

    def _arith(self, e: Expr) -> str:
        return self._nullable(e, lambda a, b: f"({a} {_ARITH[e.op]} {b})")

    x_add = x_sub = x_mul = _arith

    def x_div(self, e: Expr) -> str:
        left = strip_optional(e.args[0].type)  # whole numbers may be ints at run time: never divide two ints
        wrap = (lambda a: a) if left in _DECIMAL_TYPES - {"number"} else (lambda a: f"Decimal({a})")
        return self._nullable(e, lambda a, b: f"({wrap(a)} / {b})")

    def x_neg(self, e: Expr) -> str:
        return self._nullable(e, lambda a: f"(-{a})")

    def x_add_months(self, e: Expr) -> str:
        return f"add_months({self.expr(e.args[0])}, {self.expr(e.args[1])})"

    def x_sub_months(self, e: Expr) -> str:
        return self._nullable(e, lambda a, b: f"add_months({a}, -{b})")

    def x_per_month(self, e: Expr) -> str:
        return self._nullable(e, lambda a: f"({a} / 12)")

    def x_per_year(self, e: Expr) -> str:
        return self._nullable(e, lambda a: f"({a} * 12)")

    def _cmp(self, e: Expr) -> str:
        return f"({self.expr(e.args[0])} {_CMP[e.op]} {self.expr(e.args[1])})"

    x_lt = x_le = x_gt = x_ge = x_eq = x_ne = _cmp

    def x_and(self, e: Expr) -> str:
        return f"({self.expr(e.args[0])} and {self.expr(e.args[1])})"

    def x_or(self, e: Expr) -> str:
        return f"({self.expr(e.args[0])} or {self.expr(e.args[1])})"

    def x_not(self, e: Expr) -> str:
        return f"(not {self.expr(e.args[0])})"

    def x_if(self, e: Expr) -> str:
        c, a, b = (self.expr(x) for x in e.args)
        return f"({a} if {c} else {b})"

    def x_present(self, e: Expr) -> str:
        return f"({self.expr(e.args[0])} is not None)"

    def x_default(self, e: Expr) -> str:
        t = self.temp()
        return f"({self.expr(e.args[1])} if ({t} := {self.expr(e.args[0])}) is None else {t})"

    def x_min(self, e: Expr) -> str:
        return f"min({', '.join(self.expr(a) for a in e.args)})"

    def x_max(self, e: Expr) -> str:
        return f"max({', '.join(self.expr(a) for a in e.args)})"

    def x_round(self, e: Expr) -> str:
        return f"round_money({self.expr(e.args[0])}, {self.expr(e.args[1])})"

    def x_lookup(self, e: Expr) -> str:
        return f"lookup((U({literal(e.value)}) or {self.param(e.value)}), {self.expr(e.args[0])})"

    def _aggregate(self, e: Expr) -> str:
        if e.op == "count" and len(e.args) == 1:
            return f"len({self.expr(e.args[0])})"
        lst, body = (self.expr(a) for a in e.args)
        zero = "ZERO" if strip_optional(e.type) in _DECIMAL_TYPES else "0"
        return _AGGREGATES[e.op].format(lst=lst, body=body, v=self.var(e.value), zero=zero)

    x_sum = x_count = x_any = x_all = x_filter = x_map = _aggregate

    def x_case(self, e: Expr) -> str:
        *pairs, default = e.args
        conds = [self.expr(c) for c in pairs[0::2]]
        results = [self.expr(r) for r in pairs[1::2]]
        if e.value == "unique":
            return (f"unique(({', '.join(conds)},), ({', '.join(results)},), {self.expr(default)})")
        src = self.expr(default)
        for c, r in reversed(list(zip(conds, results))):
            src = f"({r} if {c} else {src})"
        return src

    # ── exactness ───────────────────────────────────────────────────────────────────
    def in_fen(self, e: Expr) -> bool:
        """Whether a money value is sure to have at most two decimals, so output needs no rounding: inputs and
        money parameters are checked to be whole fen, and + − min max and × by whole numbers keep that."""
        op = e.op
        if op == "lit":
            return e.value is None or Decimal(e.value) == Decimal(e.value).quantize(Decimal("0.01"))
        if op in ("input", "param", "round", "eval_date"):
            return True
        if op in ("field", "def"):
            d = self.by_id.get(e.value)
            if d is None:  # a field of the request
                return True
            if d.id not in self.fen_memo:
                self.fen_memo[d.id] = self.in_fen(d.expr)
            return self.fen_memo[d.id]
        if op in ("add", "sub", "neg", "min", "max", "sum", "default"):
            return all(self.in_fen(a) for a in e.args)
        if op == "if":
            return self.in_fen(e.args[1]) and self.in_fen(e.args[2])
        if op == "case":
            return all(self.in_fen(r) for r in e.args[1::2]) and self.in_fen(e.args[-1])
        if op == "mul":
            whole = ("int", "count", "months", "years", "age")
            return all(self.in_fen(a) if strip_optional(a.type) in MONEY else strip_optional(a.type) in whole
                       for a in e.args)
        if op == "lookup":
            return True  # table values are checked to be whole fen, like money parameters
        return False

    # ── display ─────────────────────────────────────────────────────────────────────
    def display(self, e: Expr) -> str:
        t = strip_optional(e.type)
        src = self.expr(e)
        if not is_optional(e.type):
            if t in _DECIMAL_TYPES - {"percent"} or t in ("int", "count", "age", "months", "years"):
                return f"fmt_number({src})"
            if t.startswith("enum:"):
                return f"{self.label_map(t[5:])}[{src}]"
        if t.startswith("enum:"):
            return f"fmt_value({src}, 'enum', {self.label_map(t[5:])})"
        if t == "locality":
            return f"fmt_value(locality_name({src}), 'text')"
        if t.startswith("list:"):
            return f"fmt_value({src}, {literal(t[5:])})"
        return f"fmt_value({src}, {literal(t)})"

    # ── statements ──────────────────────────────────────────────────────────────────
    def definitions(self, group: list[Definition], lines: list[str]) -> None:
        """Global definitions become locals; consecutive per-record ones share one loop over each instance."""
        scope = group[0].scope
        if scope is None:
            for d in group:
                name = f"d{len(self.defs)}"
                self.defs[d.id] = name
                lines.append(f"    {name} = {self.expr(d.expr)}  {comment(d.name)}")
            return
        bodies = [(d, self.expr(d.expr)) for d in group]
        for indent, _ in self.loops(scope, lines):
            for d, body in bodies:
                lines.append(f"{indent}self_[{literal(d.id)}] = {body}  {comment(d.name)}")

    def loops(self, scope: str, lines: list[str]):
        """Write the loops that visit every instance of a record type, binding `self_`; yields, for each place
        the record occurs, the indentation inside the loop and the name of the list field it comes from."""
        for path in self.m.instance_paths(scope):
            indent, cur, t, container = "    ", "", "", ""
            for i, (kind, key) in enumerate(path):
                if kind == "input":
                    cur, t = self.input(key), next(x.type for x in self.m.inputs if x.id == key)
                elif kind == "field":
                    t = self.m.records[strip_optional(t)[7:]].field(key).type
                    lines.append(f"{indent}o{i} = {cur}[{literal(key)}]")
                    cur, container = f"o{i}", key
                    if is_optional(t):
                        lines.append(f"{indent}if o{i} is not None:")
                        indent += "    "
                else:
                    lines.append(f"{indent}for o{i} in {cur}:")
                    indent, cur, t = indent + "    ", f"o{i}", strip_optional(t)[5:]
            lines.append(f"{indent}self_ = {cur}")
            yield indent, container

    def value_of(self, d: Definition) -> str:
        return f"self_[{literal(d.id)}]" if d.scope else self.defs[d.id]

    def reasons(self, rules: list[Definition], target: str, indent: str, lines: list[str]) -> None:
        for rule in rules:
            cite = "；".join(rule.citations)
            for reason in rule.reasons:
                text = " + ".join(literal(p) if isinstance(p, str) else self.display(p) for p in reason.parts) or "''"
                cond = self.value_of(rule) if reason.when else f"not {self.value_of(rule)}"
                if reason.only_if is not None:
                    cond = f"({self.expr(reason.only_if)}) and {cond}"
                defs, facts = self.m.reason_basis(rule, reason)
                basis = (f"{{'definitions': {self.const(('defs', defs), literal(defs))}, "
                         f"'facts': {self.const(('facts', facts), literal(facts))}}}")
                lines.append(f"{indent}if {cond}:")
                lines.append(f"{indent}    {target}.append({{'rule': {literal(rule.id)}, 'citation': {literal(cite)}, "
                             f"'text': {text}, 'rests_on': {basis}}})")

    def fields(self, outputs: list[Definition], extra: dict[str, str]) -> str:
        """A dict display nesting dotted output keys: recheck.next_date → {'recheck': {'next_date': …}}."""
        tree: dict = {}
        for o in outputs:
            src = self.value_of(o)
            if strip_optional(o.type) in MONEY and not self.in_fen(o.expr):
                src = f"money_out({src})"
            node = tree
            *parents, leaf = o.key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = src
        tree.update(extra)

        def show(node) -> str:
            return "{" + ", ".join(f"{literal(k)}: {show(v) if isinstance(v, dict) else v}"
                                   for k, v in node.items()) + "}"
        return show(tree)

    def referral(self, ref: Definition, indent: str, lines: list[str]) -> None:
        amount = "None"
        if ref.amount is not None:
            amount = self.expr(ref.amount) if self.in_fen(ref.amount) else f"money_out({self.expr(ref.amount)})"
        member = "self_['id']" if ref.scope else "None"
        lines.append(f"{indent}if {self.value_of(ref)}:")
        lines.append(f"{indent}    refs.append({{'program': {literal(ref.program)}, 'item': {literal(ref.name)}, "
                     f"'item_id': {literal(ref.key)}, 'member': {member}, 'amount': {amount}, "
                     f"'citation': {literal('；'.join(ref.citations))}, 'status': 'due', 'missing_facts': []}})")

    @staticmethod
    def _reads_others(d: Definition, group: list[Definition]) -> bool:
        """Whether `d` reads a definition of `group` for another record than its own (e.g. the other members of
        the household): those values must all be computed, in a loop of their own, before `d`'s loop."""
        ids = {g.id for g in group}
        return any(n.op == "field" and n.value in ids and not (n.args[0].op == "elem" and n.args[0].value == "self")
                   for n in d.expr.walk())

    def requirements(self) -> str:
        """A function `evaluate(R, P, …)` → whether some record of a complete request may break a 要求 of its
        type (a requirement not true): the fast check before evaluating; the interpreter then says which."""
        body: list[str] = []
        for rec in self.m.records.values():
            if not rec.requirements or not self.m.instance_paths(rec.id):
                continue
            for indent, _ in self.loops(rec.id, body):
                for req in rec.requirements:
                    body.append(f"{indent}if ({self.expr(req.expr)}) is not True:")
                    body.append(f"{indent}    return True")
        return self._function(body + ["    return False"])

    def _function(self, body: list[str]) -> str:
        head = ["def evaluate(R, P, EVAL_DATE, LOCALITY, EVENT, AT):", "    used = set()", "    U = used.add"]
        head += [f"    {self.input(inp.id)} = R[{literal(inp.id)}]" for inp in self.m.inputs]
        head += [f"    {name} = P[{literal(pid)}]" for pid, name in self.param.by_key.items()]
        return "\n".join(["# generated by policyc from the bundle's IR; do not edit"] + self.const_src + [""]
                         + head + body + [""])

    def generate(self, only: tuple[str, ...] | None = None) -> str:
        """The evaluation function for every program, or only for the programs named in `only`."""
        m = self.m
        selected = [p for p in m.programs if only is None or p.id in only]
        body: list[str] = []
        group: list[Definition] = []
        for d in self.m.needed(selected):
            if group and (d.scope is None or d.scope != group[-1].scope or self._reads_others(d, group)):
                self.definitions(group, body)
                group = []
            group.append(d)
        if group:
            self.definitions(group, body)
        by_id = {d.id: d for d in m.definitions}
        out: list[str] = ["    out = {}", "    refs = []"]
        for prog in selected:
            rules = [by_id[r] for r in prog.rules]
            outputs = [by_id[o] for o in prog.outputs]
            out.append("    r = []")
            self.reasons([r for r in rules if r.scope is None], "r", "    ", out)
            extra: dict[str, str] = {}
            for scope in dict.fromkeys(d.scope for d in outputs if d.scope):
                name = self.scoped(scope)
                out.append(f"    {name} = {{}}")
                for indent, container in self.loops(scope, out):
                    out.append(f"{indent}rr = []")
                    self.reasons([r for r in rules if r.scope == scope], "rr", indent, out)
                    scoped = [o for o in outputs if o.scope == scope]
                    out.append(f"{indent}{name}[self_['id']] = "
                               f"{self.fields(scoped, {'reasons': 'rr', 'missing_facts': '[]', 'undecided': '[]'})}")
                    extra[container] = name
            extra["reasons"] = "r"
            extra["missing_facts"] = "[]"
            extra["undecided"] = "[]"
            out.append(f"    out[{literal(prog.id)}] = {self.fields([o for o in outputs if o.scope is None], extra)}")
            refs = [by_id[x] for x in prog.referrals]
            for ref in refs:
                if ref.scope is None:
                    self.referral(ref, "    ", out)
            for scope in dict.fromkeys(r.scope for r in refs if r.scope):
                for indent, _ in self.loops(scope, out):
                    for ref in refs:
                        if ref.scope == scope:
                            self.referral(ref, indent, out)
        return self._function(body + out + ["    return out, refs, used"])
