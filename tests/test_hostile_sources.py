"""Hostile policy sources (issue 10). Policy sources are untrusted: any pull request can change them and CI compiles
them. Every kind of string a source can hold gets payloads aimed at the generated evaluator (Python), the Jinja
templates, the HTML and Markdown documents and the terminal. Each is either refused by the compiler with its
diagnostic code at its line (exit 1, no traceback), or compiled, evaluated and rendered without running anything,
and shown only as text: escaped in Markdown and HTML, never evaluated by Jinja.
"""
import builtins
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import POLICY, ROOT, member, request
from policyc.compiler import compile_policy
from policyc.diagnostics import PolicyError, Reporter, render_github, render_text
from policyc.emit.bundle import build_bundle
from policyc.emit.documents import _md_escape, notice, site_files
from policyc.names import is_unsafe
from policyc.runtime import Evaluator, jsonio
from policyc.testing import run_cases

sys.path.insert(0, str(ROOT / "tools"))
import corpus  # noqa: E402  (applies an edit to a copy of the shipped policy set, as the broken corpus does)

# ── payloads ─────────────────────────────────────────────────────────────────────────────────────────────────
CODE = "\"); __import__('os').system('touch PWNED') #"
ENV = "'''); __import__('os').environ.__setitem__('POLICYC_PWNED','1') #"
JINJA = "{{7*7}}{% if 1 %}JINJA{% endif %}"
SCRIPT = "<script>alert(1)</script>"
CLOSE = "</script><!--"
TABLE = "| x | y |"
LINK = "[l](javascript:alert(1))"
ATTR = "\" onmouseover=\"alert(4)"
MARKS = "`c` *b* _i_ ~s~ \\"
PIECES = [CODE, ENV, JINJA, SCRIPT, CLOSE, TABLE, LINK, ATTR, MARKS]
P = " ".join(PIECES)  # one free text with all of them
P2 = " ".join([CODE, JINJA, SCRIPT, TABLE, LINK])  # for texts of at most 200 characters (case and event names)
TITLE = "</title><script>alert(1)</script>{{7*7}}"
# a citation (an article's number) cannot hold spaces: the first word would be read as a source's short name
CITE = "二(二)5<script>alert(1)</script>\"onmouseover=\"x\"|[l](javascript:y)`{{7*7}}`"
PLACE = "小店</td><script>alert(5)</script>{{7*7}}|区"  # a county's name (jurisdictions/counties.csv)


