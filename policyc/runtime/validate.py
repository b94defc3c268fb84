"""Checks a bundle's shape strictly, before anything is generated from it.

A bundle is untrusted input: its hash proves nothing about who made it. Before the runtime writes a line of
Python from a bundle's IR, every part the runtime reads is checked here against a closed description: ids from a
closed alphabet, types from the type grammar, every operator with its arity and payload, numbers as decimal
text, dates as dates, every reference resolving. The code generators then emit names they make themselves and
values only as literals (see `pysource`), and the generated source is audited before it is compiled; this check
is the first of those three walls, and the one that names the bundle's JSON path.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal

from ..ir import IR_VERSION
from .errors import BundleError


class MalformedBundle(BundleError):
    """The bundle's content does not have the shape the runtime accepts (checked before any code is made)."""

    code = "R0210"


class _Bad(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(path, message)
        self.path, self.message = path, message


# ids: lower-case ASCII words joined by dots (dibao.standard.urban, tekun.member.aged_60)
_ID = re.compile(r"[a-z][a-z0-9_]{0,63}(?:\.[a-z0-9_]{1,64}){0,7}")
_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")
_VAR = re.compile(r"e[0-9]{1,6}")  # list-element variables are numbered by the compiler
_CODE = re.compile(r"[0-9]{6}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DECIMAL = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,12})?")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")
_SCALARS = frozenset({"money", "money/month", "money/year", "ratio", "percent", "number", "int", "months", "years",
                      "age", "count", "date", "bool", "text", "locality"})
_NUMERIC = frozenset({"money", "money/month", "money/year", "ratio", "percent", "number", "int", "months", "years",
                      "age", "count"})
# characters that could change how generated code or a page reads without being visible: bidi controls, zero
# width characters, line and paragraph separators
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
                       "\u2060\u2066\u2067\u2068\u2069\ufeff")

# op → (arity: exact int or (min, max)), payload kind
_OPS: dict[str, tuple[object, str]] = {
    "lit": (0, "literal"), "param": (0, "param"), "param_at": (1, "param"), "lookup": (1, "param"),
    "input": (0, "input"), "def": (0, "def"), "field": (1, "field"), "elem": (0, "elem"),
    "sum": (2, "var"), "any": (2, "var"), "all": (2, "var"), "filter": (2, "var"), "map": (2, "var"),
    "count": ((1, 2), "var?"), "case": ((1, 999), "case"), "default": (2, "text"),
    "eval_date": (0, None), "locality": (0, None), "event": (0, None),
    "add": (2, None), "sub": (2, None), "mul": (2, None), "div": (2, None), "neg": (1, None),
    "lt": (2, None), "le": (2, None), "gt": (2, None), "ge": (2, None), "eq": (2, None), "ne": (2, None),
    "and": (2, None), "or": (2, None), "not": (1, None), "if": (3, None), "present": (1, None),
    "min": ((1, 64), None), "max": ((1, 64), None), "round": (2, None), "month": (1, None),
    "add_months": (2, None), "sub_months": (2, None), "per_month": (1, None), "per_year": (1, None),
    "locality_name": (1, None),
}
MAX_DEPTH = 200


def _is_int(x) -> bool:
    return type(x) is int


def _date(x, path: str) -> str:
    """A date written YYYY-MM-DD that exists on the calendar."""
    if type(x) is str and _DATE.fullmatch(x):
        try:
            dt.date.fromisoformat(x)
            return x
        except ValueError:
            pass
    raise _Bad(path, f"应为日期 YYYY-MM-DD，实际为 {x!r}"[:300])


def _ref(x, known, path: str, what: str):
    """A reference to something declared: a string that names one of `known`."""
    if type(x) is not str or x not in known:
        raise _Bad(path, f"{what} {x!r} 不存在"[:300])
    return x


