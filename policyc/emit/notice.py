"""Decision → 告知书: what a household is told about its application, in Chinese, in Markdown, HTML or PDF.

`context` turns a decision (and the request it answers, and who issues the notice) into what the templates
notice.md.j2 / notice.html.j2 show; `notice` renders it; `pdf` prints the HTML with headless Chromium. Every value
shown goes through the escaping of documents.py (_md_escape for Markdown, autoescape for HTML, _plain for both).

What a notice shows (docs/notice.md):
- the programs the application asks for (`application.programs`); when it does not say, the programs with a
  result to tell (`has_result`), and the names of the others;
- "accompanying" programs (those one does not apply for: 审核确认程序) beside any program shown; an output or
  a reason of theirs that belongs to one program (its key has that program's id as a segment, or its rule's name
  starts with `<program>_`) only beside that program;
- each result with its unit; a result the facts do not settle as 待补充 with the facts to supply, by name;
- for a per-member program only the members it assessed (a result, a pending result or a reason), never a bare 否;
- the standards the decision used, each once, from its trace, with their sources (示例值 when illustrative);
- referrals: due ones, and ones that depend on facts still to supply;
- the rights of objection: 行政复议 and 行政诉讼 with the periods read from the decision's trace.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

from ..check.types import unit_of
from ..ir import strip_optional
from ..runtime import atomic, notice_block
from .chinese import date_text, number, quantity

TITLE = "社会救助评估告知书"
PENDING = "待补充"  # a result the known facts do not settle: never 否
UNFILLED = "（未填写）"

# The request field that lists the programs applied for, and the relation code of the applicant
SELECTION = ("application", "programs")
APPLICANT = "applicant"
# The reason that states the rights of objection, and the parameters of their periods (procedure.policy,
# parameters/procedure.yaml): shown in their own section, not among the procedure's reasons
OBJECTION_RULE = "procedure.objection_note"
APPLIED_RULE = "procedure.applied_note"  # “申请写明了所申请的救助项目”: the header says which
REVIEW_DAYS = "procedure.objection.review_days"
LITIGATION_MONTHS = "procedure.objection.litigation_months"
# 整数 outputs are counts whose unit their name ends with (procedure.policy: 低保办理期限工作日, 低保公示天数)
_INT_UNITS = (("工作日", "", "个工作日"), ("天数", "期", "天"))
_COUNT_UNITS = ("整数", "数")


def _nothing(value) -> bool:
    """The answer a household that does not qualify gets: 无, 否, 0 or an empty list."""
    if value is None or value is False or value == [] or value == "":
        return True
    return not isinstance(value, bool) and isinstance(value, (int, Decimal)) and value == 0


def _with_unit(value, unit: str | None) -> str:
    """`quantity`, but money as the decision's tables write it: 1200元/月, not 每月1200元."""
    if unit in ("元/月", "元/年"):
        return f"{number(value)}{unit}"
    return quantity(value, unit)


def _label_and_unit(name: str, t: str) -> tuple[str, str | None]:
    """An output's label and unit: the unit of its type, or for a count the one its name ends with."""
    base = strip_optional(t)
    if base == "int":
        for suffix, replace, unit in _INT_UNITS:
            if name.endswith(suffix):
                return name[: -len(suffix)] + replace, unit
        return name, None
    return name, unit_of(base)


def value_text(value, t: str, enums: dict, unit: str | None = None) -> str:
    """An output's value in Chinese with its unit: 1200元/月, 6个月, 20个工作日, 2024年9月1日, 是, 户主、配偶."""
    base = strip_optional(t)
    if value is None:
        return "无"
    if base == "bool" or isinstance(value, bool):
        return "是" if value else "否"
    if base.startswith("enum:"):
        return enums.get(base[5:], {}).get(value, str(value))
    if base.startswith("list:"):
        return "、".join(value_text(v, base[5:], enums) for v in value) or "无"
    if base == "date":
        return date_text(value)
    if base == "percent":
        return number(Decimal(str(value)) * 100) + "%"
    if base in ("text", "locality"):
        return str(value)
    return _with_unit(value, unit if unit is not None else unit_of(base))


