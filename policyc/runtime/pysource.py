"""The only way generated Python gets names and constants, and the audit it passes before it is compiled.

Like Jinja2's CodeGenerator: every name in generated code is one the generator made itself (`Names`), every
constant goes through one literal writer (`literal`), and text from a bundle reaches a comment only through
`comment`. `compile_audited` then parses the source and refuses it unless every node is of a kind the
generators emit, every name is a generated one or an allowed helper, and every attribute is on a short list —
so even a generator bug cannot turn a bundle's text into a call — and compiles the very tree it audited.
"""
from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal

from .errors import BundleError


class UnsafeSource(BundleError):
    """Generated code failed its audit: a generator bug or a bundle that escaped validation. Nothing ran."""

    code = "R0211"


def literal(value) -> str:
    """Python source for a constant: None, bool, int, str, finite Decimal, date, and tuples, frozensets and dicts
    of those. Anything else is refused rather than written."""
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return repr(value)
    if t is Decimal:
        if not value.is_finite():
            raise ValueError(f"not a finite decimal: {value!r}")
        return f"Decimal({str(value)!r})"
    if t is dt.date:
        return f"_date({value.year}, {value.month}, {value.day})"
    if t is tuple:
        return "(" + "".join(literal(v) + ", " for v in value) + ")"
    if t is frozenset:
        return "frozenset((" + "".join(literal(v) + ", " for v in sorted(value)) + "))"
    if t is dict:
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"no literal for {t.__name__}")


def comment(text: str) -> str:
    """A comment carrying bundle text: kept as is when it is one printable line, else written as a literal."""
    return "# " + (text if text.isprintable() else repr(text))


class Names:
    """Generated names: `prefix` + a number, handed out per key; the key itself never reaches the source."""

    def __init__(self, prefix: str):
        if not re.fullmatch(r"[a-z]+_?", prefix):
            raise ValueError(prefix)
        self.prefix = prefix
        self.by_key: dict = {}

    def __call__(self, key) -> str:
        name = self.by_key.get(key)
        if name is None:
            name = self.by_key[key] = f"{self.prefix}{len(self.by_key)}"
        return name


# what generated code may contain
_NODES = (ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Assign, ast.Return, ast.If, ast.For, ast.Expr,
          ast.Call, ast.Name, ast.Load, ast.Store, ast.Constant, ast.Attribute, ast.Subscript, ast.Compare,
          ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.BinOp, ast.Add, ast.Sub, ast.Mult,
          ast.Div, ast.IfExp, ast.NamedExpr, ast.ListComp, ast.GeneratorExp, ast.comprehension, ast.Dict,
          ast.List, ast.Tuple, ast.Lambda, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq, ast.Is, ast.IsNot,
          ast.In, ast.NotIn, ast.keyword)
_GENERATED = re.compile(r"[a-z]{1,2}_?[0-9]{1,6}|[A-Z][0-9]{1,6}|self_")
_LOCALS = frozenset({"out", "refs", "r", "rr", "x", "p", "i", "n", "v", "k", "path", "errs", "R", "P", "EVAL_DATE",
                     "LOCALITY", "EVENT", "AT", "evaluate", "convert", "used", "U"})
_BUILTINS = frozenset({"sum", "any", "all", "len", "min", "max", "type", "list", "dict", "str", "bool", "int",
                       "sorted", "set", "frozenset", "enumerate", "Decimal", "_date"})
_ATTRIBUTES = frozenset({"month", "get", "append", "add", "is_finite", "quantize", "isprintable", "issuperset"})


def audit(source: str, helpers) -> ast.Module:
    """Parse generated source and refuse it unless it is made only of what the generators emit."""
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as err:
        raise UnsafeSource(f"生成的代码无法解析（第 {err.lineno} 行）：未执行任何代码") from None
    allowed = _LOCALS | _BUILTINS | frozenset(helpers)
    for node in ast.walk(tree):
        problem = None
        if not isinstance(node, _NODES):
            problem = f"不允许的语法 {type(node).__name__}"
        elif isinstance(node, ast.Name) and not (node.id in allowed or _GENERATED.fullmatch(node.id)):
            problem = f"不允许的名称 {node.id!r}"
        elif isinstance(node, ast.Attribute) and node.attr not in _ATTRIBUTES:
            problem = f"不允许的属性 {node.attr!r}"
        elif isinstance(node, ast.Constant) and type(node.value) not in (str, int, bool, type(None)):
            problem = f"不允许的常量 {type(node.value).__name__}"
        elif isinstance(node, ast.comprehension) and node.is_async:
            problem = "不允许异步推导式"
        elif isinstance(node, ast.keyword) and node.arg != "key":
            problem = f"不允许的关键字参数 {node.arg!r}"
        elif isinstance(node, ast.FunctionDef) and (node.decorator_list or node.returns):
            problem = "函数不能带修饰"
        elif isinstance(node, ast.arg) and node.annotation is not None:
            problem = "参数不能带注解"
        if problem:
            raise UnsafeSource(f"生成的代码未通过审查（第 {getattr(node, 'lineno', '?')} 行）：{problem}；"
                               "未执行任何代码")
    return tree


def compile_audited(source: str, namespace: dict, name: str, filename: str):
    """Audit generated source against the helpers in `namespace`, compile the audited tree, and return the
    function `name` it defines."""
    tree = audit(source, namespace)
    namespace = dict(namespace, __builtins__={b: __builtins__[b] if isinstance(__builtins__, dict)
                                              else getattr(__builtins__, b)
                                              for b in _BUILTINS if b not in ("Decimal", "_date")})
    exec(compile(tree, filename, "exec"), namespace)
    return namespace[name]
