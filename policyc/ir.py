"""The typed intermediate representation every backend reads: rules as one expression tree, plus declarations.

It depends on nothing but the standard library, so the runtime can load it from a bundle without the compiler.

Types are strings:
  money, money/month, money/year   元, 元/月, 元/年 (Decimal)
  ratio, percent, number, int      倍, %, 数, 整数 (dimensionless; percent holds the fraction, 30% = 0.3)
  months, years, age, count        月, 年, 岁, 人
  date, bool, text                 日期, 是否, 文本
  enum:ID, record:ID, list:T, opt:T
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

IR_VERSION = 2

DIMENSIONLESS = frozenset({"ratio", "percent", "number", "int", "count"})
MONEY = frozenset({"money", "money/month", "money/year"})
QUANTITIES = MONEY | {"months", "years", "age", "count"}


def is_optional(t: str) -> bool:
    return t.startswith("opt:")


def strip_optional(t: str) -> str:
    return t[4:] if t.startswith("opt:") else t


def optional(t: str) -> str:
    return t if t.startswith("opt:") else "opt:" + t


@dataclass
class Expr:
    """One node: `op` names it, `type` is its checked type, `args` its children, `value` its payload."""

    op: str
    type: str
    args: tuple["Expr", ...] = ()
    value: Any = None

    def walk(self) -> Iterator["Expr"]:
        yield self
        for a in self.args:
            yield from a.walk()

    def to_json(self) -> dict:
        out: dict = {"op": self.op, "type": self.type}
        if self.args:
            out["args"] = [a.to_json() for a in self.args]
        if self.value is not None:
            out["value"] = self.value
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Expr":
        return cls(data["op"], data["type"], tuple(cls.from_json(a) for a in data.get("args", ())),
                   data.get("value"))


@dataclass
class Reason:
    """A sentence a decision gives when a rule holds (`when` true) or fails (false), if `only_if` holds."""

    when: bool
    parts: tuple  # str or Expr
    only_if: Expr | None = None

    def to_json(self) -> dict:
        return {"when": self.when,
                "parts": [p if isinstance(p, str) else p.to_json() for p in self.parts],
                "only_if": self.only_if.to_json() if self.only_if else None}

    @classmethod
    def from_json(cls, d: dict) -> "Reason":
        return cls(d["when"], tuple(p if isinstance(p, str) else Expr.from_json(p) for p in d["parts"]),
                   Expr.from_json(d["only_if"]) if d.get("only_if") else None)


@dataclass
class Definition:
    """A derived value, rule or output. `scope` names the record type it is computed for (None: once per request)."""

    id: str
    name: str
    kind: str  # value | rule | output | referral
    type: str
    expr: Expr
    program: str | None
    scope: str | None = None
    citations: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    defined_at: str = ""
    amount: Expr | None = None  # a referral's amount, where one is set

    def expressions(self) -> list["Expr"]:
        """Every expression it evaluates: its value, its amount, and its reasons' parts and conditions."""
        out = [self.expr] + ([self.amount] if self.amount is not None else [])
        for reason in self.reasons:
            out += [p for p in reason.parts if not isinstance(p, str)]
            out += [reason.only_if] if reason.only_if is not None else []
        return out

    @property
    def key(self) -> str:
        """The output key: the id without its program and scope (`eligible`, `recheck.interval_months`)."""
        prefix = ".".join(filter(None, (self.program, self.scope))) + "."
        return self.id[len(prefix):] if self.id.startswith(prefix) else self.id

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "kind": self.kind, "type": self.type,
                "expr": self.expr.to_json(), "program": self.program, "scope": self.scope,
                "citations": list(self.citations), "reasons": [r.to_json() for r in self.reasons],
                "defined_at": self.defined_at, "amount": self.amount.to_json() if self.amount else None}

    @classmethod
    def from_json(cls, d: dict) -> "Definition":
        return cls(d["id"], d["name"], d["kind"], d["type"], Expr.from_json(d["expr"]), d["program"],
                   d.get("scope"), tuple(d.get("citations", ())),
                   tuple(Reason.from_json(r) for r in d.get("reasons", ())), d.get("defined_at", ""),
                   Expr.from_json(d["amount"]) if d.get("amount") else None)


@dataclass
class Field:
    id: str
    name: str
    type: str
    minimum: Any = None  # str (Decimal text) or int
    maximum: Any = None
    # what leaving the field out of a request means: "required" (an input error), "unknown" (a fact not yet
    # known: results that depend on it are undecided; an explicit null is 无 for optional types, unknown
    # otherwise) or "none" (无, e.g. 正在享受低保 left out: not receiving)
    presence: str = "unknown"

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "type": self.type, "minimum": self.minimum,
                "maximum": self.maximum, "presence": self.presence}


@dataclass
class Requirement:
    """要求: a condition on the facts of every record of a type; a request that breaks it is an input error
    reported at `field` of that record."""

    expr: Expr
    message: str
    field: str

    def to_json(self) -> dict:
        return {"expr": self.expr.to_json(), "message": self.message, "field": self.field}

    @classmethod
    def from_json(cls, d: dict) -> "Requirement":
        return cls(Expr.from_json(d["expr"]), d["message"], d["field"])