def _param_value(entry: dict, param: dict | None) -> str:
    """A traced parameter value as text: 760元/月, 1.5倍, 差额, or a table's rows."""
    value, unit = entry["value"], entry.get("unit")
    if "label" in entry:
        return entry["label"]
    table = (param or {}).get("table")
    if table and isinstance(value, list):
        key, val = table["key"], table["value"]
        rows = [f"{key['name']}{_with_unit(b, key['unit'])}起，{val['name']}{_with_unit(v, val['unit'])}"
                for b, v in value]
        return "；".join(rows)
    if unit == "%":
        return f"{number(value)}%"
    return _with_unit(value, unit)


def _source_text(entry: dict) -> str:
    """Where a traced value comes from, in words: 《文件》条款, or 示例值."""
    if entry.get("illustrative"):
        return "示例值，无正式来源"
    prov = entry.get("provenance") or {}
    doc = prov.get("document")
    return f"依据《{doc}》{prov.get('article', '')}" if doc else "来源未载明"


def selection_field(ir: dict) -> tuple[list[str], dict[str, str]]:
    """The program ids one can apply for (the codes of `application.programs`' enum) and their names."""
    rec_id, field_id = SELECTION
    for rec in ir["records"]:
        if rec["id"] == rec_id:
            for f in rec["fields"]:
                t = strip_optional(f["type"])
                if f["id"] == field_id and t.startswith("list:enum:"):
                    enum = next(e for e in ir["enums"] if e["id"] == t[10:])
                    return [c for c, _ in enum["members"]], dict(enum["members"])
    return [p["id"] for p in ir["programs"]], {p["id"]: p["name"] for p in ir["programs"]}


def _container(ir: dict, scope: str) -> str:
    """The list field a record is found in (members), which keys a program's per-record results."""
    for rec in ir["records"]:
        for f in rec["fields"]:
            if strip_optional(f["type"]) == f"list:record:{scope}":
                return f["id"]
    return scope


def _members(ir: dict, request: dict | None, enums: dict) -> list[dict]:
    """The household's members as the request lists them: id and relation (in Chinese, None when not given)."""
    if not isinstance(request, dict):
        return []
    for inp in ir["inputs"]:
        t = strip_optional(inp["type"])
        if not t.startswith("record:"):
            continue
        rec = next((r for r in ir["records"] if r["id"] == t[7:]), None)
        for f in (rec or {}).get("fields", ()):
            if strip_optional(f["type"]).startswith("list:record:"):
                items = (request.get(inp["id"]) or {}).get(f["id"]) if isinstance(request.get(inp["id"]), dict) else None
                if not isinstance(items, list):
                    continue
                member_rec = next(r for r in ir["records"] if r["id"] == strip_optional(f["type"])[12:])
                rel = next((g for g in member_rec["fields"] if g["id"] == "relation"), None)
                labels = enums.get(strip_optional(rel["type"])[5:], {}) if rel else {}
                out = []
                for item in items:
                    if isinstance(item, dict) and isinstance(item.get("id"), str):
                        code = item.get("relation")
                        out.append({"id": item["id"], "relation": labels.get(code) if isinstance(code, str) else None,
                                    "applicant": code == APPLICANT})
                return out
    return []


def requested_programs(request: dict | None) -> list[str] | None:
    """`application.programs` of a request, or None when it does not say."""
    node = request
    for key in SELECTION:
        node = node.get(key) if isinstance(node, dict) else None
    return [p for p in node if isinstance(p, str)] if isinstance(node, list) and node else None


def accompanying(bundle: dict) -> list[str]:
    """Programs one does not apply for (审核确认程序): shown beside the programs that are."""
    applicable, _ = selection_field(bundle["ir"])
    return [p["id"] for p in bundle["ir"]["programs"] if p["id"] not in applicable]


