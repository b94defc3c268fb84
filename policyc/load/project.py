"""Stage 1, load: reads a policy directory into located documents and parsed rule files."""
from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ..diagnostics import PolicyError, Reporter, Span
from ..dsl import ast
from ..dsl.parser import parse_file
from ..names import describe_char, scan_source, shown, unsafe_chars
from ..runtime.errtext import os_reason
from . import schemas
from .yamlsrc import Located, load_yaml


@dataclass
class Jurisdiction:
    code: str
    name: str
    level: str  # province | city | county
    parent: str | None
    full_name: str
    functional_zone: bool = False
    defined_at: str = ""

    def to_json(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level, "parent": self.parent,
                "full_name": self.full_name, "functional_zone": self.functional_zone}


@dataclass
class Sources:
    root: Path
    manifest: Located
    jurisdictions: list[Jurisdiction]
    parameter_files: list[Located]
    rule_files: list[ast.File]
    case_files: list[Located]
    event_files: list[Located]
    locality_files: list[Located]
    funding_files: list[Located]
    digest: str  # sha256 over every source file, the policy set's revision


def project_root(policy_dir: Path) -> Path:
    """The repository the policy set lives in: the nearest ancestor with pyproject.toml or .git."""
    for parent in [policy_dir.resolve(), *policy_dir.resolve().parents]:
        if (parent / "pyproject.toml").exists() or (parent / ".git").exists():
            return parent
    return Path.cwd()


_BASE: list[Path] = [Path.cwd()]


def display_path(path: Path) -> str:
    """Paths in diagnostics and bundles: relative to the project root, so builds do not depend on the cwd. The
    folders are resolved, the file's own name is kept: a symbolic link is shown as itself, never as its target."""
    path = Path(path)
    try:
        rel = os.path.relpath(path.parent.resolve() / path.name, _BASE[0])
    except (ValueError, OSError, RuntimeError):
        return str(path)
    return str(path) if rel.startswith("..") else rel


# Reading the policy directory, which a pull request controls (docs/security.md, "Policy sources"): only regular
# files inside the directory (a symbolic link may point to one; a link leaving the directory, e.g. to a secrets
# file a diagnostic would quote, is refused, E0020), never a FIFO, device or socket (/dev/zero would fill the
# memory, a FIFO block forever, E0021), and at most SOURCE_MAX bytes (E0022): checked with lstat/stat before
# opening, opened without blocking and without following a link put there since, checked again with fstat, and
# read up to SOURCE_MAX + 1 bytes whatever the size said.
SOURCE_MAX = 4 * 1024 * 1024  # bytes of one source file; the largest shipped one has ~64 KB
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_NONBLOCK", 0))
_SPECIAL = ((stat.S_ISFIFO, "命名管道（FIFO）"), (stat.S_ISCHR, "字符设备"), (stat.S_ISBLK, "块设备"),
            (stat.S_ISSOCK, "套接字"))


def _special(mode: int) -> str:
    return next((kind for test, kind in _SPECIAL if test(mode)), "特殊文件")


def _inside(path: Path, root: Path) -> bool:
    """Whether path, every link and `..` followed, is root or below it."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    try:
        return os.path.commonpath([real, top]) == top
    except ValueError:  # another drive
        return False


def _as_found(path: Path, root: Path) -> str:
    """A path below root as it was found there, no link followed: where a file refused for leaving the
    directory is shown (display_path would show where a linked folder leads)."""
    try:
        return os.path.join(display_path(root), str(Path(path).relative_to(root)))
    except ValueError:
        return display_path(path)


def _read_bytes(path: Path, root: Path | None, reporter: Reporter) -> bytes | None:
    """The bytes of a source file, or None after reporting why it is not read (the reasons above). Without a
    root (a file named on the command line) links may lead anywhere; everything else is checked."""
    where = Span(display_path(path))
    try:
        st = os.lstat(path)
        flags = _OPEN_FLAGS
        if stat.S_ISLNK(st.st_mode):
            if root is not None and not _inside(path, root):
                reporter.add("E0020", Span(_as_found(path, root)))
                return None
            st = os.stat(path)  # what it points to, inside the directory
        else:
            flags |= getattr(os, "O_NOFOLLOW", 0)  # a link put in its place since: ELOOP, not followed
            # a folder of the directory (rules/) may be a link leading out of it
            if root is not None and not _inside(path, root):
                reporter.add("E0020", Span(_as_found(path, root)))
                return None
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(st.st_mode):
            reporter.add("E0021", where, kind=_special(st.st_mode))
            return None
        if st.st_size > SOURCE_MAX:
            reporter.add("E0022", where, limit=_size(SOURCE_MAX))
            return None
        fd = os.open(path, flags)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # replaced between the checks and the opening
                reporter.add("E0021", where, kind=_special(st.st_mode))
                return None
            chunks, size = [], 0
            while size <= SOURCE_MAX:
                chunk = os.read(fd, min(1 << 20, SOURCE_MAX + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except OSError as err:
        reporter.add("E0005", where, problem=os_reason(err))
        return None
    if size > SOURCE_MAX:  # grew after the size was read
        reporter.add("E0022", where, limit=_size(SOURCE_MAX))
        return None
    return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} 字节"


def read_source(path: Path, root: Path | None, reporter: Reporter, hasher=None) -> str | None:
    """A source file's text (any line ending read as \\n), or None after reporting why it cannot be used."""
    bad = next(unsafe_chars(path.name), None)
    if bad is not None:  # the name is shown in diagnostics and written into the bundle (defined_at)
        reporter.add("E0009", Span(shown(display_path(path))), what="文件名", char=describe_char(bad[1]))
        return None
    raw = _read_bytes(path, root, reporter)
    if raw is None:
        return None
    if hasher is not None:
        hasher.update(path.name.encode() + b"\0" + raw + b"\0")
    try:
        # every line ending means a line ending: a file saved with CR alone (an old Mac editor, a web form) would
        # otherwise be one line, and a rule file one comment — gone without an error
        return raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError:
        reporter.add("E0006", Span(display_path(path)))
        return None


