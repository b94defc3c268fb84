"""`policyc impact`: two versions (copies of policies/shanxi, the second with the province's urban 低保 standard
raised; compiled once per module) over small populations. Expected directions and values are derived from the
compiled policy and from full evaluations, never written here."""
from __future__ import annotations

import json
import re
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from policyc.cli import main
from policyc.review.impact import compare, run_impact
from policyc.review.impact_outcomes import changed_programs, outcome, program_specs
from policyc.review.population import (Household, Population, PopulationError, read_population, validate,
                                       write_jsonl)
from policyc.review.synthetic import ANCHORS, synthetic_population
from policyc.review.versions import load_version
from policyc.runtime import jsonio

SHANXI = Path(__file__).resolve().parents[1] / "policies" / "shanxi"
URBAN = ANCHORS["urban"]
N = 300


def province(bundle: dict) -> str:
    return next(j["code"] for j in bundle["jurisdictions"] if j["parent"] is None)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("base") / "shanxi"
    shutil.copytree(SHANXI, root)
    return load_version(str(root), root)


@pytest.fixture(scope="module")
def raised(tmp_path_factory, base):
    """The province's latest urban standard raised by 40 元; returns (version, the day it applies from)."""
    last = base.bundle["parameters"][URBAN]["timelines"][province(base.bundle)][-1]
    root = tmp_path_factory.mktemp("head") / "shanxi"
    shutil.copytree(SHANXI, root)
    path = root / "parameters" / "dibao.yaml"
    text, n = re.subn(rf"(from: {last['from']}\s+value: ){last['value']}\b", rf"\g<1>{last['value'] + 40}",
                      path.read_text(encoding="utf-8"), count=1)
    assert n == 1
    path.write_text(text, encoding="utf-8")
    return load_version(str(root), root), last["from"]


@pytest.fixture(scope="module")
def report(base, raised):
    head, day = raised
    return run_impact(lambda: base, lambda: head, synthetic=N, seed=7, date=day, processes=False)


def population(base, day, n=N, seed=7) -> Population:
    ev = base.evaluator()
    import datetime as dt
    d = dt.date.fromisoformat(day)
    anchors = lambda code: {a: ev.params_at(code, d)[0][p] for a, p in ANCHORS.items()}  # noqa: E731
    return synthetic_population(n, seed, jurisdictions=base.bundle["jurisdictions"], modules=[ev.module],
                                anchors=anchors, date=day)


def test_counts_and_cost_agree_with_full_evaluations(base, raised, report):
    head, day = raised
    pop = population(base, day)
    gained = lost = 0
    delta = Decimal(0)
    for h in pop.households:
        a = base.evaluator().evaluate(h.request)["programs"]["dibao"]
        b = head.evaluator().evaluate(h.request)["programs"]["dibao"]
        gained += a["eligible"] is False and b["eligible"] is True
        lost += a["eligible"] is True and b["eligible"] is False
        delta += b["monthly_amount"] - a["monthly_amount"]
    d = report["programs"]["dibao"]
    assert report["population"] == {"size": N, "seed": 7, "source": "synthetic", "date": day}
    assert (d["gained"], d["lost"], d["monthly_cost_delta"]) == (gained, lost, delta)
    assert d["gained"] > 0 and d["lost"] == 0  # raising a standard takes no one out of 低保
    assert d["eligible_head"] - d["eligible_base"] == gained - lost
    assert d["monthly_cost_head"] - d["monthly_cost_base"] == delta
    assert d["undecided_changed"] == 0  # synthetic households are complete


