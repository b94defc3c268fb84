"""Names, types and units: checks rule files against the parameters and lowers them to the typed IR."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from decimal import Decimal

from ..diagnostics import Reporter, Span
from ..dsl import ast
from ..dsl.parser import parse_expr
from ..ir import (DIMENSIONLESS, MONEY, QUANTITIES, Definition, Enum, Expr, Field, Module, Program, Reason, Record, Requirement,
                  is_optional, optional, strip_optional)
from ..names import ident_problem, shown
from ..runtime.values import ROUNDING_MODES
from . import tables
from .articles import Articles
from .params import Param
from .types import SIMPLE_TYPES, UNIT_TYPES, type_name

NULL = "null"
SELF_NAME = "本人"  # in a per-record definition: the record it is computed for, also inside 筛选/任一/…
BUILTIN_NAMES = {
    "评估日期": Expr("eval_date", "date"),
    "评估地区": Expr("locality", "locality"),  # the locality evaluated for (its 6-digit code)
    "突发事件": Expr("event", "opt:text"),  # the emergency in force there and then, if any (二(四)16)
}
# name: (min args, max args)
FUNCTIONS = {
    "较小值": (2, 9), "较大值": (2, 9), "合计": (2, 2), "计数": (1, 2), "任一": (2, 2), "全部": (2, 2),
    "筛选": (2, 2), "取各": (2, 2), "有": (1, 1), "缺省": (2, 3), "舍入": (2, 2), "查表": (2, 2),
    "按月": (1, 1), "按年": (1, 1), "月份": (1, 1), "地区名称": (1, 1),
    "地区参数": (2, 2),
}
_AGG = {"合计": "sum", "计数": "count", "任一": "any", "全部": "all", "筛选": "filter", "取各": "map"}


class Unresolved(Exception):
    """An expression could not be typed; its diagnostic has been reported."""


@dataclass
class Decl:
    """A definition being checked: the syntax, where it lives, and (once checked) its IR."""

    node: ast.Decl
    id: str
    program: str | None
    scope: str | None  # record id
    state: str = "new"  # new | checking | done | failed
    ir: Definition | None = None
    deps: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)


@dataclass
class Env:
    decl: Decl
    elements: list[tuple[str, str]]  # (var, record id), innermost last
    narrowed: frozenset = frozenset()


class Checker:
    def __init__(self, files: list[ast.File], params: dict[str, Param], articles: Articles, reporter: Reporter):
        self.files = files
        self.params = params
        self.params_by_name = {p.name: p for p in params.values()}
        self.articles = articles
        self.r = reporter
        self.enums: dict[str, Enum] = {p.enum().id: p.enum() for p in params.values() if p.choices}
        self.enum_by_name: dict[str, Enum] = {}
        self.records: dict[str, Record] = {}
        self.record_by_name: dict[str, Record] = {}
        self.inputs: dict[str, Field] = {}
        self.input_by_name: dict[str, Field] = {}
        self.programs: dict[str, tuple[ast.ProgramDecl, list[Decl]]] = {}
        self.globals: dict[str, Decl] = {}  # Chinese name -> decl, scope None
        self.scoped: dict[str, dict[str, Decl]] = {}  # record id -> Chinese name -> decl
        self.decls: list[Decl] = []
        self.decl_by_id: dict[str, Decl] = {}  # the same, by id: every duplicate check is a lookup (linear in all)
        self.order: list[Definition] = []
        self.seen_spans: dict[str, str] = {}
        self.var_counter = 0
        self._path: list[Decl] = []
        self.used_fields: set[tuple[str, str]] = set()
        self.field_spans: dict[tuple[str, str], Span] = {}
        self.used_params: set[str] = set()

    # ── declarations ────────────────────────────────────────────────────────────────────

    def _requirement(self, rec: Record, req: ast.Requirement) -> None:
        """要求: a condition on the record's own fields (and parameters), checked on every request."""
        holder = Decl(None, f"{rec.id}.requirement", None, rec.id)
        try:
            e = self.expect_bool(self.expr(req.expr, Env(holder, [("self", rec.id)])), req.expr, "要求")
        except Unresolved:
            return
        own = [n.value for n in e.walk() if n.op == "field" and n.args[0].op == "elem" and n.args[0].value == "self"]
        if any(n.op in ("def", "input") for n in e.walk()) or not own or any(rec.field(f) is None for f in own):
            self.r.add("E0316", req.span, record=rec.name)
            return
        self.used_params |= holder.params
        rec.requirements.append(Requirement(e, req.message.value, own[0]))

    def _presence(self, decl, t: str) -> str:
        """未提供即无 (left out means 无) is only for fields that may have no value."""
        if decl.presence == "none" and not t.startswith("opt:"):
            self.r.add("E0315", decl.span, name=decl.name)
            return "unknown"
        return decl.presence

    def _ident_ok(self, ident: str, span: Span, dotted: bool = False) -> bool:
        """Outputs and referrals may nest (recheck.next_date); other identifiers are one word."""
        problem = ident_problem(ident, dotted)
        if problem is not None:
            code, why = problem
            self.r.add(code, span, ident=shown(ident), name=shown(ident), problem=why)
            return False
        return True

    def _unique_name(self, name: str, span: Span, kind: str) -> bool:
        key = f"{kind}:{name}"
        if key in self.seen_spans:
            self.r.add("E0302", span, name=name, other=self.seen_spans[key])
            return False
        self.seen_spans[key] = str(span)
        return True

    def collect(self) -> None:
        type_decls: list = []
        for f in self.files:
            program: ast.ProgramDecl | None = None
            for item in f.items:
                if isinstance(item, ast.ProgramDecl):
                    program = item
                    if self._ident_ok(item.ident, item.span) and self._unique_name(item.ident, item.span, "program"):
                        self.programs[item.ident] = (item, [])
                        for c in item.citations:
                            self.articles.resolve(c.value, c.span, self.r)
                elif isinstance(item, (ast.EnumDecl, ast.RecordDecl, ast.InputDecl)):
                    type_decls.append(item)
                elif isinstance(item, ast.Decl):
                    item.program = program
                    self._collect_decl(item, program)
        for item in type_decls:
            if isinstance(item, ast.EnumDecl) and self._ident_ok(item.ident, item.span) \
                    and self._unique_name(item.name, item.span, "type"):
                members = []
                for code, label, span in item.members:
                    if self._ident_ok(code, span):
                        members.append((code, label))
                e = Enum(item.ident, item.name, members)
                self.enums[e.id] = self.enum_by_name[e.name] = e
            elif isinstance(item, ast.RecordDecl) and self._ident_ok(item.ident, item.span) \
                    and self._unique_name(item.name, item.span, "type"):
                rec = Record(item.ident, item.name, [])
                self.records[rec.id] = self.record_by_name[rec.name] = rec
        for item in type_decls:
            if isinstance(item, ast.RecordDecl) and item.ident in self.records:
                rec = self.records[item.ident]
                seen: dict[str, str] = {}
                names: set[str] = set()
                for fd in item.fields:
                    if not self._ident_ok(fd.ident, fd.span):
                        continue
                    if fd.ident in seen or fd.name in names:
                        self.r.add("E0303", fd.span, ident=fd.ident, other=seen.get(fd.ident, item.name))
                        continue
                    seen[fd.ident] = str(fd.span)
                    names.add(fd.name)
                    self.field_spans[(rec.id, fd.ident)] = fd.span
                    t = self.resolve_type(fd.type)
                    if t is None:
                        continue
                    lo, hi = fd.bounds or (None, None)
                    rec.fields.append(Field(fd.ident, fd.name, t, _num(lo), _num(hi), self._presence(fd, t)))
            elif isinstance(item, ast.InputDecl) and self._ident_ok(item.ident, item.span) \
                    and self._unique_name(item.name, item.span, "value"):
                t = self.resolve_type(item.type)
                if t is not None:
                    fld = Field(item.ident, item.name, t, presence=self._presence(item, t))
                    self.inputs[fld.id] = self.input_by_name[fld.name] = fld
        for item in type_decls:
            if isinstance(item, ast.RecordDecl) and item.ident in self.records:
                for req in item.requirements:
                    self._requirement(self.records[item.ident], req)
        # per-record declarations can only be bound once records are known
        field_names = {rec.id: {f.name for f in rec.fields} for rec in self.records.values()}
        field_ids = {rec.id: {f.id for f in rec.fields} for rec in self.records.values()}
        for d in self.decls:
            if d.node.target.scope is not None:
                rec = self.record_by_name.get(d.node.target.scope)
                if rec is None:
                    self._unknown(d.node.target.scope, d.node.target.span, list(self.record_by_name), "E0305")
                    d.state = "failed"
                    continue
                d.scope = rec.id
                d.id = ".".join(filter(None, (d.program, rec.id, d.node.ident or d.node.target.name)))
                if d.node.ident and d.node.ident in field_ids[rec.id]:
                    self.r.add("E0313", d.node.target.span, ident=d.node.ident)
                    d.state = "failed"
                    continue
                if d.node.target.name in field_names[rec.id]:
                    self.r.add("E0302", d.node.target.span, name=d.node.target.name, other=f"记录 {rec.name}")
                    d.state = "failed"
                    continue
                self.scoped.setdefault(rec.id, {})[d.node.target.name] = d
        self.decl_by_id = {}
        for d in self.decls:  # per-record ids changed above: one may now be another's (an output's dotted id)
            other = self.decl_by_id.setdefault(d.id, d)
            if other is not d and d.state != "failed":
                self.r.add("E0303", d.node.target.span, ident=d.node.ident or d.id, other=str(other.node.target.span))
                d.state = "failed"

    def _collect_decl(self, node: ast.Decl, program: ast.ProgramDecl | None) -> None:
        what = {"rule": "规则", "explain": "说明", "output": "输出", "referral": "转介"}.get(node.kind)
        if what and program is None:
            self.r.add("E0309", node.span, what=what)
            return
        if node.kind in ("rule", "output", "referral") and not node.ident:
            self.r.add("E0311", node.target.span, name=node.target.name)
            return
        if node.ident and not self._ident_ok(node.ident, node.target.span, node.kind in ("output", "referral")):
            return
        prefix = program.ident if program else ""
        local = node.ident or node.target.name
        if node.target.scope:
            local = f"{node.target.scope}.{local}"
        did = f"{prefix}.{local}" if prefix else local
        other = self.decl_by_id.get(did)
        if other is not None:
            self.r.add("E0303", node.target.span, ident=node.ident or did, other=str(other.node.target.span))
            return
        decl = Decl(node, did, program.ident if program else None, None)
        if node.target.scope is None:
            if not self._unique_name(node.target.name, node.target.span,
                                     node.kind if node.kind in ("output", "referral") else "value"):
                return
            if node.kind not in ("output", "referral"):
                self.globals[node.target.name] = decl
        self.decls.append(decl)
        self.decl_by_id[did] = decl
        if program and program.ident in self.programs:
            self.programs[program.ident][1].append(decl)

    def resolve_type(self, t: ast.TypeRef) -> str | None:
        if t.kind == "unit":
            base = UNIT_TYPES.get(t.name)
        elif t.kind in SIMPLE_TYPES:
            base = SIMPLE_TYPES[t.kind]
        elif t.kind == "list":
            inner = self.resolve_type(t.item)
            base = f"list:{inner}" if inner else None
            if inner is None:
                return None
        else:
            if t.name in self.enum_by_name:
                base = f"enum:{self.enum_by_name[t.name].id}"
            elif t.name in self.record_by_name:
                base = f"record:{self.record_by_name[t.name].id}"
            else:
                self._unknown(t.name, t.span, list(self.enum_by_name) + list(self.record_by_name), "E0305")
                return None
        return optional(base) if t.optional else base

    def _unknown(self, name: str, span: Span, candidates, code: str = "E0301", **extra) -> None:
        close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.4)
        hint = f"是否想写：{'、'.join(close)}？" if close else None
        self.r.add(code, span, hint=hint, name=name, **extra)

    # ── definitions ─────────────────────────────────────────────────────────────────────

    def check_all(self) -> Module | None:
        self.collect()
        for d in self.decls:
            self.check_decl(d, [])
        programs = []
        for pid, (pnode, decls) in self.programs.items():
            citations = tuple(c.value for c in pnode.citations)
            outputs = [d.id for d in decls if d.node.kind == "output" and d.ir]
            rules = [d.id for d in decls if d.node.kind in ("rule", "explain") and d.ir and d.ir.reasons]
            referrals = [d.id for d in decls if d.node.kind == "referral" and d.ir]
            for d in decls:
                if d.scope and d.node.kind == "output" and d.ir:
                    key = self.records[d.scope].field("id")
                    if key is None or key.type != "text" or key.presence != "required":
                        self.r.add("E0314", d.node.target.span, record=self.records[d.scope].name)
            used: set[str] = set()
            stack = list(outputs) + rules + referrals
            seen: set[str] = set()
            while stack:
                cur = self.decl_by_id[stack.pop()]
                if cur.id in seen:
                    continue
                seen.add(cur.id)
                used |= cur.params
                stack.extend(cur.deps)
            programs.append(Program(pid, pnode.name, citations, outputs, rules, sorted(used), referrals))
        if not self.r.has_errors():
            self._warn_unused()
        if self.r.has_errors():
            return None
        param_types = {pid: p.type for pid, p in self.params.items()}
        return Module(self.enums, self.records, list(self.inputs.values()), self.order, programs, param_types)

    def _warn_unused(self) -> None:
        """Definitions no output, reason or referral reaches, and input fields no rule reads."""
        reachable = set()
        for pid, (pnode, decls) in self.programs.items():
            stack = [d.id for d in decls if d.ir and d.node.kind in ("output", "referral")
                     or (d.ir and d.ir.reasons)]
            while stack:
                cur = stack.pop()
                if cur not in reachable:
                    reachable.add(cur)
                    stack.extend(self.decl_by_id[cur].deps)
        for d in self.decls:
            if d.ir is not None and d.id not in reachable:
                self.r.add("W0302", d.node.target.span, name=d.node.target.name)
        for rec in self.records.values():
            for f in rec.fields:
                if f.id != "id" and (rec.id, f.id) not in self.used_fields and (rec.id, f.id) in self.field_spans:
                    self.r.add("W0303", self.field_spans[(rec.id, f.id)], name=f.name, record=rec.name)

    def check_decl(self, d: Decl, path: list[Decl]) -> Definition | None:
        if d.state == "done":
            return d.ir
        if d.state == "failed":
            return None
        if d.state == "checking":
            cycle = path[path.index(d):] + [d]
            self.r.add("E0308", d.node.target.span, cycle=" → ".join(x.node.target.name for x in cycle))
            for x in cycle:
                x.state = "failed"
            return None
        d.state = "checking"
        node = d.node
        env = Env(d, [("self", d.scope)] if d.scope else [])
        saved, self._path = self._path, path + [d]
        try:
            definition = self._lower_decl(d, env)
        except Unresolved:
            definition = None
        finally:
            self._path = saved
        if d.state == "failed" or definition is None:
            d.state = "failed"
            return None
        d.ir = definition
        d.state = "done"
        self.order.append(definition)
        for c in node.citations:
            self.articles.resolve(c.value, c.span, self.r)
        return definition

    def _lower_decl(self, d: Decl, env: Env) -> Definition | None:
        node = d.node
        declared = self.resolve_type(node.type) if node.type else None
        if node.type and declared is None:
            raise Unresolved()
        reasons: list[Reason] = []
        if node.kind == "table":
            expr = self._table(node, env, declared)
        elif node.kind == "explain":
            expr = self.expect_bool(self.expr(node.only_if, env), node.only_if, "说明的条件") \
                if node.only_if else Expr("lit", "bool", value=True)
        else:
            expr = self.expr(node.expr, env, declared)
        amount = None
        if node.kind in ("rule", "referral"):
            self.expect_bool(expr, node.expr, "规则" if node.kind == "rule" else "转介的条件")
        if node.amount is not None:
            amount = self.expr(node.amount, env)
            if strip_optional(amount.type) not in MONEY:
                self.r.add("E0402", node.amount.span, declared="金额", actual=self.tn(amount.type))
                raise Unresolved()
        if declared is not None:
            expr = self._conform(expr, declared, node.expr or node, "E0402")
        kind = {"explain": "rule", "table": "value"}.get(node.kind, node.kind)
        if node.kind in ("rule", "explain"):
            only_if = None
            if node.only_if is not None and node.kind == "rule":
                only_if = self.expect_bool(self.expr(node.only_if, env), node.only_if, "“仅当”的条件")
            if node.when_true:
                reasons.append(Reason(True, self.template(node.when_true, env), only_if))
            if node.when_false:
                reasons.append(Reason(False, self.template(node.when_false, env), only_if))
        return Definition(d.id, node.target.name, kind, expr.type, expr, d.program, d.scope,
                          tuple(c.value for c in node.citations), tuple(reasons), str(node.target.span), amount)

    def _conform(self, expr: Expr, declared: str, node: ast.Node, code: str) -> Expr:
        actual = expr.type
        if actual == declared or (is_optional(declared) and actual in (strip_optional(declared), NULL)):
            return Expr(expr.op, declared, expr.args, expr.value) if actual != declared else expr
        if declared in DIMENSIONLESS and actual in DIMENSIONLESS:
            return expr
        if declared.startswith("list:") and actual.startswith("list:") and declared[5:] == actual[5:]:
            return expr
        self.r.add(code, node.span, declared=self.tn(declared), actual=self.tn(actual))
        raise Unresolved()

    def tn(self, t: str) -> str:
        return type_name(t, self.enums, self.records)

    # ── templates ───────────────────────────────────────────────────────────────────────

    _PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")

    def template(self, text: ast.Text, env: Env) -> tuple:
        parts: list = []
        pos = 0
        buf = ""
        for m in self._PLACEHOLDER.finditer(text.value):
            buf += text.value[pos:m.start()]
            pos = m.end()
            if m.group(0) in ("{{", "}}"):
                buf += m.group(0)[0]
                continue
            inner = m.group(1)
            span = Span(text.value_span.file, text.value_span.line, text.value_span.col + m.start(1))
            node = parse_expr(inner, span, self.r) if inner.strip() else None
            if node is None:
                self.r.add("E0410", span, text=inner)
                continue
            if buf:
                parts.append(buf)
                buf = ""
            try:
                parts.append(self.expr(node, env))
            except Unresolved:
                pass
        buf += text.value[pos:]
        if buf:
            parts.append(buf)
        return tuple(parts)

    # ── expressions ─────────────────────────────────────────────────────────────────────

    def expect_bool(self, e: Expr, node: ast.Node, what: str) -> Expr:
        if e.type != "bool":
            if e.type == "opt:bool":
                self.r.add("E0404", node.span, what=_text_of(node), actual=self.tn(e.type), use=what)
            else:
                self.r.add("E0403", node.span, what=what, actual=self.tn(e.type))
            raise Unresolved()
        return e

    def expr(self, node: ast.Node, env: Env, expect: str | None = None) -> Expr:
        method = getattr(self, "_" + type(node).__name__)
        return method(node, env, expect)

    def _Quantity(self, node: ast.Quantity, env, expect):
        if node.unit is None:
            return Expr("lit", "number", value=str(node.value))
        if node.unit == "%":
            return Expr("lit", "percent", value=str(node.value / 100))
        t = UNIT_TYPES.get(node.unit)
        if t is None:
            self.r.add("E0406", node.span, unit=node.unit)
            raise Unresolved()
        return Expr("lit", t, value=str(node.value))

    def _Text(self, node: ast.Text, env, expect):
        return Expr("lit", "text", value=node.value)

    def _DateLit(self, node: ast.DateLit, env, expect):
        import datetime as dt
        try:
            dt.date.fromisoformat(node.value)
        except ValueError:
            self.r.add("E0206", node.span, value=node.value)
            raise Unresolved()
        return Expr("lit", "date", value=node.value)

    def _Const(self, node: ast.Const, env, expect):
        if node.value is None:
            return Expr("lit", NULL)
        return Expr("lit", "bool", value=node.value)

    def _enum_member(self, name: str, expect: str | None) -> Expr | None:
        if expect and strip_optional(expect).startswith("enum:"):
            enum = self.enums.get(strip_optional(expect)[5:])
            for code, label in enum.members if enum else ():
                if name in (label, code):
                    return Expr("lit", strip_optional(expect), value=code)
        return None

    def _lookup(self, name: str, env: Env) -> Expr | None:
        """A bare name: record fields and per-record values of enclosing elements, then global values,
        inputs, parameters and built-ins."""
        if name == SELF_NAME and env.elements and env.elements[0][0] == "self":
            return Expr("elem", f"record:{env.elements[0][1]}", value="self")
        for var, rec_id in reversed(env.elements):
            rec = self.records[rec_id]
            fld = next((f for f in rec.fields if f.name == name), None)
            if fld is not None:
                self.used_fields.add((rec_id, fld.id))
                return Expr("field", fld.type, (Expr("elem", f"record:{rec_id}", value=var),), fld.id)
            scoped = self.scoped.get(rec_id, {}).get(name)
            if scoped is not None:
                definition = self._depend(scoped, env)
                return Expr("field", definition.type, (Expr("elem", f"record:{rec_id}", value=var),), scoped.id)
        if name in self.globals:
            definition = self._depend(self.globals[name], env)
            return Expr("def", definition.type, value=definition.id)
        if name in self.input_by_name:
            fld = self.input_by_name[name]
            return Expr("input", fld.type, value=fld.id)
        if name in self.params_by_name:
            p = self.params_by_name[name]
            env.decl.params.add(p.id)
            self.used_params.add(p.id)
            return Expr("param", p.type, value=p.id)
        if name in BUILTIN_NAMES:
            return BUILTIN_NAMES[name]
        return None

    def _depend(self, target: Decl, env: Env) -> Definition:
        definition = self.check_decl(target, self._path)
        if definition is None:
            raise Unresolved()
        env.decl.deps.add(target.id)
        return definition

    def _narrow(self, e: Expr, node: ast.Node, env: Env) -> Expr:
        if is_optional(e.type) and _text_of(node) in env.narrowed:
            return Expr(e.op, strip_optional(e.type), e.args, e.value)
        return e

    def _Name(self, node: ast.Name, env: Env, expect):
        member = self._enum_member(node.name, expect)
        if member is not None:
            return member
        found = self._lookup(node.name, env)
        if found is None and expect and strip_optional(expect).startswith("enum:"):
            enum = self.enums[strip_optional(expect)[5:]]
            self.r.add("E0310", node.span, name=node.name, enum=enum.name,
                       hint="可用的取值：" + "、".join(label for _, label in enum.members))
            raise Unresolved()
        if found is None:
            candidates = list(self.globals) + list(self.input_by_name) + list(self.params_by_name) \
                + list(BUILTIN_NAMES)
            for _, rec_id in env.elements:
                candidates += [f.name for f in self.records[rec_id].fields] + list(self.scoped.get(rec_id, {}))
            self._unknown(node.name, node.span, candidates)
            raise Unresolved()
        return self._narrow(found, node, env)

    def _FieldAccess(self, node: ast.FieldAccess, env: Env, expect):
        obj = self.expr(node.obj, env)
        base = strip_optional(obj.type)
        if not base.startswith("record:"):
            if base.startswith("list:"):
                self.r.add("E0401", node.span, op=".", left=self.tn(obj.type), right=node.name,
                           hint="列表要用 合计/计数/任一/全部/筛选/取各 逐个处理")
            else:
                self.r.add("E0401", node.span, op=".", left=self.tn(obj.type), right=node.name)
            raise Unresolved()
        rec = self.records[base[7:]]
        fld = next((f for f in rec.fields if f.name == node.name), None)
        if fld is not None:
            t, key = fld.type, fld.id
            self.used_fields.add((rec.id, fld.id))
        elif node.name in self.scoped.get(rec.id, {}):
            scoped = self.scoped[rec.id][node.name]
            t, key = self._depend(scoped, env).type, scoped.id
        else:
            self._unknown(node.name, node.span, [f.name for f in rec.fields] + list(self.scoped.get(rec.id, {})),
                          "E0306", record=rec.name)
            raise Unresolved()
        if is_optional(obj.type):
            t = optional(t)
        return self._narrow(Expr("field", t, (obj,), key), node, env)

    def _Neg(self, node: ast.Neg, env, expect):
        e = self.expr(node.operand, env)
        if strip_optional(e.type) not in QUANTITIES | DIMENSIONLESS:
            self.r.add("E0401", node.span, op="-", left="", right=self.tn(e.type))
            raise Unresolved()
        return Expr("neg", e.type, (e,))

    def _BinOp(self, node: ast.BinOp, env, expect):
        left = self.expr(node.left, env)
        right = self.expr(node.right, env)
        t = arith_type(node.op, strip_optional(left.type), strip_optional(right.type))
        if t is None:
            lt, rt = strip_optional(left.type), strip_optional(right.type)
            if "number" in (lt, rt) and ({lt, rt} - {"number"}) & (QUANTITIES | {"date"}) and node.op in "+-":
                self.r.add("E0405", node.span, other=self.tn(lt if rt == "number" else rt))
            else:
                hint = "元/月与元/年不能直接运算，先用 按月(…) 或 按年(…) 换算" \
                    if {lt, rt} == {"money/month", "money/year"} else None
                self.r.add("E0401", node.span, hint=hint, op=_OP_TEXT[node.op], left=self.tn(left.type),
                           right=self.tn(right.type), notes=self._origins((node.left, left), (node.right, right)))
            raise Unresolved()
        if is_optional(left.type) or is_optional(right.type):
            t = optional(t)
        op = {"+": "add", "-": "sub", "*": "mul", "/": "div"}[node.op]
        if strip_optional(left.type) == "date":
            op = "add_months" if node.op == "+" else "sub_months"
        if strip_optional(left.type) == "percent" and right.type != "percent":
            left, right = right, left  # keep the quantity first
        return Expr(op, t, (left, right))

    def _Compare(self, node: ast.Compare, env, expect):
        if isinstance(node.left, ast.Name) and not self._defined(node.left.name, env):
            right = self.expr(node.right, env)
            left = self.expr(node.left, env, right.type)
        else:
            left = self.expr(node.left, env)
            right = self.expr(node.right, env, left.type)
        lt, rt = left.type, right.type
        ordering = node.op in ("<", "<=", ">", ">=")
        if ordering:
            for side, e in ((node.left, left), (node.right, right)):
                if is_optional(e.type):
                    self.r.add("E0404", side.span, what=_text_of(side), actual=self.tn(e.type), use="比较大小")
                    raise Unresolved()
        if not comparable(strip_optional(lt), strip_optional(rt), ordering):
            blt, brt = strip_optional(lt), strip_optional(rt)
            if "number" in (blt, brt) and ({blt, brt} - {"number"}) & (QUANTITIES | {"date"}):
                self.r.add("E0405", node.span, other=self.tn(blt if brt == "number" else brt))
            else:
                self.r.add("E0401", node.span, op=node.op, left=self.tn(lt), right=self.tn(rt),
                           notes=self._origins((node.left, left), (node.right, right)))
            raise Unresolved()
        op = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "=": "eq", "!=": "ne"}[node.op]
        return Expr(op, "bool", (left, right))

    def _origins(self, *operands) -> list[str]:
        """Where each operand's type comes from, for type errors: the parameter, definition or field."""
        notes = []
        for node, e in operands:
            what = _text_of(node)
            if e.op == "param":
                p = self.params[e.value]
                notes.append(f"“{what}”是参数 {p.id}，单位 {p.unit or self.tn(p.type)}，定义于 {p.defined_at}")
            elif e.op == "def":
                d = self.decl_by_id[e.value]
                notes.append(f"“{what}”的类型是 {self.tn(e.type)}，定义于 {d.node.target.span}")
            elif e.op == "field":
                notes.append(f"“{what}”是输入字段，类型 {self.tn(e.type)}")
            elif e.op == "lit":
                notes.append(f"“{what}”是{self.tn(e.type)}类型的常数" if what != "表达式" else
                             f"常数的类型是 {self.tn(e.type)}")
            else:
                notes.append(f"{'“' + what + '”' if what != '表达式' else '该运算数'}的类型是 {self.tn(e.type)}")
        return notes

    def _defined(self, name: str, env: Env) -> bool:
        """Whether a bare name is a value in scope (without checking it)."""
        for _, rec_id in env.elements:
            if any(f.name == name for f in self.records[rec_id].fields) or name in self.scoped.get(rec_id, {}):
                return True
        return any(name in ns for ns in (self.globals, self.input_by_name, self.params_by_name, BUILTIN_NAMES))

    def _BoolOp(self, node: ast.BoolOp, env: Env, expect):
        left = self.expect_bool(self.expr(node.left, env), node.left, "“且/或”的条件")
        right_env = env
        if node.op == "and":
            right_env = Env(env.decl, env.elements, env.narrowed | _presence(node.left))
        right = self.expect_bool(self.expr(node.right, right_env), node.right, "“且/或”的条件")
        return Expr(node.op, "bool", (left, right))

    def _Not(self, node: ast.Not, env, expect):
        return Expr("not", "bool", (self.expect_bool(self.expr(node.operand, env), node.operand, "“不”的对象"),))

    def _If(self, node: ast.If, env: Env, expect):
        cond = self.expect_bool(self.expr(node.cond, env), node.cond, "“如果”的条件")
        then = self.expr(node.then, Env(env.decl, env.elements, env.narrowed | _presence(node.cond)), expect)
        other = self.expr(node.otherwise, env, expect or then.type)
        t = join(then.type, other.type)
        if t is None:
            self.r.add("E0401", node.span, op="如果…则…否则", left=self.tn(then.type), right=self.tn(other.type),
                       hint="“则”和“否则”两个分支的结果必须是同一类型")
            raise Unresolved()
        return Expr("if", t, (cond, then, other))

    def _Call(self, node: ast.Call, env: Env, expect):
        if node.func not in FUNCTIONS:
            self._unknown(node.func, node.span, list(FUNCTIONS), "E0307")
            raise Unresolved()
        lo, hi = FUNCTIONS[node.func]
        if not lo <= len(node.args) <= hi:
            self.r.add("E0312", node.span, name=node.func, expected=lo if lo == hi else f"{lo}—{hi}",
                       given=len(node.args))
            raise Unresolved()
        if node.func in _AGG:
            return self._aggregate(node, env)
        args = node.args
        if node.func in ("较小值", "较大值"):
            es = [self.expr(a, env) for a in args]
            t = es[0].type
            for a, e in zip(args[1:], es[1:]):
                j = join(t, e.type) if not (is_optional(t) or is_optional(e.type)) else None
                if j is None or j == NULL or not comparable(j, j, True):
                    self.r.add("E0401", a.span, op=node.func, left=self.tn(t), right=self.tn(e.type))
                    raise Unresolved()
                t = j
            return Expr("min" if node.func == "较小值" else "max", t, tuple(es))
        if node.func == "有":
            return Expr("present", "bool", (self.expr(args[0], env),))
        if node.func == "缺省":
            x = self.expr(args[0], env)
            d = self.expr(args[1], env, strip_optional(x.type))
            t = join(strip_optional(x.type), d.type)
            if t is None:
                self.r.add("E0401", node.span, op="缺省", left=self.tn(x.type), right=self.tn(d.type))
                raise Unresolved()
            citation = None
            if len(args) == 3:
                if not isinstance(args[2], ast.Text):
                    self.r.add("E0418", args[2].span)
                    raise Unresolved()
                citation = args[2].value
                self.articles.resolve(citation, args[2].span, self.r)
            elif x.op == "input" or (x.op == "field" and self.records[strip_optional(x.args[0].type)[7:]].field(x.value)):
                self.r.add("W0304", node.span, name=_text_of(args[0]))
            return Expr("default", t, (x, d), citation)
        if node.func == "舍入":
            x = self.expr(args[0], env)
            mode = self.expr(args[1], env)
            enum = self.enums.get(mode.type[5:]) if mode.type.startswith("enum:") else None
            if mode.op != "param" or enum is None or any(c not in ROUNDING_MODES for c, _ in enum.members):
                self.r.add("E0408", args[1].span, modes="、".join(ROUNDING_MODES))
                raise Unresolved()
            if strip_optional(x.type) not in MONEY:
                self.r.add("E0401", args[0].span, op="舍入", left=self.tn(x.type), right="",
                           hint="舍入只用于金额")
                raise Unresolved()
            return Expr("round", x.type, (x, mode))
        if node.func == "查表":
            table = self.expr(args[0], env)
            if table.op != "param" or not table.type.startswith("table:"):
                self.r.add("E0412", args[0].span, name=_text_of(args[0]))
                raise Unresolved()
            key_t, value_t = table.type[6:].split(">")
            key = self.expr(args[1], env)
            if not (key.type == key_t or (key.type in DIMENSIONLESS and key_t in DIMENSIONLESS)):
                self.r.add("E0413", args[1].span, expected=self.tn(key_t), actual=self.tn(key.type))
                raise Unresolved()
            return Expr("lookup", value_t, (key,), table.value)
        if node.func == "地区名称":
            x = self.expr(args[0], env)
            if strip_optional(x.type) != "locality":
                self.r.add("E0401", args[0].span, op="地区名称", left=self.tn(x.type), right="",
                           hint="地区名称(…) 把地区（类型“地区”的值）换成完整地名")
                raise Unresolved()
            return Expr("locality_name", "opt:text" if is_optional(x.type) else "text", (x,))
        if node.func == "地区参数":
            p = self.expr(args[0], env)
            where = self.expr(args[1], env)
            if p.op != "param" or p.type.startswith("table:"):
                self.r.add("E0417", args[0].span, name=_text_of(args[0]))
                raise Unresolved()
            if strip_optional(where.type) != "locality":
                self.r.add("E0401", args[1].span, op="地区参数", left=self.tn(where.type), right="",
                           hint="第二个参数应为地区，例如 临时救助申请.发生地")
                raise Unresolved()
            return Expr("param_at", optional(p.type) if is_optional(where.type) else p.type, (where,), p.value)
        if node.func == "月份":
            x = self.expr(args[0], env)
            if x.type != "date":
                self.r.add("E0401", args[0].span, op="月份", left=self.tn(x.type), right="", hint="月份(…) 取日期的月份")
                raise Unresolved()
            return Expr("month", "int", (x,))
        # 按月 / 按年
        x = self.expr(args[0], env)
        want, out = ("money/year", "money/month") if node.func == "按月" else ("money/month", "money/year")
        if strip_optional(x.type) != want:
            self.r.add("E0414", args[0].span, actual=self.tn(x.type))
            raise Unresolved()
        return Expr("per_month" if node.func == "按月" else "per_year", out if not is_optional(x.type)
                    else optional(out), (x,))

    def _aggregate(self, node: ast.Call, env: Env) -> Expr:
        lst = self.expr(node.args[0], env)
        if not lst.type.startswith("list:") or not lst.type[5:].startswith("record:"):
            self.r.add("E0409", node.args[0].span, name=node.func, actual=self.tn(lst.type))
            raise Unresolved()
        rec_id = lst.type[5:][7:]
        self.var_counter += 1
        var = f"e{self.var_counter}"
        inner = Env(env.decl, env.elements + [(var, rec_id)], env.narrowed)
        kind = _AGG[node.func]
        body = self.expr(node.args[1], inner) if len(node.args) > 1 else None
        if kind in ("count", "any", "all", "filter") and body is not None:
            self.expect_bool(body, node.args[1], f"{node.func}的条件")
        if kind == "sum":
            if strip_optional(body.type) not in QUANTITIES | DIMENSIONLESS or is_optional(body.type):
                self.r.add("E0401", node.args[1].span, op="合计", left=self.tn(body.type), right="",
                           hint="合计的对象必须是有值的金额或数量")
                raise Unresolved()
            t = body.type
        else:
            t = {"count": "count", "any": "bool", "all": "bool", "filter": lst.type}.get(kind) \
                or f"list:{body.type}"
        return Expr(kind, t, (lst,) + ((body,) if body is not None else ()), var)

    def _table(self, node: ast.Decl, env: Env, declared: str | None) -> Expr:
        key = self.expr(node.key, env) if node.key is not None else None
        args: list[Expr] = []
        default = None
        t = declared
        intervals: list = []
        only_ranges = True
        enum_rows: dict[str, int] = {}
        for number, row in enumerate(node.rows, start=1):
            if row.kind != "else" and row.kind != "when" and key is None:
                self.r.add("E0101", row.span, found="区间", expected="“当 条件 => 结果”（区间行需要在表头写“按 …”）")
                raise Unresolved()
            tests = None
            if row.kind == "when":
                only_ranges = False
                cond = self.expect_bool(self.expr(row.conds[0], env), row.conds[0], "决策表的条件")
            elif row.kind == "compare":
                bound = self.expr(row.conds[0], env, key.type)
                tests = [(row.op, bound)]
            elif row.kind in ("half_open", "closed"):
                lo = self.expr(row.conds[0], env, key.type)
                hi = self.expr(row.conds[1], env, key.type)
                tests = [(">=", lo), ("<" if row.kind == "half_open" else "<=", hi)]
            else:
                cond = None
            if tests is not None:
                cond = self._range_cond(key, tests, row)
                if strip_optional(key.type).startswith("enum:") and tests[0][0] == "=" and tests[0][1].op == "lit":
                    code = tests[0][1].value
                    if code in enum_rows and node.hit == "唯一":
                        self.r.add("E0415", row.span, name=node.target.name, first=enum_rows[code], second=number,
                                   example=code)
                    enum_rows.setdefault(code, number)
                else:
                    iv = tables.interval(tests, number, row.span)
                    if iv is None:
                        only_ranges = False
                    else:
                        intervals.append(iv)
            result = self.expr(row.result, env, t)
            joined = join(t, result.type) if t else result.type
            if joined is None:
                self.r.add("E0407", row.result.span, first=self.tn(t), other=self.tn(result.type))
                raise Unresolved()
            t = joined
            if cond is None:
                default = result
            else:
                args += [cond, result]
        hit = {"首条": "first", "唯一": "unique"}[node.hit]
        gap = False
        if key is not None and strip_optional(key.type).startswith("enum:") and default is None and only_ranges:
            enum = self.enums[strip_optional(key.type)[5:]]
            missing = [label for code, label in enum.members if code not in enum_rows]
            if missing and not intervals:
                gap = True
                self.r.add("W0402" if t and is_optional(t) else "E0416", node.target.span,
                           name=node.target.name, example="、".join(missing))
        elif key is not None and intervals:
            gap = tables.analyse(node.target.name, node.target.span, key, intervals,
                                 default is not None or not only_ranges, hit, bool(t and is_optional(t)),
                                 self.records, self.r)
        if default is None:
            if gap and not (t and is_optional(t)):
                raise Unresolved()
            if t is None or not is_optional(t):
                self.r.add("E0411", node.target.span, name=node.target.name)
                raise Unresolved()
            default = Expr("lit", NULL)
        return Expr("case", t, tuple(args) + (default,), hit)

    def _range_cond(self, key: Expr, tests, row) -> Expr:
        parts = []
        for op, bound in tests:
            if not comparable(strip_optional(key.type), strip_optional(bound.type), op not in ("=", "!=")) \
                    or is_optional(key.type) or is_optional(bound.type):
                self.r.add("E0401", row.span, op=op, left=self.tn(key.type), right=self.tn(bound.type))
                raise Unresolved()
            name = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "=": "eq", "!=": "ne"}[op]
            parts.append(Expr(name, "bool", (key, bound)))
        cond = parts[0]
        for p in parts[1:]:
            cond = Expr("and", "bool", (cond, p))
        return cond