def _yaml(path: Path, root: Path, schema: str, reporter: Reporter, hasher) -> Located | None:
    text = read_source(path, root, reporter, hasher)
    if text is None:
        return None
    doc = load_yaml(display_path(path), text, reporter)
    if doc is None or not schemas.check(doc, schema, reporter):
        return None
    return doc


PROVINCE_NAME = "山西省"
NAME_MAX = 50  # characters of a city's or county's name
_CITY, _COUNTY = re.compile(r"[0-9]{4}"), re.compile(r"[0-9]{6}")  # ASCII digits only (str.isdigit takes ²٣)


def _jurisdictions(root: Path, province_code: str, reporter: Reporter, hasher) -> list[Jurisdiction]:
    out = [Jurisdiction(province_code, PROVINCE_NAME, "province", None, PROVINCE_NAME)]
    cities: dict[str, Jurisdiction] = {}
    for fname, level in (("cities.csv", "city"), ("counties.csv", "county")):
        path = root / "jurisdictions" / fname
        text = read_source(path, root, reporter, hasher)
        if text is None or not scan_source(display_path(path), text, reporter):
            break  # without the cities, every county would be reported as well
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as err:
            reporter.add("E0050", Span(display_path(path), 1, 1), detail=str(err))
            continue
        for lineno, row in enumerate(rows, start=2):
            span = Span(display_path(path), lineno, 1)
            code, name = (row.get("code") or "").strip(), (row.get("name") or "").strip()
            if len(name) > NAME_MAX:
                reporter.add("E0050", span, detail=f"地名过长（{len(name)} 个字，最多 {NAME_MAX} 个字）")
                continue
            if level == "city":
                if not (_CITY.fullmatch(code) and name):
                    reporter.add("E0050", span, detail=f"城市代码应为 4 位数字，实际为 {code!r}")
                    continue
                j = Jurisdiction(code + "00", name, "city", province_code, name, defined_at=str(span))
                cities[code] = j
            else:
                parent = cities.get((row.get("city_code") or "").strip())
                if not (_COUNTY.fullmatch(code) and name) or parent is None:
                    reporter.add("E0050", span, detail=f"区县 {code!r} 的代码或所属城市无效")
                    continue
                j = Jurisdiction(code, name, "county", parent.code, parent.name + name,
                                 functional_zone=code.endswith("71"), defined_at=str(span))
            out.append(j)
    return out


def load(root: Path, reporter: Reporter) -> Sources:
    """Read everything below root; every problem is reported, and PolicyError raised if anything failed."""
    root = Path(root)
    _BASE[0] = project_root(root)
    if not os.path.lexists(root / "policy.yaml"):  # anything else there is read, or refused, by read_source
        reporter.add("E0007", None, path=display_path(root))
        raise PolicyError()
    hasher = hashlib.sha256()
    manifest = _yaml(root / "policy.yaml", root, "policy.schema.json", reporter, hasher)
    province = manifest.data["jurisdiction"] if manifest else "140000"
    jurisdictions = _jurisdictions(root, province, reporter, hasher)
    params = [_yaml(p, root, "parameters.schema.json", reporter, hasher)
              for p in sorted((root / "parameters").glob("*.yaml"))]
    rules = []
    for path in sorted((root / "rules").glob("*.policy")):
        text = read_source(path, root, reporter, hasher)
        if text is not None:
            rules.append(parse_file(display_path(path), text, reporter))
    def docs(folder: str, schema: str) -> list[Located]:
        return [_yaml(p, root, schema, reporter, hasher) for p in sorted((root / folder).glob("*.yaml"))]

    cases = docs("cases", "cases.schema.json")
    events = docs("events", "events.schema.json")
    funding = docs("funding", "funding.schema.json")
    localities = docs("localities", "localities.schema.json")
    reporter.stop_if_errors()
    return Sources(root, manifest, jurisdictions, params, rules, cases, events, localities, funding,
                   hasher.hexdigest())
