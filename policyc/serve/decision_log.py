"""The decision log: every decision the service answered, with the request it answered (personal fields masked),
stored durably in SQLite (one file, shared by several worker processes) or PostgreSQL.

    log = open_log("sqlite:///var/lib/policyc/decisions.db")          # or "postgresql://user@host/db"
    entry = log.make_entry(decision_id=new_decision_id(), request=req, decision=dec, bundle=bundle)
    log.record([entry])                                               # returns once committed
    log.get(entry["decision_id"]); list(log.query(locality="140105", program="dibao"))

In the service, `AsyncLogWriter(log)` groups concurrent entries into one transaction (group commit) and lets each
request wait for its own entry's commit. JSON is stored as text, numbers exactly as given (Decimal("1234.50") is
stored as 1234.50 and read back as Decimal("1234.50")). See docs/decision-log.md.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import sqlite3
import threading
import time as _time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit, urlencode

from ..runtime import jsonio

SCHEMA_VERSION = 1
MASK_TOKEN = "***"

# Fields that name or reach a person. The request schema (schemas/household.schema.json) has none of them today:
# it is closed (additionalProperties: false) and describes people only by household-local member ids, ages,
# incomes and conditions. These patterns guard against the schema, or a caller's envelope, growing them.
DEFAULT_MASK = [
    "**.name", "**.full_name", "**.id_number", "**.id_card", "**.identity_number", "**.id_card_number",
    "**.phone", "**.mobile", "**.telephone", "**.email", "**.address", "**.bank_account", "**.bank_card",
    "**.birth_date", "**.date_of_birth",
]


class DecisionLogError(Exception):
    """A decision-log problem a person can act on; the message is Chinese, `code` is stable:
    L0001 bad address or option, L0002 cannot open or connect, L0003 not a decision log or a newer schema,
    L0004 writing failed, L0005 bad entry or filter."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# ── ids and time ──────────────────────────────────────────────────────────────────────────────────────────────────

_ID_LOCK = threading.Lock()
_ID_STATE = [0, 0]  # last milliseconds, last counter


def new_decision_id() -> str:
    """A UUIDv7 (RFC 9562) as lowercase hex with hyphens: 48 bits of Unix milliseconds, a 12-bit counter that keeps
    ids from one process strictly increasing within a millisecond (method 1), 62 random bits. Ids sort by time
    as text; they are safe in URLs and file names."""
    with _ID_LOCK:
        ms = _time.time_ns() // 1_000_000
        last_ms, counter = _ID_STATE
        if ms > last_ms:
            counter = secrets.randbits(11)  # leave room to count up within the millisecond
        else:  # same millisecond, or the clock went back: stay monotonic
            ms, counter = last_ms, counter + 1
            if counter > 0xFFF:
                ms, counter = ms + 1, secrets.randbits(11)
        _ID_STATE[0], _ID_STATE[1] = ms, counter
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | secrets.randbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _utc(moment) -> _dt.datetime:
    """A datetime, date or ISO text as an aware UTC datetime (naive values are taken as UTC)."""
    if isinstance(moment, str):
        moment = _parse_time(moment)
    elif isinstance(moment, _dt.date) and not isinstance(moment, _dt.datetime):
        moment = _dt.datetime(moment.year, moment.month, moment.day)
    if not isinstance(moment, _dt.datetime):
        raise DecisionLogError("L0005", f"时间 {moment!r} 无效，应为 ISO 8601 日期或时间")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc)


def _parse_time(text: str) -> _dt.datetime:
    raw = text.strip()
    value = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return _dt.datetime.combine(_dt.date.fromisoformat(value), _dt.time())
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:?\d{2})?", value):
            raise ValueError
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        raise DecisionLogError("L0005", f"时间 {text!r} 无效，应为 ISO 8601 格式，如 2024-07-01 或 "
                                        f"2024-07-01T08:00:00Z（不带时区按 UTC）") from None