class _Program:
    """One program's outputs split into household-level ones and per-record ones, with labels and units."""

    def __init__(self, prog: dict, defs: dict, ir: dict):
        self.id, self.name = prog["id"], prog["name"]
        self.citations, self.parameters = prog["citations"], set(prog.get("parameters", ()))
        self.household, self.scoped = [], {}
        for oid in prog["outputs"]:
            d = defs[oid]
            prefix = ".".join(filter(None, (prog["id"], d["scope"]))) + "."
            label, unit = _label_and_unit(d["name"], d["type"])
            out = {"key": oid[len(prefix):], "type": d["type"], "label": label, "unit": unit}
            if d["scope"] is None:
                self.household.append(out)
            else:
                self.scoped.setdefault(_container(ir, d["scope"]), []).append(out)


def _lookup(result: dict, key: str):
    value = result
    for k in key.split("."):
        value = value.get(k) if isinstance(value, dict) else None
    return value


def has_result(decision: dict, prog: "_Program") -> bool:
    """Whether a program has something to tell the household: an output that is not the answer of one that does
    not qualify (无, 否, 0, none), a result still pending (待补充), or a referral."""
    out = decision["programs"].get(prog.id)
    if out is None:
        return False
    if out.get("undecided") or out.get("missing_facts"):
        return True
    if any(r.get("program") == prog.id for r in decision.get("referrals", ())):
        return True
    if any(not _nothing(_lookup(out, o["key"])) for o in prog.household):
        return True
    for container, outputs in prog.scoped.items():
        for member in (out.get(container) or {}).values():
            if member.get("undecided") or any(not _nothing(_lookup(member, o["key"])) for o in outputs):
                return True
    return False


def _tied_to(key: str, others: set[str]) -> str | None:
    """The program an accompanying program's output key or rule name belongs to (a segment or a `<id>_` prefix)."""
    for part in key.split("."):
        if part in others:
            return part
        for other in others:
            if part.startswith(other + "_"):
                return other
    return None


def _rows(outputs: list, result: dict, undecided, enums: dict, hide: set[str], headline: bool) -> list[dict]:
    """The results to show. With a `headline` (the first output is the program's answer: a yes/no, or the only
    kind of result the program has) it is always shown, and when it is negative only it and the pending results
    (the rest follows from it); otherwise every result that has a value (无, an empty list or a 0 amount are left
    out; 否 is shown) or is pending."""
    rows, negative = [], False
    for i, out in enumerate(o for o in outputs if not _tied_to(o["key"], hide)):
        value = _lookup(result, out["key"])
        pending = out["key"] in undecided
        if i == 0 and headline:
            negative = not pending and _nothing(value)
        elif not pending and (negative or (_nothing(value) and not isinstance(value, bool))):
            continue
        rows.append({"label": out["label"], "value": PENDING if pending else
                     value_text(value, out["type"], enums, out["unit"]), "pending": pending})
    return rows


def _facts(items, records: dict | None = None) -> list[str]:
    """The names of facts to supply; a whole record left out (申请) by what it holds (申请办理情况)."""
    names = []
    for f in items or ():
        whole = (records or {}).get(f["path"])
        names.append(whole if whole else f["name"])
    return list(dict.fromkeys(names))


def _citation(text: str, articles: dict) -> str:
    """A citation with the heading of each article it names: 二(二)5（完善最低生活保障制度）."""
    parts = []
    for cite in text.split("；"):
        heading = articles.get(cite)
        parts.append(f"{cite}（{heading}）" if isinstance(heading, str) and heading else cite)
    return "；".join(parts)


def _reasons(reasons, hide: set[str], skip: tuple = ()) -> list[dict]:
    out = []
    for r in reasons or ():
        rule = r.get("rule", "")
        if rule in skip or _tied_to(rule.split(".", 1)[-1], hide):
            continue
        out.append({"text": r["text"], "citation": r["citation"]})
    return out


