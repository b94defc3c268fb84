"""告知书 (docs/notice.md): only the programs applied for, the notice block and flags, 待补充材料 in Chinese, the
rights of objection with periods read from the parameters, no English in what a recipient reads, and a PDF."""
import copy
import html as htmllib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, param, yuan
from policyc.emit import notice as notices
from policyc.emit.documents import notice
from policyc.runtime import InputError

EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
REVIEW_BODY = "晋中市榆次区人民政府"


def load(name: str) -> dict:
    return json.loads((ROOT / "examples" / f"{name}.json").read_text(encoding="utf-8"))


def render(evaluator, bundle, req: dict, fmt: str = "md", info: dict | None = None) -> str:
    return notice(evaluator.evaluate(req), bundle, fmt, request=req, info=info)


def programs_asked(req: dict, programs: list[str]) -> dict:
    req = copy.deepcopy(req)
    req.setdefault("application", {"disputed": False, "notice_objections": False})["programs"] = programs
    return req


def sections(md: str) -> list[str]:
    return re.findall(r"^### (.+)$", md, re.M)


def names(bundle) -> dict:
    return {p["id"]: p["name"] for p in bundle["ir"]["programs"]}


# ── which programs ─────────────────────────────────────────────────────────────────────────────────────────
def test_the_programs_one_applies_for_are_the_program_ids(bundle):
    codes, labels = notices.selection_field(bundle["ir"])
    programs = names(bundle)
    assert set(codes) <= set(programs) and all(labels[c] == programs[c] for c in codes)
    # the others are the accompanying ones, which one does not apply for
    assert notices.accompanying(bundle) == [p for p in programs if p not in codes] and notices.accompanying(bundle)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_a_notice_for_every_example(evaluator, bundle, path):
    req = json.loads(path.read_text(encoding="utf-8"))
    decision = evaluator.evaluate(req)
    md = notice(decision, bundle, "md", request=req)
    page = notice(decision, bundle, "html", request=req)
    for text in (md, page):
        assert "社会救助评估告知书" in text and "承办机关" in text and "（未填写）" in text
        assert "$." not in text and "sha256" not in text and "None" not in text
        assert "行政复议" in text and "行政诉讼" in text
    assert "<h1>社会救助评估告知书</h1>" in page and "<code>shanxi</code>" in page
    assert "`shanxi`" in md and re.search(r"(?<!`)shanxi", md.replace("`shanxi`", "")) is None
    shown = sections(md)
    for pid, name in names(bundle).items():  # a program is shown iff it has a result to tell (or accompanies them)
        if pid in notices.accompanying(bundle) or not decision["programs"][pid] or pid == "special":
            continue
        prog = notices._Program(next(p for p in bundle["ir"]["programs"] if p["id"] == pid),
                                {d["id"]: d for d in bundle["ir"]["definitions"]}, bundle["ir"])
        assert (name in shown) == notices.has_result(decision, prog), name


def test_default_lists_the_programs_with_a_result_and_names_the_others(evaluator, bundle):
    md = render(evaluator, bundle, load("household"))
    progs = names(bundle)
    shown = sections(md)
    assert progs["dibao"] in shown and progs["tekun"] not in shown and progs["temporary"] not in shown
    assert "特困供养资格" not in md  # members not assessed as 特困 are not listed as 否
    assert "未作临时救助评估" not in md and "incident" not in md
    omitted = re.search(r"本告知书未列出：(.+?)。", md).group(1)
    assert progs["tekun"] in omitted and progs["temporary"] in omitted and progs["dibao"] not in omitted


def test_application_programs_are_honoured(evaluator, bundle):
    base = load("household")
    progs = names(bundle)
    md = render(evaluator, bundle, programs_asked(base, ["tekun"]))
    shown = sections(md)
    assert progs["tekun"] in shown and progs["dibao"] not in shown and "月低保金" not in md
    assert "本告知书未列出" not in md and f"- 申请事项：{progs['tekun']}" in md
    # every member was assessed for 特困供养 and refused: shown with 否 and the reasons, so they can object
    for mid in ("户主（申请人）", "配偶", "子女"):
        assert re.search(rf"^- {mid}：特困供养资格 否$", md, re.M), mid
    assert "特困类别 无" not in md and "特困月供养金 0元" not in md  # what follows from 否 is not repeated
    # the procedure beside them shows only what belongs to 特困 (its deadlines), not the 低保 ones
    assert "特困乡镇初审" in md and "低保办理期限" not in md
    md = render(evaluator, bundle, programs_asked(base, ["dibao", "temporary"]))
    shown = sections(md)
    assert progs["dibao"] in shown and progs["temporary"] in shown and progs["tekun"] not in shown
    assert "- 是否给予临时救助：否" in md and "请求中没有临时救助事项" in md
    assert "先行救助金额" not in md  # a refused program shows its answer, not zeros


