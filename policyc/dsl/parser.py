"""Parses rule files (*.policy) into syntax nodes; syntax errors become diagnostics at file:line:col."""
from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..diagnostics import Reporter, Span
from ..names import describe_char, is_unsafe, name_problem, scan_source, shown, unsafe_chars
from . import ast

_CMP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "=", "!=": "!=", "≠": "!=", "≤": "<=", "≥": ">=",
        "低于": "<", "不低于": ">=", "高于": ">", "不高于": "<=", "等于": "=", "不等于": "!="}
_ARITH = {"+": "+", "-": "-", "*": "*", "×": "*", "/": "/", "÷": "/"}

# How expected tokens are named to a policy officer.
_TOKEN_NAMES = {
    "NAME": "名称", "NUMBER": "数字", "STRING": "带引号的文字", "UNIT": "单位", "DATE": "日期",
    "LPAR": "“(”", "RPAR": "“)”", "LBRACE": "“{”", "RBRACE": "“}”", "COLON": "“:”", "EQUAL": "“=”",
    "COMMA": "“,”", "LSQB": "“[”", "RSQB": "“]”", "$END": "文件结尾",
}


@lru_cache(maxsize=None)
def _lark() -> Lark:
    grammar = (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, start=["start", "expr"],
                maybe_placeholders=True)


class _Presence(str):
    """What a field left out of a request means: required (必填), unknown (the default) or none (未提供即无)."""


_PRESENCE = {"必填": _Presence("required"), "未提供即无": _Presence("none")}


