"""Relative case inputs: a case value written as `"=城市低保标准 × 3 − 0.01"` is computed at compile time from the
parameter values in force at the case's locality and date, so a boundary case stays on its boundary when a
standard changes. Syntax (docs/cases.md): `=` then decimal numbers (optionally with a unit: 3个月, 50%, 12元/月),
parameter ids (dibao.standard.urban) or Chinese names (城市低保标准), + - − × * ÷ / and parentheses; exact Decimal
arithmetic. The bundle carries the resolved values where the runtime reads them, and the written text in
`relative_inputs` (JSON path → text) for display."""
from __future__ import annotations

import datetime as dt
import decimal
import difflib
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .constraints import effective
from .events import resolve_locality
from .params import Param
from .types import UNIT_TYPES
from ..diagnostics import Reporter, Span
from ..dsl.parser import literal_problem
from ..load.yamlsrc import Located, number_problem

INPUT_KEYS = ("household", "incident", "application")  # the parts of a case that are request facts
_EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.DivisionByZero, decimal.InvalidOperation])
_WIDE = decimal.Context(prec=200, traps=[])  # quantize never raises: a NaN compares unequal
_DIMENSIONLESS = {"ratio", "percent", "int", "number"}
_TOKEN = re.compile(r"""
    (?P<space>[ \t\u3000]+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>元/月|元/年|个月|元|月|年|倍|%|人|岁)?
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<name>[\u3400-\u4dbf\u4e00-\u9fff]+)
  | (?P<op>[-+−＋*×/÷()（）])
""", re.VERBOSE)
_OPS = {"−": "-", "＋": "+", "×": "*", "÷": "/", "（": "(", "）": ")"}
_UNIT_WORDS = {"money/month": "元/月", "money/year": "元/年", "money": "元", "months": "月", "years": "年",
               "age": "岁", "count": "人", None: "无单位"}


class Bad(Exception):
    """A problem with one relative input: the message code, its arguments and the offset in the text."""

    def __init__(self, code: str, offset: int = 0, **args):
        self.code, self.offset, self.args_ = code, offset, args


@dataclass
class Quantity:
    value: Decimal
    unit: str | None  # a type of check.types.UNIT_TYPES that carries a dimension, or None


def is_relative(value) -> bool:
    return isinstance(value, str) and value.lstrip().startswith("=")


def _tokens(text: str) -> list[tuple[str, str, int, str | None]]:
    """(kind, text, offset, unit) for the expression after the leading '='."""
    start = text.index("=") + 1
    out, i = [], start
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            raise Bad("E0606", i, problem=f"不能识别的字符“{text[i]}”")
        kind = m.lastgroup if m.lastgroup != "unit" else "number"
        if kind != "space":
            tok = m.group(kind)
            out.append((kind, _OPS.get(tok, tok), i, m.group("unit") if kind == "number" else None))
        i = m.end()
    if not out:
        raise Bad("E0606", start, problem="“=”后面没有算式")
    return out


