"""The documents backend: escaping and the template environment for the static site (site.py) and decision
notices — all rendered with jinja2 from the same IR and parameters as the evaluator, so the two cannot disagree."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..compiler import Compilation
from ..names import DOTTED, is_unsafe
from .chinese import date_text

TEMPLATES = Path(__file__).with_name("templates")


# Every value a template shows comes from policy sources or a request, so every one is escaped for where it goes:
# HTML by jinja's autoescape, Markdown by _md_escape (applied to every {{ … }} of a Markdown template, so a
# template cannot forget it). Both first make control and invisible characters visible (_plain): a bidi override
# in a request could otherwise reorder what a caseworker reads.
_BREAKS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_MD_CHARS = re.compile(r"([\\`*_\[\]|~])")
_MD_LEADING = re.compile(r"^(?:([#+=-])|([0-9]{1,9})([.)])(?=\s|$))")  # heading, list, setext underline


@lru_cache(maxsize=1 << 16)  # the same names and values recur on every page
def _plain(text: str) -> str:
    """One line of printable text: line breaks and tabs become spaces, other control or invisible characters
    U+FFFD."""
    if not any(is_unsafe(ch) for ch in text):
        return text
    return "".join(" " if ch in _BREAKS else "\ufffd" if is_unsafe(ch) else ch for ch in text)


class _Md(str):
    """Text already escaped for Markdown."""


def _md_escape(text) -> str:
    """Policy text in Markdown must stay text, wherever a template puts it (a table cell, a list item, the start
    of a line): no HTML, entity, emphasis, code, link, image, strike-through, table cell break, heading, list,
    quote or line break from a name, reason or request value."""
    if isinstance(text, _Md):
        return text
    text = _plain(str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_CHARS.sub(r"\\\1", text)
    text = _MD_LEADING.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), text)
    stripped = text.lstrip(" ")
    if stripped != text:  # four leading spaces would make a code block
        text = "&#32;" * (len(text) - len(stripped)) + stripped
    return _Md(text)


def _html_finalize(value):
    """Every value of an HTML template, before autoescape: Markup (none comes from sources) stays as it is."""
    if isinstance(value, Markup):
        return value
    return _plain(str(value)) if isinstance(value, str) else value


def environment(html: bool) -> Environment:
    if html:
        env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                          autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=True,
                                                       default_for_string=True),
                          finalize=_html_finalize, auto_reload=False,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    else:
        env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=False,
                          finalize=_md_escape, auto_reload=False,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = _md_escape
    env.filters["date"] = date_text
    env.filters["ident"] = _ident  # an identifier shown as written: its alphabet has nothing to escape
    return env


def _ident(value) -> str:
    """A parameter or program id as written: lower-case words and dots cannot start Markdown or HTML markup (an
    underscore inside a word is not emphasis); anything else is refused rather than shown."""
    return _Md(_param_slug(str(value)))


_CODE = re.compile(r"[0-9]{6}")


def _param_slug(pid: str) -> str:
    """A parameter id as it goes into a file name and an href: only from the closed alphabet of identifiers."""
    if not DOTTED.fullmatch(pid):
        raise ValueError(f"parameter id {pid!r} cannot name a page")
    return pid


def _code_slug(code: str) -> str:
    if not _CODE.fullmatch(code):
        raise ValueError(f"jurisdiction code {code!r} cannot name a page")
    return code


def site_files(c: Compilation, out: Path) -> dict[Path, bytes]:
    """Every file of generated/docs/, as bytes (see site.py)."""
    from .site import site_files as files
    return files(c, out)


def notice(decision: dict, bundle: dict, fmt: str, request: dict | None = None, info: dict | None = None) -> str:
    """A decision as a 告知书 (Markdown or HTML): see notice.py, where the notice is made."""
    from .notice import notice as render
    return render(decision, bundle, fmt, request=request, info=info)