class _Build(Transformer):
    """lark tree → syntax nodes."""

    def __init__(self, path: str, line_offset: int = 0, col_offset: int = 0):
        super().__init__()
        self.path = path
        self.line_offset = line_offset
        self.col_offset = col_offset

    def _span(self, meta_or_token) -> Span:
        line = getattr(meta_or_token, "line", 0) or 0
        col = getattr(meta_or_token, "column", 0) or 0
        end = getattr(meta_or_token, "end_column", 0) or 0
        end_line = getattr(meta_or_token, "end_line", line)
        if line == 1 and self.line_offset:
            col += self.col_offset
            end += self.col_offset
        return Span(self.path, line + self.line_offset, col, end if end_line == line else 0)

    def _text(self, tok: Token) -> ast.Text:
        raw = str(tok)
        body = raw[1:-1]
        if raw.startswith('"'):
            body = _ESCAPE.sub(r"\1", body)  # only \" and \\ get here: _check_tokens refused the rest
        span = self._span(tok)
        return ast.Text(span, body, Span(span.file, span.line, span.col + 1))

    # expressions
    @v_args(meta=True)
    def quantity(self, meta, children):
        number, unit = children[0], children[1] if len(children) > 1 else None
        return ast.Quantity(self._span(meta), Decimal(str(number)), str(unit) if unit else None)

    def string(self, children):
        return self._text(children[0])

    def date(self, children):
        return ast.DateLit(self._span(children[0]), str(children[0]))

    @v_args(meta=True)
    def true(self, meta, _):
        return ast.Const(self._span(meta), True)

    @v_args(meta=True)
    def false(self, meta, _):
        return ast.Const(self._span(meta), False)

    @v_args(meta=True)
    def none(self, meta, _):
        return ast.Const(self._span(meta), None)

    def name(self, children):
        return ast.Name(self._span(children[0]), str(children[0]))

    @v_args(meta=True)
    def call(self, meta, children):
        args = [c for c in children[1:] if c is not None]
        return ast.Call(self._span(children[0]), str(children[0]), args)

    @v_args(meta=True)
    def field(self, meta, children):
        obj, name = children
        return ast.FieldAccess(self._span(name), obj, str(name))

    @v_args(meta=True)
    def binop(self, meta, children):
        left, op, right = children
        return ast.BinOp(self._span(op), _ARITH[str(op)], left, right)

    def cmp_op(self, children):
        return children[0]

    @v_args(meta=True)
    def compare(self, meta, children):
        left, op, right = children
        return ast.Compare(self._span(op), _CMP[str(op)], left, right)

    @v_args(meta=True)
    def and_(self, meta, children):
        return ast.BoolOp(self._span(meta), "and", children[0], children[1])

    @v_args(meta=True)
    def or_(self, meta, children):
        return ast.BoolOp(self._span(meta), "or", children[0], children[1])

    @v_args(meta=True)
    def not_(self, meta, children):
        return ast.Not(self._span(meta), children[0])

    @v_args(meta=True)
    def neg(self, meta, children):
        return ast.Neg(self._span(meta), children[0])

    @v_args(meta=True)
    def if_expr(self, meta, children):
        return ast.If(self._span(meta), *children)

    # types
    @v_args(meta=True)
    def type_ref(self, meta, children):
        t = children[0]
        t.optional = len(children) > 1 and children[1] is not None
        t.span = self._span(meta)
        return t

    def optional_mark(self, _):
        return True

    def unit_type(self, children):
        return ast.TypeRef(self._span(children[0]), "unit", str(children[0]))

    def named_type(self, children):
        return ast.TypeRef(self._span(children[0]), "named", str(children[0]))

    @v_args(meta=True)
    def list_type(self, meta, children):
        return ast.TypeRef(self._span(meta), "list", item=children[0])

    def _simple_type(kind):  # noqa: N805 - a factory used in the class body
        @v_args(meta=True)
        def build(self, meta, _):
            return ast.TypeRef(self._span(meta), kind)
        return build

    int_type = _simple_type("int")
    number_type = _simple_type("number")
    date_type = _simple_type("date")
    bool_type = _simple_type("bool")
    text_type = _simple_type("text")
    locality_type = _simple_type("locality")

    # declarations
    def ident(self, children):
        return ".".join(map(str, children))

    @v_args(meta=True)
    def target(self, meta, children):
        if len(children) == 2 and children[1] is not None:
            return ast.Target(self._span(children[1]), str(children[1]), str(children[0]))
        return ast.Target(self._span(children[0]), str(children[0]), None)

    def citations(self, children):
        return [self._text(c) for c in children]

    def cite(self, children):
        return ("cite", children[0])

    def type_ann(self, children):
        return ("type", children[0])

    def only_if(self, children):
        return ("only_if", children[0])

    def when_true(self, children):
        return ("when_true", self._text(children[0]))

    def when_false(self, children):
        return ("when_false", self._text(children[0]))

    def key(self, children):
        return ("key", children[0])

    def hit(self, children):
        return ("hit", str(children[0]))

    @v_args(meta=True)
    def program(self, meta, children):
        return ast.ProgramDecl(self._span(children[0]), str(children[0]), str(children[1]), children[2])

    @v_args(meta=True)
    def enum_member(self, meta, children):
        return (str(children[0]), str(children[1]), self._span(children[0]))

    @v_args(meta=True)
    def enum_decl(self, meta, children):
        return ast.EnumDecl(self._span(children[0]), str(children[0]), str(children[1]), list(children[2:]))

    @v_args(meta=True)
    def bounds(self, meta, children):
        return (children[0], children[1])

    def signed(self, children):
        return Decimal(str(children[0]))

    def negative(self, children):
        return -Decimal(str(children[0]))

    def presence(self, children):
        return _PRESENCE[str(children[0])]

    @v_args(meta=True)
    def field_decl(self, meta, children):
        presence = children.pop() if isinstance(children[-1], _Presence) else "unknown"
        return ast.FieldDecl(self._span(children[0]), str(children[0]), str(children[1]), children[2],
                             children[3] if len(children) > 3 else None, str(presence))

    @v_args(meta=True)
    def requirement(self, meta, children):
        return ast.Requirement(self._span(meta), children[0], self._text(children[1]))

    @v_args(meta=True)
    def record_decl(self, meta, children):
        body = children[2:]
        return ast.RecordDecl(self._span(children[0]), str(children[0]), str(children[1]),
                              [c for c in body if isinstance(c, ast.FieldDecl)],
                              [c for c in body if isinstance(c, ast.Requirement)])

    @v_args(meta=True)
    def input_decl(self, meta, children):
        presence = children.pop() if isinstance(children[-1], _Presence) else "unknown"
        return ast.InputDecl(self._span(children[0]), str(children[0]), str(children[1]), children[2],
                             str(presence))

    def _decl(self, kind, children, expr=None):
        target = children[0]
        decl = ast.Decl(target.span, kind, target, None, None, expr)
        for child in children[1:]:
            if isinstance(child, str):
                decl.ident = child
            elif isinstance(child, tuple) and child[0] == "cite":
                decl.citations = child[1]
            elif isinstance(child, tuple) and child[0] == "type":
                decl.type = child[1]
            elif isinstance(child, tuple) and child[0] in ("only_if", "when_true", "when_false", "key", "hit",
                                                           "amount"):
                setattr(decl, child[0], child[1])
            elif isinstance(child, ast.Row):
                decl.rows.append(child)
            elif isinstance(child, (ast.Node,)) and child is not None:
                if isinstance(child, ast.Text) and kind == "explain":
                    decl.when_true = child
                else:
                    decl.expr = child
        return decl

    def definition(self, children):
        return self._decl("value", children)

    def rule(self, children):
        return self._decl("rule", children)

    @v_args(meta=True)
    def explain(self, meta, children):
        *rest, text = children
        decl = self._decl("explain", rest)
        decl.when_true = self._text(text)
        return decl

    def output(self, children):
        return self._decl("output", children)

    def referral(self, children):
        return self._decl("referral", children)

    def amount(self, children):
        return ("amount", children[0])

    def table(self, children):
        return self._decl("table", children)

    def _row(kind):  # noqa: N805 - a factory used in the class body
        @v_args(meta=True)
        def build(self, meta, children):
            if kind == "compare":
                op, bound, result = children
                return ast.Row(self._span(meta), kind, [bound], result, _CMP[str(op)])
            return ast.Row(self._span(meta), kind, list(children[:-1]), children[-1])
        return build

    row_when = _row("when")
    row_half_open = _row("half_open")
    row_closed = _row("closed")
    row_compare = _row("compare")
    row_else = _row("else")


