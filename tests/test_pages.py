"""Pages an officer can read (issue 14): floors and derived values as Chinese sentences with units, tier tables that
do not squeeze their neighbours, recorded exceptions where they apply, the version line on every printed page,
search by code, name or any part of it, and no ASCII identifier in the visible text of any page outside <code>/<pre>.

The site is built here from the shipped policy into a temporary directory (never generated/). Every figure a test
expects is read from the compiled policy (conftest's `param`, the bundle), never written here. The browser tests run
Debian's chromium (skipped without it), driven over --remote-debugging-pipe; search's logic runs in node (skipped
without it)."""
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import POLICY, param
from policyc.check.constraints import _Formula, effective
from policyc.compiler import compile_policy
from policyc.diagnostics import Reporter, Span
from policyc.dsl.parser import parse_expr
from policyc.emit.chinese import date_text, formula_text, quantity
from policyc.emit.documents import site_files


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The shipped policy compiled and its site written to a temporary docs/: (compilation, docs dir, pages)."""
    root = tmp_path_factory.mktemp("pages")
    c = compile_policy(POLICY, Reporter())
    files = site_files(c, root / "docs")
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    pages = {str(p.relative_to(root / "docs")): b.decode("utf-8") for p, b in files.items()}
    return c, root / "docs", pages


# ── what a reader sees: the text of a page outside <code>/<pre> ────────────────────────────────────────────────
# An ASCII identifier is a token of ASCII letters, digits, `_` and `.` with two letters in a row (dibao, policyc,
# source_digest) or a letter next to `_` or `.` (a.b, x_1). Numbers (1.3, 140105) and single letters are not.
# Allowed, as a word of the Chinese text: APP (“三晋通”APP, the province's service app, as the 实施意见 writes it).
TOKEN = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")
IDENTIFIER = re.compile(r"[A-Za-z]{2}|[A-Za-z][._]|[._][A-Za-z]")
ALLOWED = {"APP"}
SHOWN_ATTRIBUTES = ("placeholder", "aria-label", "title", "alt")


def identifiers(text: str) -> list[str]:
    return [t for t in TOKEN.findall(text) if IDENTIFIER.search(t) and t not in ALLOWED]


class Visible(HTMLParser):
    """The text of a page a reader sees, except code: the title, the text outside <code>, <pre>, <script> and
    <style>, and the attributes a browser shows (placeholder, aria-label, title, alt)."""

    HIDDEN = {"code", "pre", "script", "style"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.parts += [v for k, v in attrs if k in SHOWN_ATTRIBUTES and v]
        if tag in self.HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible(page: str, sep: str = " ") -> str:
    """What a reader sees of a page; its pieces joined with spaces (to look for identifiers, which a space ends)
    or with nothing (`sep=""`, to look for a sentence that runs across a link)."""
    v = Visible()
    v.feed(page)
    v.close()
    return sep.join(v.parts)


def test_the_identifier_check_finds_what_it_must():
    page = ('<title>x.y</title><p>下限：1.3 * dibao.standard.urban；140105；1.3倍；二(二)6；“三晋通”APP；A</p>'
            '<p><code>tekun.basic_living.urban</code><pre>policyc build</pre></p><script>var source_digest;</script>'
            '<input placeholder="search_box">')
    assert identifiers(visible(page)) == ["x.y", "dibao.standard.urban", "search_box"]
    assert identifiers("由 policyc 生成（见 source_digest）") == ["policyc", "source_digest"]


def test_no_ascii_identifier_in_the_visible_text_of_any_page(built):
    _, docs, pages = built
    html = {name: page for name, page in pages.items() if name.endswith(".html")}
    assert len(html) > 100
    found = {name: identifiers(visible(page)) for name, page in html.items()}
    assert {name: ids for name, ids in found.items() if ids} == {}
    css = pages["style.css"]  # generated content (content: "…") is visible text too
    assert not identifiers(" ".join(re.findall(r'content:\s*"([^"]*)"', css)))


# ── floors and derived values in Chinese, with units ───────────────────────────────────────────────────────────
SIMPLE_FLOOR = re.compile(r"\s*([0-9.]+)(%?)\s*\*\s*([a-z_.]+)\s*")


def simple_floors(c):
    """(parameter, constraint, factor, percent?, referenced parameter) for each floor or cap `N * id`, `N% * id`."""
    for p in sorted(c.params.values(), key=lambda p: p.id):
        for k in p.constraints:
            m = SIMPLE_FLOOR.fullmatch(k.get("min") or k.get("max"))
            if m:
                yield p, k, Decimal(m.group(1)), bool(m.group(2)), c.params[m.group(3)]


def chinese_factor(factor: Decimal, percent: bool) -> str:
    text = format(factor.normalize(), "f")
    return f"{text}%" if percent else f"{text}倍"


def test_formula_text_reads_any_floor_in_chinese():
    names = {"a.x": "甲", "b.y": "乙", "c.z": "丙"}

    def text(formula, unit="元/月"):
        return formula_text(parse_expr(formula, Span("", 1, 1), Reporter()), names.__getitem__, unit)

    assert text("1.3 * a.x") == "甲的1.3倍" and text("a.x * 1.3") == "甲的1.3倍"
    assert text("50% * b.y") == "乙的50%"
    assert text("12", "月") == "12个月" and text("a.x + 100") == "甲加每月100元"
    assert text("(a.x + b.y) * 2") == "（甲加乙）的2倍"
    assert text("a.x - (b.y - c.z)") == "甲减（乙减丙）" and text("a.x - b.y - c.z") == "甲减乙减丙"
    assert text("a.x * b.y") == "甲乘以乙" and text("a.x / 2") == "甲除以2"
    with_values = formula_text(parse_expr("1.3 * a.x", Span("", 1, 1), Reporter()), lambda _: "甲（每月800元）")
    assert with_values == "甲（每月800元）的1.3倍"


def test_parameter_pages_state_floors_in_chinese_with_units(built, evaluator):
    c, _, pages = built
    province = c.sources.manifest.data["jurisdiction"]
    floors = list(simple_floors(c))
    assert floors
    for p, k, factor, percent, ref in floors:
        text = visible(pages[f"params/{p.id}.html"])
        words = f"{ref.name}的{chinese_factor(factor, percent)}"
        assert words in text, (p.id, words)
        assert (k.get("min") or k.get("max")) not in text
        # the bound at the province on the day the referenced value starts, with the unit of the parameter
        for v in ref.timelines[province]:
            day = v.start.isoformat()
            if any(x.start <= v.start for x in p.timelines[province]):
                ref_value = param(evaluator, ref.id, province, day)
                bound = factor * ref_value / (100 if percent else 1)
                row = f"{date_text(day)}起 {quantity(bound.quantize(Decimal('0.01')), p.unit)}"
                assert row in text, (p.id, row)
                assert f"{ref.name}（{quantity(ref_value, ref.unit)}）的{chinese_factor(factor, percent)}" in text


def test_handbooks_state_each_floor_at_the_place_with_the_values_in_force(built, evaluator):
    c, _, pages = built
    p, k, factor, percent, ref = next(x for x in simple_floors(c) if x[0].id == "tekun.basic_living.urban")
    for code in ("140105", "140200", "140302"):
        text = visible(pages[f"handbooks/{code}.html"])
        day = "2024-07-01"
        ref_value = param(evaluator, ref.id, code, day)
        bound = (factor * ref_value / (100 if percent else 1)).quantize(Decimal("0.01"))
        assert f"{ref.name}（{quantity(ref_value, ref.unit)}）的{chinese_factor(factor, percent)}" in text, code
        assert quantity(bound, p.unit) in text, code
        md = pages[f"handbooks/{code}.md"]
        assert f"{ref.name}（{quantity(ref_value, ref.unit)}）的{chinese_factor(factor, percent)}" in md


# ── recorded exceptions where they apply ──────────────────────────────────────────────────────────────────────
def inheriting(c, e) -> list[str]:
    """The places under the place of exception `e` that set none of the values its bound involves themselves."""
    node = parse_expr(e.expression, Span("", 1, 1), Reporter())
    involved = [c.params[e.parameter], *(c.params[r] for r in _Formula(node).params)]
    out = []
    for code, chain in c.chains.items():
        if e.jurisdiction in chain and code != e.jurisdiction:
            below = chain[:chain.index(e.jurisdiction)]
            if not any(level in q.timelines for q in involved for level in below):
                out.append(code)
    return out


def test_a_recorded_exception_shows_on_its_handbooks_and_its_parameter_page(built):
    c, _, pages = built
    assert c.exceptions, "the shipped policy records an exception to a floor (大同市)"
    province = c.sources.manifest.data["jurisdiction"]
    for e in c.exceptions:
        p = c.params[e.parameter]
        name = next(j.full_name for j in c.sources.jurisdictions if j.code == e.jurisdiction)
        bound = quantity(e.bound.quantize(Decimal("0.01")), p.unit)
        for page in (f"handbooks/{e.jurisdiction}.html", f"params/{e.parameter}.html"):
            text = visible(pages[page], sep="")
            assert "记录在案的例外" in text and e.reason in text, page
            assert f"{name}自{date_text(e.date)}起本参数取值{quantity(e.value, p.unit)}，低于下限{bound}" in text, page
        assert f'href="../handbooks/{e.jurisdiction}.html"' in pages[f"params/{e.parameter}.html"]
        assert e.reason in pages[f"handbooks/{e.jurisdiction}.md"] and e.reason in pages[f"params/{e.parameter}.md"]
        below = inheriting(c, e)
        assert below  # 大同市's counties keep its values, and its exception with them
        for code in below:
            text = visible(pages[f"handbooks/{code}.html"], sep="")
            assert e.reason in text and f"本地沿用{name}的取值" in text, code
        assert e.reason not in pages[f"handbooks/{province}.html"]


def test_a_broken_floor_without_a_recorded_exception_says_so(policy_copy):
    """A place whose value breaks a 原则上 floor with no written reason (the check warns, W0401): its handbook says
    未记录例外, and shows no other place's reason."""
    loc = policy_copy / "localities" / "140200-datong.yaml"
    text = loc.read_text(encoding="utf-8")
    loc.write_text(text[:text.index("exceptions:")], encoding="utf-8")
    c = compile_policy(policy_copy, Reporter())
    pages = {str(p.relative_to(Path("out"))): b.decode("utf-8") for p, b in site_files(c, Path("out")).items()}
    page = visible(pages["handbooks/140200.html"])
    assert "低于下限（未记录例外）" in page and "记录在案的例外：" not in page