def text(x, path: str, *, line: bool = True, limit: int = 20000, empty: bool = True) -> str:
    """Free text (names, sentences, citations): printable, no control or invisible characters; `line` forbids
    line breaks."""
    if type(x) is not str:
        raise _Bad(path, f"应为文本，实际为 {type(x).__name__}")
    if len(x) > limit or (not empty and not x):
        raise _Bad(path, f"文本长度应在 {0 if empty else 1} 至 {limit} 之间")
    for ch in x:
        if ch in _INVISIBLE or (unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")
                                and (line or ch not in "\n\t")):
            raise _Bad(path, f"含有不允许的字符 U+{ord(ch):04X}")
    return x


def _match(rx: re.Pattern, x, path: str, what: str) -> str:
    if type(x) is not str or not rx.fullmatch(x):
        raise _Bad(path, f"应为{what}，实际为 {x!r}"[:300])
    return x


def _obj(x, path: str, required: tuple, optional: tuple = ()) -> dict:
    if type(x) is not dict:
        raise _Bad(path, f"应为对象，实际为 {type(x).__name__}")
    missing = [k for k in required if k not in x]
    if missing:
        raise _Bad(path, f"缺少 {'、'.join(missing)}")
    extra = [k for k in x if k not in required and k not in optional]
    if extra:
        raise _Bad(path, f"含有未知的键 {extra[0]!r}"[:300])
    return x


def _list(x, path: str, limit: int = 100000) -> list:
    if type(x) is not list or len(x) > limit:
        raise _Bad(path, "应为列表" if type(x) is not list else f"列表过长（{len(x)} 项）")
    return x


def _number(x, path: str, whole: bool = False):
    if _is_int(x) and abs(x) < 10**15:
        return x
    if type(x) is Decimal and x.is_finite() and abs(x) < 10**15 and (not whole or x == x.to_integral_value()):
        return x
    if type(x) is str and _DECIMAL.fullmatch(x) and (not whole or "." not in x):
        return x
    raise _Bad(path, f"应为{'整数' if whole else '十进制数'}（数字或数字文本），实际为 {x!r}"[:300])


class _Module:
    """The IR's declarations, collected first so that references can be checked."""

    def __init__(self, ir: dict, path: str):
        self.path = path
        self.enums = {}
        for i, e in enumerate(_list(ir["enums"], f"{path}.enums")):
            p = f"{path}.enums[{i}]"
            _obj(e, p, ("id", "name", "members"))
            eid = _match(_ENUM_ID, e["id"], f"{p}.id", "枚举编号")
            text(e["name"], f"{p}.name")
            codes = []
            for j, m in enumerate(_list(e["members"], f"{p}.members", 1000)):
                if type(m) is not list or len(m) != 2:
                    raise _Bad(f"{p}.members[{j}]", "应为 [代码, 名称]")
                codes.append(_match(_WORD, m[0], f"{p}.members[{j}][0]", "枚举代码（小写字母、数字、下划线）"))
                text(m[1], f"{p}.members[{j}][1]")
            self.enums[eid] = set(codes)
        self.records = {}
        for i, r in enumerate(_list(ir["records"], f"{path}.records")):
            p = f"{path}.records[{i}]"
            _obj(r, p, ("id", "name", "fields"), ("requirements",))
            self.records[_match(_WORD, r["id"], f"{p}.id", "记录类型编号")] = r
        self.definitions: dict[str, dict] = {}

    def type(self, t, path: str, allow_table: bool = False, allow_null: bool = False) -> str:
        """A type string of the grammar `opt:`? (scalar | enum:ID | record:ID | list:T | table:K>V), with every
        enum and record it names declared."""
        if type(t) is not str or len(t) > 200:
            raise _Bad(path, f"应为类型，实际为 {t!r}"[:300])
        rest = t[4:] if t.startswith("opt:") else t
        if rest in _SCALARS or (rest == "null" and allow_null):
            return t
        if rest.startswith("enum:"):
            if rest[5:] not in self.enums:
                raise _Bad(path, f"未声明的枚举 {rest[5:]!r}"[:300])
            return t
        if rest.startswith("record:"):
            if rest[7:] not in self.records:
                raise _Bad(path, f"未声明的记录类型 {rest[7:]!r}"[:300])
            return t
        if rest.startswith("list:") and not rest.startswith("list:opt:"):
            self.type(rest[5:], path)
            return t
        if allow_table and rest.startswith("table:") and rest.count(">") == 1:
            for part in rest[6:].split(">"):
                if part not in _NUMERIC:
                    raise _Bad(path, f"表的键和值应为数值类型，实际为 {part!r}"[:300])
            return t
        raise _Bad(path, f"未知的类型 {t!r}"[:300])