_ESCAPE = re.compile(r"\\(.)")
STRING_MAX = 500  # characters of a quoted text: a reason, a requirement's message, a citation
# a number literal: at most 15 digits before the point (|x| < 10^15), at most 10 after (what a YAML source may write,
# load.yamlsrc.NUMBER_DIGITS/NUMBER_DECIMALS), checked on its text before it becomes a Decimal
NUMBER_DIGITS, NUMBER_DECIMALS = 15, 10


def literal_problem(text: str) -> str | None:
    """Why a number literal (digits, optionally a point and digits) is out of bounds, or None."""
    whole, _, fraction = text.partition(".")
    if len(whole.lstrip("0")) > NUMBER_DIGITS:
        return f"绝对值应小于 10^{NUMBER_DIGITS}"
    if len(fraction) > NUMBER_DECIMALS:
        return f"小数超过 {NUMBER_DECIMALS} 位"
    return None


def _escape_shown(text: str, i: int) -> tuple[str, int]:
    """The escape at text[i] (a backslash) as written, for E0105, and its width in the source: \\u12, \\N{…},
    \\xZZ, or a backslash and one character (described when it is a control or invisible one)."""
    ch = text[i + 1]
    if ch in "uUx":
        width = {"u": 4, "U": 8, "x": 2}[ch]
        tail = text[i + 2:i + 2 + width]
        tail = tail[:next((k for k, c in enumerate(tail) if c not in "0123456789abcdefABCDEF"), len(tail))]
        return "\\" + ch + tail, 2 + len(tail)
    if ch == "N" and text[i + 2:i + 3] == "{":
        end = text.find("}", i + 3, i + 3 + 40)
        if end > 0:
            return "\\N{" + shown(text[i + 3:end], 40) + "}", end + 1 - i
        return "\\N{" + shown(text[i + 3:i + 13], 10) + "…", 3
    return "\\" + (describe_char(ch) if is_unsafe(ch) else ch), 2


