"""One diagnostic type for everything a policy author can get wrong, and its renderers."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .messages import MESSAGES
from .names import is_unsafe, shown


@dataclass(frozen=True)
class Span:
    """A place in a source file: 1-based line and column, optional end column on the same line."""

    file: str
    line: int = 0
    col: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.col or 1}"


@dataclass
class Diagnostic:
    code: str
    severity: str  # "error" | "warning"
    message: str
    span: Span | None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.span:
            out.update(file=self.span.file, line=self.span.line, column=self.span.col)
        if self.hint:
            out["hint"] = self.hint
        if self.notes:
            out["notes"] = self.notes
        return out


class PolicyError(Exception):
    """Raised to stop a stage once its diagnostics make going on pointless."""


class Reporter:
    """Collects diagnostics across all stages of one run."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(self, code: str, span: Span | None, hint: str | None = None, notes=(), **args) -> Diagnostic:
        severity, template, default_hint = MESSAGES[code]
        diag = Diagnostic(code, severity, template.format(**args), span,
                          hint if hint is not None else (default_hint.format(**args) if default_hint else None),
                          list(notes))
        self.items.append(diag)
        return diag

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def stop_if_errors(self) -> None:
        if self.has_errors():
            raise PolicyError()

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.span.file if d.span else "", d.span.line if d.span else 0,
                                                 d.span.col if d.span else 0))


_SOURCE_CACHE: dict[str, list[str]] = {}


def _source_line(span: Span, root: Path | None) -> str | None:
    if not span.line:
        return None
    path = Path(span.file)
    if root is not None and not path.is_absolute():
        path = root / path
    key = str(path)
    if key not in _SOURCE_CACHE:
        try:
            # lines end at \n only, as the parser and the character scan count them (splitlines would also break
            # at U+2028, \x1c … and shift every later line)
            text = path.read_text(encoding="utf-8-sig")
            _SOURCE_CACHE[key] = [line.removesuffix("\r") for line in text.split("\n")]
        except (OSError, UnicodeDecodeError):
            _SOURCE_CACHE[key] = []
    lines = _SOURCE_CACHE[key]
    return lines[span.line - 1] if 0 < span.line <= len(lines) else None


def _display_width(text: str) -> int:
    """Terminal width of text: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 and ch != "\ufffd" else 1 for ch in text)


def _visible(line: str) -> str:
    """A source line as a terminal may show it: a tab becomes a space, other control and invisible characters (a
    bidi override could reorder what the reader sees) U+FFFD, one column each, so the caret still points at them."""
    return "".join(" " if ch == "\t" else "\ufffd" if is_unsafe(ch) else ch for ch in line)


def render_text(diags: list[Diagnostic], root: Path | None = None) -> str:
    """rustc-style: `error[E0201]: message`, the location, the source line and a caret."""
    out: list[str] = []
    for d in diags:
        label = "错误" if d.severity == "error" else "警告"
        out.append(f"{label}[{d.code}]: {shown(d.message, 10**6)}")
        if d.span:
            out.append(f"  --> {shown(str(d.span), 10**4)}")
            line = _source_line(d.span, root)
            if line is not None:
                line = _visible(line)
                gutter = str(d.span.line)
                pad = " " * len(gutter)
                col = max(d.span.col, 1)
                width = max(1, _display_width(line[col - 1:d.span.end_col - 1]) if d.span.end_col > col else 1)
                out.append(f" {pad} |")
                out.append(f" {gutter} | {line}")
                out.append(f" {pad} | {' ' * _display_width(line[:col - 1])}{'^' * width}")
        for note in d.notes:
            out.append(f"  = 注: {shown(note, 10**6)}")
        if d.hint:
            out.append(f"  = 提示: {shown(d.hint, 10**6)}")
        out.append("")
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    if diags:
        out.append(f"共 {errors} 个错误，{warnings} 个警告")
    return "\n".join(out)


def render_json(diags: list[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diags], ensure_ascii=False, indent=2)


def render_github(diags: list[Diagnostic]) -> str:
    """GitHub workflow annotations, so a pull request shows each diagnostic at its line."""
    lines = []
    for d in diags:
        kind = "error" if d.severity == "error" else "warning"
        msg = shown(d.message + (f"（提示：{d.hint}）" if d.hint else ""), 10**6)
        msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        file = shown(d.span.file, 10**4).replace("%", "%25").replace(",", "%2C").replace(":", "%3A") if d.span else ""
        loc = f" file={file},line={d.span.line},col={d.span.col}" if d.span and d.span.line else ""
        lines.append(f"::{kind}{loc},title={d.code}::{msg}")
    return "\n".join(lines)
