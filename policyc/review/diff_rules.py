"""Rules between two bundles: definitions whose meaning changed (their IR), and those whose name, citations or
reasons changed, each shown before and after as the Chinese sentences the handbooks render from the IR."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..emit.chinese import Renderer
from ..ir import Definition, Module
from .diff_params import MINOR, PATCH

KIND_TEXT = {"rule": "规则", "value": "定义", "output": "输出", "referral": "转介"}
_MEANING = ("expr", "amount", "type", "kind", "scope", "program")  # what decides a result
_TEXT = ("name", "citations", "reasons")  # what only words or references depend on
ASPECT_TEXT = {"expr": "计算方式", "amount": "数额", "type": "类型", "kind": "种类", "scope": "适用对象",
               "program": "所属项目", "name": "名称", "citations": "依据", "reasons": "告知理由"}


@dataclass
class RuleChange:
    id: str
    name: str
    kind: str  # added | removed | changed
    level: str
    aspects: list[str]  # which of expr, amount, type, kind, scope, program, name, citations, reasons changed
    citations: list[str]
    before: list[str] = field(default_factory=list)  # Chinese lines of the base version (empty when added)
    after: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def renderer(bundle: dict) -> Renderer:
    return Renderer(Module.from_json(bundle["ir"]), bundle["parameters"])


def rule_lines(r: Renderer, d: Definition) -> list[str]:
    """A definition as the handbooks show it: its statement (or table), amount, reasons and citations."""
    kind = KIND_TEXT.get(d.kind, d.kind)
    scope = f"（逐个{r.m.records[d.scope].name}）" if d.scope and d.scope in r.m.records else ""
    lines = []
    if d.expr.op == "case":
        lines.append(f"{kind}“{d.name}”{scope}：")
        lines += [f"  {cond}时为{result}" for cond, result in r.table(d.expr)]
    else:
        lines.append(f"{kind}“{d.name}”{scope}：{r.expr(d.expr)}")
    if d.amount is not None:
        lines.append(f"  数额：{r.expr(d.amount)}")
    for reason in d.reasons:
        lines.append(f"  {'成立时' if reason.when else '不成立时'}告知：{r.template(reason.parts)}")
    lines.append(f"  依据：{'；'.join(d.citations) if d.citations else '（未引用条款）'}")
    return lines


_BINDS = {"count", "filter", "any", "all", "sum", "map", "elem"}  # IR nodes whose value names a bound element


def _alpha(value, names: dict[str, str]):
    """`value` with its bound element variables renamed in order of appearance: the checker numbers them across
    the whole module, so a rule added above renumbers every later one without changing what it means."""
    if isinstance(value, dict):
        out = {k: _alpha(v, names) for k, v in value.items()}
        if value.get("op") in _BINDS and isinstance(value.get("value"), str):
            out["value"] = names.setdefault(value["value"], f"e{len(names) + 1}")
        return out
    if isinstance(value, list):
        return [_alpha(v, names) for v in value]
    return value


def _canon(d: dict, key: str) -> str:
    names: dict[str, str] = {}
    for k in ("expr", "amount", "reasons"):  # one numbering per definition, in a fixed order of its parts
        _alpha(d.get(k), names)
    return json.dumps(_alpha(d.get(key), names), sort_keys=True, ensure_ascii=False, default=str)


def diff_rules(base: dict, head: dict) -> list[RuleChange]:
    rb, rh = renderer(base), renderer(head)
    old = {d["id"]: d for d in base["ir"]["definitions"]}
    new = {d["id"]: d for d in head["ir"]["definitions"]}
    out = []
    for did in list(new) + [x for x in old if x not in new]:  # head's order, then what head no longer has
        o, n = old.get(did), new.get(did)
        if o is not None and n is not None:
            aspects = [k for k in _MEANING + _TEXT if _canon(o, k) != _canon(n, k)]
            if not aspects:
                continue
            level = MINOR if set(aspects) & set(_MEANING) else PATCH
            kind = "changed"
        else:
            aspects, level, kind = [], MINOR, "added" if o is None else "removed"
        cites = list(dict.fromkeys((n or {}).get("citations", []) + (o or {}).get("citations", [])))
        change = RuleChange(did, (n or o)["name"], kind, level, aspects, cites)
        if o is not None:
            change.before = rule_lines(rb, rb.defs[did])
        if n is not None:
            change.after = rule_lines(rh, rh.defs[did])
        out.append(change)
    return out