def _time_text(moment: _dt.datetime) -> str:
    """Fixed-width UTC text, so that text order is time order: 2024-07-01T08:00:00.000000Z."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ── exact JSON ────────────────────────────────────────────────────────────────────────────────────────────────────

class RawJSON(str):
    """JSON text that goes into an entry as it is (e.g. the decision text the service already sent)."""


# Decimals and raw JSON leave the C encoder as marked strings whose marks are then removed (as in jsonio); the
# marks carry a random nonce, so no string in a request can imitate them.
_NONCE = secrets.token_hex(8)
_OPEN, _CLOSE = f'"\\u0000{_NONCE}', f'\\u0000{_NONCE}"'
_MARK = re.compile(re.escape(_OPEN) + r"(.*?)" + re.escape(_CLOSE))


class _RawMarker:
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def dumps_exact(obj) -> str:
    """Compact JSON with every Decimal written with all its digits (jsonio.dumps normalises 1234.50 to 1234.5), and
    RawJSON values of a top-level dict written as they are. Floats, which the runtime never produces, are written
    as Python's shortest round-trip text."""
    raws: list[str] = []

    def default(o):
        if isinstance(o, Decimal):
            if not o.is_finite():
                raise ValueError(f"cannot write {o} as JSON")
            return f"\x00{_NONCE}{o:f}\x00{_NONCE}"  # every digit as given: 1234.50 stays 1234.50
        if isinstance(o, _RawMarker):
            raws.append(o.text)
            return f"\x00{_NONCE}R{len(raws) - 1}\x00{_NONCE}"
        if isinstance(o, _dt.date):
            return o.isoformat()
        if isinstance(o, (tuple, set, frozenset)):
            return list(o)
        raise TypeError(f"{type(o).__name__} is not JSON serializable")

    # json.dumps writes a str subclass itself, without asking `default`: swap RawJSON values for markers
    if isinstance(obj, dict) and any(type(v) is RawJSON for v in obj.values()):
        obj = {k: (_RawMarker(str(v)) if type(v) is RawJSON else v) for k, v in obj.items()}
    text = json.dumps(obj, default=default, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if _OPEN not in text:
        return text

    def repl(m):
        body = m.group(1)
        return raws[int(body[1:])] if body.startswith("R") else body
    return _MARK.sub(repl, text)


def canonical_request_sha256(request) -> str:
    """sha256 of the request's canonical JSON (jsonio, sorted keys, compact): the same request, however it was
    spelled on the wire (key order, spacing, 1200.00 or 1200), has the same hash."""
    return hashlib.sha256(jsonio.dumps(request, indent=None, sort_keys=True).encode("utf-8")).hexdigest()


# ── masking ───────────────────────────────────────────────────────────────────────────────────────────────────────

_KEY = re.compile(r"\*\*|\*|[^.\[\]*\s]+")
_INDEX = re.compile(r"\[(\*|\d+)\]")
_DEEP, _ANY_KEY, _ANY_ITEM = ("**",), ("*key",), ("*item",)


class Mask:
    """Path patterns for personal fields, compiled. A pattern is dotted keys with `[*]` (every item of an array),
    `[N]` (one item), `*` (every key of an object) and `**` (any depth, also written `..`), optionally starting
    with `$.`: `household.members[*].name`, `household.address`, `**.phone`. A matching value (a whole object or
    array too) is replaced by "***"; null stays null, so a masked entry still shows which fields were absent."""

    def __init__(self, patterns: Iterable[str] | None = None):
        if isinstance(patterns, str):
            patterns = [patterns]
        self.patterns = list(DEFAULT_MASK if patterns is None else patterns)
        self._compiled = [self._compile(p) for p in self.patterns]
        self._steps: dict = {}  # (states, step) -> result: requests repeat their keys
        # a pattern ending in a key can match only if `"key":` occurs in the request's compact JSON
        self._always = any(t[-1][0] != "key" for t in self._compiled)
        self._needles = sorted({json.dumps(t[-1][1], ensure_ascii=False) + ":" for t in self._compiled
                                if t[-1][0] == "key"})

    @staticmethod
    def _compile(pattern) -> tuple:
        def bad(why="应为字段路径，如 household.members[*].name 或 **.phone"):
            return DecisionLogError("L0001", f"屏蔽规则 {pattern!r} 无效：{why}")
        if not isinstance(pattern, str) or not pattern.strip():
            raise bad()
        text = pattern.strip()
        if text.startswith("$"):
            text = text[1:]
        text = re.sub(r"\.\.(?=\[)", ".**", text).replace("..", ".**.")
        if text.startswith("."):
            text = text[1:]
        tokens, pos, need_key = [], 0, True
        while pos < len(text):
            if text[pos] == "[":
                m = _INDEX.match(text, pos)
                if m is None or need_key:
                    raise bad()
                tokens.append(_ANY_ITEM if m.group(1) == "*" else ("item", int(m.group(1))))
                pos, need_key = m.end(), False
                continue
            if text[pos] == ".":
                if need_key:
                    raise bad()
                pos, need_key = pos + 1, True
                continue
            if not need_key:
                raise bad()
            m = _KEY.match(text, pos)
            if m is None:
                raise bad()
            key = m.group(0)
            tokens.append(_DEEP if key == "**" else _ANY_KEY if key == "*" else ("key", key))
            pos, need_key = m.end(), False
        if need_key or not tokens:
            raise bad()
        if tokens[-1] == _DEEP:
            raise bad("不能以 ** 结尾：请写出要屏蔽的字段")
        return tuple(tokens)

    def _step(self, states: frozenset, step) -> tuple[frozenset, bool]:
        """Advance the (pattern, position) states over one step (a key or an index): the new states, and whether a
        pattern ends here."""
        key = (states, step)
        found = self._steps.get(key)
        if found is None:
            found = self._advance(states, step)
            if len(self._steps) < 4096:
                self._steps[key] = found
        return found

    def _advance(self, states, step):
        closure, pending = set(), list(states)
        while pending:  # `**` also matches no step at all
            p, i = pending.pop()
            if (p, i) not in closure:
                closure.add((p, i))
                if self._compiled[p][i] == _DEEP:
                    pending.append((p, i + 1))
        out, hit = set(), False
        for p, i in closure:
            toks = self._compiled[p]
            tok = toks[i]
            if tok == _DEEP:
                out.add((p, i))  # ** swallows this step and stays
                continue
            if isinstance(step, str):
                ok = tok == _ANY_KEY or tok == ("key", step)
            else:
                ok = tok == _ANY_ITEM or tok == ("item", step)
            if ok:
                if i + 1 == len(toks):
                    hit = True
                else:
                    out.add((p, i + 1))
        return frozenset(out), hit

    def apply(self, value, compact_json: str | None = None):
        """A masked copy of the request (the original is not changed; unmasked parts may be shared).
        `compact_json`, the request's compact JSON if the caller has it, lets a request with none of the masked
        keys skip the walk."""
        if not self._compiled:
            return value
        if compact_json is not None and not self._always and not any(n in compact_json for n in self._needles):
            return value
        return self._walk(value, frozenset((p, 0) for p in range(len(self._compiled))))

    def _walk(self, value, states):
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            return value
        out = []
        for k, v in items:
            nxt, hit = self._step(states, k)
            out.append((k, (None if v is None else MASK_TOKEN) if hit else self._walk(v, nxt) if nxt else v))
        return dict(out) if isinstance(value, dict) else [v for _, v in out]


_MASK_CACHE: dict[tuple, Mask] = {}


def _mask_of(mask) -> Mask:
    if isinstance(mask, Mask):
        return mask
    key = None if mask is None else tuple(mask)
    found = _MASK_CACHE.get(key)
    if found is None:
        found = Mask(mask)
        if len(_MASK_CACHE) < 64:
            _MASK_CACHE[key] = found
    return found


# Identity-card and mobile numbers are masked wherever they appear, in the request and the decision alike: a
# caller that keys members by 身份证号 would otherwise write them into every decision's member lists and reasons.
# Each distinct number becomes "***1", "***2", … (numbered within the entry, the same in request and decision).
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[0-9Xx]|1[3-9]\d{9})(?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _is_identifier(text: str) -> bool:
    if len(text) == 11:
        return True  # a mainland mobile number
    total = sum(int(c) * w for c, w in zip(text[:17], _ID_WEIGHTS))
    return "10X98765432"[total % 11] == text[17].upper()  # checksum: an 18-digit amount or code is left alone


class _Scrubber:
    def __init__(self):
        self.tokens: dict[str, str] = {}

    def _sub(self, m):
        text = m.group(1)
        if not _is_identifier(text):
            return text
        token = self.tokens.get(text)
        if token is None:
            token = self.tokens[text] = f"{MASK_TOKEN}{len(self.tokens) + 1}"
        return token

    def text(self, s: str) -> str:
        return _ID_NUMBER.sub(self._sub, s) if _has_digit_run(s) else s

    def walk(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self.walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        return value


_DIGIT_RUN = re.compile(r"\d{11}")


def _has_identifier(text: str) -> bool:
    return any(_is_identifier(m.group(1)) for m in _ID_NUMBER.finditer(text))


def _has_digit_run(s: str) -> bool:
    return len(s) >= 11 and _DIGIT_RUN.search(s) is not None


# ── entries ───────────────────────────────────────────────────────────────────────────────────────────────────────

def _bundle_summary(bundle) -> dict:
    """{id, version, sha256, signer} from a loaded bundle (its manifest) or from such a summary itself."""
    if not isinstance(bundle, dict):
        raise DecisionLogError("L0005", "决策日志条目缺少规则包信息")
    man = bundle.get("manifest") if isinstance(bundle.get("manifest"), dict) else bundle
    signer = bundle.get("signer", man.get("signer"))
    if signer is None and isinstance(bundle.get("signature"), dict):
        sig = bundle["signature"]
        signer = sig.get("signer", sig.get("key_id"))
    return {"id": man.get("id"), "version": man.get("version"), "sha256": man.get("sha256"), "signer": signer}


def _decision_head(text: str) -> dict:
    """The decision's JSON text parsed for its summary fields. The service's text ends with the long trace
    (Evaluator.evaluate_json): parse what comes before it when that is a whole object, the whole text otherwise."""
    try:
        cut = text.rfind(',"trace":[')
        if cut > 0 and text.rstrip().endswith("]}"):
            try:
                head = jsonio.loads(text[:cut] + "}")
                if isinstance(head, dict):
                    return head
            except ValueError:
                pass
        return jsonio.loads(text)
    except (ValueError, RecursionError) as err:
        raise DecisionLogError("L0005", f"决定不是有效的 JSON：{err}") from None


try:  # trace entries the runtime shares between decisions (read-only): written once, then reused
    from ..runtime.evaluator import _Frozen as _SHARED_TRACE_ENTRY
except ImportError:  # pragma: no cover
    _SHARED_TRACE_ENTRY = None
_TRACE_TEXT: dict[int, tuple] = {}


def _trace_item_text(item) -> str:
    if _SHARED_TRACE_ENTRY is None or type(item) is not _SHARED_TRACE_ENTRY:
        return dumps_exact(item)
    found = _TRACE_TEXT.get(id(item))
    if found is not None and found[0] is item:
        return found[1]
    text = dumps_exact(item)
    if len(_TRACE_TEXT) >= 50000:
        _TRACE_TEXT.clear()
    _TRACE_TEXT[id(item)] = (item, text)  # the entry is held, so its id is not reused while cached
    return text


def _decision_text(decision: dict) -> str:
    trace = decision.get("trace")
    if not isinstance(trace, list) or not trace:
        return dumps_exact(decision)
    head = dumps_exact({k: v for k, v in decision.items() if k != "trace"})
    body = ",".join(_trace_item_text(t) for t in trace)
    return f'{head[:-1]}{"," if len(head) > 2 else ""}"trace":[{body}]}}'


def make_entry(*, decision_id: str, request: dict, decision, bundle: dict, mask=None,
               time: _dt.datetime | None = None, scrub_identifiers: bool = True) -> dict:
    """One decision-log entry. `decision` is the decision dict, or the JSON text the service sent (kept as it is);
    `bundle` is the loaded bundle or {id, version, sha256, signer}; `mask` is a list of path patterns (None: the
    defaults, []: none) or a Mask; `time` defaults to now. `request_sha256` is computed over the unmasked request."""
    if not isinstance(decision_id, str) or not decision_id or len(decision_id) > 100:
        raise DecisionLogError("L0005", "决策编号应为不超过 100 个字符的文字")
    if isinstance(decision, str):
        stored_decision = RawJSON(decision)
        decision = _decision_head(decision)
    else:
        stored_decision = decision
    if not isinstance(decision, dict):
        raise DecisionLogError("L0005", "决定应为 JSON 对象")
    loc = decision.get("locality")
    programs = decision.get("programs") if isinstance(decision.get("programs"), dict) else {}
    eligible = {pid: res["eligible"] for pid, res in programs.items()
                if isinstance(res, dict) and "eligible" in res and (res["eligible"] is None or
                                                                    isinstance(res["eligible"], bool))}
    if not isinstance(request, dict):
        raise DecisionLogError("L0005", "请求应为 JSON 对象")
    try:
        canonical = jsonio.dumps(request, indent=None, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise DecisionLogError("L0005", f"请求无法写成 JSON：{err}") from None
    masked = _mask_of(mask).apply(request, canonical)
    if scrub_identifiers and _has_identifier(canonical):
        # the decision can hold only the identifiers its request held: walk it only when the request has some
        scrub = _Scrubber()
        masked = scrub.walk(masked)
        if scrub.tokens:
            whole = jsonio.loads(stored_decision) if isinstance(stored_decision, RawJSON) else stored_decision
            stored_decision = scrub.walk(whole)
    return {
        "decision_id": decision_id,
        "time": _time_text(time or _dt.datetime.now(_dt.timezone.utc)),
        "bundle": _bundle_summary(bundle),
        "locality": loc.get("code") if isinstance(loc, dict) else loc,
        "date": decision.get("date") if isinstance(decision.get("date"), str) else None,
        "programs": sorted(programs),
        "eligible": eligible,
        "request_sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        "request": masked,
        "decision": stored_decision,
    }


_REQUIRED = ("decision_id", "time", "request_sha256", "request", "decision")


def _row(entry: dict) -> tuple:
    if not isinstance(entry, dict) or any(k not in entry for k in _REQUIRED):
        raise DecisionLogError("L0005", "决策日志条目不完整：请用 make_entry 生成")
    when = _time_text(_utc(entry["time"]))
    if when != entry["time"]:
        entry = {**entry, "time": when}
    eligible = entry.get("eligible") if isinstance(entry.get("eligible"), dict) else {}
    prog_rows = [(p, eligible.get(p) if isinstance(eligible.get(p), bool) else None)
                 for p in sorted({p for p in entry.get("programs") or () if isinstance(p, str)})]
    bundle = entry.get("bundle") if isinstance(entry.get("bundle"), dict) else {}
    if isinstance(entry["decision"], dict):
        entry = {**entry, "decision": RawJSON(_decision_text(entry["decision"]))}
    return (entry["decision_id"], when, entry.get("locality"), entry.get("date"), bundle.get("id"),
            bundle.get("version"), bundle.get("sha256"), entry["request_sha256"], dumps_exact(entry), prog_rows)


# ── the log ───────────────────────────────────────────────────────────────────────────────────────────────────────

class DecisionLog:
    """Base of the backends. Thread-safe: record, get and query may be called from any thread."""

    url: str
    mask: Mask

    def make_entry(self, *, decision_id: str, request: dict, decision, bundle: dict,
                   time: _dt.datetime | None = None) -> dict:
        """An entry masked with this log's mask."""
        return make_entry(decision_id=decision_id, request=request, decision=decision, bundle=bundle,
                          mask=self.mask, time=time)

    def record(self, entries: list[dict]) -> None:
        """Store the entries in one transaction; returns only after it is committed. Recording an entry again with
        the same id and the same content is a no-op (a retry); with other content it is an error (L0004)."""
        try:
            rows = [_row(e) for e in entries]
        except (TypeError, ValueError, RecursionError) as err:
            raise DecisionLogError("L0005", f"决策日志条目无法写成 JSON：{err}") from None
        if rows:
            self._record(rows)

    def get(self, decision_id: str) -> dict | None:
        text = self.get_json(decision_id)
        return None if text is None else jsonio.loads(text)

    def query(self, since=None, locality: str | None = None, program: str | None = None,
              limit: int | None = None, until=None) -> Iterator[dict]:
        """Entries in time order (then id), filtered; `since` inclusive, `until` exclusive (datetime, date or ISO
        text; naive means UTC)."""
        for text in self.query_json(since=since, locality=locality, program=program, limit=limit, until=until):
            yield jsonio.loads(text)

    def query_json(self, since=None, locality=None, program=None, limit=None, until=None) -> Iterator[str]:
        """As `query`, each entry as the exact JSON text stored (one line, no newline)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise DecisionLogError("L0005", f"条数上限 {limit!r} 无效，应为非负整数")
        bounds = (None if since is None else _time_text(_utc(since)),
                  None if until is None else _time_text(_utc(until)))
        return self._query(bounds, locality, program, limit)

    def get_json(self, decision_id: str) -> str | None:
        if not isinstance(decision_id, str) or not decision_id:
            return None
        return self._get(decision_id)

    def count(self) -> int:
        return self._count()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # backends implement these
    def _record(self, rows: list[tuple]) -> None: raise NotImplementedError
    def _get(self, decision_id: str) -> str | None: raise NotImplementedError
    def _query(self, bounds, locality, program, limit) -> Iterator[str]: raise NotImplementedError
    def _count(self) -> int: raise NotImplementedError


def _check_duplicates(rows, existing: dict[str, str]) -> None:
    """After a unique violation: fine if the rows already stored are stored with the same text (a retried
    batch); the others are then written."""
    clash = [r[0] for r in rows if r[0] in existing and existing[r[0]] != r[8]]
    if clash:
        raise DecisionLogError("L0004", f"决策编号 {clash[0]} 已记录过不同的内容，本批未写入")


def _duplicate_ids(rows) -> None:
    seen = set()
    for r in rows:
        if r[0] in seen:
            raise DecisionLogError("L0004", f"同一批中决策编号 {r[0]} 出现了两次，本批未写入")
        seen.add(r[0])


# ── SQLite ────────────────────────────────────────────────────────────────────────────────────────────────────────

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS policyc_log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
  decision_id TEXT PRIMARY KEY,
  time TEXT NOT NULL,
  locality TEXT,
  date TEXT,
  bundle_id TEXT,
  bundle_version TEXT,
  bundle_sha256 TEXT,
  request_sha256 TEXT NOT NULL,
  entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time, decision_id);
CREATE INDEX IF NOT EXISTS decisions_locality_time ON decisions (locality, time, decision_id);
CREATE INDEX IF NOT EXISTS decisions_request ON decisions (request_sha256);
CREATE TABLE IF NOT EXISTS decision_programs (
  program TEXT NOT NULL,
  time TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  eligible INTEGER,
  PRIMARY KEY (program, time, decision_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS decision_programs_id ON decision_programs (decision_id);
CREATE TRIGGER IF NOT EXISTS decisions_delete_programs AFTER DELETE ON decisions BEGIN
  DELETE FROM decision_programs WHERE decision_id = OLD.decision_id;
END;
"""

_INSERT_SQLITE = ("INSERT INTO decisions (decision_id, time, locality, date, bundle_id, bundle_version, bundle_sha256,"
                  " request_sha256, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


class SQLiteLog(DecisionLog):
    """One file in WAL mode, synchronous=NORMAL by default (a committed entry survives the process being killed;
    `?synchronous=FULL` also survives power loss). Several processes may write the same file: writers take the
    lock with BEGIN IMMEDIATE and wait up to `busy_timeout` ms for it."""

    def __init__(self, path: str, mask=None, *, create: bool = True, synchronous: str = "NORMAL",
                 busy_timeout: int = 30000, url: str | None = None):
        self.path = str(Path(path).expanduser().absolute())
        self.url = url or f"sqlite://{self.path}"
        self.mask = _mask_of(mask)
        self._sync = synchronous
        self._busy = busy_timeout
        self._lock = threading.Lock()
        if not create and not os.path.isfile(self.path):
            raise DecisionLogError("L0002", f"决策日志文件 {self.path} 不存在")
        parent = os.path.dirname(self.path)
        if create and not os.path.isdir(parent):
            raise DecisionLogError("L0002", f"无法创建决策日志 {self.path}：目录 {parent} 不存在")
        try:
            self._conn = self._connect()
            self._prepare(create)
        except sqlite3.DatabaseError as err:
            self._close_quietly()
            raise DecisionLogError("L0002", f"无法打开决策日志 {self.path}：{_sqlite_reason(err)}") from None
        except DecisionLogError:
            self._close_quietly()
            raise

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy)}")
        return conn

    def _prepare(self, create: bool) -> None:
        c = self._conn
        if create:  # entries are ~20 KB of JSON: larger pages, shorter overflow chains (a no-op on an existing file)
            c.execute("PRAGMA page_size = 16384")
        mode = c.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            if not create and not self._has_tables(c):
                raise DecisionLogError("L0003", f"{self.path} 不是决策日志")
            for _ in range(50):  # switching to WAL needs a moment alone with the file
                try:
                    mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as err:
                    if "locked" not in str(err) and "busy" not in str(err):
                        raise
                    _time.sleep(0.05)
            if str(mode).lower() != "wal":
                raise DecisionLogError("L0002", f"决策日志 {self.path} 无法使用 WAL 模式（{mode}）")
        c.execute(f"PRAGMA synchronous = {self._sync}")
        if self._has_tables(c):
            self._check_version(c)
            return
        if not create:
            raise DecisionLogError("L0003", f"{self.path} 不是决策日志（没有决策日志的表）")
        c.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _split_sql(_SQLITE_SCHEMA):
                c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO policyc_log_meta (key, value) VALUES ('schema_version', ?)",
                      (str(SCHEMA_VERSION),))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._check_version(c)

    @staticmethod
    def _has_tables(c) -> bool:
        return c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'policyc_log_meta'"
                         ).fetchone() is not None

    def _check_version(self, c) -> None:
        row = c.execute("SELECT value FROM policyc_log_meta WHERE key = 'schema_version'").fetchone()
        _check_version(row[0] if row else None, self.path)

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
            self._conn = None

    def _record(self, rows) -> None:
        _duplicate_ids(rows)
        with self._lock:
            c = self._require()
            try:
                c.execute("BEGIN IMMEDIATE")
                try:
                    c.executemany(_INSERT_SQLITE, [r[:9] for r in rows])
                    c.executemany("INSERT INTO decision_programs (program, time, decision_id, eligible)"
                                  " VALUES (?, ?, ?, ?)",
                                  [(p, r[1], r[0], None if e is None else int(e)) for r in rows for p, e in r[9]])
                except sqlite3.IntegrityError:
                    c.execute("ROLLBACK")
                    existing = {}
                    for r in rows:
                        found = c.execute("SELECT entry FROM decisions WHERE decision_id = ?", (r[0],)).fetchone()
                        if found:
                            existing[r[0]] = found[0]
                    _check_duplicates(rows, existing)
                    if len(existing) < len(rows):  # some were stored before, the rest not: store the rest
                        self._insert_missing(c, [r for r in rows if r[0] not in existing])
                    return
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
                c.execute("COMMIT")
            except sqlite3.DatabaseError as err:
                if c.in_transaction:  # a failed COMMIT (busy) leaves the transaction open
                    try:
                        c.execute("ROLLBACK")
                    except sqlite3.DatabaseError:
                        pass
                raise DecisionLogError("L0004", f"写入决策日志 {self.path} 失败：{_sqlite_reason(err)}") from None

    def _insert_missing(self, c, rows) -> None:
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany(_INSERT_SQLITE, [r[:9] for r in rows])
            c.executemany("INSERT INTO decision_programs (program, time, decision_id, eligible) VALUES (?, ?, ?, ?)",
                          [(p, r[1], r[0], None if e is None else int(e)) for r in rows for p, e in r[9]])
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DecisionLogError("L0002", f"决策日志 {self.path} 已关闭")
        return self._conn

    def _get(self, decision_id):
        with self._lock:
            try:
                row = self._require().execute("SELECT entry FROM decisions WHERE decision_id = ?",
                                              (decision_id,)).fetchone()
            except sqlite3.DatabaseError as err:
                raise DecisionLogError("L0002", f"读取决策日志 {self.path} 失败：{_sqlite_reason(err)}") from None
        return row[0] if row else None

    def _count(self):
        with self._lock:
            try:
                return self._require().execute("SELECT count(*) FROM decisions").fetchone()[0]
            except sqlite3.DatabaseError as err:
                raise DecisionLogError("L0002", f"读取决策日志 {self.path} 失败：{_sqlite_reason(err)}") from None

    def _query(self, bounds, locality, program, limit):
        sql, params = _select_sql(bounds, locality, program, limit, "?")
        self._require()
        return self._stream(sql, params)

    def _stream(self, sql, params):
        # a connection of its own: a long export reads a snapshot and never holds up the writers (WAL)
        try:
            conn = self._connect()
        except sqlite3.DatabaseError as err:
            raise DecisionLogError("L0002", f"无法打开决策日志 {self.path}：{_sqlite_reason(err)}") from None
        try:
            conn.execute("BEGIN")
            cur = conn.execute(sql, params)
            while True:
                rows = cur.fetchmany(256)
                if not rows:
                    break
                for (text,) in rows:
                    yield text
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as err:
            raise DecisionLogError("L0002", f"读取决策日志 {self.path} 失败：{_sqlite_reason(err)}") from None
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._close_quietly()