_ENUM_ID = re.compile(r"(?:param:)?[a-z][a-z0-9_]{0,63}(?:\.[a-z0-9_]{1,64}){0,7}")


def _field(f, path: str, m: _Module) -> str:
    _obj(f, path, ("id", "name", "type", "minimum", "maximum", "presence"))
    fid = _match(_WORD, f["id"], f"{path}.id", "字段编号（小写字母、数字、下划线）")
    text(f["name"], f"{path}.name")
    m.type(f["type"], f"{path}.type")
    for bound in ("minimum", "maximum"):
        if f[bound] is not None:
            _number(f[bound], f"{path}.{bound}", whole=f["type"].removeprefix("opt:").startswith("list:"))
    if f["presence"] not in ("required", "unknown", "none"):
        raise _Bad(f"{path}.presence", f"应为 required、unknown 或 none，实际为 {f['presence']!r}"[:300])
    return fid


def _literal(e: dict, path: str, m: _Module) -> None:
    t, v = e["type"], e.get("value")
    base = t[4:] if t.startswith("opt:") else t
    if v is None:
        return
    if base == "bool":
        ok = type(v) is bool
    elif base in _NUMERIC:
        _number(v, path, whole=base in ("int", "months", "years", "age", "count"))
        _span(base, v, path)
        ok = True
    elif base == "date":
        ok = _date(v, path) is not None
    elif base == "locality":
        ok = type(v) is str and bool(_CODE.fullmatch(v))
    elif base.startswith("enum:"):
        ok = type(v) is str and v in m.enums[base[5:]]
    elif base == "text":
        text(v, path)
        ok = True
    else:
        ok = False
    if not ok:
        raise _Bad(path, f"类型为 {t} 的常量不能是 {v!r}"[:300])


