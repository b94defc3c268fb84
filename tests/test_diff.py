"""`policyc diff`, semantic versions and the 变更说明: versions built from changes to copies of policies/shanxi
(compiled once per module) and from a temporary git repository; expected values are read from the compiled
policy, never written here."""
from __future__ import annotations

import copy
import datetime as dt
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from policyc.cli import main
from policyc.emit.chinese import date_text
from policyc.review import semver
from policyc.review.diff import diff_versions
from policyc.review.diff_contract import diff_schema
from policyc.review.versions import Version, load_version
from policyc.runtime import Evaluator, jsonio
from policyc.runtime.bundle import content_hash

SHANXI = Path(__file__).resolve().parents[1] / "policies" / "shanxi"
URBAN = "dibao.standard.urban"
RULE_OLD = "则 较小值(劳动收入 × 就业成本扣减比例, 就业成本扣减上限)"
RULE_NEW = "则 劳动收入 × 就业成本扣减比例"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} no longer contains {old!r}: update the fixture"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def set_value(path: Path, day: str, old, new) -> None:
    text = path.read_text(encoding="utf-8")
    changed, n = re.subn(rf"(from: {day}\s+value: ){old}\b", rf"\g<1>{new}", text, count=1)
    assert n == 1, f"no value {old} from {day} in {path}"
    path.write_text(changed, encoding="utf-8")


def province(bundle: dict) -> dict:
    return next(j for j in bundle["jurisdictions"] if j["parent"] is None)


def own(bundle: dict, pid: str, code: str) -> list[dict]:
    return bundle["parameters"][pid]["timelines"][code]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("base") / "shanxi"
    shutil.copytree(SHANXI, root)
    return root


@pytest.fixture(scope="module")
def base(base_dir) -> Version:
    return load_version(str(base_dir), base_dir)


def variant(tmp_path_factory, base_dir: Path, name: str, change) -> tuple[Path, Version]:
    root = tmp_path_factory.mktemp(name) / "shanxi"
    shutil.copytree(base_dir, root)
    change(root)
    return root, load_version(str(root), root)


@pytest.fixture(scope="module")
def decisions(tmp_path_factory, base_dir, base):
    """The province's urban standard raised, 太原市 given a new dated value, a rule's formula changed."""
    prov = province(base.bundle)["code"]
    last = own(base.bundle, URBAN, prov)[-1]
    city = next(j for j in base.bundle["jurisdictions"] if j["name"] == "太原市")
    city_last = own(base.bundle, URBAN, city["code"])[-1]
    new_day = f"{int(city_last['from'][:4]) + 2}-01-01"
    facts = {"province": prov, "day": last["from"], "old": last["value"], "new": last["value"] + 20,
             "city": city, "city_day": new_day, "city_old": city_last["value"], "city_new": city_last["value"] + 30}

    def change(root: Path) -> None:
        set_value(root / "parameters" / "dibao.yaml", facts["day"], facts["old"], facts["new"])
        edit(root / "localities" / "140100-taiyuan.yaml",
             f"      value: {city_last['value']}\n      unit: 元/月\n      illustrative: true\n",
             f"      value: {city_last['value']}\n      unit: 元/月\n      illustrative: true\n"
             f"    - from: {new_day}\n      value: {facts['city_new']}\n      illustrative: true\n")
        edit(root / "rules" / "dibao.policy", RULE_OLD, RULE_NEW)

    root, head = variant(tmp_path_factory, base_dir, "decisions", change)
    return root, head, facts


@pytest.fixture(scope="module")
def texts(tmp_path_factory, base_dir):
    """Only a parameter's description and a rule's citations."""
    def change(root: Path) -> None:
        edit(root / "parameters" / "dibao.yaml", "description: 城市居民最低生活保障标准", "description: 城镇居民最低生活保障标准")
        edit(root / "rules" / "dibao.policy", '否则 农村低保标准\n  依据 "二(二)5"', '否则 农村低保标准\n  依据 "二(二)5", "二(二)7"')
    return variant(tmp_path_factory, base_dir, "texts", change)


@pytest.fixture(scope="module")
def contract(tmp_path_factory, base_dir):
    """An input renamed (its id) and an optional input added."""
    def change(root: Path) -> None:
        edit(root / "rules" / "household.policy", "住房不安全 (unsafe_housing): 是否",
             "住房不安全 (housing_unsafe): 是否\n  有机动车 (owns_vehicle): 是否")
    return variant(tmp_path_factory, base_dir, "contract", change)