def test_per_member_program_requested_shows_only_assessed_members(evaluator, bundle):
    md = render(evaluator, bundle, programs_asked(load("household"), ["emergency"]))
    assert names(bundle)["emergency"] in sections(md)
    assert "应急期临时生活补贴" not in md  # no member was assessed for the emergency subsidy: none shown as 0 or 否
    assert "- 是否处于应急期：否" in md


def test_application_programs_and_the_notice_block_change_no_decision(evaluator):
    base = load("household")
    plain = evaluator.evaluate(base)
    block = {"issuer": "太原市小店区民政局", "doc_number": "小民救〔2024〕1号", "issued": "2024-07-05",
             "review_body": "太原市小店区人民政府"}
    assert evaluator.evaluate(dict(base, notice=block)) == plain  # not a fact: the very same decision
    assert evaluator.evaluate(dict(base, notice=None)) == plain
    asked = evaluator.evaluate(dict(programs_asked(base, ["dibao", "tekun"]), notice=block))
    noted = [r for r in asked["programs"]["procedure"]["reasons"] if r["rule"] == notices.APPLIED_RULE]
    assert len(noted) == 1  # the only difference: the procedure notes that the application named its programs
    asked["programs"]["procedure"]["reasons"].remove(noted[0])
    assert asked == plain


def test_a_malformed_notice_block_is_an_input_error(evaluator):
    req = dict(load("household"), notice={"issuer": "", "issued": "2024-13-01", "seal": "x"})
    with pytest.raises(InputError) as err:
        evaluator.evaluate(req)
    paths = [p for p, _ in err.value.problems]
    assert paths == ["$.notice.issuer", "$.notice.issued", "$.notice.seal"]
    with pytest.raises(InputError):
        evaluator.evaluate(dict(load("household"), notice="太原市小店区民政局"))
    bad = programs_asked(load("household"), ["dibao", "housing"])
    with pytest.raises(InputError) as err:
        evaluator.evaluate(bad)
    assert err.value.problems[0][0] == "$.application.programs[1]"


def test_the_request_schema_describes_the_notice_block_and_the_programs(bundle):
    from policyc.compiler import compile_policy
    from policyc.diagnostics import Reporter
    from policyc.emit.schemas import request_schema
    from conftest import POLICY
    schema = request_schema(compile_policy(POLICY, Reporter()).module, "shanxi")
    block = schema["properties"]["notice"]
    assert set(block["properties"]) == {"issuer", "doc_number", "issued", "review_body"}
    assert block["additionalProperties"] is False and "notice" not in schema["required"]
    programs = schema["$defs"]["application"]["properties"]["programs"]["anyOf"][0]
    assert programs["items"]["enum"] == notices.selection_field(bundle["ir"])[0]


# ── who issues it ───────────────────────────────────────────────────────────────────────────────────────────
def test_notice_block_fills_the_header_and_the_review_body(evaluator, bundle):
    req = dict(load("household"), notice={"issuer": "晋中市榆次区民政局", "doc_number": "榆民救〔2024〕15号",
                                          "issued": "2024-07-05", "review_body": REVIEW_BODY})
    info = notices.info_from(req)
    md = render(evaluator, bundle, req, info=info)
    assert "文号：榆民救〔2024〕15号" in md and "- 承办机关：晋中市榆次区民政局" in md and "- 告知日期：2024年7月5日" in md
    assert f"向{REVIEW_BODY}申请行政复议" in md and "（未填写）" not in md
    assert "承办机关（印章）：晋中市榆次区民政局　　日期：2024年7月5日" in md
    flags = notices.info_from(req, issuer="晋中市民政局", issued="2024-08-01", doc_number=None)
    md = render(evaluator, bundle, req, info=flags)
    assert "- 承办机关：晋中市民政局" in md and "- 告知日期：2024年8月1日" in md and "榆民救〔2024〕15号" in md


def test_what_is_not_given_is_said_to_be_unfilled(evaluator, bundle):
    md = render(evaluator, bundle, load("tekun"))
    assert "文号：（未填写）" in md and "- 承办机关：（未填写）" in md and "- 告知日期：（未填写）" in md
    assert "复议机关（未填写，请向承办机关询问）" in md and "- 申请人：（未填写）" in md
    assert "老人（与申请人关系未填写）" in md
    md = render(evaluator, bundle, load("household"))
    assert "- 申请人：户主" in md and "- 家庭成员：户主（申请人）、配偶、子女\n" in md  # 配偶 is the 配偶