def _expr(e, path: str, m: _Module, ctx: dict, bound: frozenset, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise _Bad(path, f"表达式嵌套超过 {MAX_DEPTH} 层")
    _obj(e, path, ("op", "type"), ("args", "value"))
    op = e["op"]
    if type(op) is not str or op not in _OPS:
        raise _Bad(f"{path}.op", f"未知的运算 {op!r}"[:300])
    m.type(e["type"], f"{path}.type", allow_null=True)
    arity, payload = _OPS[op]
    args = _list(e.get("args", []), f"{path}.args", 999)
    lo, hi = arity if isinstance(arity, tuple) else (arity, arity)
    if not lo <= len(args) <= hi or (op == "case" and len(args) % 2 != 1):
        raise _Bad(f"{path}.args", f"运算 {op} 的参数个数不对（{len(args)}）")
    value, vpath = e.get("value"), f"{path}.value"
    inner = bound
    if payload is None:
        if value is not None:
            raise _Bad(vpath, f"运算 {op} 不带取值")
    elif payload == "literal":
        _literal(e, vpath, m)
    elif payload == "param":
        if type(value) is not str or value not in ctx["parameters"]:
            raise _Bad(vpath, f"规则读取的参数 {value!r} 不在 parameter_types 中"[:300])
    elif payload == "input":
        _ref(value, ctx["inputs"], vpath, "输入")
    elif payload == "def":
        _ref(value, ctx["defined"], vpath, "定义（或在使用之后才定义）")
    elif payload == "field":
        if type(value) is not str or not (_WORD.fullmatch(value) or value in ctx["defined"]):
            raise _Bad(vpath, f"字段应为字段编号或已定义的值，实际为 {value!r}"[:300])
    elif payload == "elem":
        if value != "self" and (type(value) is not str or value not in bound):
            raise _Bad(vpath, f"列表元素变量 {value!r} 未被外层的汇总运算绑定"[:300])
    elif payload in ("var", "var?"):
        if not (payload == "var?" and len(args) == 1):
            inner = bound | {_match(_VAR, value, vpath, "列表元素变量（e 加数字）")}
        elif value is not None:
            _match(_VAR, value, vpath, "列表元素变量（e 加数字）")
    elif payload == "case":
        if value not in ("first", "unique"):
            raise _Bad(vpath, f"决策表方式应为 first 或 unique，实际为 {value!r}"[:300])
    elif payload == "text":
        text(value, vpath)
    for i, a in enumerate(args):
        # an aggregate's variable is bound in its body (the second argument), not in the list it ranges over
        _expr(a, f"{path}.args[{i}]", m, ctx, inner if i > 0 else bound, depth + 1)


def check_ir(ir, path: str = "$.ir", parameters: dict | None = None) -> None:
    _obj(ir, path, ("ir_version", "enums", "records", "inputs", "definitions", "programs", "parameter_types"))
    if ir["ir_version"] != IR_VERSION:
        raise _Bad(f"{path}.ir_version", f"本运行时只支持 IR 版本 {IR_VERSION}，实际为 {ir['ir_version']!r}")
    m = _Module(ir, path)
    ptypes = ir["parameter_types"]
    if type(ptypes) is not dict:
        raise _Bad(f"{path}.parameter_types", "应为对象")
    for pid, t in ptypes.items():
        _match(_ID, pid, f"{path}.parameter_types", "参数编号")
        m.type(t, f"{path}.parameter_types[{pid!r}]", allow_table=True)
        if parameters is not None and (pid not in parameters or parameters[pid].get("type") != t):
            raise _Bad(f"{path}.parameter_types", f"规则读取的参数 {pid!r} 没有取值表，或取值表的类型与之不同"[:300])
    ctx = {"parameters": ptypes, "inputs": set(), "defined": set()}
    records = {}
    for i, r in enumerate(ir["records"]):
        p = f"{path}.records[{i}]"
        text(r["name"], f"{p}.name")
        fields = _list(r["fields"], f"{p}.fields", 1000)
        records[r["id"]] = {_field(f, f"{p}.fields[{j}]", m) for j, f in enumerate(fields)}
    for i, f in enumerate(_list(ir["inputs"], f"{path}.inputs", 100)):
        ctx["inputs"].add(_field(f, f"{path}.inputs[{i}]", m))
    kinds, defs = {}, {}
    for i, d in enumerate(_list(ir["definitions"], f"{path}.definitions")):
        p = f"{path}.definitions[{i}]"
        _obj(d, p, ("id", "name", "kind", "type", "expr", "program", "scope", "citations", "reasons",
                    "defined_at", "amount"))
        did = _match(_ID, d["id"], f"{p}.id", "定义编号")
        if did in kinds:
            raise _Bad(f"{p}.id", f"定义 {did!r} 重复")
        text(d["name"], f"{p}.name", limit=200)
        if d["kind"] not in ("value", "rule", "output", "referral"):
            raise _Bad(f"{p}.kind", f"未知的定义种类 {d['kind']!r}"[:300])
        m.type(d["type"], f"{p}.type")
        if d["program"] is not None:
            _match(_WORD, d["program"], f"{p}.program", "项目编号")
        if d["scope"] is not None:
            _ref(d["scope"], m.records, f"{p}.scope", "记录类型")
        for j, c in enumerate(_list(d["citations"], f"{p}.citations", 100)):
            text(c, f"{p}.citations[{j}]", limit=200)
        text(d["defined_at"], f"{p}.defined_at", limit=500)
        _expr(d["expr"], f"{p}.expr", m, ctx, frozenset())
        if d["amount"] is not None:
            _expr(d["amount"], f"{p}.amount", m, ctx, frozenset())
        for j, r in enumerate(_list(d["reasons"], f"{p}.reasons", 100)):
            q = f"{p}.reasons[{j}]"
            _obj(r, q, ("when", "parts"), ("only_if",))
            if type(r["when"]) is not bool:
                raise _Bad(f"{q}.when", "应为 true 或 false")
            for k, part in enumerate(_list(r["parts"], f"{q}.parts", 200)):
                if type(part) is str:
                    text(part, f"{q}.parts[{k}]", line=False, limit=2000)
                else:
                    _expr(part, f"{q}.parts[{k}]", m, ctx, frozenset())
            if r.get("only_if") is not None:
                _expr(r["only_if"], f"{q}.only_if", m, ctx, frozenset())
        ctx["defined"].add(did)
        kinds[did] = d["kind"]
        defs[did] = d
    for i, r in enumerate(ir["records"]):
        for j, req in enumerate(_list(r.get("requirements", []), f"{path}.records[{i}].requirements", 100)):
            q = f"{path}.records[{i}].requirements[{j}]"
            _obj(req, q, ("expr", "message", "field"))
            _expr(req["expr"], f"{q}.expr", m, ctx, frozenset())
            text(req["message"], f"{q}.message", line=False, limit=500)
            _ref(req["field"], records[r["id"]], f"{q}.field", f"记录 {r['id']} 的字段")
    programs = set()
    for i, prog in enumerate(_list(ir["programs"], f"{path}.programs", 100)):
        p = f"{path}.programs[{i}]"
        _obj(prog, p, ("id", "name", "citations", "outputs", "rules", "parameters", "referrals"))
        pid = _match(_WORD, prog["id"], f"{p}.id", "项目编号")
        if pid in programs:
            raise _Bad(f"{p}.id", f"项目 {pid!r} 重复")
        programs.add(pid)
        text(prog["name"], f"{p}.name", limit=200)
        for j, c in enumerate(_list(prog["citations"], f"{p}.citations", 100)):
            text(c, f"{p}.citations[{j}]", limit=200)
        for key, kind in (("outputs", "output"), ("rules", "rule"), ("referrals", "referral")):
            for j, ref in enumerate(_list(prog[key], f"{p}.{key}", 1000)):
                if type(ref) is not str or kinds.get(ref) != kind:
                    raise _Bad(f"{p}.{key}[{j}]", f"应为已定义的{kind}，实际为 {ref!r}"[:300])
        for j, ref in enumerate(_list(prog["parameters"], f"{p}.parameters", 1000)):
            _ref(ref, ptypes, f"{p}.parameters[{j}]", "参数")
        _output_keys(prog, defs, p)


def _output_keys(prog: dict, defs: dict, path: str) -> None:
    """Output keys nest by their dots (recheck.next_date): no key may also be the parent of another."""
    seen: dict = {}
    for ref in prog["outputs"]:
        d = defs[ref]
        prefix = ".".join(filter(None, (d["program"], d["scope"]))) + "."
        key = ref[len(prefix):] if ref.startswith(prefix) else ref
        seen.setdefault(d["scope"], []).append(key)
    for scope, keys in seen.items():
        for key in keys:
            if keys.count(key) > 1 or any(other.startswith(key + ".") for other in keys) or \
                    key in ("reasons", "missing_facts", "undecided"):
                raise _Bad(f"{path}.outputs", f"输出键 {key!r} 重复、与其他输出嵌套冲突或为保留名"[:300])


def _parameters(params, path: str) -> None:
    if type(params) is not dict:
        raise _Bad(path, "应为对象")
    for pid, p in params.items():
        q = f"{path}[{pid!r}]"
        _match(_ID, pid, q, "参数编号")
        _obj(p, q, ("id", "name", "type", "unit", "citation", "timelines"),
             ("description", "defined_at", "choices", "table", "overridable_by", "minimum", "maximum",
              "constraints"))
        if p["id"] != pid:
            raise _Bad(f"{q}.id", "与其键不同")
        for key in ("name", "unit", "citation"):
            if p[key] is not None or key == "name":
                text(p[key], f"{q}.{key}", limit=500)
        t = p["type"]
        if type(t) is not str or not (t in _NUMERIC or t.startswith("enum:") or
                                      (t.startswith("table:") and t.count(">") == 1
                                       and all(x in _NUMERIC for x in t[6:].split(">")))):
            raise _Bad(f"{q}.type", f"参数类型应为数值、枚举或表，实际为 {t!r}"[:300])
        choices = p.get("choices")
        if choices is not None:
            if type(choices) is not dict or not t.startswith("enum:"):
                raise _Bad(f"{q}.choices", "只有枚举参数有 choices（对象：代码 → 说明）")
            for code, label in choices.items():
                _match(_WORD, code, f"{q}.choices", "枚举代码")
                text(label, f"{q}.choices[{code!r}]")
        for code, entries in _dict(p["timelines"], f"{q}.timelines").items():
            _match(_CODE, code, f"{q}.timelines", "6 位行政区划代码")
            previous = None
            for i, e in enumerate(_list(entries, f"{q}.timelines[{code!r}]", 1000)):
                ep = f"{q}.timelines[{code!r}][{i}]"
                _obj(e, ep, ("from", "value", "jurisdiction", "illustrative"),
                     ("defined_at", "level", "note", "source", "inherit", "end"))
                _date(e["from"], f"{ep}.from")
                # the runtime finds the value in force by bisection: an unsorted timeline would answer wrongly
                if previous is not None and e["from"] <= previous:
                    raise _Bad(f"{ep}.from", f"取值的起始日期应严格递增，{e['from']} 不晚于上一条的 {previous}")
                previous = e["from"]
                for key in ("defined_at", "level"):
                    if e.get(key) is not None:
                        text(e[key], f"{ep}.{key}", limit=500)
                if e.get("inherit") or e.get("end") or e["value"] is None:
                    continue
                _param_value(t, e["value"], f"{ep}.value", choices)


def _param_value(t: str, v, path: str, choices) -> None:
    if t.startswith("table:"):
        for i, row in enumerate(_list(v, path, 1000)):
            if type(row) is not list or len(row) != 2:
                raise _Bad(f"{path}[{i}]", "表的每行应为 [界限, 取值]")
            _number(row[0], f"{path}[{i}][0]")
            _number(row[1], f"{path}[{i}][1]")
    elif t.startswith("enum:"):
        if type(v) is not str or (choices is not None and v not in choices):
            raise _Bad(path, f"应为枚举代码之一，实际为 {v!r}"[:300])
    elif t in _NUMERIC:
        _number(v, path, whole=t in ("int", "months", "years", "age", "count"))
        _span(t, v, path)
    else:
        raise _Bad(path, f"未知的参数类型 {t!r}"[:300])


# Month and year counts a bundle may state (parameters, literals): rules add them to dates, and every date of a
# request is in 1900–2999 (runtime/inputs.py FIRST_DAY, LAST_DAY), so within ±1,000 years every such sum stays
# on the calendar (years 1–9999). A count computed from a request is checked where it is added (values.add_months).
_SPANS = {"months": 12000, "years": 1000}


def _span(t: str, v, path: str) -> None:
    limit = _SPANS.get(t)
    if limit is not None and not -limit <= Decimal(v) <= limit:
        raise _Bad(path, f"{'月数' if t == 'months' else '年数'}的绝对值应不超过 {limit}，实际为 {v}"[:300])


def _dict(x, path: str) -> dict:
    if type(x) is not dict:
        raise _Bad(path, "应为对象")
    return x


def _jurisdictions(items, path: str) -> None:
    codes = set()
    for i, j in enumerate(_list(items, path, 10000)):
        p = f"{path}[{i}]"
        _obj(j, p, ("code", "name", "level", "parent", "full_name"), ("functional_zone",))
        code = _match(_CODE, j["code"], f"{p}.code", "6 位行政区划代码")
        if code in codes:  # two places with one code: which one a request means would be a guess
            raise _Bad(f"{p}.code", f"行政区划代码 {code} 重复")
        codes.add(code)
        text(j["name"], f"{p}.name", limit=100)
        text(j["full_name"], f"{p}.full_name", limit=200)
        if j["level"] not in ("province", "city", "county"):
            raise _Bad(f"{p}.level", f"未知的层级 {j['level']!r}"[:300])
        if j["parent"] is not None:
            _match(_CODE, j["parent"], f"{p}.parent", "6 位行政区划代码")
    parents = {j["code"]: j["parent"] for j in items}
    for i, j in enumerate(items):
        if j["parent"] is not None and j["parent"] not in codes:
            raise _Bad(f"{path}[{i}].parent", f"上级 {j['parent']} 不在 jurisdictions 中")
        code, depth = j["code"], 0
        while code is not None:  # province → city → county: a chain of at most three, never a cycle
            code, depth = parents[code], depth + 1
            if depth > 3:
                raise _Bad(f"{path}[{i}].parent", "上级关系成环或超过三级（省、市、县）")


def _events(items, path: str, params: dict) -> None:
    for i, ev in enumerate(_list(items, path, 10000)):
        p = f"{path}[{i}]"
        _obj(ev, p, ("id", "name", "localities", "from", "to", "changes"),
             ("citation", "illustrative", "note", "defined_at", "source"))
        text(ev["id"], f"{p}.id", limit=100)
        text(ev["name"], f"{p}.name", limit=500)
        if ev.get("defined_at") is not None:
            text(ev["defined_at"], f"{p}.defined_at", limit=500)
        _date(ev["from"], f"{p}.from")
        _date(ev["to"], f"{p}.to")
        for k, code in enumerate(_list(ev["localities"], f"{p}.localities", 1000)):
            _match(_CODE, code, f"{p}.localities[{k}]", "6 位行政区划代码")
        for pid, change in _dict(ev["changes"], f"{p}.changes").items():
            if pid not in params or params[pid]["type"] not in _NUMERIC:
                raise _Bad(f"{p}.changes", f"应急期只能调整已有的数值参数，而不是 {pid!r}"[:300])
            _obj(change, f"{p}.changes[{pid!r}]", (), ("add", "set"))
            if len(change) != 1:
                raise _Bad(f"{p}.changes[{pid!r}]", "应恰有 add 或 set 之一")
            _number(next(iter(change.values())), f"{p}.changes[{pid!r}]")
            _span(params[pid]["type"], next(iter(change.values())), f"{p}.changes[{pid!r}]")


def _manifest(m, path: str) -> None:
    _obj(m, path, ("format", "id", "title", "version", "sha256"), ("compiler", "source_digest"))
    _match(_WORD, m["id"], f"{path}.id", "规则集编号（小写字母、数字、下划线）")
    text(m["title"], f"{path}.title", limit=200)
    _match(_VERSION, m["version"], f"{path}.version", "版本号（字母、数字和 . + _ -）")
    _match(_SHA256, m["sha256"], f"{path}.sha256", "64 位十六进制 sha256")


def check_bundle(bundle, where: str = "规则包") -> None:
    """Raise `MalformedBundle`, naming the JSON path, unless every part of the bundle the runtime reads has the
    accepted shape. Runs before any code is generated from the bundle."""
    try:
        _obj(bundle, "$", ("manifest", "jurisdictions", "articles", "parameters", "ir"),
             ("schemas", "cases", "exceptions", "events", "funding"))
        _manifest(bundle["manifest"], "$.manifest")
        _jurisdictions(bundle["jurisdictions"], "$.jurisdictions")
        for cit, heading in _dict(bundle["articles"], "$.articles").items():
            text(cit, "$.articles", limit=200)
            text(heading, f"$.articles[{cit!r}]", limit=2000)
        _parameters(bundle["parameters"], "$.parameters")
        check_ir(bundle["ir"], "$.ir", bundle["parameters"])
        _events(bundle.get("events", []), "$.events", bundle["parameters"])
        for key, kind in (("schemas", dict), ("cases", list), ("exceptions", list), ("funding", (dict, list))):
            if key in bundle and not isinstance(bundle[key], kind):
                raise _Bad(f"$.{key}", "类型不对")
    except _Bad as bad:
        raise MalformedBundle(f"{where} 的内容不符合规则包格式，在 {bad.path}：{bad.message}；"
                              "未从中生成任何代码") from None
    except RecursionError:
        raise MalformedBundle(f"{where} 的内容嵌套过深；未从中生成任何代码") from None