def _figure(entry: dict, params: dict) -> dict:
    text = _param_value(entry, params.get(entry["id"]))
    event = entry.get("event")
    if event:
        base = dict(entry, value=entry["base_value"])
        base.pop("label", None)
        text += (f"（应急期内临时调整：{event['name']}，{date_text(event['from'])}至{date_text(event['to'])}；"
                 f"当地标准为{_param_value(base, params.get(entry['id']))}）")
    return {"name": entry["name"], "value": text, "since": date_text(entry["effective_from"]),
            "place": (entry.get("at") or {}).get("name"), "source": _source_text(entry),
            "illustrative": bool(entry.get("illustrative"))}


def _select(decision: dict, progs: dict, applicable: list[str], names: dict, asked: list[str] | None):
    """The programs shown (in the policy's order, accompanying ones last), the names of the ones left out (when
    the application does not say what it asks for) and of the ones asked for but not evaluated."""
    evaluated = list(progs)
    if asked is not None:
        shown = [p for p in evaluated if p in asked]
        omitted = []
        not_evaluated = [names.get(p, p) for p in asked if p not in progs]
    else:
        shown = [p for p in evaluated if p in applicable and has_result(decision, progs[p])]
        omitted = [progs[p].name for p in evaluated if p in applicable and p not in shown]
        not_evaluated = []
    with_them = [p for p in evaluated if p not in applicable] if shown else []
    return shown, with_them, omitted, not_evaluated


def _members_of(decision: dict, progs: dict, ir: dict, request: dict | None, enums: dict) -> list[dict]:
    """The household's members from the request; without one, the members the decision has results for."""
    members = _members(ir, request, enums)
    if not members:
        seen = set()
        for prog in progs.values():
            for container in prog.scoped:
                for mid in decision["programs"][prog.id].get(container) or {}:
                    if mid not in seen:
                        seen.add(mid)
                        members.append({"id": mid, "relation": None, "applicant": False})
    return members


def _section(prog: "_Program", out: dict, accompanying: bool, hide: set[str], ctx: dict) -> dict:
    """One program as the templates show it: results, members assessed, reasons, facts to supply."""
    hide = hide if accompanying else set()
    first = prog.household[0]["type"] if prog.household else None
    section = {"id": prog.id, "name": prog.name, "accompanying": accompanying,
               "citation": _citation("；".join(prog.citations), ctx["articles"]),
               "rows": _rows(prog.household, out, out.get("undecided", ()), ctx["enums"], hide,
                             headline=first == "bool" or not prog.scoped),
               "members": [], "reasons": _reasons(out.get("reasons"), hide, (OBJECTION_RULE, APPLIED_RULE)),
               "missing": _facts(out.get("missing_facts"), ctx["whole"])}
    for container, outputs in prog.scoped.items():
        for mid, mout in (out.get(container) or {}).items():
            undecided = mout.get("undecided", ())
            assessed = undecided or mout.get("reasons") or any(not _nothing(_lookup(mout, o["key"]))
                                                               for o in outputs)
            if not assessed:
                continue  # not assessed for this program: not shown, and never as 否
            section["members"].append({
                "id": mid, "relation": ctx["relation"].get(mid),
                "rows": _rows(outputs, mout, undecided, ctx["enums"], set(), headline=True),
                "reasons": _reasons(mout.get("reasons"), set()),
                "missing": _facts(mout.get("missing_facts"), ctx["whole"])})
    return section