# ── typing rules ────────────────────────────────────────────────────────────────────────

_OP_TEXT = {"+": "加", "-": "减", "*": "乘", "/": "除"}


def arith_type(op: str, lt: str, rt: str) -> str | None:
    if op in "+-":
        if lt == rt and lt in QUANTITIES | DIMENSIONLESS:
            return lt
        if lt in DIMENSIONLESS and rt in DIMENSIONLESS:
            return "number"
        if lt == "date" and rt == "months":
            return "date"
        return None
    if op == "*":
        per_period = {("money/month", "months"), ("months", "money/month"), ("money/year", "years"),
                      ("years", "money/year")}
        if (lt, rt) in per_period:
            return "money"  # 元/月 × 月 = 元
        if lt in QUANTITIES and rt in DIMENSIONLESS:
            return lt
        if rt in QUANTITIES and lt in DIMENSIONLESS:
            return rt
        if lt in DIMENSIONLESS and rt in DIMENSIONLESS:
            return lt if lt == rt else "number"
        return None
    if op == "/":
        if lt in QUANTITIES and rt in DIMENSIONLESS:
            return lt
        if lt == rt and lt in QUANTITIES:
            return "ratio"
        if lt in DIMENSIONLESS and rt in DIMENSIONLESS:
            return "number"
    return None


