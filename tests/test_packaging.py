"""The wheel carries every file the package reads besides Python: each non-Python file under policyc/ is matched by a
package-data pattern of pyproject.toml (expanded as setuptools does, with glob relative to the package). Cheap: no
wheel is built here; .ci/wheel.sh builds one, installs it outside the repository and runs the commands."""
from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_data_file_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = set()
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        base = ROOT.joinpath(*package.split("."))
        for pattern in patterns:
            matched = {p for p in base.glob(pattern) if p.is_file()}
            assert matched, f"package-data {package}: {pattern} matches nothing"
            shipped |= matched
    data = {p for p in (ROOT / "policyc").rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert not data - shipped, sorted(str(p.relative_to(ROOT)) for p in data - shipped)


def test_source_schemas_are_read_from_the_package():
    from policyc.load import schemas
    assert Path(str(schemas.SCHEMA_DIR)) == ROOT / "policyc" / "schemas"
    for name in ("policy", "parameters", "localities", "cases", "events", "funding"):
        schemas.validator(f"{name}.schema.json")  # loads and is a valid schema