# ── tables ────────────────────────────────────────────────────────────────────────────────────────────────────
def test_a_tier_table_is_a_table_of_its_own(built):
    c, _, pages = built
    tiered = [p for p in c.params.values() if p.table]
    assert tiered
    province = c.sources.manifest.data["jurisdiction"]
    for p in tiered:
        page = pages[f"params/{p.id}.html"]
        rows = p.timelines[province][0].value
        tiers = re.findall(r'<table class="tiers">.*?</table>', page, re.S)
        assert tiers and len(re.findall(r"<tr>", tiers[0])) == len(rows) + 1, p.id  # a header and a row per tier
        assert p.table["key"]["name"] in tiers[0] and p.table["value"]["name"] in tiers[0]
        assert quantity(rows[-1][1], p.table["value"]["unit"]) in tiers[0]
        assert "起：" not in visible(page)  # not one long line of “…0起：…；…200起：…”


# ── the version line ──────────────────────────────────────────────────────────────────────────────────────────
def css_version(css: str) -> str:
    """The text style.css gives every page's version line (its CSS escapes decoded)."""
    text = re.search(r'\.stamp-version::before \{ content: "([^"]*)"; \}', css).group(1)
    return re.sub(r"\\([0-9a-f]{6})", lambda m: chr(int(m.group(1), 16)), text)