def comparable(lt: str, rt: str, ordering: bool) -> bool:
    if lt == rt:
        return not ordering or lt in QUANTITIES | DIMENSIONLESS | {"date"}
    if lt in DIMENSIONLESS and rt in DIMENSIONLESS:
        return True
    return not ordering and (NULL in (lt, rt) or {lt, rt} == {"text", "locality"})


def join(a: str | None, b: str) -> str | None:
    """The type of a value that is either a or b."""
    if a is None or a == b:
        return b
    if a == NULL:
        return optional(b) if b != NULL else NULL
    if b == NULL:
        return optional(a)
    sa, sb = strip_optional(a), strip_optional(b)
    if sa == sb:
        return optional(sa)
    if sa in DIMENSIONLESS and sb in DIMENSIONLESS:
        return optional("number") if is_optional(a) or is_optional(b) else (sa if sb == "number" else sb
                                                                              if sa == "number" else "number")
    if sa.startswith("list:") and sb.startswith("list:") and sa == sb:
        return sa
    return None


def _text_of(node: ast.Node) -> str:
    if isinstance(node, ast.Name):
        return node.name
    if isinstance(node, ast.FieldAccess):
        return f"{_text_of(node.obj)}.{node.name}"
    return "表达式"


def _presence(node: ast.Node) -> frozenset:
    """Names proven present when node is true: 有(x), and conjunctions of such tests."""
    if isinstance(node, ast.Call) and node.func == "有" and len(node.args) == 1:
        text = _text_of(node.args[0])
        return frozenset({text}) if text != "表达式" else frozenset()
    if isinstance(node, ast.BoolOp) and node.op == "and":
        return _presence(node.left) | _presence(node.right)
    return frozenset()


def _num(value: Decimal | None):
    if value is None:
        return None
    return int(value) if value == int(value) else str(value)


def check_rules(files, params, articles, reporter) -> tuple[Module | None, set[str]]:
    """The module (None after errors) and the parameters the rules read."""
    checker = Checker(files, params, articles, reporter)
    return checker.check_all(), checker.used_params
