"""Bundles: what is built is what is evaluated; a changed byte is refused; the runtime needs no compiler."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, member, param, request
from policyc.runtime import BundleError, Evaluator, jsonio, load, read_bundle
from policyc.testing import run_cases


def test_round_trip_gives_the_same_decisions_as_the_sources(bundle_file, evaluator):
    loaded = load(bundle_file)
    assert loaded.bundle_info == evaluator.bundle_info
    for case in loaded.bundle["cases"]:
        req = {"locality": case["locality"], "date": case["date"], "household": case["household"]}
        assert loaded.evaluate(req, overrides=case.get("parameters")) == \
            evaluator.evaluate(req, overrides=case.get("parameters")), case["name"]
    # the example cases give the same results from the file (whether or not they all pass: `policyc test` says)
    assert loaded.bundle["cases"] and run_cases(loaded) == run_cases(evaluator)


def test_committed_bundle_matches_the_sources(bundle):
    # precisely the committed file (what reviewers read and consumers take); CI's `policyc build --check` checks
    # it together with the rest of generated/, this says the same when only the tests are run
    committed = read_bundle(ROOT / "generated" / "shanxi.bundle.json")
    assert committed["manifest"]["sha256"] == bundle["manifest"]["sha256"], "run `policyc build` and commit"


@pytest.mark.parametrize("tamper", [
    lambda b: b["parameters"]["dibao.standard.urban"]["timelines"]["140000"][1].update(value=10000),
    lambda b: b["ir"]["definitions"][0].update(name="x"),
    lambda b: b["manifest"].update(version="9.9.9"),
])
def test_tampered_bundle_is_refused(bundle_file, tamper):
    data = jsonio.loads(bundle_file.read_text(encoding="utf-8"))
    tamper(data)
    bundle_file.write_text(jsonio.dumps(data), encoding="utf-8")
    with pytest.raises(BundleError) as err:
        load(bundle_file)
    assert "sha256" in str(err.value)


def test_unreadable_and_foreign_bundles(tmp_path, bundle):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError):
        load(bad)
    with pytest.raises(BundleError):
        load(tmp_path / "missing.json")
    other = dict(bundle, manifest=dict(bundle["manifest"], format=99))
    with pytest.raises(BundleError) as err:
        Evaluator(other)
    assert "格式版本" in str(err.value)


def test_runtime_imports_no_compiler_dependency(bundle_file, evaluator):
    code = ("import sys, json\n"
            "from policyc.runtime import load\n"
            f"ev = load({str(bundle_file)!r})\n"
            f"out = ev.evaluate(json.loads({json.dumps(json.dumps(request([member('A', 100)])))}))\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'yaml', 'jinja2', 'jsonschema'))\n"
            "compiler = sorted(m for m in sys.modules if m.startswith('policyc.') and not m.startswith('policyc.runtime') and m != 'policyc.ir')\n"
            "print(json.dumps([bad, compiler, str(out['programs']['dibao']['monthly_amount'])]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    bad, compiler, amount = json.loads(result.stdout)
    assert bad == [] and compiler == [] and amount == str(param(evaluator, "dibao.standard.urban") - 100)


def test_bundle_is_deterministic(bundle):
    from policyc.compiler import compile_policy
    from policyc.diagnostics import Reporter
    from policyc.emit.bundle import build_bundle
    again = build_bundle(compile_policy(ROOT / "policies" / "shanxi", Reporter()))
    assert again["manifest"]["sha256"] == bundle["manifest"]["sha256"]
