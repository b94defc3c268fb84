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


_URBAN = re.compile(r"(  dibao\.standard\.urban:\n(?:    .*\n|\n)*?      - from: 2024-01-01\n        value: )([^\n]+)\n")


def set_urban_standard(policy_dir, new) -> str:
    """Set the province's 2024 urban 低保 standard in a policy copy; return the value it replaced (as written)."""
    path = Path(policy_dir) / "parameters" / "dibao.yaml"
    text = path.read_text(encoding="utf-8")
    m = _URBAN.search(text)
    assert m, "dibao.standard.urban 2024-01-01 value not found"
    path.write_text(text[:m.start(2)] + str(new) + text[m.end(2):], encoding="utf-8")
    return m.group(2)
