"""The command line as a policy officer and a service use it: outputs, exit codes, and no tracebacks."""
import json
import subprocess
import sys
from decimal import Decimal

import pytest

from conftest import ROOT, member, param, request, set_urban_standard, yuan
from policyc.runtime import jsonio


def run(*args, stdin=None, cwd=ROOT):
    proc = subprocess.run([sys.executable, "-m", "policyc", *map(str, args)], input=stdin, capture_output=True,
                          text=True, cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def household_file(tmp_path):
    path = tmp_path / "household.json"
    path.write_text(json.dumps(request([member("A", 1000), member("B", 200)])), encoding="utf-8")
    return path


def test_check_ok():
    proc = run("check")
    assert proc.returncode == 0 and "检查通过" in proc.stderr


def test_check_reports_errors_with_source_line_and_caret(policy_copy):
    rules = policy_copy / "rules" / "dibao.policy"
    rules.write_text(rules.read_text(encoding="utf-8").replace("城市低保标准 否则", "城镇低保标准 否则"), encoding="utf-8")
    proc = run("check", "--policy", policy_copy)
    assert proc.returncode == 1
    assert "错误[E0301]: 未定义的名称“城镇低保标准”" in proc.stderr
    assert "dibao.policy:" in proc.stderr and "^^^^^^^^^^^^" in proc.stderr
    assert "提示: 是否想写：城市低保标准" in proc.stderr


def test_check_json_and_github_formats(policy_copy):
    rules = policy_copy / "rules" / "dibao.policy"
    rules.write_text(rules.read_text(encoding="utf-8").replace("城市低保标准 否则", "城镇低保标准 否则"), encoding="utf-8")
    proc = run("check", "--policy", policy_copy, "--format", "json")
    diags = [d for d in json.loads(proc.stdout) if d["severity"] == "error"]
    assert proc.returncode == 1 and diags[0]["code"] == "E0301" and diags[0]["line"] > 0
    proc = run("check", "--policy", policy_copy, "--format", "github")
    assert "::error file=" in proc.stdout and "title=E0301" in proc.stdout


def test_eval_from_sources_and_from_bundle_agree(household_file, bundle_file, evaluator):
    a = run("eval", "--locality", "140702", "--date", "2024-07-01", household_file)
    b = run("eval", "--bundle", bundle_file, household_file)
    assert a.returncode == b.returncode == 0
    assert json.loads(a.stdout) == json.loads(b.stdout)
    out = json.loads(a.stdout)
    gap = 2 * param(evaluator, "dibao.standard.urban", "140702", "2024-07-01") - 1200  # the household's income
    assert out["programs"]["dibao"]["monthly_amount"] == gap and out["locality"]["name"] == "晋中市榆次区"


def test_eval_reads_stdin_and_flags_override(household_file, evaluator):
    proc = run("eval", "--date", "2023-05-01", "--locality", "农村不存在", "-", stdin=household_file.read_text())
    assert proc.returncode == 2 and "$.locality" in proc.stderr
    proc = run("eval", "--date", "2023-05-01", "-", stdin=household_file.read_text())
    gap = 2 * param(evaluator, "dibao.standard.urban", "140702", "2023-05-01") - 1200  # the 2023 standard
    assert proc.returncode == 0 and json.loads(proc.stdout)["programs"]["dibao"]["monthly_amount"] == gap


@pytest.mark.parametrize("payload,fragment", [
    ("{not json", "不是有效的 JSON"),
    ('{"locality": "140105", "date": "2024-07-01", "household": {"members": "x"}}', "$.household.members"),
    ('[1, 2]', "请求应为 JSON 对象"),
    ('{"locality": "140105", "date": "2024-07-01", "household": {"members": [], "x": NaN}}', "NaN"),
])
def test_eval_bad_input_exit_2(payload, fragment):
    proc = run("eval", "-", stdin=payload)
    assert proc.returncode == 2 and fragment in proc.stderr


def test_eval_missing_file_and_bad_usage():
    assert run("eval", "no-such-file.json").returncode == 2
    assert run("eval").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("eval", "--date", "2024-02-30", "-", stdin="{}").returncode == 2


def test_eval_tampered_bundle_exit_2(bundle_file, household_file):
    data = jsonio.loads(bundle_file.read_text(encoding="utf-8"))
    data["parameters"]["dibao.standard.urban"]["timelines"]["140000"][-1]["value"] += 1  # the hash left as it was
    bundle_file.write_text(jsonio.dumps(data), encoding="utf-8")
    proc = run("eval", "--bundle", bundle_file, household_file)
    assert proc.returncode == 2 and "sha256" in proc.stderr


def test_params_lists_every_value_with_provenance(evaluator):
    proc = run("params", "--locality", "太原市", "--date", "2024-07-01")
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out["locality"] == {"code": "140100", "name": "太原市"}
    p = out["parameters"]
    for pid in ("dibao.standard.urban", "dibao.standard.rural", "dibao.low_income_ratio", "dibao.grace_months"):
        assert {"value", "unit", "name", "effective_from", "provenance", "illustrative", "defined_at"} <= set(p[pid])
    urban = p["dibao.standard.urban"]
    assert (urban["value"], urban["jurisdiction"], urban["level"]) == \
        (param(evaluator, "dibao.standard.urban", "140100"), "140100", "city")
    assert urban["defined_at"].startswith("policies/shanxi/localities/140100-taiyuan.yaml:") and urban["illustrative"]
    assert p["dibao.standard.rural"]["level"] == "city" and p["dibao.grace_months"]["level"] == "province"
    assert p["dibao.low_income_ratio"]["value"] == param(evaluator, "dibao.low_income_ratio", "140100")
    assert p["dibao.low_income_ratio"]["provenance"]["article"] == "第八条"
    assert p["dibao.grace_months"]["effective_from"] == "2023-12-29"
    assert run("params", "--locality", "城区", "--date", "2024-07-01").returncode == 2


CASE = """cases:
  - name: 城市三口之家人均收入低于标准，按差额计发
    covers: 二(二)5 差额计发
    date: 2024-07-01
    locality: "140000"
    household:
      area: urban
      assets_within_limit: true
      income_stable: true
      employment_assisted: false
      members:
        - {{id: A, relation: applicant, age: 40, monthly_income: 1000, earned_income: 1000, labor_capacity: full, disability_grade: 0, disability_type: null, serious_illness: false, legally_incapacitated: false}}
        - {{id: B, relation: spouse, age: 43, monthly_income: 200, earned_income: 0, labor_capacity: partial, disability_grade: 0, disability_type: null, serious_illness: false, legally_incapacitated: false}}
        - {{id: C, relation: child, age: 12, monthly_income: 0, earned_income: 0, labor_capacity: none, disability_grade: 0, disability_type: null, serious_illness: false}}
    expect:
      dibao:
        eligible: true
        monthly_amount: {amount}
        reasons: ["家庭人均月收入400元，低于当地低保标准{standard}元"]
"""


def test_test_command_passes_and_fails_with_reasons(policy_copy, evaluator):
    # a case of the test's own (the shipped ones are `policyc test`'s to judge), expecting the province's standard
    standard = param(evaluator, "dibao.standard.urban", "140000", "2024-07-01")
    for shipped in (policy_copy / "cases").glob("*.yaml"):
        shipped.unlink()
    (policy_copy / "cases" / "dibao.yaml").write_text(
        CASE.format(amount=yuan(3 * standard - 1200), standard=yuan(standard)), encoding="utf-8")
    proc = run("test", "--policy", policy_copy)
    assert proc.returncode == 0 and proc.stdout.strip() == "1 个通过，0 个失败", proc.stdout
    set_urban_standard(policy_copy, yuan(standard + 20))
    proc = run("test", "--policy", policy_copy)
    assert proc.returncode == 1 and proc.stdout.strip().endswith("0 个通过，1 个失败")
    assert "✗ 城市三口之家人均收入低于标准，按差额计发" in proc.stdout
    assert f"dibao.monthly_amount：期望 {yuan(3 * standard - 1200)}，实际 {yuan(3 * standard + 60 - 1200)}" in proc.stdout
    assert f"dibao.reasons 中没有“家庭人均月收入400元，低于当地低保标准{yuan(standard)}元”" in proc.stdout


def test_build_check_detects_stale_output_and_failed_build_writes_nothing(tmp_path, policy_copy):
    out = tmp_path / "generated"
    proc = run("build", "--policy", policy_copy, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0 and (out / "shanxi.bundle.json").exists()
    assert (out / "schemas" / "household.schema.json").exists() and not (tmp_path / "schemas").exists()
    assert run("build", "--check", "--policy", policy_copy, "--out", out, cwd=tmp_path).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    old = set_urban_standard(policy_copy, "0")
    set_urban_standard(policy_copy, yuan(Decimal(old) + 20))  # raise the standard by 20: the output is then stale
    proc = run("build", "--check", "--policy", policy_copy, "--out", out, cwd=tmp_path)
    assert proc.returncode == 1 and "shanxi.bundle.json" in proc.stderr
    set_urban_standard(policy_copy, "[")  # a YAML syntax error
    proc = run("build", "--policy", policy_copy, "--out", out, cwd=tmp_path)
    assert proc.returncode == 1 and "未改动" in proc.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_build_writes_only_what_changed(tmp_path, policy_copy):
    out = tmp_path / "generated"
    first = run("build", "--policy", policy_copy, "--out", out, "-v", cwd=tmp_path)
    written = [line for line in first.stderr.splitlines() if line.startswith("已更新 ")]
    assert first.returncode == 0 and len(written) > 10
    handbook = next(out.rglob("handbooks/*.md"))
    handbook.write_text("edited by hand", encoding="utf-8")
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p != handbook}
    again = run("build", "--policy", policy_copy, "--out", out, "-v", cwd=tmp_path)
    assert again.returncode == 0
    assert [line for line in again.stderr.splitlines() if line.startswith("已更新 ")] == [f"已更新 {handbook}"]
    assert "1 个生成文件已更新（docs/handbooks 1）" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # without -v, one summary line
    handbook.write_text("edited by hand again", encoding="utf-8")
    quiet = run("build", "--policy", policy_copy, "--out", out, cwd=tmp_path)
    lines = quiet.stderr.strip().splitlines()  # (after the policy's own warnings, if it has any)
    assert quiet.returncode == 0 and "已更新 " not in quiet.stderr, quiet.stderr
    assert lines[-1] == f"构建完成：1 个生成文件已更新（docs/handbooks 1），{len(written) - 1} 个未变"


def test_missing_policy_directory(tmp_path):
    proc = run("check", "--policy", tmp_path / "nope")
    assert proc.returncode == 1 and "E0007" in proc.stderr


def test_build_output_is_byte_identical_across_processes(tmp_path):
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        proc = subprocess.run([sys.executable, "-m", "policyc", "build", "--out", out / "generated"],
                              cwd=ROOT, capture_output=True, text=True, env={**__import__("os").environ,
                                                                              "PYTHONHASHSEED": seed})
        # every output is under --out (the schemas too), and the evaluator source is among them
        assert proc.returncode == 0, proc.stderr
        outs.append({p.relative_to(out): p.read_bytes() for p in (out / "generated").rglob("*") if p.is_file()})
    assert outs[0] == outs[1]
