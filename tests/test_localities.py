"""Localities: the jurisdiction tree, overrides within what the province allows, and dated inheritance."""
import datetime as dt
from decimal import Decimal
import subprocess
import sys

import pytest

from conftest import ROOT, added, diagnose, param, yuan
from policyc.runtime import LocalityError

D = dt.date.fromisoformat


def urban(evaluator, code, day):
    values, entries, _, _ = evaluator.params_at(code, D(day))
    return values["dibao.standard.urban"], entries["dibao.standard.urban"]


def test_tree_has_every_division_with_functional_zones_flagged(bundle):
    levels = [j["level"] for j in bundle["jurisdictions"]]
    assert (levels.count("province"), levels.count("city"), levels.count("county")) == (1, 11, 121)
    zones = sorted(j["code"] for j in bundle["jurisdictions"] if j["functional_zone"])
    assert zones == ["140171", "140271", "140671", "140971"]


def test_every_locality_resolves_every_parameter_on_any_date(evaluator, bundle):
    for j in bundle["jurisdictions"]:
        for day in ("2024-01-01", "2025-06-30", "2026-01-01"):
            values, entries, _, _ = evaluator.params_at(j["code"], D(day))
            missing = [p for p in evaluator._program_params if p not in values]
            assert missing == [], (j["code"], day, missing)


@pytest.mark.parametrize("code,day,value,level,source", [
    ("140100", "2024-07-01", 820, "city", "140100"),        # 太原市 sets its own
    ("140106", "2024-07-01", 820, "city", "140100"),        # 迎泽区 inherits its city
    ("140105", "2023-06-30", None, "province", "140000"),   # 小店区 before its own value: the province
    ("140105", "2023-07-01", 800, "county", "140105"),      # 小店区's own value from its date
    ("140105", "2024-07-01", 800, "county", "140105"),      # the city's later raise does not override it
    ("140105", "2025-01-01", 820, "city", "140100"),        # `inherit`: follows the city again
    ("140302", "2024-07-01", 790, "county", "140302"),      # 阳泉市城区 under a city without overrides
    ("140502", "2024-07-01", None, "province", "140000"),   # 晋城市城区: same name, the province's value
])
def test_nearest_level_wins_date_by_date(evaluator, code, day, value, level, source):
    v, entry = urban(evaluator, code, day)
    if value is None:  # the province's own value, read from the policy
        value = urban(evaluator, "140000", day)[0]
    assert (v, entry["level"], entry["jurisdiction"]) == (value, level, source)


def test_short_full_and_ambiguous_names(evaluator):
    assert evaluator.resolve_locality("太原")["code"] == "140100"
    assert evaluator.resolve_locality("小店")["code"] == "140105"
    assert evaluator.resolve_locality("太原市小店区")["code"] == "140105"
    assert evaluator.resolve_locality("古交")["code"] == "140181"
    with pytest.raises(LocalityError) as err:
        evaluator.resolve_locality("城区")
    assert "阳泉市城区（140302）" in str(err.value) and "晋城市城区（140502）" in str(err.value)
    with pytest.raises(LocalityError) as err:
        evaluator.resolve_locality("太源")
    assert "太原" in str(err.value)


def write(policy, name, text):
    (policy / "localities" / name).write_text(text, encoding="utf-8")
    return diagnose(policy)


def test_override_mistakes_are_reported_at_their_line(policy_copy):
    diags = write(policy_copy, "x.yaml", "locality: 晋中市\noverrides:\n"
                  "  dibao.low_income_ratio:\n    - {from: 2024-01-01, value: 2, illustrative: true}\n"
                  "  dibao.standard.urbn:\n    - {from: 2024-01-01, value: 800, illustrative: true}\n"
                  "  dibao.standard.rural:\n    - {from: 2024-01-01, value: 650, unit: 元/年, illustrative: true}\n"
                  "  dibao.amount_method:\n    - {from: 2024-01-01, value: monthly, illustrative: true}\n")
    by_code = {d.code: d for d in diags}
    assert sorted(by_code) == ["E0204", "E0901", "E0902", "E0903"]
    assert by_code["E0902"].span.line == 3 and "市" in by_code["E0902"].message
    assert by_code["E0901"].span.line == 5 and "dibao.standard.urban" in by_code["E0901"].hint
    assert by_code["E0903"].span.line == 8


def test_override_files_for_unknown_ambiguous_duplicate_and_province(policy_copy):
    assert [d.code for d in write(policy_copy, "a.yaml", "locality: 城区\noverrides: {}\n")] == ["E0803"]
    (policy_copy / "localities" / "a.yaml").unlink()
    assert [d.code for d in write(policy_copy, "b.yaml", "locality: 山西省\noverrides: {}\n")] == ["E0905"]
    (policy_copy / "localities" / "b.yaml").unlink()
    assert [d.code for d in write(policy_copy, "c.yaml", "locality: 140100\noverrides: {}\n")] == ["E0904"]


def test_a_county_value_that_breaks_a_floor_is_reported_at_the_county(policy_copy, evaluator, baseline):
    # a standard whose 1.3 times is above the 特困 standard 榆次区 inherits
    value = int(param(evaluator, "tekun.basic_living.urban", "140702", "2024-03-01") / Decimal("1.3")) + 10
    diags = added(write(policy_copy, "x.yaml", "locality: 140702\noverrides:\n"
                        f"  dibao.standard.urban:\n    - {{from: 2024-03-01, value: {value}, illustrative: true}}\n"),
                  baseline)
    assert [d.code for d in diags] == ["W0401"]
    d = diags[0]
    assert d.span.file.endswith("localities/x.yaml") and d.span.line == 4
    assert "2024-03-01" in d.message and f"= {yuan(Decimal('1.3') * value)}（" in d.message


def test_a_city_raise_is_checked_at_the_city_against_what_it_inherits(policy_copy):
    # 太原 raising 低保 to 820 from 2023-09-01 needs a 特困 standard of 1066, but inherits the province's 940 until 2024
    edit_taiyuan = policy_copy / "localities" / "140100-taiyuan.yaml"
    text = edit_taiyuan.read_text(encoding="utf-8").replace(
        "  dibao.standard.urban:\n    - from: 2024-01-01\n      value: 820\n",
        "  dibao.standard.urban:\n    - from: 2023-09-01\n      value: 820\n")
    edit_taiyuan.write_text(text, encoding="utf-8")
    diags = diagnose(policy_copy)
    assert {(d.code, d.span.file.split("/")[-1]) for d in diags} >= {("W0401", "140100-taiyuan.yaml")}


def test_localities_command_prints_the_tree_with_overrides():
    proc = subprocess.run([sys.executable, "-m", "policyc", "localities"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0
    out = proc.stdout
    assert "140105 太原市小店区  自定 3 项" in out and "2025-01-01 起沿用上级" in out
    assert "140171 太原市山西转型综合改革示范区（功能区）" in out
    assert out.strip().endswith("共 133 个地区，5 个有自定参数")


def test_override_outside_the_allowed_range(policy_copy):
    diags = write(policy_copy, "x.yaml", "locality: 晋中市\noverrides:\n"
                  "  dibao.employment_cost.rate:\n    - {from: 2024-01-01, value: 120, illustrative: true}\n")
    assert [d.code for d in diags] == ["E0205"] and "[0, 100]" in diags[0].message and diags[0].span.line == 4