def _sqlite_reason(err) -> str:
    text = str(err)
    known = {"database is locked": "数据库被其他进程长时间锁定", "disk I/O error": "磁盘读写错误",
             "database or disk is full": "磁盘已满", "file is not a database": "该文件不是 SQLite 数据库",
             "unable to open database file": "无法打开该文件（检查路径和权限）",
             "attempt to write a readonly database": "文件只读，无法写入"}
    for k, v in known.items():
        if k in text:
            return v
    return text


def _split_sql(script: str) -> list[str]:
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER") or joined.endswith("END;")):
            out.append(joined)
            buf = []
    return out


def _check_version(found, where) -> None:
    if found is None:
        raise DecisionLogError("L0003", f"{where} 的决策日志缺少结构版本")
    try:
        version = int(found)
    except ValueError:
        raise DecisionLogError("L0003", f"{where} 的决策日志结构版本 {found!r} 无法识别") from None
    if version > SCHEMA_VERSION:
        raise DecisionLogError("L0003", f"{where} 的决策日志结构版本为 {version}，本程序只支持到 {SCHEMA_VERSION}："
                                        f"请升级 policyc")


def _select_sql(bounds, locality, program, limit, ph, schema_prefix="") -> tuple[str, list]:
    since, until = bounds
    params, where = [], []
    if program is not None:
        sql = (f"SELECT d.entry FROM {schema_prefix}decision_programs p JOIN {schema_prefix}decisions d"
               f" ON d.decision_id = p.decision_id")
        where.append(f"p.program = {ph}")
        params.append(program)
        tcol = "p.time"
        order = "p.time, p.decision_id"
    else:
        sql = f"SELECT d.entry FROM {schema_prefix}decisions d"
        tcol = "d.time"
        order = "d.time, d.decision_id"
    if since is not None:
        where.append(f"{tcol} >= {ph}")
        params.append(since)
    if until is not None:
        where.append(f"{tcol} < {ph}")
        params.append(until)
    if locality is not None:
        where.append(f"d.locality = {ph}")
        params.append(locality)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql, params