class _Parser:
    """expr := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)* ; unary := '-' unary | atom ;
    atom := number | parameter | '(' expr ')'. Values are Quantity; names are looked up by `lookup`."""

    MAX_DEPTH = 30  # nested parentheses and signs: an expression is a line of arithmetic, not a program

    def __init__(self, text: str, lookup):
        self.text, self.toks, self.i, self.lookup, self.depth = text, _tokens(text), 0, lookup, 0

    def parse(self) -> Quantity:
        q = self.expr()
        if self.i < len(self.toks):
            tok = self.toks[self.i]
            raise Bad("E0606", tok[2], problem=f"多余的“{self.text[tok[2]:tok[2] + len(tok[1])]}”")
        return q

    def _peek(self, *ops):
        return self.i < len(self.toks) and self.toks[self.i][0] == "op" and self.toks[self.i][1] in ops

    def expr(self) -> Quantity:
        left = self.term()
        while self._peek("+", "-"):
            op, at = self.toks[self.i][1], self.toks[self.i][2]
            self.i += 1
            right = self.term()
            left = _combine(op, left, right, at)
        return left

    def term(self) -> Quantity:
        left = self.unary()
        while self._peek("*", "/"):
            op, at = self.toks[self.i][1], self.toks[self.i][2]
            self.i += 1
            right = self.unary()
            left = _combine(op, left, right, at)
        return left

    def unary(self) -> Quantity:
        self.depth += 1
        if self.depth > self.MAX_DEPTH:
            raise Bad("E0606", self.toks[self.i][2] if self.i < len(self.toks) else 0, problem="括号或负号嵌套过深")
        try:
            if self._peek("-"):
                self.i += 1
                q = self.unary()
                return Quantity(-q.value, q.unit)
            return self.atom()
        finally:
            self.depth -= 1

    def atom(self) -> Quantity:
        if self.i >= len(self.toks):
            raise Bad("E0606", len(self.text), problem="算式不完整")
        kind, tok, at, unit = self.toks[self.i]
        self.i += 1
        if kind == "number":
            problem = literal_problem(tok)  # on the text, before it becomes a Decimal
            if problem is not None:
                raise Bad("E0606", at, problem=f"数字 {tok[:40]}{'…' if len(tok) > 40 else ''} 超出允许的范围：{problem}")
            value = Decimal(tok)
            if unit == "%":
                return Quantity(_EXACT.divide(value, Decimal(100)), None)
            utype = UNIT_TYPES[unit] if unit else None
            return Quantity(value, None if utype in _DIMENSIONLESS else utype)
        if kind in ("id", "name"):
            return self.lookup(tok, at)
        if tok == "(":
            q = self.expr()
            if not self._peek(")"):
                raise Bad("E0606", self.toks[self.i][2] if self.i < len(self.toks) else len(self.text),
                          problem="缺少右括号")
            self.i += 1
            return q
        raise Bad("E0606", at, problem=f"这里应为数字、参数或括号，不应是“{self.text[at:at + len(tok)]}”")


def _unit_name(unit: str | None) -> str:
    return _UNIT_WORDS.get(unit, unit or "无单位")


def _combine(op: str, a: Quantity, b: Quantity, at: int) -> Quantity:
    try:
        value = {"+": _EXACT.add, "-": _EXACT.subtract, "*": _EXACT.multiply, "/": _EXACT.divide}[op](a.value, b.value)
    except decimal.DivisionByZero:
        raise Bad("E0606", at, problem="除数为零") from None
    except decimal.Inexact:
        problem = f"{a.value} ÷ {b.value} 不是有限小数" if op == "/" else "结果的位数过多"
        raise Bad("E0606", at, problem=problem + "，无法精确表示") from None
    except decimal.InvalidOperation:
        raise Bad("E0606", at, problem="无法计算") from None
    x, y = a.unit, b.unit
    if op in "+-":
        if x and y and x != y:
            raise Bad("E0610", at, detail=f"{_unit_name(x)} 与 {_unit_name(y)} 不能相加减")
        return Quantity(value, x or y)
    if op == "*":
        pair = {x, y}
        if x is None or y is None:
            unit = x or y
        elif pair == {"money/month", "months"} or pair == {"money/year", "years"}:
            unit = "money"
        elif "count" in pair and len(pair) == 2:
            unit = (pair - {"count"}).pop()
        else:
            raise Bad("E0610", at, detail=f"{_unit_name(x)} 与 {_unit_name(y)} 不能相乘")
        return Quantity(value, unit)
    if y is None:
        unit = x
    elif x == y:
        unit = None
    elif (x, y) == ("money", "months"):
        unit = "money/month"
    elif (x, y) == ("money", "years"):
        unit = "money/year"
    else:
        raise Bad("E0610", at, detail=f"{_unit_name(x)} 不能除以 {_unit_name(y)}")
    return Quantity(value, unit)