def _referrals(decision: dict, ir: dict, shown: list[str], ctx: dict) -> tuple[list, list]:
    """The referrals of the programs shown: due ones, and ones that depend on facts still to supply."""
    amount_types = {}
    for d in ir["definitions"]:
        if d.get("kind") == "referral":
            item = d["id"].removeprefix(f"{d['program']}.").removeprefix(f"{d['scope']}." if d["scope"] else "")
            amount_types[item] = (d.get("amount") or {}).get("type")
    due, pending = [], []
    for r in decision.get("referrals", ()):
        if r.get("program") not in shown:
            continue
        t = amount_types.get(r["item_id"]) or "money"
        item = {"item": r["item"], "member": r["member"], "citation": r["citation"],
                "amount": None if r["amount"] is None else value_text(r["amount"], t, ctx["enums"]),
                "missing": _facts(r.get("missing_facts"), ctx["whole"])}
        (pending if r.get("status") == "unknown" else due).append(item)
    return due, pending


def context(decision: dict, bundle: dict, request: dict | None = None, info: dict | None = None) -> dict:
    """What a notice shows (see the module's docstring): decision and request in, template values out."""
    ir = bundle["ir"]
    enums = {e["id"]: dict(e["members"]) for e in ir["enums"]}
    defs = {d["id"]: d for d in ir["definitions"]}
    params = bundle.get("parameters") or {}
    applicable, names = selection_field(ir)
    progs = {p["id"]: _Program(p, defs, ir) for p in ir["programs"] if p["id"] in decision["programs"]}
    asked = requested_programs(request)
    shown, with_them, omitted, not_evaluated = _select(decision, progs, applicable, names, asked)

    records = {r["id"]: r["name"] for r in ir["records"]}
    members = _members_of(decision, progs, ir, request, enums)
    ctx = {"enums": enums, "articles": bundle.get("articles") or {},
           "relation": {m["id"]: m["relation"] for m in members},
           "whole": {f"$.{i['id']}": records[strip_optional(i["type"])[7:]] for i in ir["inputs"]
                     if strip_optional(i["type"]).startswith("record:")}}
    hide = {p for p in applicable if p not in shown}
    programs = [_section(progs[p], decision["programs"][p], p in with_them, hide, ctx)
                for p in shown + with_them
                if progs[p].household or progs[p].scoped]  # 专项社会救助 has no outputs: told by its referrals
    referrals_due, referrals_pending = _referrals(decision, ir, shown, ctx)

    # the standards the programs told used, from the trace (the values this evaluation read), each once
    told = [s["id"] for s in programs] + (shown if referrals_due or referrals_pending else [])
    used = {pid for p in dict.fromkeys(told) for pid in progs[p].parameters}
    trace = decision.get("trace", ())
    figures = [_figure(t, params) for t in trace if t["id"] in used and t.get("unit") not in _COUNT_UNITS
               and t["id"] not in (REVIEW_DAYS, LITIGATION_MONTHS)]
    illustrative = list(dict.fromkeys(t["name"] for t in trace if t["id"] in used and t.get("illustrative")))

    missing = [f for s in programs for f in s["missing"] + [g for m in s["members"] for g in m["missing"]]]
    missing += [f for r in referrals_pending for f in r["missing"]]
    manifest = bundle.get("manifest") or {}
    info = dict(info or {})
    return {
        "title": TITLE, "unfilled": UNFILLED,
        "issuer": info.get("issuer"), "doc_number": info.get("doc_number"),
        "issued": info.get("issued"), "review_body": info.get("review_body"),
        "applicant": next((m["id"] for m in members if m["applicant"]), None), "members": members,
        "locality": decision["locality"], "date": decision["date"],
        "bundle": {"id": decision["bundle"]["id"], "version": decision["bundle"]["version"],
                   "sha256": decision["bundle"]["sha256"][:12],
                   "title": manifest.get("title") if manifest.get("sha256") == decision["bundle"]["sha256"] else None},
        "asked": None if asked is None else [names.get(p, p) for p in asked],
        "omitted": omitted, "not_evaluated": not_evaluated,
        "programs": programs,
        "referrals_due": referrals_due, "referrals_pending": referrals_pending,
        "missing": list(dict.fromkeys(missing)),
        "figures": figures, "illustrative": illustrative,
        "objection": _objection(decision, trace),
    }


