"""Syntax nodes of the rule language, each with the span it was written at."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..diagnostics import Span


@dataclass
class Node:
    span: Span


# --- expressions -------------------------------------------------------------------------------

@dataclass
class Name(Node):
    name: str


@dataclass
class FieldAccess(Node):
    obj: "Node"
    name: str


@dataclass
class Quantity(Node):
    value: Decimal
    unit: str | None  # the unit as written: 元/月, 岁, % …; None for a plain number


@dataclass
class Text(Node):
    value: str
    value_span: Span  # where the text between the quotes starts, for placeholders


@dataclass
class DateLit(Node):
    value: str


@dataclass
class Const(Node):
    value: object  # True, False, None


@dataclass
class BinOp(Node):
    op: str  # + - * /
    left: Node
    right: Node


@dataclass
class Compare(Node):
    op: str  # < <= > >= = !=
    left: Node
    right: Node


@dataclass
class BoolOp(Node):
    op: str  # and | or
    left: Node
    right: Node


@dataclass
class Not(Node):
    operand: Node


@dataclass
class Neg(Node):
    operand: Node


@dataclass
class If(Node):
    cond: Node
    then: Node
    otherwise: Node


@dataclass
class Call(Node):
    func: str
    args: list[Node]


# --- types -----------------------------------------------------------------------------------

@dataclass
class TypeRef(Node):
    kind: str  # unit | int | number | date | bool | text | list | named
    name: str | None = None  # the unit or the named type
    item: "TypeRef | None" = None  # for list
    optional: bool = False


# --- declarations ------------------------------------------------------------------------------

@dataclass
class Target(Node):
    name: str
    scope: str | None  # record name for per-record definitions (家庭成员.就业成本扣减)


@dataclass
class ProgramDecl(Node):
    name: str
    ident: str
    citations: list[Text]


@dataclass
class EnumDecl(Node):
    name: str
    ident: str
    members: list[tuple[str, str, Span]]  # (code, label, span)


@dataclass
class FieldDecl(Node):
    name: str
    ident: str
    type: TypeRef
    bounds: tuple[Decimal, Decimal] | None = None
    presence: str = "unknown"  # required (必填) | unknown (left out: unknown) | none (未提供即无)


@dataclass
class Requirement(Node):
    """要求 条件 "说明": a condition every record of the type must meet; a request that breaks it is refused."""
    expr: "Node"
    message: Text


@dataclass
class RecordDecl(Node):
    name: str
    ident: str
    fields: list[FieldDecl]
    requirements: list[Requirement] = field(default_factory=list)


@dataclass
class InputDecl(Node):
    name: str
    ident: str
    type: TypeRef
    presence: str = "unknown"


@dataclass
class Row(Node):
    kind: str  # when | half_open | closed | compare | else
    conds: list[Node]  # when: [cond]; half_open/closed: [low, high]; compare: [bound]; else: []
    result: Node
    op: str | None = None  # for compare rows


@dataclass
class Decl(Node):
    """定义 / 规则 / 说明 / 输出 / 决策表: a named value with optional id, type, citations and reasons."""

    kind: str  # value | rule | explain | output | table | referral
    target: Target
    ident: str | None
    type: TypeRef | None
    expr: Node | None
    citations: list[Text] = field(default_factory=list)
    only_if: Node | None = None
    when_true: Text | None = None
    when_false: Text | None = None
    key: Node | None = None
    hit: str | None = None
    rows: list[Row] = field(default_factory=list)
    amount: Node | None = None  # for referrals
    program: ProgramDecl | None = None


@dataclass
class File:
    path: str
    items: list[Node]
