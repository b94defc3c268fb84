"""Stage 1, load: reads a policy directory into located documents and parsed rule files."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
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
    """Paths in diagnostics and bundles: relative to the project root, so builds do not depend on the cwd."""
    try:
        rel = os.path.relpath(Path(path).resolve(), _BASE[0])
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _read(path: Path, reporter: Reporter, hasher) -> str | None:
    bad = next(unsafe_chars(path.name), None)
    if bad is not None:  # the name is shown in diagnostics and written into the bundle (defined_at)
        reporter.add("E0009", Span(shown(display_path(path))), what="文件名", char=describe_char(bad[1]))
        return None
    try:
        raw = path.read_bytes()
    except OSError as err:
        reporter.add("E0005", Span(display_path(path)), problem=os_reason(err))
        return None
    hasher.update(path.name.encode() + b"\0" + raw + b"\0")
    try:
        # every line ending means a line ending: a file saved with CR alone (an old Mac editor, a web form) would
        # otherwise be one line, and a rule file one comment — gone without an error
        return raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError:
        reporter.add("E0006", Span(display_path(path)))
        return None


def _yaml(path: Path, schema: str, reporter: Reporter, hasher) -> Located | None:
    text = _read(path, reporter, hasher)
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
        text = _read(path, reporter, hasher)
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
    if not (root / "policy.yaml").is_file():
        reporter.add("E0007", None, path=display_path(root))
        raise PolicyError()
    hasher = hashlib.sha256()
    manifest = _yaml(root / "policy.yaml", "policy.schema.json", reporter, hasher)
    province = manifest.data["jurisdiction"] if manifest else "140000"
    jurisdictions = _jurisdictions(root, province, reporter, hasher)
    params = [_yaml(p, "parameters.schema.json", reporter, hasher)
              for p in sorted((root / "parameters").glob("*.yaml"))]
    rules = []
    for path in sorted((root / "rules").glob("*.policy")):
        text = _read(path, reporter, hasher)
        if text is not None:
            rules.append(parse_file(display_path(path), text, reporter))
    def docs(folder: str, schema: str) -> list[Located]:
        return [_yaml(p, schema, reporter, hasher) for p in sorted((root / folder).glob("*.yaml"))]

    cases = docs("cases", "cases.schema.json")
    events = docs("events", "events.schema.json")
    funding = docs("funding", "funding.schema.json")
    localities = docs("localities", "localities.schema.json")
    reporter.stop_if_errors()
    return Sources(root, manifest, jurisdictions, params, rules, cases, events, localities, funding,
                   hasher.hexdigest())