def dsl(text: str, braces: bool = True) -> str:
    """text as a quoted string of the rule language (a reason template when braces: {{ and }} are literal braces)."""
    if braces:
        text = text.replace("{", "{{").replace("}", "}}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def yq(text: str) -> str:
    """text as a double-quoted YAML scalar."""
    return json.dumps(text, ensure_ascii=False)


def diagnose(policy: Path) -> list:
    reporter = Reporter()
    try:
        compile_policy(policy, reporter)
    except PolicyError:
        pass
    return reporter.items


# ── 1. names and texts the compiler refuses ─────────────────────────────────────────────────────────────────
R = "rules/dibao.policy"
PD = "parameters/dibao.yaml"
HOUSEHOLD_SIZE = "定义 家庭人口 (household_size)"
REASON = '不成立时 "家庭财产状况不符合当地规定"'
REFUSED = [
    # rule language: names and identifiers
    ("dsl-name-dunder", dict(file=R, find=HOUSEHOLD_SIZE, replace="定义 __import__ (household_size)",
                             at="定义 __import__"), "E0317"),
    ("dsl-name-keyword", dict(file=R, find=HOUSEHOLD_SIZE, replace="定义 lambda (household_size)",
                              at="定义 lambda"), "E0317"),
    ("dsl-name-too-long", dict(file=R, find=HOUSEHOLD_SIZE, replace=f"定义 {'长' * 65} (household_size)",
                               at="定义 长长"), "E0317"),
    ("dsl-ident-keyword", dict(file=R, find=HOUSEHOLD_SIZE, replace="定义 家庭人口 (import)", at="(import)"),
     "E0317"),
    ("dsl-ident-breakout", dict(file=R, find=HOUSEHOLD_SIZE,
                                replace=f"定义 家庭人口 (household_size{CODE})", at="定义 家庭人口 (household_size"),
     "E0107"),  # the payload's quote opens a text that does not end on its line
    ("dsl-ident-upper", dict(file=R, find=HOUSEHOLD_SIZE, replace="定义 家庭人口 (HouseholdSize)",
                             at="HouseholdSize"), "E0304"),
    ("dsl-output-keyword-segment", dict(file=R, find="(recheck.interval_months)", replace="(recheck.class)",
                                        at="(recheck.class)"), "E0317"),
    ("dsl-field-dunder", dict(file="rules/household.policy", find="月低保金 (monthly_amount): 元/月",
                              replace="月低保金 (__class__): 元/月", at="(__class__)"), "E0317"),
    ("dsl-enum-code", dict(file="rules/household.policy", find="  urban 城市,", replace="  Urban 城市,",
                           at="Urban 城市"), "E0304"),
    # rule language: texts
    ("dsl-escape-newline", dict(file=R, find=REASON, replace='不成立时 "财产不符\\n' + CODE.replace('"', '\\"') + '"',
                                at="不成立时 \"财产不符"), "E0105"),
    ("dsl-escape-nul-citation", dict(file=R, find='规则 财产状况符合规定 (assets_ok) 依据 "审核确认办法 第十四条"',
                                     replace='规则 财产状况符合规定 (assets_ok) 依据 "审核确认办法 第十四条\\u0000"',
                                     at="规则 财产状况符合规定"), "E0105"),
    ("dsl-raw-tab", dict(file=R, find=REASON, replace='不成立时 "家庭财产\t状况不符合当地规定"', at="不成立时 \"家庭财产"),
     "E0009"),
    ("dsl-raw-bidi-chinese-quotes", dict(file=R, find=REASON, replace="不成立时 “家庭财产\u202e定规地当合符不况状”",
                                         at="不成立时 “家庭财产"), "E0009"),
    ("dsl-comment-bidi", dict(file=R, find="# ── 以家庭为单位的条件",
                              replace="# \u2067\u202e 以家庭为单位的条件", at="以家庭为单位的条件"), "E0009"),
    ("dsl-zero-width", dict(file=R, find=REASON, replace='不成立时 "家庭财产\u200b状况不符合当地规定"', at="不成立时 \"家庭财产"),
     "E0009"),
    ("dsl-text-too-long", dict(file=R, find=REASON, replace=f'不成立时 "{"长" * 501}"', at="不成立时 \"长长"), "E0016"),
    # parameters
    ("param-id-breakout", dict(file=PD, find="  dibao.standard.rural:", replace=f"  {yq('dibao.standard.rural' + CODE)}:",
                               at="dibao.standard.rural"), "E0304"),
    ("param-id-keyword", dict(file=PD, find="  dibao.standard.rural:", replace="  dibao.standard.class:",
                              at="dibao.standard.class"), "E0317"),
    ("param-id-dunder", dict(file=PD, find="  dibao.standard.rural:", replace="  dibao.__class__:",
                             at="dibao.__class__"), "E0304"),
    ("param-id-newline", dict(file=PD, find="  dibao.standard.rural:", replace='  "dibao.standard.rural\\n":',
                              at="dibao.standard.rural"), "E0009"),
    ("param-name-html", dict(file=PD, find="    name: 城市低保标准", replace=f"    name: {yq(SCRIPT)}", at="    name: \"<script"),
     "E0317"),
    ("param-name-jinja", dict(file=PD, find="    name: 城市低保标准", replace="    name: '{{7*7}}'", at="    name: '{{"),
     "E0317"),
    ("choice-code-breakout", dict(file=PD, find="      gap: 差额", replace=f"      {yq('gap' + CODE)}: 差额",
                                  at=": 差额"), "E0304"),
    ("choice-label-html", dict(file=PD, find="      gap: 差额", replace=f"      gap: {yq('差额</td>' + SCRIPT)}",
                               at="      gap:"), "E0317"),
    ("description-nul-escape", dict(file=PD, find="    description: 城市居民最低生活保障标准，按每人每月计。",
                                    replace='    description: "城市居民\\0最低生活保障标准"', at="城市居民"), "E0009"),
    ("description-bidi-escape", dict(file=PD, find="    description: 城市居民最低生活保障标准，按每人每月计。",
                                     replace='    description: "城市居民\\u202e准标障保活生低最"', at="城市居民"), "E0009"),
    ("description-block-newline", dict(file=PD, find="    description: 城市居民最低生活保障标准，按每人每月计。",
                                       replace="    description: |\n      城市居民\n      __import__('os')", at="description: |"),
     "E0009"),
    ("yaml-comment-bidi", dict(file=PD, find="# 最低生活保障参数。", replace="# 最低生活保障参数。\u202e\u2066", at="# 最低生活保障参数"),
     "E0009"),
    ("source-zero-width", dict(file="localities/140105-xiaodian.yaml", find="      note: 示例：审核确认权限下放至乡镇（街道）。",
                               replace="      note: 示例：审核确认权限\u200d下放至乡镇（街道）。", at="审核确认权限"), "E0009"),
    ("locality-unit-isolate", dict(file="localities/140105-xiaodian.yaml", find="      value: 800\n",
                                   replace='      value: 800\n      unit: "元/月\\u2066"\n', at="unit:"), "E0009"),
    ("source-url-scheme", dict(file=PD, find="        value: 720\n        illustrative: true",
                               replace="        value: 720\n        source: {document: 某文件, url: 'javascript:alert(1)'}",
                               at="javascript:"), "E0015"),
    ("text-too-long", dict(file=PD, find="    description: 城市居民最低生活保障标准，按每人每月计。",
                           replace=f"    description: {'长' * 2001}", at="    description: 长长"), "E0016"),
    # the manifest, cases, events, jurisdictions, file names
    ("policy-id-html", dict(file="policy.yaml", find="id: shanxi", replace="id: shanxi</script>", at="id: shanxi"), "E0304"),
    ("article-heading-escape", dict(file="policy.yaml", find="      一: 总体目标", replace='      一: "总体\\e[2J目标"',
                                    at="      一: \"总体"), "E0009"),
    ("article-key-newline", dict(file="policy.yaml", find="      第十四条: 家庭财产",
                                 replace='      "第十四条\\n": 家庭财产', at="第十四条"), "E0009"),
    ("case-name-newline", dict(file="cases/dibao.yaml", find="  - name: 城市三口之家人均收入低于标准，按差额计发",
                               replace=f"  - name: {yq('城市三口之家' + chr(10) + CODE)}", at="  - name: \"城市三口之家"),
     "E0009"),
    ("event-id-breakout", dict(file="events/drill-2024.yaml", find="  - id: drill-2024-xiaodian",
                               replace=f"  - id: {yq('drill' + CODE)}", at="  - id: \"drill"), "E0015"),
    ("county-name-nul", dict(file="jurisdictions/counties.csv", find='140107,"杏花岭区"', replace='140107,"杏花\x00岭区"',
                             at="140107,"), "E0009"),
    ("county-code-unicode-digits", dict(file="jurisdictions/counties.csv", find='140107,"杏花岭区"',
                                        replace='١٤٠١٠٧,"杏花岭区"', at="杏花岭区"), "E0050"),
    ("file-name-bidi", dict(create="rules/a\u202eycilop.policy", content="", at=None), "E0009"),
]


@pytest.mark.parametrize("entry,code", [(e, c) for _, e, c in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_a_hostile_name_or_text_is_refused_at_its_line(tmp_path, entry, code):
    policy = tmp_path / "shanxi"
    shutil.copytree(POLICY, policy)
    target, line = corpus.apply(dict(entry, code=code), policy)
    diags = diagnose(policy)
    found = [d for d in diags if d.code == code]
    assert found, [(d.code, d.message) for d in diags]
    assert all(d.severity == "error" for d in found)
    if line is not None:
        assert any(d.span and d.span.line == line and d.span.file.endswith(target.name) for d in found), \
            [(str(d.span), d.message) for d in found]
    # what a reviewer reads shows no control or invisible character, only its description
    for text in (render_text(diags, policy), render_github(diags)):
        assert not any(is_unsafe(ch) for ch in text.replace("\n", "")), text


def test_refused_sources_exit_with_one_and_no_traceback(tmp_path):
    """The command line on a policy set with many hostile edits at once: every one reported, exit code 1."""
    policy = tmp_path / "shanxi"
    shutil.copytree(POLICY, policy)
    done = set()
    for name, entry, code in REFUSED:
        file = entry.get("file") or entry.get("create")
        if file in done or code not in ("E0009", "E0015", "E0304", "E0317", "E0050"):
            continue  # one edit per file, so that no edit hides another
        corpus.apply(dict(entry, code=code), policy)
        done.add(file)
    for fmt in ("text", "json", "github"):
        proc = subprocess.run([sys.executable, "-m", "policyc", "check", "--policy", str(policy), "--format", fmt],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
        out = proc.stdout + proc.stderr
        assert "E0009" in out and "E0304" in out
        if fmt != "json":
            assert not any(is_unsafe(ch) for ch in out.replace("\n", ""))
    assert not (tmp_path / "PWNED").exists()


# ── 2. texts the compiler accepts: compiled, evaluated and rendered as data ─────────────────────────────────
EDITS = [
    ("policy.yaml", "title: 山西省社会救助政策规则集", f"title: {yq(TITLE)}"),
    ("policy.yaml", "    title: 关于改革完善社会救助制度的实施意见", f"    title: {yq(P)}"),  # the primary source
    ("policy.yaml", "      一: {heading: 总体目标, status: not_computable, reason: 本条只提出",
     f"      一: {{heading: {yq(P)}, status: not_computable, reason: {yq('# ' + P)}}}  # "),
    ("policy.yaml", "      二(二)6: {heading:", f"      {yq(CITE)}: {yq(P)}\n      二(二)6: {{heading:"),
    (PD, "    citation: 二(二)5\n    description: 城市居民最低生活保障标准，按每人每月计。",
     f"    citation: {yq(CITE)}\n    description: {yq('1. ' + P)}"),
    (PD, "        value: 720\n        illustrative: true", f"        value: 720\n        source: {{document: {yq(P)}}}"),
    (R, REASON, "不成立时 " + dsl("家庭财产状况不符合当地规定" + P)),
    (R, "规则 财产状况符合规定 (assets_ok) 依据 \"审核确认办法 第十四条\":",
     "规则 财产状况符合规定 (assets_ok) 依据 \"审核确认办法 第十四条\", " + dsl(CITE, braces=False) + ":"),
    (R, "输出 是否纳入低保 (eligible) = 有(保障方式认定)",
     "输出 是否纳入低保 (eligible) = 有(保障方式认定)\n\n定义 探测文字 (probe_text): 文本 = " + dsl(P, braces=False)
     + " 依据 \"二(二)5\"\n\n输出 探测 (probe): 文本 = 探测文字"),
    ("cases/dibao.yaml", "  - name: 城市三口之家人均收入低于标准，按差额计发", f"  - name: {yq('城市三口之家' + P2)}"),
    ("events/drill-2024.yaml", "    name: 演练事件：2024年榆次区示例应急期（非真实事件）", f"    name: {yq(P2)}"),
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The shipped set with every payload written into every kind of free text; compiled, built and evaluated
    with tripwires in place. Returns what each stage produced."""
    root = tmp_path_factory.mktemp("hostile")
    policy = root / "shanxi"
    shutil.copytree(POLICY, policy)
    for file, find, replace in EDITS:
        path = policy / file
        text = path.read_text(encoding="utf-8")
        assert find in text, (file, find)
        path.write_text(text.replace(find, replace, 1), encoding="utf-8")
    counties = policy / "jurisdictions" / "counties.csv"
    rows = list(csv.reader(io.StringIO(counties.read_text(encoding="utf-8"))))
    for row in rows:
        if row[0] == "140107":
            row[1] = PLACE
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    counties.write_text(buf.getvalue(), encoding="utf-8")

    out = {"policy": policy, "root": root}
    cwd = os.getcwd()
    os.chdir(root)  # the payload's `touch PWNED` would land here
    try:
        with tripwires() as tripped:
            reporter = Reporter()
            try:
                c = compile_policy(policy, reporter)
            except PolicyError:
                pytest.fail(render_text(reporter.items, policy))
            out["diagnostics"] = reporter.items
            bundle = jsonio.loads(jsonio.dumps(build_bundle(c)))
            ev = Evaluator(bundle)
            out["bundle"], out["evaluator"] = bundle, ev
            req = request([member("A", 100), member("B<script>alert(6)</script>|" + CODE, 0)], assets=False,
                          locality="140107")
            out["decision"] = ev.evaluate(req)
            out["cases"] = run_cases(ev)
            out["site"] = {str(p.relative_to(root / "out")): b.decode("utf-8")
                           for p, b in site_files(c, root / "out").items()}
            out["notice_md"] = notice(out["decision"], bundle, "md")
            out["notice_html"] = notice(out["decision"], bundle, "html")
        out["tripped"] = tripped
    finally:
        os.chdir(cwd)
    return out


class tripwires:
    """Record any attempt to run a shell command, or to import os, sys, subprocess … from code that is not a file
    of the project (the generated evaluator compiles from a string), while the block runs."""

    DANGEROUS = {"os", "sys", "subprocess", "shutil", "socket", "ctypes", "importlib", "builtins", "pty", "posix"}

    def __enter__(self):
        self.tripped: list[str] = []
        self.saved = (builtins.__import__, os.system, os.popen, subprocess.Popen)
        real_import = builtins.__import__
        tripped = self.tripped

        def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
            caller = sys._getframe(1).f_code.co_filename
            if name.split(".")[0] in tripwires.DANGEROUS and caller.startswith("<") and "frozen" not in caller:
                tripped.append(f"import {name} from {caller}")
            return real_import(name, globals, locals, fromlist, level)

        def refuse(*args, **kwargs):
            tripped.append(f"shell {args!r}")
            raise AssertionError("a payload tried to run a command")

        builtins.__import__ = guarded_import
        os.system = os.popen = subprocess.Popen = refuse
        return self.tripped

    def __exit__(self, *exc):
        builtins.__import__, os.system, os.popen, subprocess.Popen = self.saved
        return False


def test_the_tripwires_fire():
    with tripwires() as tripped:
        exec(compile("__import__('os')", "<payload>", "exec"), {})
        with pytest.raises(AssertionError):
            os.system("true")
    assert len(tripped) == 2 and os.system is not None and builtins.__import__.__name__ == "__import__"


def test_hostile_texts_compile_with_no_new_errors(hostile, baseline):
    assert [d for d in hostile["diagnostics"] if d.severity == "error"] == []
    # nothing the shipped set does not say itself (a floor its values break, say), but an unused definition
    assert {d.code for d in hostile["diagnostics"]} <= {"W0302"} | {d.code for d in baseline}


def test_evaluating_runs_no_payload(hostile):
    assert hostile["tripped"] == []
    assert not (hostile["root"] / "PWNED").exists() and not Path("PWNED").exists()
    assert "POLICYC_PWNED" not in os.environ
    dibao = hostile["decision"]["programs"]["dibao"]
    assert dibao["probe"] == P  # a text literal comes back as the same text
    assert any(("家庭财产状况不符合当地规定" + P) in r["text"] for r in dibao["reasons"])
    assert CITE in {r["citation"] for r in dibao["reasons"]} or any(CITE in r["citation"] for r in dibao["reasons"])
    assert hostile["decision"]["locality"]["name"].endswith(PLACE)


def test_generated_evaluator_source_holds_payloads_only_as_literals(hostile):
    """The payloads are in the generated Python only as string constants: no name, attribute or import of theirs."""
    import ast
    ev = hostile["evaluator"]
    for source in (ev.rules_source, ev.inputs_source):
        tree = ast.parse(source)
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} \
            | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not names & {"__import__", "system", "environ", "__setitem__", "eval", "exec", "alert", "PWNED"}
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                    for a in n.names} | {n.module.split(".")[0] for n in ast.walk(tree)
                                          if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & tripwires.DANGEROUS
        constants = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert any(CODE in c for c in constants) or source is ev.inputs_source


def test_cases_named_with_payloads_run_and_keep_their_names(hostile, evaluator):
    names = [r.name for r in hostile["cases"]]
    assert "城市三口之家" + P2 in names
    shipped = run_cases(evaluator)  # the same cases on the shipped set: whether they pass is `policyc test`'s to say
    assert len(shipped) == len(hostile["cases"])
    failures = [f for r, s in zip(hostile["cases"], shipped) for f in r.failures if f not in s.failures]
    # the one case that names the emergency expects its old name: the event's new name comes back verbatim
    assert len(failures) == 1 and failures[0].startswith("emergency.event：") and failures[0].endswith(f"实际 {P2}"), \
        failures


# ── HTML ──────────────────────────────────────────────────────────────────────────────────────────────────
TAGS = {"html", "head", "meta", "title", "link", "style", "body", "header", "a", "span", "form", "input", "ul", "li",
        "main", "footer", "script", "h1", "h2", "h3", "h4", "p", "div", "section", "table", "thead", "tbody", "tr",
        "th", "td", "b", "code", "small", "ol", "strong"}
HREF = re.compile(r"(\.\./)?(index\.html|style\.css|articles\.html|handbooks/[0-9]{6}\.html|params/[a-z][a-z0-9_.]*\.html"
                  r"|rules/[a-z][a-z0-9_]*\.html)(#a[0-9a-f]+)?")
MD_LINK = re.compile(r"\]\((\.\./)?(articles|(handbooks|params|rules)/[a-z0-9][a-z0-9_.]*)\.md\)")  # the templates' own


class Page(HTMLParser):
    """Every element, attribute and text of a page, with character references decoded."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        raise AssertionError(f"a comment was opened: {data[:80]!r}")


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


def assert_only_template_markup(page: str) -> str:
    """No element, attribute, script or link a source could have added; returns the page's decoded text."""
    p = parse(page)
    for tag, attrs in p.elements:
        assert tag in TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on") or (name, value) == ("onsubmit", "return false"), (tag, name, value)
            if name in ("href", "src", "action", "formaction"):
                assert "javascript:" not in (value or "").lower(), (tag, name, value)
        if tag == "script":
            assert set(attrs) <= {"src", "data-root"} and attrs["src"].rsplit("/", 1)[-1] in ("search-index.js",
                                                                                                "search.js"), attrs
        if tag in ("a", "link"):
            assert HREF.fullmatch(attrs["href"]), attrs
    return "".join(p.text)


def test_html_pages_show_payloads_as_text_only(hostile):
    site = hostile["site"]
    pages = {k: v for k, v in site.items() if k.endswith(".html")}
    seen = {"P": 0, "CITE": 0, "PLACE": 0, "TITLE": 0}
    for name, page in pages.items():
        text = assert_only_template_markup(page)
        seen["P"] += P in text
        seen["CITE"] += CITE in text
        seen["PLACE"] += PLACE in text
        seen["TITLE"] += TITLE in text
        assert "JINJA" not in text.replace(JINJA, "")  # {% if %} was never run
    assert seen["P"] and seen["CITE"] and seen["PLACE"] and seen["TITLE"] == len(pages)
    handbook = parse(site["handbooks/140000.html"])
    assert [a.get("id") for t, a in handbook.elements if t == "section" and a.get("id") == CITE] == [CITE]


def test_html_notice_shows_payloads_as_text_only(hostile):
    text = assert_only_template_markup(hostile["notice_html"])
    assert P in text and PLACE in text and "B<script>alert(6)</script>|" + CODE in text


def test_search_index_cannot_end_a_script_or_open_a_comment(hostile):
    js = hostile["site"]["search-index.js"]
    assert not set("<>&\u2028\u2029") & set(js)
    items = json.loads(js.removeprefix("window.POLICYC_INDEX = ").rstrip().removesuffix(";"))
    assert any(PLACE in x["t"] for x in items)
    assert all(HREF.fullmatch(x["u"]) for x in items)


# ── Markdown ───────────────────────────────────────────────────────────────────────────────────────────────
RAW = [piece for piece in PIECES + [TITLE, CITE, PLACE] if _md_escape(piece) != piece]


def assert_markdown_text_only(doc: str) -> None:
    assert "<" not in doc  # every < from a source is &lt;: no HTML, no autolink, no comment
    assert "](" not in MD_LINK.sub("", doc).replace("\\](", "")  # no link or image but the templates' own
    for piece in RAW:
        assert piece not in doc, piece
    for line in doc.splitlines():
        if line.lstrip().startswith("|") and "---" not in line:
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            assert len(cells) in (2, 3, 4), line  # a text's | is escaped: no extra cell


def test_markdown_documents_escape_every_payload(hostile):
    site = hostile["site"]
    docs = {k: v for k, v in site.items() if k.endswith(".md")}
    for doc in docs.values():
        assert_markdown_text_only(doc)
    province = site["handbooks/140000.md"]
    assert _md_escape(P) in province and _md_escape(CITE) in province
    assert "\n" + _md_escape("# " + P) + "\n" in site["articles.md"]  # a reason at the start of a line is no heading
    assert _md_escape("# " + P).startswith("\\# ")
    urban = site["params/dibao.standard.urban.md"]
    assert "\n" + _md_escape("1. " + P) + "\n" in urban and _md_escape("1. " + P).startswith("1\\. ")
    assert "| 《" + _md_escape(P) + "》 |" in urban  # a source in a table cell
    assert _md_escape(PLACE) in site["handbooks/140107.md"]


def test_markdown_notice_escapes_every_payload(hostile):
    doc = hostile["notice_md"]
    assert_markdown_text_only(doc)
    assert _md_escape(P) in doc and _md_escape(PLACE) in doc


def test_markdown_escaping_is_complete_for_any_text():
    for text, expected in [("a|b", "a\\|b"), ("# x", "\\# x"), ("1. x", "1\\. x"), ("1.5", "1.5"), ("- x", "\\- x"),
                           ("a\nb", "a b"), ("a\u2028b", "a b"), ("\u202eabc", "\ufffdabc"), ("<b>", "&lt;b&gt;"),
                           ("&lt;", "&amp;lt;"), ("[l](u)", "\\[l\\](u)"), ("`x`", "\\`x\\`"), ("*_~", "\\*\\_\\~"),
                           ("    code", "&#32;&#32;&#32;&#32;code"), ("a\\", "a\\\\"), ("{{7*7}}", "{{7\\*7}}")]:
        assert _md_escape(text) == expected, text
        assert _md_escape(_md_escape(text)) == expected  # escaped once, even when a template escapes again


def test_the_closed_alphabets_of_identifiers_and_names():
    from policyc.names import ident_problem, name_problem
    for ok in ("dibao", "a1_b", "dibao.standard.urban", "tekun.care.dispersed.full_care"):
        assert ident_problem(ok, dotted=True) is None, ok
    for bad in ("Dibao", "_x", "a-b", "a.__b", "a.1b", "a\n", "ａ", "dib\u0430o", "a..b", "a b", ""):
        assert ident_problem(bad, dotted=True) == ("E0304", None), bad
    for bad in ("class", "a.import", "x" * 65, ".".join("a" * 9)):
        assert ident_problem(bad, dotted=True)[0] == "E0317", bad
    assert ident_problem("a.b") == ("E0304", None)  # one word only where no dots are allowed
    for ok in ("城市低保标准", "标准2024", "abc_1", "㐀"):
        assert name_problem(ok) is None, ok
    for bad in ("__import__", "_x", "1元", "class", "a b", "城市\u202e", "<b>", "长" * 65, "\u4dc0", "标准\u3000", ""):
        assert name_problem(bad), bad


@pytest.mark.parametrize("ending", [b"\r", b"\r\n"], ids=["CR", "CRLF"])
def test_any_line_ending_compiles_to_the_same_bundle(tmp_path, ending):
    """A rule file saved with CR alone was one line — one comment — and its program vanished with no error
    (issue 15): every file, rules and parameters, means the same whatever its line endings."""
    policy = tmp_path / "policy"
    shutil.copytree(POLICY, policy)
    want = build_bundle(compile_policy(policy, Reporter()))
    for path in list((policy / "rules").glob("*.policy")) + list((policy / "parameters").glob("*.yaml")):
        path.write_bytes(path.read_bytes().replace(b"\n", ending))
    reporter = Reporter()
    got = build_bundle(compile_policy(policy, reporter))
    assert not reporter.sorted()
    assert [p["id"] for p in got["ir"]["programs"]] == [p["id"] for p in want["ir"]["programs"]]
    assert got["ir"] == want["ir"] and got["parameters"] == want["parameters"]


# ── 3. reading the policy directory (issue 15): links, special files, sizes, escapes, numbers ─────────────────
# Every case runs `policyc check` in a subprocess (a hang is a timeout, not a stuck test run) and must exit 1 with
# its code at its place (the file, and the line and column where the problem is written), with no traceback.
SECRET = "TOPSECRET-ba5e64-hunter2"  # the contents of a file outside the policy directory


def check_cli(policy: Path, fmt: str = "json", timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "policyc", "check", "--policy", str(policy), "--format", fmt],
                          capture_output=True, text=True, cwd=policy.parent, timeout=timeout)


def refused(proc: subprocess.CompletedProcess, code: str) -> list[dict]:
    """The diagnostics of `code` in a `check --format json` run that failed as a policy error should."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    found = [d for d in json.loads(proc.stdout) if d["code"] == code]
    assert found, out[-3000:]
    return found


def at(found: list[dict], file: str, line: int = 0, column: int = 0) -> None:
    """One of the diagnostics is at file (relative to the policy directory), line and column (0: the file)."""
    places = [(d["file"], d["line"], d["column"]) for d in found]
    assert ("shanxi/" + file, line, column) in places, places


def place(policy: Path, file: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """(line, column) of the first `needle` in a file of the policy directory, plus offset columns."""
    for number, text in enumerate((policy / file).read_text(encoding="utf-8").split("\n"), start=1):
        if needle in text:
            return number, text.index(needle) + 1 + offset
    raise AssertionError(f"{needle!r} not in {file}")


def edit(policy: Path, file: str, find: str, replace: str) -> None:
    path = policy / file
    text = path.read_text(encoding="utf-8")
    assert find in text, (file, find)
    path.write_text(text.replace(find, replace, 1), encoding="utf-8")


@pytest.fixture
def shanxi(tmp_path) -> Path:
    policy = tmp_path / "shanxi"
    shutil.copytree(POLICY, policy)
    return policy


def test_a_link_out_of_the_policy_directory_is_refused_unread(shanxi):
    """A rule file, a parameter file and the jurisdictions linked to a secrets file: each refused as a link, and the
    secret appears in no output format (a rule file was parsed and its first line quoted in the diagnostic)."""
    secret = shanxi.parent / "secrets.env"
    secret.write_text(f"{SECRET}=1\n定义 甲 (a) = \"{SECRET}\"\n", encoding="utf-8")
    (shanxi / "rules" / "x.policy").symlink_to(secret)
    (shanxi / "parameters" / "x.yaml").symlink_to(secret)
    (shanxi / "jurisdictions" / "counties.csv").unlink()
    (shanxi / "jurisdictions" / "counties.csv").symlink_to(secret)
    found = refused(check_cli(shanxi), "E0020")
    for file in ("rules/x.policy", "parameters/x.yaml", "jurisdictions/counties.csv"):
        at(found, file)
    for fmt in ("text", "json", "github"):
        proc = check_cli(shanxi, fmt)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert SECRET not in proc.stdout + proc.stderr and "secrets.env" not in proc.stdout + proc.stderr


def test_a_link_to_dev_zero_is_refused(shanxi):
    """`rules/x.policy` → /dev/zero took check to 5 GB in 5 s."""
    (shanxi / "rules" / "x.policy").symlink_to("/dev/zero")
    at(refused(check_cli(shanxi, timeout=60), "E0020"), "rules/x.policy")


def test_a_folder_linking_out_of_the_directory_is_refused(shanxi):
    """A folder of the directory that is a link elsewhere: every file found through it is outside."""
    elsewhere = shanxi.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.yaml").write_text(f"{SECRET}: [\n", encoding="utf-8")
    shutil.rmtree(shanxi / "funding")
    (shanxi / "funding").symlink_to(elsewhere, target_is_directory=True)
    proc = check_cli(shanxi, "text")
    assert SECRET not in proc.stdout + proc.stderr
    at(refused(check_cli(shanxi), "E0020"), "funding/a.yaml")


def test_a_link_inside_the_directory_is_read_under_its_own_name(shanxi):
    """Allowed: a link to a regular file inside the policy directory is read as that file, and every diagnostic
    about it names the link (here a number literal out of range, E0106)."""
    (shanxi / "shared").mkdir()
    (shanxi / "shared" / "extra.policy").write_text("定义 很大 (huge) = 10000000000000000 元\n", encoding="utf-8")
    (shanxi / "rules" / "extra.policy").symlink_to(Path("..") / "shared" / "extra.policy")
    at(refused(check_cli(shanxi), "E0106"), "rules/extra.policy", 1, 16)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(shanxi):
    """A FIFO blocked check forever (reading waits for a writer): refused from its type, never opened to read."""
    os.mkfifo(shanxi / "rules" / "x.policy")
    os.mkfifo(shanxi / "cases" / "x.yaml")
    (shanxi / "policy.yaml").unlink()
    os.mkfifo(shanxi / "policy.yaml")
    found = refused(check_cli(shanxi, timeout=60), "E0021")
    for file in ("rules/x.policy", "cases/x.yaml", "policy.yaml"):
        at(found, file)
    assert all("命名管道" in d["message"] for d in found)
    # and so does `policyc fmt --check`, which CI runs on the same directory
    proc = subprocess.run([sys.executable, "-m", "policyc", "fmt", "--policy", str(shanxi), "--check"],
                          capture_output=True, text=True, cwd=shanxi.parent, timeout=60)
    assert proc.returncode == 1 and "E0021" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(not hasattr(__import__("socket"), "AF_UNIX"), reason="no UNIX sockets here")
def test_a_socket_is_refused(shanxi):
    import socket
    path = shanxi / "rules" / "s.policy"
    if len(str(path).encode()) > 100:
        pytest.skip("path too long for a UNIX socket")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        found = refused(check_cli(shanxi, timeout=60), "E0021")
    at(found, "rules/s.policy")
    assert "套接字" in found[0]["message"]


def test_an_oversized_file_is_refused(shanxi):
    from policyc.load.project import SOURCE_MAX
    line = "# " + "x" * 97 + "\n"
    (shanxi / "rules" / "big.policy").write_text(line * (SOURCE_MAX // len(line) + 1), encoding="utf-8")
    at(refused(check_cli(shanxi), "E0022"), "rules/big.policy")


def test_the_size_cap_is_exact(tmp_path):
    """A file of SOURCE_MAX bytes is read, one byte more is not (whatever its size said, at most cap + 1 bytes
    are read)."""
    from policyc.load.project import SOURCE_MAX, read_source
    path = tmp_path / "a.policy"
    path.write_bytes(b"#" * SOURCE_MAX)
    reporter = Reporter()
    assert len(read_source(path, tmp_path, reporter)) == SOURCE_MAX and not reporter.items
    path.write_bytes(b"#" * (SOURCE_MAX + 1))
    assert read_source(path, tmp_path, reporter) is None and [d.code for d in reporter.items] == ["E0022"]


# Escapes in "…": only \" and \\ are escapes; each other one is refused at its backslash, shown as written.
ESCAPES = [
    ("u-short", "\\u12", "E0105", "\\u12"),
    ("u-valid-looking", "\\u4eba", "E0105", "\\u4eba"),
    ("u-surrogate", "\\ud800", "E0105", "\\ud800"),
    ("U-long", "\\U0001F600", "E0105", "\\U0001F600"),
    ("N-unknown-name", "\\N{NO SUCH NAME}", "E0105", "\\N{NO SUCH NAME}"),
    ("N-known-name", "\\N{LATIN SMALL LETTER A}", "E0105", "\\N{LATIN SMALL LETTER A}"),
    ("x-bad", "\\xZZ", "E0105", "\\x"),
    ("x-valid-looking", "\\x41", "E0105", "\\x41"),
    ("octal-nul", "\\0", "E0105", "\\0"),
    ("tab", "\\t", "E0105", "\\t"),
]


@pytest.mark.parametrize("escape,code,shown_as", [e[1:] for e in ESCAPES], ids=[e[0] for e in ESCAPES])
def test_a_bad_escape_is_refused_at_the_escape(shanxi, escape, code, shown_as):
    edit(shanxi, R, REASON, f'不成立时 "家庭财产{escape}状况不符合当地规定"')
    line, col = place(shanxi, R, "不成立时 \"家庭财产", len("不成立时 \"家庭财产"))
    found = refused(check_cli(shanxi), code)
    at(found, R, line, col)
    assert f"“{shown_as}”" in found[0]["message"], found[0]["message"]


def test_an_escape_in_a_reason_placeholder_is_refused_at_the_escape(shanxi):
    find = "不成立时 \"家庭人均月收入{人均月收入}元"
    edit(shanxi, R, find, "不成立时 \"家庭人均月收入{人均月收入 + \\N{DIGIT ONE}}元")
    line, col = place(shanxi, R, "\\N{DIGIT ONE}")
    at(refused(check_cli(shanxi), "E0105"), R, line, col)


@pytest.mark.parametrize("text", ['"家庭财产状况\\"', '"家庭财产状况不符合当地规定'], ids=["trailing-backslash",
                                                                                      "unterminated"])
def test_a_text_that_does_not_end_is_refused_at_its_quote(shanxi, text):
    edit(shanxi, R, REASON, "不成立时 " + text)
    line, col = place(shanxi, R, "不成立时 \"家庭财产状况", len("不成立时 "))
    at(refused(check_cli(shanxi), "E0107"), R, line, col)


def test_a_trailing_backslash_at_the_end_of_a_file_is_refused(shanxi):
    (shanxi / "rules" / "zz.policy").write_bytes('定义 甲 (a) = "abc\\'.encode())
    at(refused(check_cli(shanxi), "E0107"), "rules/zz.policy", 1, 12)


# Numbers in YAML: |x| < 10^15 with at most 10 decimals, finite; refused at the value before any arithmetic.
NUMBERS = [
    ("exp-huge", "1e400"), ("exp-tiny", "1e-400"), ("float-exp-huge", "1.0e+400"), ("float-exp-tiny", "1.0e-400"),
    ("inf", ".inf"), ("minus-inf", "-.Inf"), ("nan", ".nan"),
    ("huge-integer", "1234567890123456789012345678901234567890"),
    ("thousands-of-digits", "1" + "0" * 5000), ("ten-to-the-fifteen", "1000000000000000"),
    ("eleven-decimals", "0.00000000001"),
]


@pytest.mark.parametrize("value", [v for _, v in NUMBERS], ids=[i for i, _ in NUMBERS])
def test_a_parameter_value_out_of_range_is_refused_at_the_value(shanxi, value):
    edit(shanxi, PD, "        value: 720\n", f"        value: {value}\n")
    line, col = place(shanxi, PD, f"value: {value[:20]}", len("value: "))
    found = refused(check_cli(shanxi), "E0018")
    at(found, PD, line, col)
    assert "10^15" in found[0]["message"] or "10 位" in found[0]["message"] or "有限" in found[0]["message"]


@pytest.mark.parametrize("file,find,replace,needle", [
    (PD, "    minimum: 0\n", "    minimum: 1.0e+400\n", "1.0e+400"),
    ("localities/140105-xiaodian.yaml", "      value: 800\n", "      value: .nan\n", ".nan"),
    ("funding/2024.yaml", "    special_fund_total: 5000000000\n", "    special_fund_total: 1e20\n", "1e20"),
    ("cases/dibao.yaml", 'age: 40, monthly_income: "=城市低保标准 × 3 − 2000"', "age: 40, monthly_income: 1e-12",
     "1e-12"),
], ids=["minimum", "locality", "funding", "case-input"])
def test_a_number_out_of_range_anywhere_in_yaml_is_refused_at_the_value(shanxi, file, find, replace, needle):
    edit(shanxi, file, find, replace)
    line, col = place(shanxi, file, needle)
    at(refused(check_cli(shanxi), "E0018"), file, line, col)


def test_numbers_at_the_bounds_are_read_exactly():
    from decimal import Decimal
    from policyc.load.yamlsrc import load_yaml
    reporter = Reporter()
    doc = load_yaml("f.yaml", "a: 999999999999999\nb: -0.0000000001\nc: 1.5e3\nd: 1_000\ne: '1e400'\n1e400: x\n",
                    reporter)
    assert not reporter.items
    assert doc.data == {"a": 999999999999999, "b": Decimal("-1E-10"), "c": Decimal(1500), "d": 1000, "e": "1e400",
                        "1e400": "x"}
    assert str(doc.data["c"]) == "1500"


@pytest.mark.parametrize("content,needle", [
    ("定义 很大 (huge) = 1000000000000000 元\n", "1000000000000000"),
    ("定义 很细 (tiny) = 0.00000000001 倍\n", "0.00000000001"),
    ("定义 很长 (long) = " + "9" * 5000 + "\n", "9999"),
    ("记录 附加 (extra) {\n  等级 (grade): 整数 范围 1 至 99999999999999999999\n}\n", "99999999999999999999"),
], ids=["integer-part", "decimals", "thousands-of-digits", "field-bounds"])
def test_a_number_literal_out_of_range_is_refused_at_the_literal(shanxi, content, needle):
    (shanxi / "rules" / "extra.policy").write_text(content, encoding="utf-8")
    line, col = place(shanxi, "rules/extra.policy", needle)
    at(refused(check_cli(shanxi), "E0106"), "rules/extra.policy", line, col)


def test_a_relative_case_input_out_of_range_is_refused_at_the_number(shanxi):
    file = "cases/dibao.yaml"
    edit(shanxi, file, '"=城市低保标准 × 3 − 2000"', '"=城市低保标准 × 100000000000000000000"')
    line, col = place(shanxi, file, "100000000000000000000")
    found = refused(check_cli(shanxi), "E0606")
    at(found, file, line, col)
    assert "10^15" in found[0]["message"]


def test_many_names_are_checked_in_linear_time(shanxi):
    """The duplicate-name check compared each definition with every earlier one (quadratic: minutes for a few
    ten thousand). 20,000 distinct definitions and one duplicate: the duplicate is found at its line, well
    within a generous hang guard (no timing is asserted beyond it)."""
    n = 20000
    lines = [f"定义 名称{i} (name_{i}) = {i}" for i in range(n)] + ["定义 名称7 (name_again) = 7"]
    (shanxi / "rules" / "many.policy").write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = refused(check_cli(shanxi, timeout=600), "E0302")
    at(found, "rules/many.policy", n + 1, 4)
    assert "名称7" in found[0]["message"] and "many.policy:8" in found[0]["message"]