# ── parameters ─────────────────────────────────────────────────────────────────────────
def test_changed_value_is_a_sentence_by_article(base, decisions):
    _, head, f = decisions
    d = diff_versions(base, head)
    p = base.bundle["parameters"][URBAN]
    change = next(c for c in d.parameters if c.id == URBAN and c.jurisdiction == f["province"])
    assert (change.kind, change.start, change.old, change.new) == ("changed", f["day"], f["old"], f["new"])
    mark = "示例值；" if own(base.bundle, URBAN, f["province"])[-1]["illustrative"] else ""
    assert change.text == (f"自{date_text(f['day'])}起，{province(base.bundle)['full_name']}{p['name']}由每月{f['old']}元"
                           f"调整为{f['new']}元（{mark}{p['citation']}）")
    j = d.to_json()
    entry = next(x for x in j["parameters"] if x["jurisdiction"] == f["province"])
    assert {k: entry[k] for k in ("id", "jurisdiction", "from", "old", "new")} == {
        "id": URBAN, "jurisdiction": f["province"], "from": f["day"], "old": f["old"], "new": f["new"]}


def test_new_dated_value_says_what_it_replaces(base, decisions):
    _, head, f = decisions
    d = diff_versions(base, head)
    change = next(c for c in d.parameters if c.jurisdiction == f["city"]["code"])
    assert (change.kind, change.start, change.old, change.new) == ("added", f["city_day"], f["city_old"], f["city_new"])
    assert change.text.startswith(f"自{date_text(f['city_day'])}起，{f['city']['full_name']}城市低保标准由每月"
                                  f"{f['city_old']}元调整为{f['city_new']}元（示例值；")


def test_decision_changes_need_a_minor_version(base, decisions):
    _, head, f = decisions
    d = diff_versions(base, head)
    v = d.to_json()["version"]
    assert (v["required_bump"], v["ok"], v["suggested"]) == ("minor", False, semver.next_version(base.version, "minor"))
    assert "城市低保标准" in v["reason"]
    assert d.contract == []


def test_rule_shown_before_and_after_in_chinese(base, decisions):
    _, head, _ = decisions
    d = diff_versions(base, head)
    rule = next(r for r in d.rules if r.id == "dibao.member.employment_deduction")
    assert (rule.kind, rule.level, rule.aspects) == ("changed", "minor", ["expr"])
    assert "较小者" in rule.before[0] and "较小者" not in rule.after[0]
    assert rule.before[0].startswith("定义“就业成本扣减”") and "就业成本扣减上限" in rule.before[0]
    assert [r.id for r in d.rules] == ["dibao.member.employment_deduction"]
    program = next(x["program"] for x in base.bundle["ir"]["definitions"] if x["id"] == rule.id)
    assert f"rules/{program}" in {p["page"] for p in d.handbooks.pages}  # rule text: on its program's page only
    assert d.handbooks.stamp is None


# ── texts, citations: patch ──────────────────────────────────────────────────────────────
def test_text_and_citation_changes_need_only_a_patch(base, texts):
    _, head = texts
    d = diff_versions(base, head)
    assert d.required_bump == "patch"
    assert [c.kind for c in d.parameters] == ["metadata"] and d.parameters[0].fields == ["description"]
    rule = next(r for r in d.rules if r.id == "dibao.standard")
    assert (rule.aspects, rule.level) == (["citations"], "patch")
    assert any(c.area == "coverage" and c.key == "二(二)7" for c in d.coverage)


# ── the contract ─────────────────────────────────────────────────────────────────────────
def test_renamed_input_breaks_the_contract(base, contract):
    _, head = contract
    d = diff_versions(base, head)
    by_path = {(c.path, c.change): c for c in d.contract}
    assert by_path[("household.unsafe_housing", "removed")].breaking
    assert not by_path[("household.housing_unsafe", "added")].breaking
    assert not by_path[("household.owns_vehicle", "added")].breaking
    assert d.required_bump == "major"
    assert d.to_json()["version"]["suggested"] == semver.next_version(base.version, "major")


def _field(schema: dict, *path: str) -> dict:
    node = schema
    for key in path:
        node = node[key]
    return node