def test_values_from_the_request_are_escaped(evaluator, bundle):
    payload = "<b>局</b>|*x* [l](javascript:y)"
    req = dict(load("tekun"), notice={"issuer": payload})
    md = render(evaluator, bundle, req, info=notices.info_from(req))
    assert "<b>" not in md and "&lt;b&gt;局&lt;/b&gt;\\|\\*x\\* \\[l\\](javascript:y)" in md
    page = render(evaluator, bundle, req, "html", info=notices.info_from(req))
    assert "<b>局" not in page and "&lt;b&gt;局&lt;/b&gt;|*x* [l](javascript:y)" in page
    # the runtime refuses a bidi override in the block; a caller that passes one anyway gets it made visible
    with pytest.raises(InputError):
        evaluator.evaluate(dict(req, notice={"issuer": "局\u202e"}))
    for fmt in ("md", "html"):
        shown = render(evaluator, bundle, load("tekun"), fmt, info={"issuer": "局\u202e甲\n乙"})
        assert "\u202e" not in shown and "局\ufffd甲 乙" in shown


# ── results ─────────────────────────────────────────────────────────────────────────────────────────────────
def test_undecided_results_ask_for_the_facts_in_chinese(evaluator, bundle):
    req = load("undecided")
    decision = evaluator.evaluate(req)
    md = notice(decision, bundle, "md", request=req)
    page = notice(decision, bundle, "html", request=req)
    facts = [f["name"] for f in decision["missing_facts"]]
    assert facts and "## 需要补充的材料" in md and "<h2>需要补充的材料</h2>" in page
    for name in facts:
        assert f"- {name}\n" in md and f"<li>{name}</li>" in page
    assert "特困月供养金 **待补充**" in md and "待补充材料：" in md
    assert not any(f["path"] in md or f["path"] in page for f in decision["missing_facts"])


def test_results_carry_their_units(evaluator, bundle):
    md = render(evaluator, bundle, load("household"))
    assert re.search(r"^- 月低保金：\d+元/月$", md, re.M) and re.search(r"^- 低保复核周期：\d+个月$", md, re.M)
    assert re.search(r"^- 低保办理期限：\d+个工作日$", md, re.M) and re.search(r"^- 低保公示期：\d+天$", md, re.M)
    assert not re.search(r"^- [^：\n]+：\d+$", md, re.M)  # no bare number


def test_each_standard_once_and_the_two_dibao_standards_named_apart(evaluator, bundle):
    req = programs_asked(load("temporary"), ["dibao", "temporary"])  # a rural household
    md = render(evaluator, bundle, req)
    rural, urban = (yuan(param(evaluator, f"dibao.standard.{a}")) for a in ("rural", "urban"))
    assert rural != urban
    assert f"当地农村低保标准为每人每月{rural}元" in md and f"当地城市低保标准{urban}元的" in md
    assert f"当地低保标准{urban}元" not in md  # the 临时救助 cap no longer calls the urban standard 当地低保标准
    figures = re.findall(r"^- ([^：\n]+)：", md.split("## 所用标准")[1].split("##")[0], re.M)
    assert len(figures) == len(set(figures)) and "农村低保标准" in figures and "城市低保标准" in figures
    assert f"- 农村低保标准：{rural}元/月" in md and f"- 城市低保标准：{urban}元/月" in md


def test_illustrative_values_are_marked(evaluator, bundle):
    decision = evaluator.evaluate(load("household"))
    md = notice(decision, bundle, "md", request=load("household"))
    assert "**注意**：本告知书的部分数额依据示例值计算" in md
    used = {t["name"] for t in decision["trace"] if t["illustrative"]}
    listed = re.search(r"仅用于演示规则：(.+?)。", md).group(1).split("、")
    assert set(listed) <= used and "城市低保标准" in listed


def test_no_funeral_waiver_for_a_living_family(evaluator, bundle):
    req = load("household")
    assert "殡葬" not in render(evaluator, bundle, req)
    req["household"]["member_died_on"] = "2024-06-20"
    assert "- 基本殡葬服务费用减免（依据" in render(evaluator, bundle, req)


def test_objection_periods_are_read_from_the_parameters(evaluator, bundle):
    days = yuan(param(evaluator, notices.REVIEW_DAYS))
    months = yuan(param(evaluator, notices.LITIGATION_MONTHS))
    for name in ("household", "tekun", "temporary", "undecided"):
        req = load(name)
        md = render(evaluator, bundle, req)
        assert f"之日起{days}日内，向复议机关（未填写，请向承办机关询问）申请行政复议" in md
        assert f"之日起{months}个月内，直接向人民法院提起行政诉讼" in md
        assert "审核确认办法 第三十八条" in md and "第二十条" in md and "第四十六条" in md
    entry = bundle["parameters"][notices.REVIEW_DAYS]
    assert entry["citation"].startswith("行政复议法") and all(not v["illustrative"] for v in entry["timelines"]["140000"])
    # the periods are stated once, in their own section, not again among the procedure's reasons
    assert md.count("提起行政诉讼（依据《") == 1 and md.count("直接向人民法院提起行政诉讼") == 1