# ── PostgreSQL ────────────────────────────────────────────────────────────────────────────────────────────────────

class PostgresLog(DecisionLog):
    """PostgreSQL through psycopg 3: a small pool of connections (each used by one thread at a time). Times are
    timestamptz (µs, like the entry's own UTC text), so both backends order and filter identically; the entry is
    exact JSON text (a jsonb column would normalise numbers: cast `entry::jsonb` in ad-hoc SQL). `?schema=NAME` in
    the URL keeps the tables in that schema (created if missing)."""

    MAX_IDLE = 4

    def __init__(self, conninfo: str, mask=None, *, schema: str | None = None, create: bool = True,
                 url: str | None = None, connect_timeout: int = 10):
        try:
            import psycopg
        except ImportError:
            raise DecisionLogError("L0002", "要使用 PostgreSQL 决策日志，请安装 psycopg：pip install 'policyc[postgres]'"
                                   ) from None
        self._pg = psycopg
        self.url = url or conninfo
        self.mask = _mask_of(mask)
        self._conninfo = conninfo
        self._timeout = connect_timeout
        self._schema = schema
        self._idle: list = []
        self._lock = threading.Lock()
        self._closed = False
        if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
            raise DecisionLogError("L0001", f"模式名 {schema!r} 无效：只能用字母、数字和下划线")
        self._p = f'"{schema}".' if schema else ""
        self._insert = (f"INSERT INTO {self._p}decisions (decision_id, time, locality, date, bundle_id, bundle_version,"
                        f" bundle_sha256, request_sha256, entry) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")
        self._insert_prog = (f"INSERT INTO {self._p}decision_programs (program, time, decision_id, eligible)"
                             f" VALUES (%s, %s, %s, %s)")
        conn = self._acquire()
        try:
            self._prepare(conn, create)
        except BaseException:
            self._release(conn, broken=True)
            raise
        self._release(conn)

    # connections
    def _connect(self):
        kwargs = {} if "connect_timeout" in self._conninfo else {"connect_timeout": self._timeout}
        try:
            return self._pg.connect(self._conninfo, autocommit=False, **kwargs)
        except self._pg.Error as err:
            raise DecisionLogError("L0002", f"无法连接决策日志数据库 {_redact(self.url)}：{_pg_reason(err)}") from None

    def _acquire(self):
        with self._lock:
            if self._closed:
                raise DecisionLogError("L0002", f"决策日志 {_redact(self.url)} 已关闭")
            conn = self._idle.pop() if self._idle else None
        if conn is not None and not conn.closed:
            return conn
        return self._connect()

    def _release(self, conn, broken: bool = False) -> None:
        if broken or conn.closed or conn.info.transaction_status != self._pg.pq.TransactionStatus.IDLE:
            try:
                conn.close()
            except Exception:
                pass
            return
        with self._lock:
            if not self._closed and len(self._idle) < self.MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def _prepare(self, conn, create: bool) -> None:
        p, pg = self._p, self._pg
        try:
            with conn.cursor() as cur:
                exists = cur.execute("SELECT to_regclass(%s)", (f"{p}policyc_log_meta",)).fetchone()[0]
            conn.commit()
            if exists is None:
                if not create:
                    raise DecisionLogError("L0003", f"数据库 {_redact(self.url)} 中没有决策日志的表")
                with conn.cursor() as cur:
                    # one creator at a time: concurrent CREATE TABLE IF NOT EXISTS can still clash in the catalogue
                    cur.execute("SELECT pg_advisory_xact_lock(7261534829)")
                    if self._schema:
                        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                    for stmt in _pg_schema(p):
                        cur.execute(stmt)
                    cur.execute(f"INSERT INTO {p}policyc_log_meta (key, value) VALUES ('schema_version', %s)"
                                f" ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
                conn.commit()
            with conn.cursor() as cur:
                row = cur.execute(f"SELECT value FROM {p}policyc_log_meta WHERE key = 'schema_version'").fetchone()
            conn.commit()
            _check_version(row[0] if row else None, _redact(self.url))
        except pg.Error as err:
            raise DecisionLogError("L0002", f"无法准备决策日志 {_redact(self.url)}：{_pg_reason(err)}") from None

    def _record(self, rows) -> None:
        _duplicate_ids(rows)
        pg = self._pg
        for attempt in (1, 2):
            try:
                conn = self._acquire()
            except DecisionLogError as err:
                raise DecisionLogError("L0004", f"写入决策日志失败：{err}") from None
            try:
                self._insert_rows(conn, rows)
                self._release(conn)
                return
            except pg.errors.UniqueViolation:
                conn.rollback()
                existing = self._existing(conn, [r[0] for r in rows])
                self._release(conn)
                _check_duplicates(rows, existing)
                missing = [r for r in rows if r[0] not in existing]
                if missing:
                    rows = missing
                    continue
                return
            except pg.OperationalError as err:  # the connection broke: a fresh one, once (a retry is idempotent)
                self._release(conn, broken=True)
                if attempt == 2:
                    raise DecisionLogError("L0004", f"写入决策日志 {_redact(self.url)} 失败：{_pg_reason(err)}"
                                           ) from None
            except pg.Error as err:
                self._release(conn, broken=True)
                raise DecisionLogError("L0004", f"写入决策日志 {_redact(self.url)} 失败：{_pg_reason(err)}") from None
            except BaseException:
                self._release(conn, broken=True)
                raise
        raise DecisionLogError("L0004", f"写入决策日志 {_redact(self.url)} 失败")

    def _insert_rows(self, conn, rows) -> None:
        with conn.cursor() as cur:
            cur.executemany(self._insert, [(r[0], _pg_time(r[1])) + r[2:9] for r in rows])
            progs = [(pid, _pg_time(r[1]), r[0], e) for r in rows for pid, e in r[9]]
            if progs:
                cur.executemany(self._insert_prog, progs)
        conn.commit()

    def _existing(self, conn, ids) -> dict:
        with conn.cursor() as cur:
            found = cur.execute(f"SELECT decision_id, entry FROM {self._p}decisions WHERE decision_id = ANY(%s)",
                                (ids,)).fetchall()
        conn.commit()
        return dict(found)

    def _get(self, decision_id):
        return self._read(lambda cur: cur.execute(f"SELECT entry FROM {self._p}decisions WHERE decision_id = %s",
                                                  (decision_id,)).fetchone(), lambda row: row[0] if row else None)

    def _count(self):
        return self._read(lambda cur: cur.execute(f"SELECT count(*) FROM {self._p}decisions").fetchone(),
                          lambda row: row[0])

    def _read(self, run, pick):
        pg = self._pg
        for attempt in (1, 2):
            conn = self._acquire()
            try:
                with conn.cursor() as cur:
                    row = run(cur)
                conn.commit()
                self._release(conn)
                return pick(row)
            except pg.OperationalError as err:
                self._release(conn, broken=True)
                if attempt == 2:
                    raise DecisionLogError("L0002", f"读取决策日志 {_redact(self.url)} 失败：{_pg_reason(err)}"
                                           ) from None
            except pg.Error as err:
                self._release(conn, broken=True)
                raise DecisionLogError("L0002", f"读取决策日志 {_redact(self.url)} 失败：{_pg_reason(err)}") from None

    def _query(self, bounds, locality, program, limit):
        bounds = tuple(None if b is None else _pg_time(b) for b in bounds)
        sql, params = _select_sql(bounds, locality, program, limit, "%s", self._p)
        with self._lock:
            if self._closed:
                raise DecisionLogError("L0002", f"决策日志 {_redact(self.url)} 已关闭")
        return self._stream(sql, params)

    def _stream(self, sql, params):
        pg = self._pg
        conn = self._acquire()
        broken = True
        try:
            # a server-side cursor streams a long export without holding it all in memory
            with conn.cursor(name=f"policyc_log_{secrets.token_hex(4)}") as cur:
                cur.itersize = 256
                cur.execute(sql, params)
                for (text,) in cur:
                    yield text
            conn.commit()
            broken = False
        except pg.Error as err:
            raise DecisionLogError("L0002", f"读取决策日志 {_redact(self.url)} 失败：{_pg_reason(err)}") from None
        finally:
            self._release(conn, broken=broken)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            try:
                conn.close()
            except Exception:
                pass


def _pg_time(text: str) -> _dt.datetime:
    return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)