def test_schema_rules_for_requests_and_decisions(base):
    req, dec = base.bundle["schemas"]["request"], base.bundle["schemas"]["decision"]
    # a new optional and a new required request field
    new = copy.deepcopy(req)
    new["properties"]["extra"] = {"type": "boolean", "title": "额外"}
    assert [(c.change, c.breaking) for c in diff_schema("request", req, new)] == [("added", False)]
    new["required"] = new["required"] + ["extra"]
    assert [(c.change, c.breaking) for c in diff_schema("request", req, new)] == [("added", True)]
    # enum members of an input: added compatible, removed breaking
    area = _field(req, "$defs", "household", "properties", "area")
    members = area["anyOf"][0]["enum"] if "anyOf" in area else area["enum"]
    for extra, breaking in ((members + ["z"], False), (members[1:], True)):
        new = copy.deepcopy(req)
        node = _field(new, "$defs", "household", "properties", "area")
        (node["anyOf"][0] if "anyOf" in node else node)["enum"] = extra
        assert [(c.path, c.change, c.breaking) for c in diff_schema("request", req, new)] == [
            ("household.area", "enum", breaking)]
    # enum members of an output: added breaking (strict consumers), removed compatible
    tier = _field(dec, "properties", "programs", "properties", "tekun", "properties", "members",
                  "additionalProperties", "properties", "care_tier")
    for extra, breaking in ((tier["anyOf"][0]["enum"] + ["z"], True), (tier["anyOf"][0]["enum"][1:], False)):
        new = copy.deepcopy(dec)
        _field(new, "properties", "programs", "properties", "tekun", "properties", "members",
               "additionalProperties", "properties", "care_tier")["anyOf"][0]["enum"] = extra
        assert [(c.path, c.change, c.breaking) for c in diff_schema("decision", dec, new)] == [
            ("programs.tekun.members.*.care_tier", "enum", breaking)]
    # a type change breaks; a new output field does not; a title alone is text
    new = copy.deepcopy(dec)
    new["properties"]["date"] = {"type": "integer"}
    new["properties"]["extra"] = {"type": "string"}
    new["properties"]["locality"]["title"] = "地区"
    got = {(c.path, c.change): (c.breaking, c.level) for c in diff_schema("decision", dec, new)}
    assert got[("date", "type")] == (True, "major")
    assert got[("extra", "added")] == (False, "minor")
    assert got[("locality", "text")] == (False, "patch")


# ── versions and the command ──────────────────────────────────────────────────────────────
def test_semver():
    assert semver.bump("0.1.0", "0.2.0") == "minor" and semver.bump("0.1.0", "1.0.0") == "major"
    assert semver.bump("0.1.0", "0.1.1") == "patch" and semver.bump("0.1.0", "0.1.0") == "none"
    assert semver.bump("0.2.0", "0.1.9") == "lower"
    assert semver.check("0.1.0", "0.1.1", "minor") == (False, "patch")
    assert semver.check("0.1.0", "0.2.0", "minor") == (True, "minor")
    assert semver.check("1.0.0", "0.9.0", "none") == (False, "lower")
    assert semver.required(["patch", "major", "minor"]) == "major" and semver.required([]) == "none"
    with pytest.raises(semver.BadVersion):
        semver.parse("1.0")


def write_bundle(path: Path, bundle: dict, version: str | None = None) -> str:
    bundle = copy.deepcopy(bundle)
    if version:
        bundle["manifest"]["version"] = version
    bundle["manifest"]["sha256"] = content_hash(bundle)
    path.write_text(jsonio.dumps(bundle), encoding="utf-8")
    return str(path)


def test_check_version_exit_codes(tmp_path, base, decisions, capsys):
    _, head, _ = decisions
    old = write_bundle(tmp_path / "base.json", base.bundle)
    for version, code in ((semver.next_version(base.version, "patch"), 1), (base.version, 1),
                          (semver.next_version(base.version, "minor"), 0),
                          (semver.next_version(base.version, "major"), 0)):
        new = write_bundle(tmp_path / f"head-{version}.json", head.bundle, version)
        assert main(["diff", "--check-version", old, new]) == code, version
        out, err = capsys.readouterr()
        assert "城市低保标准" in out
        if code:
            assert "次版本号（minor）" in err and "城市低保标准" in err
    assert main(["diff", old, write_bundle(tmp_path / "same.json", head.bundle)]) == 0  # no --check-version
    capsys.readouterr()
    assert main(["diff", old, str(tmp_path / "nothing-here")]) == 2
    assert "nothing-here" in capsys.readouterr().err