def test_programs_flag_still_gives_who_decides_and_the_rights(evaluator, bundle):
    decision = evaluator.evaluate(load("tekun"), programs=["tekun"] + notices.accompanying(bundle))
    md = notice(decision, bundle, "md", request=load("tekun"))
    days = yuan(param(evaluator, notices.REVIEW_DAYS))
    assert f"{days}日内" in md and names(bundle)["procedure"] in sections(md)


# ── the command ─────────────────────────────────────────────────────────────────────────────────────────────
def policyc(*args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "policyc", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env)


def test_eval_notice_flags_and_usage_errors(bundle_file, tmp_path):
    req = tmp_path / "req.json"
    req.write_text(json.dumps(dict(load("tekun"), notice={"issuer": "晋中市榆次区民政局", "doc_number": "榆民救1号"}),
                              ensure_ascii=False), encoding="utf-8")
    proc = policyc("eval", "--bundle", str(bundle_file), "--notice", "--issuer", "晋中市民政局", "--issued",
                   "2024-07-05", "--review-body", REVIEW_BODY, str(req))
    assert proc.returncode == 0, proc.stderr
    assert "- 承办机关：晋中市民政局" in proc.stdout and "文号：榆民救1号" in proc.stdout
    assert "- 告知日期：2024年7月5日" in proc.stdout and f"向{REVIEW_BODY}申请行政复议" in proc.stdout
    for args, words in ((["--html"], "--html 只能与 --notice 一起使用"), (["--pdf", "x.pdf"], "--pdf 只能与 --notice"),
                        (["--issuer", "某局"], "--issuer 只能与 --notice"),
                        (["--notice", "--html", "--pdf", "x.pdf"], "不能同时使用"),
                        (["--notice", "--issued", "2024-99-01"], "--issued：应为日期")):
        proc = policyc("eval", "--bundle", str(bundle_file), *args, str(req))
        assert proc.returncode == 2 and words in proc.stderr, (args, proc.stderr)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(load("tekun"), notice={"issued": "明天"}), ensure_ascii=False), encoding="utf-8")
    proc = policyc("eval", "--bundle", str(bundle_file), "--notice", str(bad))
    assert proc.returncode == 2 and "$.notice.issued" in proc.stderr


def test_pdf_needs_chromium_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(notices, "chromium", lambda: None)
    with pytest.raises(notices.PdfError, match="未找到 Chromium"):
        notices.pdf("<html></html>", tmp_path / "n.pdf")
    assert not list(tmp_path.iterdir())


# ── in a real browser ───────────────────────────────────────────────────────────────────────────────────────
CHROMIUM = notices.chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")

# What a recipient reads: document.body.innerText (rendered text: no <style>, <title> or hidden element) after
# removing <code> and <pre>, where identifiers are allowed. The rule: no ASCII letter at all — no field name,
# program id, enum code, bundle id or hash. Digits and punctuation are fine (dates, amounts, 140105, 0.2.0). The
# example requests use Chinese member ids, so the allowlist is empty.
PROBE = """<script>
for (const c of document.querySelectorAll("code, pre")) c.remove();
const text = document.body.innerText;
document.body.textContent = "";
const out = document.createElement("pre");
out.id = "visible-text";
out.textContent = text;
document.body.appendChild(out);
</script>"""
ASCII_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
ALLOWED: set[str] = set()


def visible_text(page: str, folder: Path) -> str:
    probe = folder / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="policyc-chromium-")
    try:
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r'<pre id="visible-text">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    return htmllib.unescape(found.group(1))


@needs_chromium
def test_html_notices_show_no_english_to_the_recipient(evaluator, bundle, tmp_path):
    for path in EXAMPLES:
        req = json.loads(path.read_text(encoding="utf-8"))
        for info in ({}, {"issuer": "晋中市榆次区民政局", "review_body": REVIEW_BODY}):
            page = notice(evaluator.evaluate(req), bundle, "html", request=req, info=info)
            text = visible_text(page, tmp_path)
            assert "社会救助评估告知书" in text and "如不服本决定" in text, path.name
            words = set(ASCII_WORD.findall(text)) - ALLOWED
            assert not words, (path.name, sorted(words))
            assert "shanxi" in page  # the bundle id is there, in <code>


@needs_chromium
def test_pdf_notice(tmp_path):
    out = tmp_path / "告知书.pdf"
    proc = policyc("eval", "--notice", "--pdf", str(out), "--issuer", "晋中市榆次区民政局",
                   str(ROOT / "examples" / "undecided.json"))
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["告知书.pdf"]  # the temporary file was renamed, nothing left