def _pg_schema(p: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {p}policyc_log_meta (key text PRIMARY KEY, value text NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS {p}decisions (
              decision_id text COLLATE "C" PRIMARY KEY,
              time timestamptz NOT NULL,
              locality text,
              date text,
              bundle_id text,
              bundle_version text,
              bundle_sha256 text,
              request_sha256 text NOT NULL,
              entry text NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS decisions_time ON {p}decisions (time, decision_id)",
        f"CREATE INDEX IF NOT EXISTS decisions_locality_time ON {p}decisions (locality, time, decision_id)",
        f"CREATE INDEX IF NOT EXISTS decisions_request ON {p}decisions (request_sha256)",
        f"""CREATE TABLE IF NOT EXISTS {p}decision_programs (
              program text NOT NULL,
              time timestamptz NOT NULL,
              decision_id text COLLATE "C" NOT NULL REFERENCES {p}decisions (decision_id) ON DELETE CASCADE,
              eligible boolean,
              PRIMARY KEY (program, time, decision_id))""",
        f"CREATE INDEX IF NOT EXISTS decision_programs_id ON {p}decision_programs (decision_id)",
    ]


def _pg_reason(err) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    lowered = text.lower()
    if "password authentication failed" in lowered:
        return "用户名或密码错误"
    if "does not exist" in lowered and "database" in lowered:
        return f"数据库不存在：{text}"
    if "connection refused" in lowered or "could not connect" in lowered or "connection failed" in lowered:
        return f"连接被拒绝或无法连接（服务器是否在运行？）：{text}"
    if "timeout" in lowered:
        return f"连接超时：{text}"
    return text


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(地址)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


# ── opening ───────────────────────────────────────────────────────────────────────────────────────────────────────

def open_log(url: str | None, mask: list[str] | None = None, *, create: bool = True) -> DecisionLog | None:
    """The decision log at `url`, or None when `url` is None or empty (no logging).

    - `sqlite:///abs/path.db` (or `sqlite:relative/path.db`, or a plain file path): SQLite in WAL mode;
      `?synchronous=FULL` for durability against power loss too (default NORMAL: against process death).
    - `postgresql://user:password@host:port/db` or `postgres://…`: PostgreSQL; `?schema=NAME` puts the tables in that
      schema; any other query parameter goes to libpq (sslmode, connect_timeout, …).
    `mask`: path patterns of fields to mask in requests (None: DEFAULT_MASK; []: mask nothing). `create=False` (the
    query commands) refuses to create a log that is not there. Raises DecisionLogError."""
    if url is None or (isinstance(url, str) and not url.strip()):
        return None
    if not isinstance(url, str):
        raise DecisionLogError("L0001", f"决策日志地址 {url!r} 无效")
    url = url.strip()
    mask_obj = _mask_of(mask)
    scheme = url.split(":", 1)[0].lower() if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) else ""
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
        schema = None
        rest = []
        for k, v in params:
            if k == "schema":
                schema = v
            else:
                rest.append((k, v))
        conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
        return PostgresLog(conninfo, mask_obj, schema=schema, create=create, url=url)
    if scheme == "sqlite":
        parts = urlsplit(url)
        if parts.netloc:
            raise DecisionLogError("L0001", f"决策日志地址 {url} 无效：SQLite 地址应为 sqlite:///绝对路径 或 "
                                            f"sqlite:相对路径")
        path = unquote(parts.path)
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
    elif scheme and len(scheme) > 1:
        raise DecisionLogError("L0001", f"不支持的决策日志地址 {_redact(url)}：应为 sqlite:///路径、文件路径或 "
                                        f"postgresql://…")
    else:
        path, options = url, {}
    if not path:
        raise DecisionLogError("L0001", f"决策日志地址 {url} 缺少文件路径")
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise DecisionLogError("L0001", f"SQLite 决策日志不认识选项 {', '.join(sorted(unknown))}（可用：synchronous）")
    sync = options.get("synchronous", "NORMAL").upper()
    if sync not in ("NORMAL", "FULL", "EXTRA"):
        raise DecisionLogError("L0001", f"synchronous={options['synchronous']} 无效，应为 NORMAL、FULL 或 EXTRA")
    if os.path.isdir(path):
        raise DecisionLogError("L0001", f"决策日志路径 {path} 是目录，应为文件")
    return SQLiteLog(path, mask_obj, create=create, synchronous=sync, url=url)


def _settle(batch, err) -> None:
    for _, fut in batch:
        if fut.done():  # its waiter was cancelled: the entry is written all the same
            continue
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err)
            fut.exception()  # mark retrieved: a waiter that went away must not leave "exception never retrieved"