def test_formats(tmp_path, base, decisions, capsys):
    _, head, f = decisions
    old = write_bundle(tmp_path / "base.json", base.bundle)
    new = write_bundle(tmp_path / "head.json", head.bundle)
    assert main(["diff", "--format", "json", old, new]) == 0
    data = jsonio.loads(capsys.readouterr().out)
    assert set(data["version"]) >= {"base", "head", "required_bump", "ok"}
    assert {"parameters", "rules", "contract"} <= set(data)
    assert main(["diff", "--format", "md", old, new]) == 0
    md = capsys.readouterr().out
    citation = base.bundle["parameters"][URBAN]["citation"]
    assert f"### {citation} {base.bundle['articles'][citation]}" in md
    assert "原：" in md and "新：" in md
    assert main(["diff", "--format", "github", "--check-version", old, new]) == 1
    gh = capsys.readouterr().out
    assert gh.startswith("::error title=版本号::") and "### " in gh


def test_same_version_has_no_changes(base):
    d = diff_versions(base, Version("again", copy.deepcopy(base.bundle)))
    assert d.empty and d.version_check()["ok"] and d.required_bump == "none"


def test_handbooks_that_change_are_where_values_in_force_change(base):
    """Edited in the bundle (no compile): the province's standard; the handbooks listed are exactly the places
    where the value in force on that date changes, as the runtime resolves it."""
    head = copy.deepcopy(base.bundle)
    prov = province(head)["code"]
    entry = own(head, URBAN, prov)[-1]
    entry["value"] = entry["value"] + 1
    head["manifest"]["sha256"] = content_hash(head)
    d = diff_versions(base, Version("edited", head))
    day = dt.date.fromisoformat(entry["from"])
    before, after = Evaluator(base.bundle), Evaluator(head)
    expected = {code for code in before.jurisdictions
                if before.params_at(code, day)[0].get(URBAN) != after.params_at(code, day)[0].get(URBAN)}
    listed = {loc["code"] for loc in d.handbooks.localities}
    assert not d.handbooks.all and expected <= listed and prov in listed
    assert len(listed) < len(base.bundle["jurisdictions"])  # places with their own value are not listed
    assert Decimal(str(d.parameters[0].new)) - Decimal(str(d.parameters[0].old)) == 1


def test_provenance_end_and_localities_by_bundle_edits(base):
    """Edited in the bundle: a source recorded for a 示例值 (patch), a value ended (minor), a county removed
    (major: requests naming it are refused)."""
    prov = province(base.bundle)["code"]
    head = copy.deepcopy(base.bundle)
    entry = own(head, URBAN, prov)[-1]
    entry.update(illustrative=False, source={"document": "某文件", "article": "第一条"})
    d = diff_versions(base, Version("source", head))
    (c,) = d.parameters
    assert (c.kind, c.level, d.required_bump) == ("provenance", "patch", "patch")
    assert c.provenance["new"]["source"] == {"document": "某文件", "article": "第一条"}
    assert "来源由示例值（无正式来源）改为《某文件》第一条" in c.text

    head = copy.deepcopy(base.bundle)
    last = own(head, URBAN, prov)[-1]
    end_day = f"{int(last['from'][:4]) + 5}-01-01"
    own(head, URBAN, prov).append(dict(last, **{"from": end_day, "value": None, "end": True}))
    d = diff_versions(base, Version("ended", head))
    (c,) = d.parameters
    assert (c.kind, c.start, c.old, c.new, d.required_bump) == ("ended", end_day, last["value"], None, "minor")
    assert c.text.startswith(f"自{date_text(end_day)}起，{province(base.bundle)['full_name']}城市低保标准停止适用")

    head = copy.deepcopy(base.bundle)
    county = next(j for j in head["jurisdictions"] if j["level"] == "county"
                  and not any(j["code"] in p["timelines"] for p in head["parameters"].values()))
    head["jurisdictions"].remove(county)
    d = diff_versions(base, Version("fewer", head))
    assert [(c.area, c.key, c.kind, c.level) for c in d.other] == [("jurisdiction", county["code"], "removed", "major")]


def test_broken_version_reports_diagnostics(tmp_path, base_dir, base, capsys):
    root = tmp_path / "shanxi"
    shutil.copytree(base_dir, root)
    last = own(base.bundle, URBAN, province(base.bundle)["code"])[-1]
    set_value(root / "parameters" / "dibao.yaml", last["from"], last["value"], "七百")
    assert main(["diff", str(base_dir), str(root)]) == 1
    err = capsys.readouterr().err
    assert "E0204" in err and "dibao.yaml" in err and "无法编译" in err