def test_every_page_has_the_version_line_and_handbooks_the_latest_date(built):
    c, _, pages = built
    version = c.sources.manifest.data["version"]
    assert css_version(pages["style.css"]) == f"政策集版本 {version}"
    for name, page in pages.items():
        if name.endswith(".html"):
            stamp = re.search(r'<div class="stamp">(.*?)</div>', page)
            assert stamp and '<span class="stamp-version"></span>' in stamp.group(1), name
    # the latest date a value shown on the handbook takes effect
    code = "140105"
    chain = c.chains[code]

    def last_change(p):
        last, day = None, None
        for d in sorted({v.start for level in chain for v in p.timelines.get(level, [])}):
            if effective(p, chain, d) is not last:
                last, day = effective(p, chain, d), d
        return day

    latest = max(d for d in map(last_change, c.params.values()) if d is not None)
    stamp = re.search(r'<div class="stamp">(.*?)</div>', pages[f"handbooks/{code}.html"]).group(1)
    assert f"所列取值最近生效日期：{date_text(latest)}" in stamp
    assert f"所列取值最近生效日期：{date_text(latest)}" in pages[f"handbooks/{code}.md"]


def test_a_version_bump_rewrites_the_stylesheet_and_the_index_only(policy_copy):
    """The version on every page's line comes from style.css, so a new version does not rewrite every page."""
    def site(policy):
        return {str(p.relative_to(Path("out"))): b for p, b in site_files(compile_policy(policy, Reporter()),
                                                                          Path("out")).items()}
    before = site(policy_copy)
    manifest = policy_copy / "policy.yaml"
    text = manifest.read_text(encoding="utf-8")
    old = re.search(r"^version: (\S+)$", text, re.M).group(1)
    manifest.write_text(text.replace(f"version: {old}", f"version: {old}9", 1), encoding="utf-8")
    after = site(policy_copy)
    assert {name for name in after if after[name] != before.get(name)} == {"style.css", "index.html"}
    assert css_version(after["style.css"].decode("utf-8")) == f"政策集版本 {old}9"