def _objection(decision: dict, trace) -> dict:
    """The rights of objection: the periods and their sources from the decision's trace (never written here)."""
    by_id = {t["id"]: t for t in trace if "at" not in t}
    out = {"citation": None, "review": None, "litigation": None}
    for prog in decision["programs"].values():
        for r in prog.get("reasons", ()):
            if r.get("rule") == OBJECTION_RULE:
                out["citation"] = r["citation"]
    for key, pid in (("review", REVIEW_DAYS), ("litigation", LITIGATION_MONTHS)):
        t = by_id.get(pid)
        if t is not None:
            value = _with_unit(t["value"], t["unit"]) + ("日" if t["unit"] in _COUNT_UNITS else "")
            out[key] = {"value": value, "source": _source_text(t), "illustrative": bool(t.get("illustrative"))}
    return out


def notice(decision: dict, bundle: dict, fmt: str, request: dict | None = None, info: dict | None = None) -> str:
    """A decision as a 告知书 in Markdown (`md`) or HTML (`html`)."""
    from .documents import environment
    if fmt not in ("md", "html"):
        raise ValueError(f"notice format {fmt!r}")
    ctx = context(decision, bundle, request, info)
    return environment(fmt == "html").get_template(f"notice.{fmt}.j2").render(n=ctx, site={"title": TITLE})


def info_from(request: dict | None, **flags) -> dict:
    """Who issues the notice: the request's `notice` block (already checked by the runtime), each field
    overridden by a flag that is given (a date flag as YYYY-MM-DD)."""
    info = {}
    block = request.get(notice_block.KEY) if isinstance(request, dict) else None
    if isinstance(block, dict):
        info.update({k: v for k, v in block.items() if k in notice_block.FIELDS and v is not None})
    info.update({k: v for k, v in flags.items() if v is not None})
    if isinstance(info.get("issued"), str):
        info["issued"] = dt.date.fromisoformat(info["issued"])
    return info


# ── PDF ─────────────────────────────────────────────────────────────────────────────────────────────────────
class PdfError(Exception):
    """The PDF could not be made; the message says why, in Chinese."""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def pdf(html: str, out: Path, timeout: int = 120) -> Path:
    """Print an HTML notice to `out` as A4 PDF with headless Chromium; written to a temporary file beside `out`
    and renamed, so `out` is either the whole PDF or untouched."""
    browser = chromium()
    if browser is None:
        raise PdfError("未找到 Chromium 浏览器（chromium 或 chromium-browser）：生成 PDF 告知书需要无界面 Chromium，"
                       "请先安装（如 apt-get install chromium），或改用 --html 输出 HTML 后自行打印")
    out = Path(out)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise PdfError(f"目录 {folder} 不存在，无法写入 {out}")
    work = Path(tempfile.mkdtemp(prefix="policyc-notice-"))
    tmp = str(folder / f".{out.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")  # Chromium creates it (umask)
    try:
        page = work / "notice.html"
        page.write_text(html, encoding="utf-8")
        profile = work / "profile"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--print-to-pdf={tmp}", "--no-pdf-header-footer", page.as_uri()]
        try:  # in a session of its own, so that a timeout ends Chromium's helper processes too
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as err:
            raise PdfError(f"无法运行 Chromium（{browser}）：{err.strerror or err}") from None
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise PdfError(f"Chromium 在 {timeout} 秒内没有完成打印，未生成 PDF") from None
        data = Path(tmp).read_bytes() if Path(tmp).exists() else b""
        if not data.startswith(b"%PDF"):
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] if stderr else []
            raise PdfError("Chromium 没有生成 PDF" + (f"（退出码 {proc.returncode}：{tail[0][:200]}）" if tail else
                                                    f"（退出码 {proc.returncode}）"))
        atomic.replace(tmp, out)
        return out
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        shutil.rmtree(work, ignore_errors=True)
