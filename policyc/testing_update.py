"""`policyc test --update`: rewrite, in place, the expected outputs of failing cases to what the evaluator now
returns. Only the text of the values that changed is replaced (at their spans), so comments, layout and flow
style stay as written; files are written atomically. `reasons` hold text fragments: a fragment no longer found is
replaced by the actual reason text of the same wording with other numbers, or else the whole list by the actual
reasons; `missing_facts` and `referrals` are replaced as lists."""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from .testing import CaseResult, _referral_key, _same
from .runtime import atomic

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_PLAIN_WORD = re.compile(r"[^\W\d][\w]*")  # ids and words (甲, household) that need no quotes
_KEYWORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


@dataclass
class Edit:
    start: int  # character offsets in the file's text
    end: int
    text: str
    label: str  # the output it changes, e.g. dibao.monthly_amount
    old: str
    new: str
    flip: bool = False  # a decision (是/否/无) changed, not only an amount or a text


@dataclass
class CasePlan:
    result: CaseResult
    file: Path
    line: int
    edits: list[Edit] = field(default_factory=list)
    problem: str | None = None


# ---- rendering values as YAML text that fits where the old value stood ------------------------------------

def _scalar(value, like: yaml.Node | None = None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):  # exact digits, never the rounded 约… of reasons
        text = format(value, "f") if isinstance(value, Decimal) else str(value)
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, _dt.date):
        return value.isoformat()
    text = str(value)
    plain = isinstance(like, yaml.ScalarNode) and like.style is None
    if _PLAIN_WORD.fullmatch(text) and text.lower() not in _KEYWORDS and (plain or like is None):
        return text
    return json.dumps(text, ensure_ascii=False)


def _flow(value, like: yaml.Node | None = None) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = like.value if isinstance(like, yaml.SequenceNode) else []
        return "[" + ", ".join(_flow(v, items[0] if items else None) for v in value) + "]"
    return _scalar(value, like)


def _render(value, node: yaml.Node, newline: str = "\n") -> str:
    """value in the style of node: a block list stays a block list at the same indentation."""
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and isinstance(value, list) and value \
            and node.value:
        col = node.start_mark.column
        first = node.value[0]
        return "- " + (newline + " " * col + "- ").join(_flow(v, first) for v in value)
    return _flow(value, node)


def _span(node: yaml.Node) -> tuple[int, int]:
    """Start and end offsets of a node's own text (a block list ends with its last item, not at what follows)."""
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return node.start_mark.index, _span(node.value[-1])[1]
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return node.start_mark.index, _span(node.value[-1][1])[1]
    return node.start_mark.index, node.end_mark.index


# ---- planning the edits of one case ---------------------------------------------------------------------

class _Planner:
    def __init__(self, text: str):
        self.text = text
        self.edits: list[Edit] = []

    def replace(self, node: yaml.Node, value, label: str) -> None:
        start, end = _span(node)
        new = _render(value, node, "\r\n" if "\r\n" in self.text else "\n")
        old = self.text[start:end]
        if new != old:
            flip = isinstance(value, bool) or value is None or old in ("true", "false", "null")
            self.edits.append(Edit(start, end, new, label, _short(self._shown(node)), _short(_flow(value, node)), flip))

    def _shown(self, node: yaml.Node) -> str:
        """A value's text for the change report: a block list shown as [a, b]."""
        if isinstance(node, yaml.SequenceNode) and not node.flow_style:
            return "[" + ", ".join(self.text[slice(*_span(item))] for item in node.value) + "]"
        return self.text[slice(*_span(node))]

    def mapping(self, node: yaml.Node, expected: dict, actual, label: str) -> None:
        if not isinstance(node, yaml.MappingNode) or not isinstance(actual, dict):
            if not _same_deep(expected, actual):
                self.replace(node, _narrow(expected, actual), label)
            return
        for knode, vnode in node.value:
            key = knode.value
            if key not in expected:
                continue
            want, where = expected[key], f"{label}.{key}"
            if key == "missing_facts":
                paths = sorted(f["path"] for f in actual.get("missing_facts") or [])
                if sorted(want or []) != paths:
                    self.replace(vnode, paths, where)
            elif key == "reasons":
                self.reasons(vnode, want, actual.get("reasons") or [], where)
            elif isinstance(want, dict):
                self.mapping(vnode, want, actual.get(key), where)
            elif not _same(want, actual.get(key)):
                self.replace(vnode, actual.get(key), where)

    def reasons(self, node: yaml.Node, want, actual: list[dict], label: str) -> None:
        texts = [r["text"] for r in actual]
        joined = " ".join(texts)
        fragments = want if isinstance(want, list) else [want]
        missing = [i for i, f in enumerate(fragments) if str(f) not in joined]
        if not missing:
            return
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        found = {i: _corresponding(str(fragments[i]), texts) for i in missing}
        if all(found.values()) and len(items) == len(fragments):
            for i, new in found.items():
                self.replace(items[i], new, label)
        else:
            self.replace(node, texts if isinstance(want, list) or len(texts) != 1 else texts[0], label)

    def referrals(self, node: yaml.Node, want: list[str], actual: list[dict]) -> None:
        got = [_referral_key(r) for r in actual]
        ok = all(any(g == w or g.split("=")[0] == w for g in got) for w in want) and \
            all(any(g == w or g.split("=")[0] == w for w in want) for g in got)
        if ok:
            return
        left, new = list(got), []
        for w in want:  # the written order is kept; an entry written without its amount stays so
            g = next((g for g in left if g == w or g.split("=")[0] == w), None) \
                or next((g for g in left if g.split("=")[0] == w.split("=")[0]), None)
            if g is not None:
                left.remove(g)
                new.append(w if g == w or g.split("=")[0] == w else g)
        new += left
        start = len(self.edits)
        self.replace(node, new, "referrals")
        for e in self.edits[start:]:
            e.old = "去掉 " + ("、".join(w for w in want if w not in new) or "无")
            e.new = "增加 " + ("、".join(g for g in new if g not in want) or "无")