# ── search ────────────────────────────────────────────────────────────────────────────────────────────────────
def _node() -> str | None:
    return shutil.which("node") or shutil.which("nodejs")


def run_search(docs: Path, queries: list[str]) -> list[list[dict]]:
    """search.js's search() run by node over the generated search-index.js, for each query."""
    script = ("global.window = {}; require(process.argv[1] + '/search-index.js');"
              "const s = require(process.argv[1] + '/search.js');"
              "const qs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "process.stdout.write(JSON.stringify({hits: qs.map(q => s.search(window.POLICYC_INDEX, q, 30)),"
              " none: s.noneText('某某')}));")
    proc = subprocess.run([_node(), "-e", script, str(docs)], input=json.dumps(queries), capture_output=True,
                          text=True, timeout=60, check=True)
    out = json.loads(proc.stdout)
    assert "没有找到" in out["none"] and "某某" in out["none"]
    return out["hits"]


@pytest.mark.skipif(_node() is None, reason="node is not installed")
def test_search_finds_places_by_code_and_name_and_parameters_by_id_and_name(built):
    c, docs, _ = built
    places = c.sources.jurisdictions
    params = sorted(c.params.values(), key=lambda p: p.id)
    queries = [j.code for j in places] + [j.full_name for j in places] + [p.id for p in params] \
        + [p.name for p in params]
    hits = run_search(docs, queries)
    n, m = len(places), len(params)
    for j, first in zip(places, hits[:n]):  # a six-digit code: that place's handbook first
        assert first and first[0]["u"] == f"handbooks/{j.code}.html", j.code
    for j, found in zip(places, hits[n:2 * n]):
        assert f"handbooks/{j.code}.html" in [x["u"] for x in found], j.full_name
    for p, first in zip(params, hits[2 * n:2 * n + m]):
        assert first and first[0]["u"] == f"params/{p.id}.html", p.id
    for p, found in zip(params, hits[2 * n + m:]):
        assert f"params/{p.id}.html" in [x["u"] for x in found], p.name


@pytest.mark.skipif(_node() is None, reason="node is not installed")
def test_search_finds_any_part_of_a_name_ignoring_width_and_spaces(built):
    c, docs, _ = built
    county = next(j for j in c.sources.jurisdictions if j.code == "140105")
    city = next(j for j in c.sources.jurisdictions if j.code == county.parent)
    part = county.name[:2]  # 小店 of 小店区
    wide = county.code.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})  # １４０１０５
    urban = c.params["dibao.standard.urban"]
    queries = [part, wide, f" {county.code} ", urban.name[1:4], f"{city.name} {part}", "没有这样的地方", "xyzxyz",
               county.code[:4]]
    hits = run_search(docs, queries)
    assert f"handbooks/{county.code}.html" in [x["u"] for x in hits[0]]
    assert hits[1][0]["u"] == hits[2][0]["u"] == f"handbooks/{county.code}.html"
    assert f"params/{urban.id}.html" in [x["u"] for x in hits[3]]
    assert hits[4][0]["u"] == f"handbooks/{county.code}.html"
    assert hits[5] == [] and hits[6] == []
    under = {j.code for j in c.sources.jurisdictions if j.code.startswith(county.code[:4])}
    assert {x["u"] for x in hits[7]} >= {f"handbooks/{code}.html" for code in under if len(under) <= 30}
    # articles are found by their number and heading
    art = next(iter(c.articles.by_citation.values()))
    assert any(x["k"] == "条文" for x in run_search(docs, [art.citation])[0])


# ── in a real browser ─────────────────────────────────────────────────────────────────────────────────────────
def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """Headless chromium driven over --remote-debugging-pipe (the DevTools protocol on its fds 3 and 4): no port,
    no network, the flags tests/test_documents.py uses."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="policyc-chromium-")
        r_in, self.w_in = os.pipe()
        self.r_out, w_out = os.pipe()
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (r_in, w_out)]  # out of the way of fds 3 and 4
        os.close(r_in)
        os.close(w_out)
        r_in, w_out = high
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={self.profile}", "--remote-debugging-pipe"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{r_in} 4>&{w_out} {r_in}<&- {w_out}>&-', "bash", _chromium(), *flags,
             "about:blank"], pass_fds=(r_in, w_out), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(r_in)
        os.close(w_out)
        self.buf, self.n = b"", 0
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        except BaseException:
            self.close()
            raise

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.r_out], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.r_out, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed its pipe")
            self.buf += chunk
        message, self.buf = self.buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, timeout: float = 30, **params):
        self.n += 1
        message = {"id": self.n, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.w_in, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._message(deadline)
            if answer.get("id") == self.n:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def page(self, method: str, **params):
        return self.call(method, session=self.session, **params)

    def js(self, expression: str):
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(expression)

    def open(self, url: str, width: int = 1200, height: int = 900, media: str = "") -> None:
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        self.page("Emulation.setEmulatedMedia", media=media)
        self.page("Page.navigate", url=url)
        self.wait(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def key(self, key: str, code: int) -> None:
        self.page("Input.dispatchKeyEvent", type="keyDown", key=key, code=key, windowsVirtualKeyCode=code,
                  **({"text": "\r"} if key == "Enter" else {}))
        self.page("Input.dispatchKeyEvent", type="keyUp", key=key, code=key, windowsVirtualKeyCode=code)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 — it may be gone already
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w_in)
        os.close(self.r_out)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if _chromium() is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    b = Browser()
    yield b
    b.close()


# the text a reader sees once the page has run its scripts: rendered text (CSS applied), code and pre left out
SEEN = """(() => { document.querySelectorAll('code, pre').forEach(e => e.remove());
  const shown = [...document.querySelectorAll('[placeholder], [aria-label], [title], [alt]')]
    .map(e => ['placeholder', 'aria-label', 'title', 'alt'].map(a => e.getAttribute(a) || '').join(' '));
  return [document.title, document.body.innerText, ...shown].join('\\n'); })()"""


def test_pages_show_no_ascii_identifier_in_a_browser(built, browser, evaluator):
    c, docs, _ = built
    for page in ("index.html", "handbooks/140200.html", "handbooks/140105.html", "params/tekun.basic_living.urban.html",
                 "params/dibao.tiers.html", "rules/dibao.html", "articles.html"):
        browser.open((docs / page).as_uri())
        seen = browser.js(SEEN)
        assert identifiers(seen) == [], page
        shown = browser.js("getComputedStyle(document.querySelector('.stamp-version'), '::before').content")
        assert shown == json.dumps(f"政策集版本 {c.sources.manifest.data['version']}", ensure_ascii=False), page
    browser.open((docs / "handbooks/140105.html").as_uri())
    urban = c.params["dibao.standard.urban"]
    own = quantity(param(evaluator, urban.id, "140105", "2024-07-01"), urban.unit)
    assert own in browser.js("document.body.innerText")


def test_typing_a_code_and_enter_opens_its_handbook(built, browser):
    c, docs, _ = built
    county = next(j for j in c.sources.jurisdictions if j.code == "140105")
    browser.open((docs / "params" / "dibao.standard.urban.html").as_uri())
    browser.js("document.getElementById('q').focus()")
    browser.page("Input.insertText", text=county.code)
    assert county.full_name in browser.wait("document.getElementById('hits').innerText")
    browser.key("Enter", 13)
    browser.wait(f"location.href.endsWith('/handbooks/{county.code}.html') && document.readyState === 'complete'"
                 " && document.getElementById('q') !== null")
    # nothing found: a message, and Enter stays on the page
    here = (docs / "handbooks" / f"{county.code}.html").as_uri()
    browser.js("document.getElementById('q').focus()")
    browser.page("Input.insertText", text="没有这样的地方")
    assert "没有找到" in browser.wait("document.getElementById('hits').innerText")
    browser.key("Enter", 13)
    time.sleep(0.3)
    assert browser.js("location.href") == here
    # ↓ moves into the results; a name's part finds it too
    browser.js("document.getElementById('q').value = ''")
    browser.page("Input.insertText", text=county.name[:2])
    browser.wait("document.querySelector('#hits a') !== null")
    browser.key("ArrowDown", 40)
    assert browser.js("document.activeElement.getAttribute('href')") == f"../handbooks/{county.code}.html"


def test_a_search_in_the_address_shows_its_results(built, browser):
    c, docs, _ = built
    browser.open((docs / "index.html").as_uri() + "?q=140105")
    assert "小店区" in browser.wait("document.getElementById('hits').innerText")


COLUMNS = """[...document.querySelectorAll('table.timeline, table.bounds')].map(t => ({
  widths: [...t.rows[0].cells].map(c => c.getBoundingClientRect().width),
  text: [...t.rows[0].cells].map(c => c.textContent.length),
  dates: [...t.querySelectorAll('td.date')].map(c => {  // the lines its text takes
    const r = document.createRange(); r.selectNodeContents(c); return r.getClientRects().length; })}))"""


@pytest.mark.parametrize("width", [1200, 360])
def test_tables_keep_every_column_readable(built, browser, width):
    """A tier table in a cell does not squeeze the other columns: every header shows on one line, every date too;
    on a phone a wide table scrolls sideways in its own box, the page does not."""
    _, docs, _ = built
    for page in ("params/dibao.tiers.html", "params/temporary.tier_months.html", "handbooks/140400.html"):
        browser.open((docs / page).as_uri(), width=width)
        size = browser.js("parseFloat(getComputedStyle(document.body).fontSize)")
        for table in browser.js(COLUMNS):
            for w, n in zip(table["widths"], table["text"]):
                assert w >= n * size, (page, width, table)  # a header of n characters on one line
            assert set(table["dates"]) == {1}, (page, width, table)
        assert browser.js("document.documentElement.scrollWidth <= innerWidth + 1"), (page, width)


def test_the_version_line_is_on_every_printed_page(built, browser):
    c, docs, _ = built
    version = c.sources.manifest.data["version"]
    browser.open((docs / "handbooks" / "140200.html").as_uri(), media="print")
    stamp = browser.js("""(() => { const s = document.querySelector('.stamp'), m = document.querySelector('main');
      const cs = getComputedStyle(s), r = s.getBoundingClientRect();
      const version = getComputedStyle(s.querySelector('.stamp-version'), '::before').content;
      return {position: cs.position, display: cs.display, text: s.innerText + version, bottom: r.bottom,
              main: parseFloat(getComputedStyle(m).paddingTop), clone: getComputedStyle(m).boxDecorationBreak,
              header: getComputedStyle(document.querySelector('header.site')).display}; })()""")
    # fixed: chromium repeats it on every printed page; each page's part of <main> starts below it
    assert stamp["position"] == "fixed" and stamp["display"] != "none" and stamp["header"] == "none"
    assert stamp["clone"] == "clone" and stamp["main"] >= stamp["bottom"]
    assert f"政策集版本 {version}" in stamp["text"] and "大同市社会救助政策手册" in stamp["text"]
    if shutil.which("pdftotext") is None:
        return
    import base64
    pdf = base64.b64decode(browser.page("Page.printToPDF", preferCSSPageSize=True, displayHeaderFooter=False)["data"])
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", f.name, "-"], capture_output=True, text=True,
                              check=True).stdout
    printed = text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")
    assert len(printed) > 2
    assert all(f"政策集版本 {version}" in page for page in printed), [i for i, p in enumerate(printed)
                                                                      if f"政策集版本 {version}" not in p]