@dataclass
class Record:
    id: str
    name: str
    fields: list[Field]
    requirements: list[Requirement] = field(default_factory=list)

    def field(self, fid: str) -> Field | None:
        return next((f for f in self.fields if f.id == fid), None)

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "fields": [f.to_json() for f in self.fields],
                "requirements": [r.to_json() for r in self.requirements]}

    @classmethod
    def from_json(cls, d: dict) -> "Record":
        return cls(d["id"], d["name"], [Field(**f) for f in d["fields"]],
                   [Requirement.from_json(r) for r in d.get("requirements", ())])


@dataclass
class Enum:
    id: str
    name: str
    members: list[tuple[str, str]]  # (code, Chinese label)

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "members": [list(m) for m in self.members]}

    @classmethod
    def from_json(cls, d: dict) -> "Enum":
        return cls(d["id"], d["name"], [tuple(m) for m in d["members"]])


@dataclass
class Program:
    id: str
    name: str
    citations: tuple[str, ...]
    outputs: list[str]  # ids of output definitions, in declaration order (per-record ones have a scope)
    rules: list[str] = field(default_factory=list)  # ids of rules whose reasons it gives, in declaration order
    parameters: list[str] = field(default_factory=list)  # every parameter its outputs and reasons read
    referrals: list[str] = field(default_factory=list)  # ids of referral definitions

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "citations": list(self.citations),
                "outputs": self.outputs, "rules": self.rules, "parameters": self.parameters,
                "referrals": self.referrals}

    @classmethod
    def from_json(cls, d: dict) -> "Program":
        return cls(d["id"], d["name"], tuple(d["citations"]), d["outputs"], d["rules"], d["parameters"],
                   d.get("referrals", []))


@dataclass
class Module:
    """Everything the rules say, checked and ordered: definitions are topologically sorted."""

    enums: dict[str, Enum]
    records: dict[str, Record]
    inputs: list[Field]
    definitions: list[Definition]
    programs: list[Program]
    parameter_types: dict[str, str]  # parameter id -> type, for every parameter the rules read

    def instance_paths(self, record_id: str) -> list[list[tuple[str, str]]]:
        """Access paths from the inputs to every place a record of this type occurs: steps ("input", id),
        ("field", id) and ("each", "") for the items of a list."""
        paths: list[list[tuple[str, str]]] = []

        def visit(t: str, steps: list[tuple[str, str]], depth: int) -> None:
            t = strip_optional(t)
            if depth > 6:
                return
            if t.startswith("list:"):
                visit(t[5:], steps + [("each", "")], depth + 1)
            elif t.startswith("record:"):
                if t[7:] == record_id:
                    paths.append(steps)
                for f in self.records[t[7:]].fields:
                    visit(f.type, steps + [("field", f.id)], depth + 1)

        for inp in self.inputs:
            visit(inp.type, [("input", inp.id)], 0)
        return paths

    def reason_basis(self, rule: Definition, reason: "Reason") -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What a reason of a rule rests on, read from the IR: (the definitions its rule and its sentence read
        directly, the request facts they read directly as JSON paths with [*] for the items of a list)."""
        defs: dict[str, None] = {}
        facts: dict[str, None] = {}
        by_id = {d.id: d for d in self.definitions}
        exprs = [rule.expr] + [p for p in reason.parts if not isinstance(p, str)]
        exprs += [reason.only_if] if reason.only_if is not None else []
        for e in exprs:
            for n in e.walk():
                if n.op == "def" or (n.op == "field" and n.value in by_id):
                    if n.value != rule.id:
                        defs.setdefault(n.value)
                elif n.op == "field" and n.args:
                    rec = strip_optional(n.args[0].type)
                    if rec.startswith("record:") and self.records[rec[7:]].field(n.value) is not None:
                        for steps in self.instance_paths(rec[7:]):
                            path = "$" + "".join(f".{x}" if kind in ("input", "field") else "[*]" for kind, x in steps)
                            facts.setdefault(f"{path}.{n.value}")
        return tuple(defs), tuple(facts)

    def needed(self, programs) -> list[Definition]:
        """The definitions the given programs read (outputs, rules, referrals and what they depend on), in
        evaluation order."""
        by_id = {d.id: d for d in self.definitions}
        stack = [x for p in programs for x in (*p.outputs, *p.rules, *p.referrals)]
        seen: set[str] = set()
        while stack:
            did = stack.pop()
            if did in seen:
                continue
            seen.add(did)
            for e in by_id[did].expressions():
                stack += [n.value for n in e.walk() if n.op in ("def", "field") and n.value in by_id]
        return [d for d in self.definitions if d.id in seen]

    def to_json(self) -> dict:
        return {"ir_version": IR_VERSION,
                "enums": [e.to_json() for e in self.enums.values()],
                "records": [r.to_json() for r in self.records.values()],
                "inputs": [f.to_json() for f in self.inputs],
                "definitions": [d.to_json() for d in self.definitions],
                "programs": [p.to_json() for p in self.programs],
                "parameter_types": self.parameter_types}

    @classmethod
    def from_json(cls, d: dict) -> "Module":
        if d.get("ir_version") != IR_VERSION:
            raise ValueError(f"unsupported IR version {d.get('ir_version')!r}")
        return cls({e["id"]: Enum.from_json(e) for e in d["enums"]},
                   {r["id"]: Record.from_json(r) for r in d["records"]},
                   [Field(**f) for f in d["inputs"]],
                   [Definition.from_json(x) for x in d["definitions"]],
                   [Program.from_json(p) for p in d["programs"]],
                   dict(d["parameter_types"]))