class Place:
    """The parameter values a case's relative inputs read: in force at its locality and date (with any emergency
    in force there), then the case's own `parameters:` overrides."""

    def __init__(self, params: dict[str, Param], chain: list[str], day: dt.date, events: list[dict],
                 overrides: dict, where: str):
        self.params, self.chain, self.day, self.events, self.overrides, self.where = \
            params, chain, day, events, overrides, where
        self.by_name = {p.name: p for p in params.values()}

    def lookup(self, word: str, at: int) -> Quantity:
        p = self.params.get(word) or self.by_name.get(word)
        if p is None:
            close = difflib.get_close_matches(word, list(self.by_name) + list(self.params), n=3, cutoff=0.5)
            raise Bad("E0607", at, name=word, hint=f"是否想写：{'、'.join(close)}？" if close else None)
        if p.choices is not None or p.table is not None or p.type not in UNIT_TYPES.values():
            kind = "选项参数" if p.choices is not None else "表格参数" if p.table is not None else "非数值参数"
            raise Bad("E0608", at, name=p.name, id=p.id, kind=kind)
        if p.id in self.overrides:
            raw = self.overrides[p.id]
        else:
            v = effective(p, self.chain, self.day)
            if v is None:
                raise Bad("E0609", at, name=p.name, id=p.id, where=self.where, date=self.day.isoformat())
            raw = self._emergency(p.id, v.value)
        if isinstance(raw, bool) or not isinstance(raw, (int, Decimal)):
            raise Bad("E0608", at, name=p.name, id=p.id, kind="非数值参数")
        value = Decimal(raw)
        if p.type == "percent":
            return Quantity(_EXACT.divide(value, Decimal(100)), None)
        return Quantity(value, None if p.type in _DIMENSIONLESS else p.type)

    def _emergency(self, pid: str, value):
        """An emergency in force at the place that day raises the value, as the evaluator does."""
        day = self.day.isoformat()
        for e in sorted(self.events, key=lambda e: (e["from"], e["id"])):
            change = e["changes"].get(pid)
            if change and e["from"] <= day <= e["to"] and any(c in e["localities"] for c in self.chain):
                value = Decimal(value) + Decimal(change["add"]) if "add" in change else Decimal(change["set"])
        return value


def _field_types(module) -> dict:
    """JSON path pattern (indexes as '*') → field type, for every input field."""
    out: dict = {}

    def walk(prefix: str, rtype: str, depth: int) -> None:
        rtype = rtype.removeprefix("opt:")
        if depth > 8:
            return
        if rtype.startswith("list:"):
            walk(prefix + "[*]", rtype[5:], depth + 1)
            return
        if rtype.startswith("record:") and rtype[7:] in module.records:
            for f in module.records[rtype[7:]].fields:
                walk(f"{prefix}.{f.id}", f.type, depth + 1)
            return
        out[prefix] = rtype

    for i in module.inputs if module is not None else ():  # no module after errors in the rules
        walk(f"$.{i.id}", i.type, 0)
    return out


def _json_path(path: tuple) -> str:
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)


def path_keys(path: str) -> list[str | int]:
    """The keys of a `relative_inputs` JSON path, as `_json_path` wrote it: "$.household.members[2].x"."""
    return [int(i) if i else k for k, i in re.findall(r"\.([^.\[]+)|\[(\d+)\]", str(path))]


def _fit(q: Quantity, ftype: str | None) -> None:
    """The computed value must suit the field it is written in: its unit, and fen or whole numbers; and, as any
    number a source writes, |x| < 10^15 with at most 10 decimals (load.yamlsrc.number_problem)."""
    if number_problem(q.value.normalize(_WIDE)) is not None:  # 1140.000000000000 is 1140: trailing zeros aside
        raise Bad("E0611", 0, value=q.value, what="绝对值小于 10^15、最多 10 位小数的数")
    if ftype is None:
        return
    if ftype not in UNIT_TYPES.values():
        raise Bad("E0610", 0, detail=f"该字段不是数值（类型 {ftype}）")
    target = None if ftype in _DIMENSIONLESS else ftype
    if q.unit is not None and q.unit != target:
        raise Bad("E0610", 0, detail=f"算式的单位是 {_unit_name(q.unit)}，该字段以 {_unit_name(target)} 计")
    if ftype.startswith("money") and q.value != q.value.quantize(Decimal("0.01"), context=_WIDE):
        raise Bad("E0611", 0, value=q.value, what="精确到分的金额")
    if ftype in ("int", "count", "months", "years", "age") and q.value != q.value.to_integral_value():
        raise Bad("E0611", 0, value=q.value, what="整数")


