"""Documents generated from the same sources as the evaluator: handbooks, parameter pages, the site, notices."""
import json
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import POLICY, ROOT, member, param, request, yuan
from policyc.compiler import compile_policy
from policyc.diagnostics import Reporter
from policyc.emit.documents import notice, site_files

DOCS = ROOT / "generated" / "docs"


def build(policy) -> dict:
    return {str(p.relative_to(Path("out"))): b.decode("utf-8")
            for p, b in site_files(compile_policy(policy, Reporter()), Path("out")).items()}


def test_a_handbook_for_every_locality_and_a_page_for_every_parameter(bundle):
    codes = [j["code"] for j in bundle["jurisdictions"]]
    for code in codes:
        assert (DOCS / "handbooks" / f"{code}.md").exists() and (DOCS / "handbooks" / f"{code}.html").exists()
    for pid in bundle["parameters"]:
        assert (DOCS / "params" / f"{pid}.html").exists()
    index = (DOCS / "index.html").read_text(encoding="utf-8")
    assert index.count('href="handbooks/') == len(codes)


@pytest.fixture(scope="module")
def site() -> dict:
    """The site the current code renders from the shipped policy (generated/docs/ is its committed copy)."""
    return build(POLICY)


def test_handbook_states_local_values_with_dates_sources_and_inheritance(site):
    xiaodian = site["handbooks/140105.md"]
    assert "2023年7月1日起执行：每月800元（本地设定；示例值，无正式来源）" in xiaodian
    assert "2025年1月1日起执行：每月820元（沿用太原市；示例值，无正式来源）" in xiaodian
    yingze = site["handbooks/140106.md"]
    assert "2024年1月1日起执行：每月820元（沿用太原市" in yingze and "本地未单独设定参数" in yingze
    province = site["handbooks/140000.md"]
    assert "《关于改革完善社会救助制度的实施意见》 二(二)6" in province  # a sourced value names its document
    assert "#### 二(六)20 建立完善主动发现机制" in province and "[条文对照](../articles.md)" in province
    # the rule text is the same everywhere: on the program's page, which every handbook links to
    assert "12345" not in province and "12345" in site["articles.md"]
    assert "本条规则：[最低生活保障](../rules/dibao.md)" in xiaodian and "家庭月收入低于" not in xiaodian
    assert "家庭月收入低于家庭低保标准合计" in site["rules/dibao.md"] and "每月800元" not in site["rules/dibao.md"]


def test_handbook_follows_the_structure_of_the_source_document(site):
    for page in ("handbooks/140000.md", "articles.md"):
        heads = [line for line in site[page].splitlines() if line.startswith("## ") or line.startswith("### ")]
        assert heads[:3] == ["## 一、总体目标", "## 二、重点任务", "### (一)健全社会救助体系"]
        others = heads.index("## 其他依据文件")  # then the other documents the values and rules cite
        assert "### (六)深化“放管服”改革" in heads and heads[others - 1] == "## 三、保障措施"
        assert heads[others + 1].startswith("### 《")


def test_changing_a_rule_changes_the_text(policy_copy):
    before = build(policy_copy)["rules/dibao.md"]
    assert "家庭人口高于0，且家庭月收入低于家庭低保标准合计" in before
    rules = policy_copy / "rules" / "dibao.policy"
    rules.write_text(rules.read_text(encoding="utf-8").replace(
        "家庭人口 高于 0 且 家庭月收入 低于 家庭低保标准合计\n",
        "家庭人口 高于 0 且 家庭月收入 不高于 家庭低保标准合计\n", 1), encoding="utf-8")
    after = build(policy_copy)["rules/dibao.md"]
    assert "家庭人口高于0，且家庭月收入不高于家庭低保标准合计" in after and before != after


def test_rules_keep_their_grouping_in_the_text(site):
    text = "".join(page for name, page in site.items() if name.startswith("rules/") and name.endswith(".md"))
    # 城市 且 (有低保对象 或 …): without the brackets it would read as (城市 且 有低保对象) 或 …
    assert "申请家庭的城乡为城市，且（有低保对象，或有分散供养特困人员" in text
    assert "（评估日期的月份不低于11，或评估日期的月份不高于3），且申请家庭的成员中有人低收入人口" in text
    assert "或（残疾类别为智力残疾，或残疾类别为精神残疾），且残疾等级不低于3" in text


def test_coverage_tells_partly_encoded_from_partly_computable():
    from policyc.check.coverage import coverage, render
    rows = {r.citation: r for r in coverage(compile_policy(POLICY, Reporter()))}
    assert all(r.status != "unaccounted" and r.reason for r in rows.values())
    for r in rows.values():  # `status: partly` is 部分编码 when rules cite the article, else 部分可计算
        if r.status == "partly":
            assert (r.rules or r.parameters) and "编码了" in r.reason and "未编码" in r.reason, r.citation
        if r.status == "partly_computable":
            assert not (r.rules or r.parameters) and "可计算的是" in r.reason, r.citation
    for cited in ("二(二)5", "二(二)6", "二(二)7", "二(四)16"):  # cited by rules, yet only partly encoded
        assert rows[cited].status == "partly" and rows[cited].rules
    for article in ("二(一)2", "二(一)3", "二(一)4", "二(五)17", "二(六)20", "二(六)21"):  # partly computable
        assert rows[article].status in ("partly", "partly_computable")
    assert "单人户" in rows["二(二)5"].reason and "其他社会救助对象的定期核查" in rows["二(二)7"].reason
    table = render(list(rows.values()))
    assert "| 二(二)5 | 完善最低生活保障制度 | 部分编码 |" in table and "部分可计算" in table