def _check_tokens(tree, path: str, reporter: Reporter, line_offset: int = 0, col_offset: int = 0) -> bool:
    """Names and strings within the closed alphabets (policyc/names.py): no name starting with an underscore,
    equal to a Python keyword or longer than 64 characters (E0317); in strings, no escape but \\" and \\\\
    (E0105) and no control or invisible character (E0009). Reports at the place; True when all are fine."""
    ok = True

    def at(tok: Token, offset: int = 0, width: int = 0) -> Span:
        line, col = tok.line, tok.column + offset
        if line == 1 and line_offset:
            col += col_offset
        return Span(path, line + line_offset, col, col + width if width else 0)

    for tok in tree.scan_values(lambda v: isinstance(v, Token) and v.type in ("NAME", "STRING", "NUMBER")):
        text = str(tok)
        if tok.type == "NUMBER":
            problem = literal_problem(text)
            if problem is not None:
                reporter.add("E0106", at(tok, 0, len(text)), number=shown(text, 40), detail=problem)
                ok = False
            continue
        if tok.type == "NAME":
            problem = name_problem(text)
            if problem is not None:
                reporter.add("E0317", at(tok, 0, len(text)), name=shown(text), problem=problem)
                ok = False
            continue
        if text.startswith('"'):
            for m in _ESCAPE.finditer(text, 1, len(text) - 1):
                if m.group(1) not in '"\\':
                    escape, width = _escape_shown(text, m.start())
                    reporter.add("E0105", at(tok, m.start(), width), escape=escape)
                    ok = False
        for i, ch in unsafe_chars(text):
            reporter.add("E0009", at(tok, i, 1), what="文字", char=describe_char(ch))
            ok = False
        if len(text) - 2 > STRING_MAX:
            reporter.add("E0016", at(tok), where="带引号的文字",
                         detail=f"过长（{len(text) - 2} 个字，最多 {STRING_MAX} 个字）")
            ok = False
    return ok


def _describe_expected(expected: set[str]) -> str:
    names = []
    for tok in sorted(expected):
        if tok in _TOKEN_NAMES:
            names.append(_TOKEN_NAMES[tok])
        elif tok.startswith("__ANON") or tok.isupper():
            pattern = _lark().get_terminal(tok).pattern
            names.append(f"“{pattern.value}”" if pattern.type == "str" else tok)
        else:
            names.append(tok)
    names = sorted(set(names))
    return "、".join(names[:8]) + ("等" if len(names) > 8 else "")


def _syntax_error(err: UnexpectedInput, path: str, text: str, reporter: Reporter,
                  line_offset: int = 0, col_offset: int = 0) -> None:
    line = getattr(err, "line", 0) or 0
    col = getattr(err, "column", 0) or 0
    if line == 1 and line_offset:
        col += col_offset
    span = Span(path, max(line, 0) + line_offset, max(col, 1))
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        if ch in ('"', "“"):  # a quote no string starts at: the text does not end on its line (or ends in \)
            reporter.add("E0107", span)
            return
        reporter.add("E0102", span, char=describe_char(ch) if ch and is_unsafe(ch) else ch)
    elif isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        reporter.add("E0103", span, expected=_describe_expected(set(err.expected)))
    else:
        tok = err.token
        reporter.add("E0101", Span(path, tok.line + line_offset, tok.column,
                                   tok.end_column if tok.end_line == tok.line else 0),
                     found=shown(str(tok)), expected=_describe_expected(set(err.expected)))


MAX_DEPTH = 60  # nesting of expressions; deeper is unreadable for people and unsafe for the evaluator


def _too_deep(tree, path: str, reporter: Reporter, line_offset: int = 0) -> bool:
    """Measure nesting without recursion, and report the first place that is too deep."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = getattr(node, "meta", None)
            line = getattr(meta, "line", 1) if meta is not None and not getattr(meta, "empty", True) else 1
            col = getattr(meta, "column", 1) if meta is not None and not getattr(meta, "empty", True) else 1
            reporter.add("E0104", Span(path, line + line_offset, col), limit=MAX_DEPTH)
            return True
        stack.extend((child, depth + 1) for child in getattr(node, "children", ()) if hasattr(child, "children"))
    return False


def parse_file(path: str, text: str, reporter: Reporter) -> ast.File | None:
    """Parse one rule file; on a syntax error, report it and return None."""
    if not scan_source(path, text, reporter):
        return None
    try:
        tree = _lark().parse(text, start="start")
    except UnexpectedInput as err:
        _syntax_error(err, path, text, reporter)
        return None
    if _too_deep(tree, path, reporter) or not _check_tokens(tree, path, reporter):
        return None
    items = _Build(path).transform(tree).children
    return ast.File(path, items)


def parse_expr(text: str, span: Span, reporter: Reporter) -> ast.Node | None:
    """Parse an expression embedded in a string (a reason placeholder), with spans relative to `span`."""
    try:
        tree = _lark().parse(text, start="expr")
    except UnexpectedInput as err:
        _syntax_error(err, span.file, text, reporter, span.line - 1, span.col - 1)
        return None
    if _too_deep(tree, span.file, reporter, span.line - 1) \
            or not _check_tokens(tree, span.file, reporter, span.line - 1, span.col - 1):
        return None
    return _Build(span.file, span.line - 1, span.col - 1).transform(tree)
