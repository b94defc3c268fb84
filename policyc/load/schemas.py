"""Validates loaded YAML against the source files' JSON Schemas, reporting each problem at its line in Chinese.

The schemas are package data (policyc/schemas/*.schema.json), read through importlib.resources so an installed
wheel finds them: nothing here depends on being run from a checkout. (The request and decision schemas that
`policyc build` writes are outputs, not these.)"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from ..diagnostics import Reporter
from ..names import ident_problem, name_problem, shown
from .yamlsrc import Located

SCHEMA_DIR = files("policyc") / "schemas"  # a Traversable: a directory in a checkout or an installed wheel

_TYPES = {"object": "映射（键: 值）", "array": "列表", "string": "文字", "number": "数字", "integer": "整数",
          "boolean": "true 或 false", "null": "空值"}


class NameProblem(Exception):
    """Why a string cannot be an identifier or a name: the diagnostic code and its arguments."""

    def __init__(self, code: str, **args):
        super().__init__(code)
        self.code, self.args_ = code, args


def _identifier(dotted: bool):
    def check(value) -> bool:
        if not isinstance(value, str):
            return True  # the type keyword reports it
        problem = ident_problem(value, dotted)
        if problem is None:
            return True
        code, why = problem
        raise NameProblem(code, ident=shown(value), name=shown(value), problem=why)
    return check


def _name(value) -> bool:
    if not isinstance(value, str):
        return True
    problem = name_problem(value)
    if problem is None:
        return True
    raise NameProblem("E0317", name=shown(value), problem=problem)


# The closed alphabets of policyc.names, as formats the schemas name (an editor that does not know them ignores
# them; each such field also has a pattern an editor can check)
FORMATS = {"policyc-identifier": _identifier(False), "policyc-dotted-identifier": _identifier(True),
           "policyc-name": _name}


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    checker = jsonschema.FormatChecker(cls.FORMAT_CHECKER.checkers)
    for fmt, func in FORMATS.items():
        checker.checks(fmt, raises=NameProblem)(func)
    return cls(schema, format_checker=checker)


def _missing_one_of(error: ValidationError) -> list[str]:
    """For an anyOf/oneOf whose every branch only lacks a key: those keys (the author must add one of them)."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return []
    if all(e.validator == "required" and not e.relative_path for e in error.context):
        return [k for e in error.context for k in e.validator_value]
    return []


def _deepest(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf, the sub-error that explains most (jsonschema's relevance heuristic)."""
    while error.context and not _missing_one_of(error):
        sub = best_match(error.context)
        if sub is None:
            break
        error = sub
    return error


def _describe(error: ValidationError) -> tuple[str, str | dict]:
    """(code, Chinese message) for one schema error, or (code, message arguments) for names."""
    v, arg = error.validator, error.validator_value
    if v == "format" and isinstance(error.cause, NameProblem):
        return error.cause.code, error.cause.args_
    if v == "required":
        missing = [k for k in arg if isinstance(error.instance, dict) and k not in error.instance]
        return "E0011", f"缺少必填字段 {'、'.join(missing)}"
    if v == "additionalProperties":
        extra = [k for k in error.instance if k not in error.schema.get("properties", {})] \
            if isinstance(error.instance, dict) else []
        return "E0012", f"未知字段 {'、'.join(map(str, extra))}（允许的字段：{'、'.join(error.schema.get('properties', {}))}）"
    if v == "type":
        kinds = arg if isinstance(arg, list) else [arg]
        return "E0013", f"应为{'或'.join(_TYPES.get(k, k) for k in kinds)}，实际为 {error.instance!r}"
    if v == "enum":
        return "E0014", f"取值 {error.instance!r} 不在允许范围内，应为以下之一：{'、'.join(map(str, arg))}"
    if v == "const":
        return "E0014", f"取值应为 {arg!r}"
    if v in ("pattern", "format"):
        hint = "YYYY-MM-DD" if "{4}-" in str(arg) or arg == "date" else str(arg)
        return "E0015", f"{error.instance!r} 的格式不符，应为 {hint}"
    if v == "propertyNames":
        return "E0015", f"名称 {error.instance!r} 的格式不符"
    if v in ("minItems", "minProperties", "minLength"):
        return "E0016", "不能为空"
    if v == "maxLength":
        return "E0016", f"过长（{len(error.instance)} 个字，最多 {arg} 个字）"
    if v == "not":
        return "E0017", "字段组合不允许（例如 value 与 end、source 与 illustrative 不能同时出现）"
    if _missing_one_of(error):
        return "E0011", f"缺少字段，须写明以下之一：{'、'.join(dict.fromkeys(_missing_one_of(error)))}"
    if v in ("oneOf", "anyOf"):
        return "E0017", "不符合任何一种允许的写法（例如参数须且只能有 unit、choices、table 之一；每个取值须注明 source 或 illustrative）"
    return "E0010", error.message


def check(doc: Located, schema: str, reporter: Reporter) -> bool:
    """Validate doc against policyc/schemas/<schema>; report every error; True when valid."""
    ok = True
    errors = sorted(validator(schema).iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path)))
    named = {(tuple(e.absolute_path), repr(e.instance)) for e in errors
             if e.validator == "format" and isinstance(e.cause, NameProblem)}
    for error in errors:
        if error.validator == "pattern" and (tuple(error.absolute_path), repr(error.instance)) in named:
            continue  # the name's own diagnostic says more than the pattern
        ok = False
        error = _deepest(error)
        code, message = _describe(error)
        path = tuple(error.absolute_path)
        span = doc.span(path)
        if "propertyNames" in error.relative_schema_path or "propertyNames" in error.schema_path:
            span = doc.key_span(path + (error.instance,))  # a key: jsonschema gives the mapping's path
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            if extra:
                span = doc.key_span(path + (extra[0],))
        where = shown("/".join(map(str, path))) or "（文件顶层）"
        if isinstance(message, dict):
            reporter.add(code, span, where=where, **message)
        else:
            reporter.add(code, span, detail=message, where=where)
    return ok