# ── group commit for the service ──────────────────────────────────────────────────────────────────────────────────

class AsyncLogWriter:
    """Group commit: `await writer.submit(entry)` returns once the entry is committed (raising what the write
    raised otherwise). One task on the service's event loop takes what has queued up, waits up to `max_delay`
    seconds for more (while the batch is below `max_batch`), writes the batch with `log.record` in a thread of its
    own, and wakes every waiter of that batch. While a batch is being written the next one gathers, so under load
    batches grow by themselves: that is why `max_delay` defaults to 0 (measured: lingering only added latency).
    Use on one event loop; `close()` flushes what was submitted (not the log itself)."""

    def __init__(self, log: DecisionLog, max_batch: int = 64, max_delay: float = 0.0):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.log = log
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self.batches = 0  # statistics for metrics: batches and entries committed, batches failed
        self.entries = 0
        self.failures = 0

    def start(self) -> None:
        """Start the writer task on the running event loop (submit starts it too when needed)."""
        if self._task is not None:
            return
        if self._closing:
            raise DecisionLogError("L0004", "决策日志写入器已关闭")
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policyc-decision-log")
        self._task = loop.create_task(self._run(), name="policyc-decision-log")

    async def submit(self, entry: dict) -> None:
        if self._closing:
            raise DecisionLogError("L0004", "决策日志写入器已关闭，不再接受记录")
        if self._task is None:
            self.start()
        elif self._task.done():
            raise DecisionLogError("L0004", "决策日志写入器已停止")
        fut = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((entry, fut))
        # the entry is written even if this waiter is cancelled; the waiter just stops waiting
        await fut

    async def _run(self) -> None:
        q, loop = self._queue, asyncio.get_running_loop()
        batch: list = []
        try:
            while True:
                item = await q.get()
                if item is None:
                    return
                batch = [item]
                stop = await self._gather(q, loop, batch)
                try:
                    await loop.run_in_executor(self._executor, self.log.record, [e for e, _ in batch])
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # every waiter of the batch learns of it; later batches go on
                    self.failures += 1
                    _settle(batch, err)
                else:
                    self.batches += 1
                    self.entries += len(batch)
                    _settle(batch, None)
                batch = []
                if stop:
                    return
        except asyncio.CancelledError:  # the loop is shutting down: nobody may wait for ever
            err = DecisionLogError("L0004", "决策日志写入被中断，未确认是否已写入")
            _settle(batch, err)
            while not q.empty():
                item = q.get_nowait()
                if item is not None:
                    _settle([item], err)
            raise

    async def _gather(self, q, loop, batch) -> bool:
        """Add what is queued (waiting up to max_delay for more) until the batch is full; True if close() was
        asked for meanwhile."""
        deadline = loop.time() + self.max_delay
        while len(batch) < self.max_batch:
            try:
                item = q.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                try:
                    item = await asyncio.wait_for(q.get(), remaining)
                except asyncio.TimeoutError:
                    return False
            if item is None:
                return True
            batch.append(item)
        return False

    async def close(self) -> None:
        """Write everything submitted so far, then stop."""
        if self._closing:
            if self._task is not None:
                await asyncio.shield(self._task)
            return
        self._closing = True
        if self._task is None:
            return
        self._queue.put_nowait(None)
        try:
            await self._task
        finally:
            self._executor.shutdown(wait=True)

    async def __aenter__(self):
        self.start()
        return self

    async def __aexit__(self, *exc):
        await self.close()