def test_only_urban_households_where_the_standard_changed(base, raised, report):
    head, day = raised
    import datetime as dt
    d = dt.date.fromisoformat(day)
    urban = lambda v, code: v.evaluator().params_at(code, d)[0].get(URBAN)  # noqa: E731
    codes = [j["code"] for j in base.bundle["jurisdictions"]]
    changed_places = {code for code in codes if urban(base, code) != urban(head, code)}
    rows = [r for r in report["localities"] if "dibao" in r["programs"]]
    assert rows and all(r["code"] in changed_places for r in rows)
    assert len(changed_places) < len(base.bundle["jurisdictions"])  # some places keep their own standard
    specs = program_specs(base.evaluator().module)
    for h in population(base, day).households:
        a = _outcome(specs["dibao"], base.evaluator().evaluate(h.request))
        b = _outcome(specs["dibao"], head.evaluator().evaluate(h.request))
        if a != b:
            assert h.request["household"]["area"] == "urban" and h.request["locality"] in changed_places


def test_witnesses_show_their_change(base, raised, report):
    head, _ = raised
    kinds = {(w["program"], w["kind"]) for w in report["witnesses"]}
    assert ("dibao", "gained") in kinds and ("dibao", "amount_changed") in kinds
    specs = program_specs(head.evaluator().module)
    for w in report["witnesses"]:
        a, b = (_outcome(specs[w["program"]], v.evaluator().evaluate(w["request"])) for v in (base, head))
        assert compare(a, b)[w["kind"]], w
    dibao_gained = next(w for w in report["witnesses"] if (w["program"], w["kind"]) == ("dibao", "gained"))
    assert dibao_gained["source"] == "threshold" and dibao_gained["request"]["household"]["area"] == "urban"
    assert dibao_gained["members"] == 1  # the search starts from one member


def _outcome(spec, decision):
    result = decision["programs"].get(spec.id)
    return result and outcome(spec, result, [r for r in decision["referrals"] if r["program"] == spec.id])


def test_identical_versions_change_nothing(base):
    r = run_impact(lambda: base, lambda: base, synthetic=40, seed=1, date="2024-07-01", processes=False)
    for c in r["programs"].values():
        assert not c["evaluated"] and (c["gained"], c["lost"], c["amount_changed"], c["undecided_changed"]) == (0,) * 4
        assert c["monthly_cost_delta"] in (0, None)
    assert r["witnesses"] == [] and all(row["changed"] == 0 for row in r["localities"])
    assert changed_programs(base.bundle, base.bundle) == set()


def test_changed_programs_are_those_reading_the_parameter(base, raised, report):
    changed = changed_programs(base.bundle, raised[0].bundle)
    assert "dibao" in changed and changed != {p["id"] for p in base.bundle["ir"]["programs"]}
    assert {p for p, c in report["programs"].items() if c["evaluated"]} == changed


def test_synthetic_is_reproducible_by_seed_and_complete(base):
    day = "2024-07-01"
    one, again, other = population(base, day, 60, 3), population(base, day, 60, 3), population(base, day, 60, 4)
    dump = lambda p: jsonio.dumps([h.request for h in p.households])  # noqa: E731
    assert dump(one) == dump(again) and dump(one) != dump(other)
    ev = base.evaluator()
    sizes = set()
    for h in one.households:
        decision = ev.evaluate(h.request)
        assert decision["missing_facts"] == [], h.where
        sizes.add(len(h.request["household"]["members"]))
        assert not any(isinstance(v, float) for v in _leaves(h.request))
    assert len(sizes) > 2


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_readers_give_the_same_households(base, tmp_path):
    pop = population(base, "2024-07-01", 5, 11)
    requests = [h.request for h in pop.households]
    write_jsonl(pop, tmp_path / "p.jsonl")
    with open(tmp_path / "p.csv", "w", encoding="utf-8") as f:
        f.write("locality,date,household,incident,application\n")
        for r in requests:
            cells = [r["locality"], r["date"]] + [jsonio.dumps(r[k], indent=None) if k in r else ""
                                                  for k in ("household", "incident", "application")]
            f.write(",".join('"' + c.replace('"', '""') + '"' for c in cells) + "\n")
    with open(tmp_path / "one.csv", "w", encoding="utf-8") as f:
        f.write("request\n" + "".join('"' + jsonio.dumps(r, indent=None).replace('"', '""') + '"\n' for r in requests))
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"request": [jsonio.dumps(r, indent=None) for r in requests]}), tmp_path / "p.parquet")
    for name in ("p.jsonl", "p.csv", "one.csv", "p.parquet"):
        read = read_population(tmp_path / name)
        assert [jsonio.dumps(h.request, sort_keys=True) for h in read.households] == \
            [jsonio.dumps(r, sort_keys=True) for r in requests], name
        validate(read, base.evaluator())
    assert read_population(tmp_path / "p.jsonl").households[1].where.endswith("p.jsonl:2")