def test_tables_are_rendered_as_tables(site):
    text = site["rules/tekun.md"]
    assert "| 当照料护理档次认定" not in text  # rows are conditions, not code
    assert "| 并非符合特困供养条件 | 无 |" in text


def test_policy_text_cannot_inject_markup(policy_copy):
    params = policy_copy / "parameters" / "dibao.yaml"
    params.write_text(params.read_text(encoding="utf-8").replace(
        "description: 城市居民最低生活保障标准，按每人每月计。",
        "description: \"<script>alert('x')</script> *强调* [链接](http://x)\""), encoding="utf-8")
    files = build(policy_copy)
    html, md = files["params/dibao.standard.urban.html"], files["params/dibao.standard.urban.md"]
    assert "<script>alert" not in html  # the ASCII words of a description are shown as code (<code>alert</code>)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html.replace("<code>", "").replace("</code>", "")
    assert "<script>" not in md and "&lt;script&gt;" in md and "\\*强调\\*" in md and "\\[链接\\]" in md


def test_notice_in_markdown_and_html(evaluator, bundle):
    req = request([member("A", 1000), member("B", 200, 0, age=43, capacity="partial", grade=3, dtype="physical")])
    decision = evaluator.evaluate(req)
    md = notice(decision, bundle, "md")
    # the request gives no application: 民主评议 is undecided, shown as 待补充 with the facts to supply, never 否
    assert "- 民主评议：**待补充**" in md and "待补充材料" in md and "申请办理情况" in md and "$." not in md
    assert "教育资助（A）：待补充 申请家庭·成员 A·就学阶段" in md
    assert "# 社会救助评估告知书" in md and "评估日期：2024年7月1日" in md
    std = param(evaluator, "dibao.standard.urban")
    assert f"- 月低保金：{yuan(std * 2 - 1200)}元/月" in md and f"家庭人均月收入600元，低于当地低保标准{yuan(std)}元" in md
    subsidy = yuan(param(evaluator, "disability.living_subsidy"))
    assert "下次核查日期" in md and "行政复议" in md and f"困难残疾人生活补贴（B）：{subsidy}元/月" in md
    html = notice(decision, bundle, "html")
    assert "<h1>社会救助评估告知书</h1>" in html and f"{yuan(std * 2 - 1200)}元/月" in html


def test_eval_notice_command(evaluator):
    req = json.dumps(request([member("A", 300)]))
    proc = subprocess.run([sys.executable, "-m", "policyc", "eval", "--notice", "-"], input=req, capture_output=True,
                          text=True, cwd=ROOT)
    amount = yuan(param(evaluator, "dibao.standard.urban") - 300)
    assert proc.returncode == 0 and "社会救助评估告知书" in proc.stdout and f"月低保金：{amount}元" in proc.stdout


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _dump_dom(url: str, screenshot: Path | None = None) -> str:
    profile = tempfile.mkdtemp(prefix="policyc-chromium-")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"]
    try:
        if screenshot is not None:
            subprocess.run([_chromium(), *flags, f"--screenshot={screenshot}", "--window-size=1200,1800", url],
                           capture_output=True, timeout=120)
        proc = subprocess.run([_chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        return proc.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(_chromium() is None, reason="Debian chromium is not installed (.ci/run installs it)")
def test_site_renders_in_a_real_browser(evaluator, bundle, tmp_path):
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    index = _dump_dom((DOCS / "index.html").as_uri())
    assert "太原市" in index and "小店区" in index and "城市低保标准" in index
    county = _dump_dom((DOCS / "handbooks" / "140105.html").as_uri(), artifacts / "handbook-140105.png")
    own = yuan(param(evaluator, "dibao.standard.urban", "140105", "2024-07-01"))  # 小店区's own standard
    assert "太原市小店区社会救助政策手册" in county and f"每月{own}元" in county and "本地设定" in county
    assert (artifacts / "handbook-140105.png").stat().st_size > 10_000
    page = tmp_path / "notice.html"
    decision = evaluator.evaluate(request([member("A", 1000), member("B", 200, 0)]))
    page.write_text(notice(decision, bundle, "html"), encoding="utf-8")
    shown = _dump_dom(page.as_uri())
    amount = yuan(param(evaluator, "dibao.standard.urban") * 2 - 1200)
    assert "社会救助评估告知书" in shown and "月低保金" in shown and f"{amount}元" in shown


def test_parameter_page_shows_history_everywhere_and_the_floor_over_time(evaluator, site):
    text = site["params/tekun.basic_living.urban.md"]
    floors = [yuan(Decimal("1.3") * param(evaluator, "dibao.standard.urban", "140000", day))
              for day in ("2023-01-01", "2024-01-01")]
    # the floor in Chinese, with its unit and how it is computed (tests/test_pages.py reads every floor)
    assert "下限：原则上不低于城市低保标准的1.3倍（依据 二(二)6）" in text
    assert f"全省下限：2023年1月1日起为每月{floors[0]}元（城市低保标准（每月" in text
    assert f"2024年1月1日起为每月{floors[1]}元" in text
    taiyuan = yuan(param(evaluator, "tekun.basic_living.urban", "140100", "2024-01-01"))
    xiaodian = yuan(param(evaluator, "tekun.basic_living.urban", "140105", "2023-07-01"))
    assert "### 太原市\n" in text and f"| 2024年1月1日起 | 每月{taiyuan}元 | 示例值，无正式来源 | 本地设定 |" in text
    assert "### 太原市小店区" in text and f"| 2023年7月1日起 | 每月{xiaodian}元 | 示例值，无正式来源 | 本地设定 |" in text
