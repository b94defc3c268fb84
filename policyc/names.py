"""The closed alphabets of everything a policy source names or says; every stage that reads sources enforces them.

Policy sources are untrusted input (any pull request can change them), and what they name ends up in generated
code, JSON, Markdown and HTML. So:

- An **identifier** (英文标识: parameter ids, program, record, field, enum and definition ids, enum and choice
  codes, the policy set's id) is lower-case ASCII: `[a-z][a-z0-9_]*`, at most 64 characters, and not a Python
  keyword (`class`, `import`, `lambda` …); a dotted identifier (`dibao.standard.urban`) is up to 8 of them
  joined by dots.
- A **name** (中文名称 of a definition, record, field, enum, enum member, input or parameter, and a choice's
  label) is CJK ideographs (U+3400–U+4DBF, U+4E00–U+9FFF), ASCII letters, digits and underscores, does not start
  with a digit or an underscore (so no dunders), is not a Python keyword, and has at most 64 characters.
- **Text** (reasons, citations, titles, headings, sources, notes, case names, locality names, units) may contain
  any printable character, but no control character (not even a line break or a tab), no invisible formatting
  character (bidi embeddings, overrides and isolates U+202A–U+202E, U+2066–U+2069, marks U+200E/U+200F, zero-width
  characters, U+FEFF …), no line or paragraph separator, no private-use, surrogate or unassigned code point.
  The same characters are refused anywhere in a source file, comments included: they make what a reviewer sees
  differ from what the compiler reads.

Depends on the standard library only.
"""
from __future__ import annotations

import keyword
import re
import unicodedata
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from .diagnostics import Reporter

NAME_MAX = 64  # characters of a name, and of each segment of an identifier
SEGMENTS_MAX = 8  # segments of a dotted identifier
TEXT_MAX = 2000  # characters of one text in a YAML source

KEYWORDS = frozenset(keyword.kwlist)
WORD = re.compile(r"[a-z][a-z0-9_]*")
DOTTED = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_NAME_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z0-9_]")

# categories refused in text: control, format (invisible), surrogate, private use, unassigned, line/paragraph sep.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL_NAMES = {"\n": "换行", "\r": "回车", "\t": "制表符", "\x00": "空字符 NUL", "\x1b": "ESC",
                  "\x0b": "垂直制表符", "\x0c": "换页符", "\x7f": "DEL", "\x85": "下一行 NEL"}


def is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def unsafe_chars(text: str, allow: str = "") -> Iterator[tuple[int, str]]:
    """(index, character) of every character text must not contain; `allow` lists exceptions (line breaks in a
    whole file)."""
    for i, ch in enumerate(text):
        if ch not in allow and is_unsafe(ch):
            yield i, ch


def describe_char(ch: str) -> str:
    """U+202E（改变文字方向的不可见字符 RIGHT-TO-LEFT OVERRIDE）: never the character itself."""
    cat = unicodedata.category(ch)
    if ch in _CONTROL_NAMES:
        kind = _CONTROL_NAMES[ch]
    elif cat == "Cc":
        kind = "控制字符"
    elif ch in BIDI:
        kind = "改变文字方向的不可见字符"
    elif cat == "Cf":
        kind = "不可见的格式字符"
    elif cat in ("Zl", "Zp"):
        kind = "行或段的分隔符"
    elif cat == "Co":
        kind = "私用区字符"
    elif cat == "Cs":
        kind = "代理项"
    elif cat == "Cn":
        kind = "未分配的字符"
    else:
        kind = "字符"
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}（{kind}{' ' + name if name else ''}）"


def shown(text: str, limit: int = 80) -> str:
    """Text safe to put into a diagnostic or a terminal: unsafe characters as ‹U+XXXX›, long text cut."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return "".join(f"‹U+{ord(ch):04X}›" if is_unsafe(ch) else ch for ch in text)


def ident_problem(text: str, dotted: bool = False) -> tuple[str, str | None] | None:
    """Why `text` cannot be an identifier: ("E0304", None) when it is not lower-case ASCII words (joined by dots
    when `dotted`), ("E0317", problem) when it is a keyword or too long; None when it is fine."""
    if not isinstance(text, str) or not (DOTTED if dotted else WORD).fullmatch(text):
        return "E0304", None
    segments = text.split(".")
    if len(segments) > SEGMENTS_MAX:
        return "E0317", f"超过 {SEGMENTS_MAX} 段"
    for seg in segments:
        if seg in KEYWORDS:
            return "E0317", f"“{seg}”是 Python 的保留字"
        if len(seg) > NAME_MAX:
            return "E0317", f"超过 {NAME_MAX} 个字符"
    return None


def name_problem(text: str) -> str | None:
    """Why `text` cannot be a name (for E0317), or None."""
    if not text:
        return "名称不能为空"
    bad = next((ch for ch in text if not _NAME_CHAR.fullmatch(ch)), None)
    if bad is not None:
        what = describe_char(bad) if is_unsafe(bad) or bad.isspace() else f"“{bad}”"
        return f"含有{what}，名称只能由汉字、英文字母、数字和下划线组成"
    if text[0].isdigit():
        return "以数字开头"
    if text[0] == "_":
        return "以下划线开头"
    if text in KEYWORDS:
        return "是 Python 的保留字"
    if len(text) > NAME_MAX:
        return f"超过 {NAME_MAX} 个字"
    return None


def scan_source(file: str, text: str, reporter: "Reporter", what: str = "文件") -> bool:
    """Report every character of a whole source file (comments included) outside the closed alphabet, at its
    line and column; True when there is none. Line breaks and tabs between tokens are allowed (texts are checked
    for them separately)."""
    from .diagnostics import Span
    found = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        for col, ch in unsafe_chars(line, allow="\t\r"):
            found += 1
            if found <= 20:  # enough to find them; a file full of them should not flood the report
                reporter.add("E0009", Span(file, lineno, col + 1, col + 2), what=what, char=describe_char(ch))
    return not found