def _value_span(doc: Located, path: tuple, text: str, source_lines: list[str], offset: int) -> Span:
    """The span of a character of a relative input: exact when the value is written quoted on one line."""
    span = doc.span(path)
    line = source_lines[span.line - 1] if 0 < span.line <= len(source_lines) else ""
    quoted = line[span.col - 1:span.col] in ("\"", "'")
    if line[span.col - 1 + quoted:].startswith(text):
        return Span(span.file, span.line, span.col + quoted + offset)
    return span


def _plain(value: Decimal):
    """An integral result as int (as YAML would read it), otherwise the exact Decimal."""
    return int(value) if value == value.to_integral_value() else value


def resolve_case(doc: Located, index: int, params: dict[str, Param], chains: dict[str, list[str]],
                 jurisdictions, events: list[dict], module, reporter: Reporter, source_text: str = "") -> dict:
    """The case as the bundle carries it: relative inputs replaced by their values, the written texts kept in
    `relative_inputs`. Problems are reported at the value; the case keeps the text where one is found."""
    case = doc.data["cases"][index]
    base = ("cases", index)
    found: list[tuple[tuple, str]] = []

    def collect(value, path: tuple) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                collect(v, path + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                collect(v, path + (i,))
        elif is_relative(value):
            found.append((path, value))

    for key in INPUT_KEYS:
        if key in case:
            collect(case[key], (key,))
    if not found:
        return dict(case)
    out = _copy(case)
    code, _ = resolve_locality(str(case["locality"]), jurisdictions)
    try:
        day = dt.date.fromisoformat(case["date"])
    except (TypeError, ValueError):
        day = None
    if code is None or day is None:
        return out  # the locality or date is reported by `policyc test` (E0602, E0601)
    where = next((j.full_name for j in jurisdictions if j.code == code), code)
    place = Place(params, chains[code], day, events, case.get("parameters") or {}, where)
    types = _field_types(module)
    lines = source_text.splitlines()
    written = {}
    for path, text in found:
        try:
            q = _Parser(text, place.lookup).parse()
            _fit(q, types.get(re.sub(r"\[\d+\]", "[*]", _json_path(path))))
        except Bad as bad:
            span = _value_span(doc, base + path, text, lines, bad.offset)
            args = dict(bad.args_, case=case["name"], text=text)
            hint = args.pop("hint", None)
            reporter.add(bad.code, span, **({"hint": hint} if hint else {}), **args)
            continue
        node = out
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = _plain(q.value)
        written[_json_path(path)] = text
    if written:
        out["relative_inputs"] = written
    return out


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def resolve_cases(sources, params: dict[str, Param], chains: dict[str, list[str]], events: list[dict], module,
                  reporter: Reporter) -> list[dict]:
    """Every case of every case file, as the bundle carries it (with `defined_at`)."""
    out = []
    for doc in sources.case_files:
        text = _source_text(sources.root / "cases" / Path(doc.file).name)
        for i, case in enumerate(doc.data["cases"]):
            resolved = resolve_case(doc, i, params, chains, sources.jurisdictions, events, module, reporter, text)
            out.append(dict(resolved, locality=str(case["locality"]), defined_at=str(doc.span(("cases", i)))))
    return out


def _source_text(path: Path) -> str:
    """The case file's text, for exact columns inside a quoted value (spans alone do not say if it is quoted)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return ""