def test_reader_errors_name_the_row_and_path(base, tmp_path):
    good = jsonio.dumps(population(base, "2024-07-01", 1, 1).households[0].request, indent=None)
    (tmp_path / "bad.jsonl").write_text(good + "\n{not json\n", encoding="utf-8")
    with pytest.raises(PopulationError, match=r"bad\.jsonl:2: 不是有效的 JSON"):
        read_population(tmp_path / "bad.jsonl")
    broken = json.loads(good)
    broken["household"]["members"][0]["age"] = "old"
    (tmp_path / "invalid.jsonl").write_text(good + "\n" + json.dumps(broken, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    pop = read_population(tmp_path / "invalid.jsonl")
    with pytest.raises(PopulationError, match=r"invalid\.jsonl:2: \$\.household\.members\[0\]\.age"):
        validate(pop, base.evaluator())
    (tmp_path / "bad.csv").write_text('locality,date,household\n140105,2024-07-01,"{oops"\n', encoding="utf-8")
    with pytest.raises(PopulationError, match=r"bad\.csv:2: \$\.household: 不是有效的 JSON"):
        read_population(tmp_path / "bad.csv")
    with pytest.raises(PopulationError, match="无法识别"):
        (tmp_path / "p.txt").write_text("x", encoding="utf-8")
        read_population(tmp_path / "p.txt")


def test_parquet_floats_refused_and_missing_pyarrow_named(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"locality": ["140105"], "date": ["2024-07-01"],
                             "household": [{"area": "urban", "income_12m": 1.5}]}), tmp_path / "f.parquet")
    with pytest.raises(PopulationError, match=r"f\.parquet:第 1 行: \$\.household\.income_12m: 数值为浮点数"):
        read_population(tmp_path / "f.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(PopulationError, match=r"policyc\[review\]"):
        read_population(tmp_path / "f.parquet")


def test_invalid_rows_stop_the_run_with_file_and_line(base, tmp_path):
    req = population(base, "2024-07-01", 1, 2).households[0].request
    bad = json.loads(jsonio.dumps(req))
    bad["locality"] = "不存在的县"
    pop = Population([Household("x.jsonl:1", req), Household("x.jsonl:2", bad)], "x.jsonl")
    with pytest.raises(PopulationError, match=r"x\.jsonl:2: \$\.locality"):
        run_impact(lambda: base, lambda: base, population=pop, processes=False)


def test_cli_json_in_two_processes(base, raised, tmp_path, capsys):
    head, day = raised
    files = []
    for name, v in (("base", base), ("head", head)):
        files.append(tmp_path / f"{name}.bundle.json")
        files[-1].write_text(jsonio.dumps(v.bundle, indent=None), encoding="utf-8")
    code = main(["impact", "--base", str(files[0]), "--head", str(files[1]), "--synthetic", "40", "--seed", "5",
                 "--date", day, "--format", "json", "--jobs", "2"])
    assert code == 0
    out = jsonio.loads(capsys.readouterr().out)
    assert out["population"]["size"] == 40 and out["population"]["seed"] == 5
    for c in out["programs"].values():
        assert {"gained", "lost", "amount_changed", "monthly_cost_delta", "undecided_changed"} <= c.keys()
    inproc = run_impact(lambda: base, lambda: head, synthetic=40, seed=5, date=day, processes=False)
    assert jsonio.dumps(out["programs"]) == jsonio.dumps(inproc["programs"])
    assert isinstance(out["witnesses"], list)


def test_cli_text_and_bad_usage(base, raised, tmp_path, capsys):
    head, day = raised
    path = tmp_path / "b.bundle.json"
    path.write_text(jsonio.dumps(base.bundle, indent=None), encoding="utf-8")
    assert main(["impact", "--base", str(path), "--head", str(path), "--synthetic", "5", "--jobs", "1",
                 "--date", day]) == 0
    text = capsys.readouterr().out
    assert "影响评估" in text and "规则与参数未变" in text
    pop = population(base, day, 6, 9)
    write_jsonl(pop, tmp_path / "people.jsonl")
    for jobs in ("1", "2"):
        assert main(["impact", "--base", str(path), "--head", str(path), "--population", str(tmp_path / "people.jsonl"),
                     "--jobs", jobs, "--format", "json"]) == 0
        out = jsonio.loads(capsys.readouterr().out)
        assert out["population"]["size"] == 6 and out["population"]["source"].endswith("people.jsonl")
    assert main(["impact", "--base", str(path), "--population", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["impact", "--base", str(path), "--synthetic", "0"]) == 2
    assert main(["impact", "--base", str(path), "--head", str(path), "--jobs", "1", "--locality", "不存在"]) == 2


def test_versions_that_do_not_compile_or_do_not_exist(tmp_path, capsys):
    root = tmp_path / "shanxi"
    shutil.copytree(SHANXI, root)
    rules = root / "rules" / "dibao.policy"
    text = rules.read_text(encoding="utf-8")
    assert "则 城市低保标准" in text
    rules.write_text(text.replace("则 城市低保标准", "则 城镇低保标准", 1), encoding="utf-8")
    assert main(["impact", "--base", str(root), "--head", str(root), "--synthetic", "5", "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert "E0301" in err and "dibao.policy" in err
    assert main(["impact", "--base", str(tmp_path / "nowhere"), "--policy", str(root), "--synthetic", "5"]) == 2


def test_locality_restricts_the_population_and_the_counts(base, raised):
    head, day = raised
    import datetime as dt
    d = dt.date.fromisoformat(day)
    ev_a, ev_b = base.evaluator(), head.evaluator()
    # a city whose own urban standard is in force there, so the province's change does not reach it
    city = next(j for j in base.bundle["jurisdictions"] if j["level"] == "city"
                and ev_a.params_at(j["code"], d)[0][URBAN] == ev_b.params_at(j["code"], d)[0][URBAN])
    r = run_impact(lambda: base, lambda: head, synthetic=40, seed=3, date=day, locality=city["full_name"],
                   processes=False)
    assert r["locality"] == {"code": city["code"], "name": city["full_name"]} and r["population"]["size"] == 40
    assert {row["code"] for row in r["localities"]} <= {j["code"] for j in base.bundle["jurisdictions"]
                                                        if j["parent"] == city["code"]}
    # its counties inherit the city's value or have their own: the province's change reaches none of them
    assert all(ev_a.params_at(row["code"], d)[0][URBAN] == ev_b.params_at(row["code"], d)[0][URBAN]
               for row in r["localities"])
    assert r["programs"]["dibao"]["gained"] == r["programs"]["dibao"]["amount_changed"] == 0
    assert r["programs"]["dibao"]["monthly_cost_delta"] == 0


def test_undecided_results_are_neither_gained_nor_lost():
    undecided = ((("", None),), None, ("eligible", "monthly_amount"))
    eligible = ((("", True),), Decimal(500), ())
    not_eligible = ((("", False),), Decimal(0), ())
    for a, b in ((undecided, eligible), (eligible, undecided), (not_eligible, undecided)):
        ch = compare(a, b)
        assert not ch["gained"] and not ch["lost"] and not ch["amount_changed"] and ch["delta"] == 0
        assert ch["undecided_changed"]
    ch = compare(not_eligible, eligible)
    assert ch["gained"] and not ch["amount_changed"] and ch["delta"] == 500
    swapped = ((("m1", True), ("m2", False)), Decimal(900), ()), ((("m1", False), ("m2", True)), Decimal(900), ())
    members = compare(*swapped)
    assert members["gained"] and members["lost"] and members["members_gained"] == members["members_lost"] == 1