def _corresponding(fragment: str, texts: list[str]) -> str | None:
    """The part of an actual reason with the fragment's wording and other numbers, if there is one."""
    parts = _NUMBER.split(fragment)
    if len(parts) < 2:
        return None
    pattern = re.compile(_NUMBER.pattern.join(re.escape(p) for p in parts))
    for text in texts:
        m = pattern.search(text)
        if m:
            return m.group(0)
    return None


def _narrow(expected, actual):
    """What to write where an object was expected and something else came (or the reverse)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: actual.get(k) for k in expected}
    return actual


def _same_deep(expected, actual) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(_same_deep(v, actual.get(k)) for k, v in expected.items())
    return _same(expected, actual)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _case_nodes(root: yaml.Node):
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if k.value == "cases" and isinstance(v, yaml.SequenceNode):
                return v.value
    return []


def plan_case(result: CaseResult, case: dict, text: str, root: yaml.Node, file: Path) -> CasePlan:
    line, col = (int(x) for x in case["defined_at"].rsplit(":", 2)[1:])
    plan = CasePlan(result, file, line)
    node = next((n for n in _case_nodes(root) if n.start_mark.line + 1 == line and n.start_mark.column + 1 == col),
                None)
    expect = next((v for k, v in node.value if k.value == "expect"), None) if node is not None else None
    if expect is None or not isinstance(expect, yaml.MappingNode):
        plan.problem = "在源文件中找不到该案例的 expect（源文件在编译后被改动？）"
        return plan
    planner = _Planner(text)
    decision = result.decision
    for knode, vnode in expect.value:
        prog = knode.value
        if prog not in case["expect"]:
            continue
        if prog == "referrals":
            planner.referrals(vnode, case["expect"][prog], decision["referrals"])
        else:
            planner.mapping(vnode, case["expect"][prog], decision["programs"].get(prog), prog)
    plan.edits = planner.edits
    return plan


# ---- applying -----------------------------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        atomic.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def update(ev, policy: Path, results: list[CaseResult], out) -> tuple[int, int, list[CaseResult]]:
    """Rewrite the failing cases among results; returns (cases updated, edits, cases not updated)."""
    cases = {c["defined_at"]: c for c in ev.bundle["cases"]}
    by_file: dict[Path, list[CaseResult]] = {}
    skipped: list[CaseResult] = []
    for res in results:
        if res.passed:
            continue
        if res.error or res.decision is None:
            skipped.append(res)
            continue
        file = policy / "cases" / Path(cases[res.where]["defined_at"].rsplit(":", 2)[0]).name
        by_file.setdefault(file, []).append(res)
    updated = edits_total = 0
    for file, failing in sorted(by_file.items()):
        raw = file.read_bytes()
        bom = raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        plans = [plan_case(res, cases[res.where], text, root, file) for res in failing]
        edits = sorted((e for p in plans for e in p.edits), key=lambda e: e.start)
        if any(a.end > b.start for a, b in zip(edits, edits[1:])):
            raise RuntimeError(f"{file}: overlapping edits")  # cannot happen: each value is replaced once
        new = text
        for e in reversed(edits):
            new = new[:e.start] + e.text + new[e.end:]
        if new != text:
            write_atomic(file, (b"\xef\xbb\xbf" if bom else b"") + new.encode("utf-8"))
        for plan in plans:
            if plan.problem or not plan.edits:
                skipped.append(plan.result)
                out(f"未更新 {plan.result.name} ({plan.result.where})：{plan.problem or '没有可改写的期望值'}")
                continue
            updated += 1
            edits_total += len(plan.edits)
            out(f"已更新 {plan.result.name} ({plan.result.where.rsplit(':', 2)[0]}:{plan.line})")
            for e in plan.edits:
                out(f"  {e.label}：{e.old} → {e.new}" + ("  ⚠ 判定改变：请确认案例仍检验 covers 所写的规则或边界" if e.flip else ""))
    for res in skipped:
        if res.error:
            out(f"未更新 {res.name} ({res.where})：{res.error}")
    return updated, edits_total, skipped
