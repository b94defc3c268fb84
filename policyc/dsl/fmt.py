"""`policyc fmt`: one canonical layout for rule files, keeping every comment and the author's line breaks.

Canonical means: declarations start at column 0; their continuation lines are indented two spaces, plus two per
open parenthesis; lines inside braces two spaces per level; single spaces between tokens (strings and comments
untouched); one space before a trailing comment; at most one blank line; one newline at the end. The result is
parsed again and must give the same syntax tree, or the file is left as it was.
"""
from __future__ import annotations

import dataclasses
import re

from ..diagnostics import Reporter, Span
from .parser import parse_file

DECLARATIONS = ("程序", "枚举", "记录", "输入", "定义", "规则", "说明", "输出", "决策表", "转介")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|“[^”\n]*”')


def _split(line: str) -> tuple[str, str]:
    """(code, comment) of one line, finding `#` outside strings."""
    pos = 0
    while pos < len(line):
        m = _STRING.match(line, pos)
        if m:
            pos = m.end()
            continue
        if line[pos] == "#":
            return line[:pos], line[pos:]
        pos += 1
    return line, ""


def _squeeze(code: str) -> str:
    """Single spaces between tokens, outside strings."""
    out, pos = [], 0
    for m in _STRING.finditer(code):
        out.append(re.sub(r"\s+", " ", code[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(re.sub(r"\s+", " ", code[pos:]))
    return "".join(out).strip()


def _depths(code: str) -> tuple[int, int]:
    """Net change of brace and parenthesis depth over a line's code (strings skipped)."""
    bare = _STRING.sub("", code)
    return bare.count("{") - bare.count("}"), (bare.count("(") + bare.count("（")) - (bare.count(")") + bare.count("）"))


def format_text(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ").split("\n")
    parsed = [(_squeeze(code), comment.rstrip()) for code, comment in map(_split, lines)]
    # pass 1: the indentation of every code line, from the braces and parentheses open before it
    indents: dict[int, int] = {}
    braces = parens = 0
    for i, (code, _) in enumerate(parsed):
        if not code:
            continue
        if code.startswith("}"):
            indents[i] = 2 * max(braces - 1, 0)
        elif braces > 0:
            indents[i] = 2 * braces + 2 * parens
        elif parens == 0 and code.split(" ", 1)[0] in DECLARATIONS:
            indents[i] = 0
        else:
            indents[i] = 2 + 2 * parens
        db, dp = _depths(code)
        braces, parens = max(braces + db, 0), max(parens + dp, 0)
    # pass 2: comment lines take the indentation of the code that follows; blank lines collapse to one
    out: list[str] = []
    following = 0
    for i in range(len(parsed) - 1, -1, -1):
        code, comment = parsed[i]
        if code:
            following = indents[i]
            out.append(" " * following + code + (f"  {comment}" if comment else ""))
        elif comment:
            out.append(" " * following + comment)
        else:
            out.append("")
    out.reverse()
    result: list[str] = []
    for line in out:
        if line or (result and result[-1]):
            result.append(line)
    while result and not result[-1]:
        result.pop()
    return "\n".join(result) + "\n"


def _shape(node):
    """A syntax tree without positions, to compare two parses."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node):
        return (type(node).__name__,) + tuple(_shape(getattr(node, f.name)) for f in dataclasses.fields(node)
                                               if f.name not in ("span", "value_span", "program"))
    if isinstance(node, (list, tuple)):
        return tuple(_shape(x) for x in node)
    return node


def format_file(path: str, text: str, reporter: Reporter) -> str | None:
    """The formatted text, or None (with diagnostics) when the file does not parse."""
    before = parse_file(path, text, reporter)
    if before is None:
        return None
    result = format_text(text)
    after = parse_file(path, result, Reporter())
    if after is None or _shape(before.items) != _shape(after.items):
        raise AssertionError(f"formatting {path} would change its meaning; left unchanged")
    return result