# ── git revisions and the 变更说明 ───────────────────────────────────────────────────────────
def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory, base_dir, base):
    """Two released versions (tags shanxi-v<base> and v<next minor>) and an unreleased change in the work tree."""
    top = tmp_path_factory.mktemp("repo")
    policy = top / "policies" / "shanxi"
    shutil.copytree(base_dir, policy)
    git(top, "init", "-q")
    git(top, "add", ".")
    git(top, "commit", "-qm", "first")
    git(top, "tag", f"shanxi-v{base.version}")
    prov = province(base.bundle)["code"]
    last = own(base.bundle, URBAN, prov)[-1]
    released = semver.next_version(base.version, "minor")
    set_value(policy / "parameters" / "dibao.yaml", last["from"], last["value"], last["value"] + 20)
    edit(policy / "policy.yaml", f"version: {base.version}", f"version: {released}")
    git(top, "commit", "-qam", "raise")
    git(top, "tag", f"v{released}")
    set_value(policy / "parameters" / "dibao.yaml", last["from"], last["value"] + 20, last["value"] + 40)
    return policy, released, last


def test_diff_between_git_revisions(repo, capsys):
    policy, released, last = repo
    assert main(["diff", "--policy", str(policy), "--check-version", "HEAD~1", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert f"由每月{last['value']}元调整为{last['value'] + 20}元" in out
    # the work tree changed the value again without a new version: a minor bump is asked for
    assert main(["diff", "--policy", str(policy), "--check-version", "HEAD"]) == 1
    captured = capsys.readouterr()
    assert f"由每月{last['value'] + 20}元调整为{last['value'] + 40}元" in captured.out
    assert "次版本号（minor）" in captured.err
    assert main(["diff", "--policy", str(policy), "no-such-revision"]) == 2


def test_changelog_from_released_versions(repo, tmp_path, base, capsys):
    policy, released, last = repo
    out = tmp_path / "CHANGELOG.md"
    assert main(["changelog", "--policy", str(policy), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# 变更说明")
    assert f"## {released}（" in text and f"## {base.version}（" in text and "首个发布版本" in text
    assert text.index(f"## {released}") < text.index(f"## {base.version}")
    assert f"由每月{last['value']}元调整为{last['value'] + 20}元" in text
    assert "未发布" not in text
    assert main(["changelog", "--policy", str(policy), "--out", str(out), "--check"]) == 0
    assert main(["changelog", "--policy", str(policy), "--unreleased"]) == 0
    unreleased = capsys.readouterr().out
    assert "未发布" in unreleased and f"调整为{last['value'] + 40}元" in unreleased
    out.write_text("# 旧的\n", encoding="utf-8")
    assert main(["changelog", "--policy", str(policy), "--out", str(out), "--check"]) == 1


# ── which generated pages change, checked against real builds ─────────────────────────────
def build(root: Path, out: Path) -> Version:
    assert main(["build", "--policy", str(root), "--out", str(out)]) == 0
    (bundle,) = out.glob("*.bundle.json")
    return load_version(str(bundle), root)


def pages_rewritten(old: Path, new: Path) -> set[str]:
    """The pages (generated/docs/ paths without .md/.html/.js) whose bytes differ between two builds."""
    def files(out: Path) -> dict[str, bytes]:
        return {f.relative_to(out / "docs").as_posix(): f.read_bytes() for f in (out / "docs").rglob("*") if f.is_file()}
    a, b = files(old), files(new)
    return {name.rsplit(".", 1)[0] for name in set(a) | set(b) if a.get(name) != b.get(name)}


def reported(d) -> set[str]:
    return {f"handbooks/{loc['code']}" for loc in d.handbooks.localities} | {p["page"] for p in d.handbooks.pages}


@pytest.fixture(scope="module")
def built_base(tmp_path_factory, base_dir) -> tuple[Path, Version]:
    out = tmp_path_factory.mktemp("built-base")
    return out, build(base_dir, out)


def rebuilt(tmp_path_factory, base_dir: Path, built_base, name: str, change):
    """A variant built like the base: its diff, and the pages a rebuild rewrites."""
    root = tmp_path_factory.mktemp(name) / "shanxi"
    shutil.copytree(base_dir, root)
    change(root)
    out = tmp_path_factory.mktemp(f"built-{name}")
    head = build(root, out)
    return diff_versions(built_base[1], head), pages_rewritten(built_base[0], out)


def test_rule_text_rewrites_its_rule_pages_not_the_handbooks(tmp_path_factory, base_dir, built_base):
    d, rewritten = rebuilt(tmp_path_factory, base_dir, built_base, "rule-text",
                           lambda root: edit(root / "rules" / "dibao.policy", RULE_OLD, RULE_NEW))
    assert d.rules and rewritten
    assert reported(d) == rewritten
    assert not d.handbooks.all and d.handbooks.localities == [] and d.handbooks.stamp is None
    program = next(x["program"] for x in built_base[1].bundle["ir"]["definitions"] if x["id"] == d.rules[0].id)
    assert f"rules/{program}" in rewritten


def test_county_override_rewrites_its_handbook_and_the_parameter_page(tmp_path_factory, base_dir, built_base):
    bundle = built_base[1].bundle
    level = {j["code"]: j["level"] for j in bundle["jurisdictions"]}
    code, entry = next((code, e) for code, entries in bundle["parameters"][URBAN]["timelines"].items()
                       if level[code] == "county" for e in entries if not e.get("inherit") and not e.get("end"))

    def change(root: Path) -> None:  # lower the county's own value by 1 (no floor of another value rises)
        (path,) = (root / "localities").glob(f"{code}-*.yaml")
        text = path.read_text(encoding="utf-8")
        at = text.index(f"{URBAN}:")
        new, n = re.subn(rf"(value: ){entry['value']}\b", rf"\g<1>{entry['value'] - 1}", text[at:], count=1)
        assert n == 1
        path.write_text(text[:at] + new, encoding="utf-8")

    d, rewritten = rebuilt(tmp_path_factory, base_dir, built_base, "county", change)
    assert f"handbooks/{code}" in rewritten and f"params/{URBAN}" in rewritten
    assert reported(d) == rewritten
    assert [loc["parameters"] for loc in d.handbooks.localities if loc["code"] == code] == [[URBAN]]
    assert not d.handbooks.all


def test_version_bump_rewrites_only_the_index(base):
    head = copy.deepcopy(base.bundle)
    head["manifest"]["version"] = semver.next_version(base.version, "patch")
    d = diff_versions(base, Version("bumped", head))
    assert not d.handbooks.all and d.handbooks.stamp is None and d.handbooks.localities == []
    assert d.handbooks.pages == [{"page": "index", "change": "changed"}]


def test_new_title_rewrites_every_page(base):
    head = copy.deepcopy(base.bundle)
    head["manifest"]["title"] = base.bundle["manifest"]["title"] + "（修订）"
    d = diff_versions(base, Version("retitled", head))
    assert d.handbooks.all and "修订" in d.handbooks.stamp


def test_renumbered_element_variables_are_not_a_change(base):
    """The checker numbers the element variables of 合计/任一/… across the module, so a rule added above renumbers
    every later one; the diff compares rules up to that renaming — but not when two variables are swapped."""
    head = copy.deepcopy(base.bundle)
    binders = {"count", "filter", "any", "all", "sum", "map", "elem"}
    renamed = []

    def shift(node):
        if isinstance(node, dict):
            if node.get("op") in binders and re.fullmatch(r"e\d+", str(node.get("value"))):
                node["value"] = "e" + str(int(node["value"][1:]) + 100)
                renamed.append(node["value"])
            for v in node.values():
                shift(v)
        elif isinstance(node, list):
            for v in node:
                shift(v)

    shift(head["ir"]["definitions"])
    assert renamed
    assert diff_versions(base, Version("renumbered", head)).rules == []
    # a definition whose body uses one bound variable where it used another is a real change
    nested = next(d for d in head["ir"]["definitions"]
                  if len({m for m in re.findall(r"'value': '(e\d+)'", str(d["expr"]))}) >= 2)
    vars_ = sorted(set(re.findall(r"'value': '(e\d+)'", str(nested["expr"]))))
    swap = {vars_[0]: vars_[1], vars_[1]: vars_[0]}

    def swap_uses(node):
        if isinstance(node, dict):
            if node.get("op") == "elem" and node.get("value") in swap:
                node["value"] = swap[node["value"]]
            for v in node.values():
                swap_uses(v)
        elif isinstance(node, list):
            for v in node:
                swap_uses(v)

    swap_uses(nested["expr"])
    assert [c.id for c in diff_versions(base, Version("swapped", head)).rules] == [nested["id"]]
