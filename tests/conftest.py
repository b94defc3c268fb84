import re
import shutil
from pathlib import Path

import pytest

from policyc.compiler import compile_policy
from policyc.diagnostics import PolicyError, Reporter
from policyc.emit.bundle import build_bundle
from policyc.runtime import Evaluator, jsonio

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "shanxi"


@pytest.fixture(scope="session")
def bundle():
    """The shipped policy set compiled in memory, as plain JSON data (what a bundle file holds)."""
    return jsonio.loads(jsonio.dumps(build_bundle(compile_policy(POLICY, Reporter())), indent=None))


@pytest.fixture(scope="session")
def evaluator(bundle):
    return Evaluator(bundle)


@pytest.fixture
def bundle_file(tmp_path, bundle):
    """The shipped policy set's bundle file as `policyc build` writes it, built here from the sources (never the
    committed generated/ one, which `policyc build --check` keeps fresh)."""
    path = tmp_path / "shanxi.bundle.json"
    path.write_text(jsonio.dumps(bundle, indent=1) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def policy_copy(tmp_path):
    """A writable copy of the shipped policy set."""
    dest = tmp_path / "shanxi"
    shutil.copytree(POLICY, dest)
    return dest


def diagnose(policy_dir) -> list:
    """Compile a policy directory; return its diagnostics (empty when it compiles cleanly)."""
    reporter = Reporter()
    try:
        compile_policy(policy_dir, reporter)
    except PolicyError:
        pass
    return reporter.items


def member(id="A", income=0, earned=None, grade=0, dtype=None, ill=False, age=40, capacity="full"):
    return {"id": id, "age": age, "monthly_income": income, "earned_income": income if earned is None else earned,
            "labor_capacity": capacity, "disability_grade": grade, "disability_type": dtype, "serious_illness": ill}


def request(members, area="urban", assets=True, assisted=False, receiving=None, locality="140702",
            date="2024-07-01"):
    return {"locality": locality, "date": date,
            "household": {"area": area, "assets_within_limit": assets, "income_stable": True,
                          "employment_assisted": assisted, "receiving_dibao": receiving, "last_check_date": None,
                          "members": members}}


def param(evaluator, pid, locality="140702", day="2024-07-01"):
    """A parameter's value in force at a locality on a day, read from the compiled policy (never hard-coded)."""
    import datetime as _dt
    from decimal import Decimal as _D
    return _D(str(evaluator.params_at(str(locality), _dt.date.fromisoformat(day))[0][pid]))


def yuan(value) -> str:
    """A money amount as the policy's texts write it: 760, 1014, 1015.3."""
    from decimal import Decimal as _D
    d = _D(str(value)).normalize()
    return f"{d:f}"


def set_value(policy_dir, file, pid, new, start="2024-01-01") -> str:
    """Set a province parameter's value from `start` in a policy copy's parameters/`file`; return the value it
    replaced (as written)."""
    path = Path(policy_dir) / "parameters" / file
    text = path.read_text(encoding="utf-8")
    m = re.search(rf"(  {re.escape(pid)}:\n(?:    .*\n|\n)*?      - from: {start}\n        value: )([^\n]+)\n", text)
    assert m, f"{pid} {start} value not found in {file}"
    path.write_text(text[:m.start(2)] + str(new) + text[m.end(2):], encoding="utf-8")
    return m.group(2)


def set_urban_standard(policy_dir, new) -> str:
    """Set the province's 2024 urban 低保 standard in a policy copy; return the value it replaced (as written)."""
    return set_value(policy_dir, "dibao.yaml", "dibao.standard.urban", new)


@pytest.fixture(scope="session")
def baseline():
    """The diagnostics of the shipped policy set as it stands. A test that edits a copy asserts what its edit adds
    to these: a policy value may legitimately carry a warning (a 原则上 floor it breaks), which `policyc check`
    reports to the officer and no Python test should depend on."""
    return diagnose(POLICY)


def _key(d):
    return d.code, "/".join(Path(d.span.file).parts[-2:]) if d.span else "", d.message


def added(diags, baseline) -> list:
    """The diagnostics in `diags` that the baseline has not (compared by code, file and message, not line)."""
    seen = {_key(d) for d in baseline}
    return [d for d in diags if _key(d) not in seen]
