"""The decision log (policyc/serve/decisionlog/) and `policyc log`, on SQLite and on a real PostgreSQL server.

PostgreSQL: set POLICYC_TEST_POSTGRES=postgresql://… (`eval "$(bash .ci/postgres.sh)"` starts a server and prints
it). Without it the PostgreSQL cases are skipped, except under CI (env CI set), where they fail instead."""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from policyc.cli import main
from policyc.runtime import Evaluator, jsonio
from policyc.serve.decisionlog import (DEFAULT_MASK, AsyncLogWriter, DecisionLog, DecisionLogError, Mask,
                                       RawJSON, dumps_exact, make_entry, new_decision_id, open_log)

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "POLICYC_TEST_POSTGRES"
UTC = dt.timezone.utc
T0 = dt.datetime(2024, 7, 1, 8, 0, 0, tzinfo=UTC)


# ── fixtures ──────────────────────────────────────────────────────────────────────────────────────────────────────

def _pg_base() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the PostgreSQL decision log: {PG_ENV} is not set (run .ci/postgres.sh first)")
        pytest.skip(f"PostgreSQL decision-log tests need {PG_ENV}=postgresql://… (see .ci/postgres.sh)")
    return url


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def _drop_schema(url: str, schema: str) -> None:
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def log_url(request, tmp_path):
    """A fresh, empty decision-log address: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/decisions.db"
        return
    base = _pg_base()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield _with_schema(base, schema)
    _drop_schema(base, schema)


@pytest.fixture
def log(log_url):
    opened = open_log(log_url)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def ev():
    return Evaluator.from_file(ROOT / "generated" / "shanxi.bundle.json")


@pytest.fixture(scope="module")
def household():
    return jsonio.loads((ROOT / "examples" / "household.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def decision(ev, household):
    return ev.evaluate(household)


def entry(ev, request, decision, *, at=None, did=None, mask=None):
    return make_entry(decision_id=did or new_decision_id(), request=request, decision=decision, bundle=ev.bundle,
                      mask=mask, time=at)


def small_decision(locality="140105", programs=("dibao",), amount=Decimal("1234.50")):
    return {"bundle": {"id": "shanxi", "version": "0.1.0", "sha256": "0" * 64},
            "locality": {"code": locality, "name": "某地"}, "date": "2024-07-01",
            "programs": {p: {"eligible": True, "monthly_amount": amount, "reasons": []} for p in programs},
            "referrals": [], "missing_facts": [], "trace": []}


SMALL_BUNDLE = {"id": "shanxi", "version": "0.1.0", "sha256": "0" * 64, "signer": "省民政厅"}


def small_entry(locality="140105", programs=("dibao",), at=None, did=None, request=None):
    return make_entry(decision_id=did or new_decision_id(), request=request or {"locality": locality, "x": 1},
                      decision=small_decision(locality, programs), bundle=SMALL_BUNDLE, time=at)


def stored(e: dict) -> dict:
    """What reading an entry back gives: its exact JSON, parsed."""
    return jsonio.loads(dumps_exact(e))


# ── record, get, query ────────────────────────────────────────────────────────────────────────────────────────────

def test_record_and_get_a_real_decision(log, ev, household, decision):
    e = entry(ev, household, decision)
    log.record([e])
    got = log.get(e["decision_id"])
    assert got == stored(e)
    assert got["decision"] == jsonio.loads(jsonio.dumps(decision))  # the full decision, trace included
    assert got["locality"] == "140105" and got["date"] == "2024-07-01"
    assert got["bundle"] == {"id": "shanxi", "version": ev.bundle["manifest"]["version"],
                             "sha256": ev.bundle["manifest"]["sha256"], "signer": None}
    assert got["programs"] == sorted(decision["programs"])
    assert got["eligible"]["dibao"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", got["time"])
    assert log.get(new_decision_id()) is None
    assert log.get("") is None
    assert log.count() == 1


def test_query_orders_by_time_and_filters(log):
    specs = [  # (minutes after T0, locality, programs) recorded out of time order
        (30, "140105", ("dibao", "temporary")),
        (10, "140105", ("tekun",)),
        (20, "140702", ("dibao",)),
        (0, "140702", ("temporary",)),
        (40, "140105", ("dibao",)),
    ]
    entries = [small_entry(loc, progs, at=T0 + dt.timedelta(minutes=m)) for m, loc, progs in specs]
    log.record(entries[:2])
    log.record(entries[2:])
    by_minute = {m: e["decision_id"] for (m, _, _), e in zip(specs, entries)}

    def ids(**kw):
        return [e["decision_id"] for e in log.query(**kw)]

    assert ids() == [by_minute[m] for m in (0, 10, 20, 30, 40)]
    assert ids(since=T0 + dt.timedelta(minutes=20)) == [by_minute[m] for m in (20, 30, 40)]
    assert ids(since="2024-07-01T08:20:00Z") == ids(since=T0 + dt.timedelta(minutes=20))
    assert ids(since="2024-07-01T16:20:00+08:00") == ids(since="2024-07-01T08:20:00")  # naive means UTC
    assert ids(until=T0 + dt.timedelta(minutes=20)) == [by_minute[0], by_minute[10]]
    assert ids(locality="140105") == [by_minute[m] for m in (10, 30, 40)]
    assert ids(program="dibao") == [by_minute[m] for m in (20, 30, 40)]
    assert ids(program="temporary") == [by_minute[0], by_minute[30]]
    assert ids(program="dibao", locality="140105", since=T0 + dt.timedelta(minutes=35)) == [by_minute[40]]
    assert ids(limit=2) == [by_minute[0], by_minute[10]]
    assert ids(limit=0) == []
    assert ids(program="nothing") == [] and ids(locality="999999") == []
    assert ids(since=dt.date(2024, 7, 2)) == []
    texts = list(log.query_json(program="dibao"))
    assert [json.loads(t)["decision_id"] for t in texts] == ids(program="dibao")
    assert all("\n" not in t for t in texts)
    with pytest.raises(DecisionLogError):
        list(log.query(limit=-1))
    with pytest.raises(DecisionLogError):
        list(log.query(since="not a time"))


def test_same_time_orders_by_id(log):
    ids = [new_decision_id() for _ in range(5)]
    assert ids == sorted(ids)
    log.record([small_entry(at=T0, did=i) for i in reversed(ids)])
    assert [e["decision_id"] for e in log.query()] == ids


def test_decimals_are_stored_exactly(log):
    request = {"household": {"income_12m": Decimal("14400.00"), "members": [{"monthly_income": Decimal("0.10")}]}}
    e = make_entry(decision_id=new_decision_id(), request=request, decision=small_decision(amount=Decimal("1234.50")),
                   bundle=SMALL_BUNDLE)
    log.record([e])
    got = log.get(e["decision_id"])
    amount = got["decision"]["programs"]["dibao"]["monthly_amount"]
    assert isinstance(amount, Decimal) and str(amount) == "1234.50"
    assert str(got["request"]["household"]["income_12m"]) == "14400.00"
    assert str(got["request"]["household"]["members"][0]["monthly_income"]) == "0.10"
    text = next(log.query_json())
    assert '"monthly_amount":1234.50' in text and '"income_12m":14400.00' in text
    assert not isinstance(amount, float)


def test_decision_given_as_json_text_is_kept_verbatim(log, ev, household):
    text = ev.evaluate_json(household)  # what the service sends over the wire
    e = make_entry(decision_id=new_decision_id(), request=household, decision=text, bundle=ev.bundle)
    assert isinstance(e["decision"], RawJSON)
    assert e["locality"] == "140105" and "dibao" in e["programs"]
    log.record([e])
    raw = log.get_json(e["decision_id"])
    assert f',"decision":{text}}}' in raw
    assert log.get(e["decision_id"])["decision"] == jsonio.loads(text)


def test_record_again_is_idempotent_but_a_clash_is_refused(log):
    a, b = small_entry(), small_entry()
    log.record([a])
    log.record([a, b])  # a retried batch: `a` is already there with the same content
    assert log.count() == 2
    clash = dict(small_entry(), decision_id=a["decision_id"])
    c = small_entry()
    with pytest.raises(DecisionLogError) as err:
        log.record([c, clash])
    assert err.value.code == "L0004"
    assert log.get(c["decision_id"]) is None  # the batch is all or nothing
    with pytest.raises(DecisionLogError):
        log.record([c, c])
    assert log.count() == 2
    log.record([])


def test_incomplete_entry_is_refused(log):
    with pytest.raises(DecisionLogError) as err:
        log.record([{"decision_id": "x"}])
    assert err.value.code == "L0005"


# ── masking ───────────────────────────────────────────────────────────────────────────────────────────────────────

def personal_request():
    return {"locality": "140105", "date": "2024-07-01",
            "applicant": {"name": "张三", "phone": "0351-1234567", "address": {"street": "某路 1 号"}},
            "household": {"address": "太原市小店区某路 1 号", "email": None,
                          "members": [{"id": "A", "name": "张三", "age": 52, "id_number": "不是号码"},
                                      {"id": "B", "name": "李四", "age": 50}]}}


def test_default_mask_hides_personal_fields_and_hashes_the_unmasked_request():
    request = personal_request()
    before = copy.deepcopy(request)
    e = make_entry(decision_id=new_decision_id(), request=request, decision=small_decision(), bundle=SMALL_BUNDLE)
    masked = e["request"]
    assert request == before  # the caller's request is not changed
    assert masked["applicant"] == {"name": "***", "phone": "***", "address": "***"}
    assert masked["household"]["address"] == "***"
    assert masked["household"]["email"] is None  # absent stays visibly absent
    assert [m["name"] for m in masked["household"]["members"]] == ["***", "***"]
    assert masked["household"]["members"][0]["id_number"] == "***"
    assert [m["id"] for m in masked["household"]["members"]] == ["A", "B"]  # pseudonymous member ids stay
    assert [m["age"] for m in masked["household"]["members"]] == [52, 50]
    canonical = jsonio.dumps(request, sort_keys=True, indent=None)
    assert e["request_sha256"] == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    # the hash is of the canonical request: key order and 1200.00 v 1200 do not change it
    again = jsonio.loads(json.dumps(request, ensure_ascii=False, sort_keys=False)[::1])
    assert make_entry(decision_id=new_decision_id(), request=dict(reversed(list(again.items()))),
                      decision=small_decision(), bundle=SMALL_BUNDLE)["request_sha256"] == e["request_sha256"]


def test_custom_mask(log_url):
    request = personal_request()
    log = open_log(log_url, mask=["household.members[*].age", "household.address", "$.applicant.address.street"])
    try:
        e = log.make_entry(decision_id=new_decision_id(), request=request, decision=small_decision(),
                           bundle=SMALL_BUNDLE)
        log.record([e])
        masked = log.get(e["decision_id"])["request"]
    finally:
        log.close()
    assert [m["age"] for m in masked["household"]["members"]] == ["***", "***"]
    assert masked["household"]["address"] == "***"
    assert masked["applicant"]["address"] == {"street": "***"}
    assert masked["applicant"]["name"] == "张三"  # a custom list replaces the defaults
    assert masked["household"]["members"][1]["name"] == "李四"
    plain = make_entry(decision_id=new_decision_id(), request=request, decision=small_decision(),
                       bundle=SMALL_BUNDLE, mask=[])
    assert plain["request"] == request


def test_mask_patterns():
    doc = {"a": {"b": [{"c": 1, "d": 2}, {"c": 3}], "c": 4}, "c": 5, "l": [[1, 2], [3, 4]]}
    assert Mask(["a.b[*].c"]).apply(doc)["a"]["b"] == [{"c": "***", "d": 2}, {"c": "***"}]
    assert Mask(["a.b[1]"]).apply(doc)["a"]["b"][1] == "***"
    assert Mask(["**.c"]).apply(doc) == {"a": {"b": [{"c": "***", "d": 2}, {"c": "***"}], "c": "***"}, "c": "***",
                                          "l": [[1, 2], [3, 4]]}
    assert Mask(["$..c"]).apply(doc) == Mask(["**.c"]).apply(doc)
    assert Mask(["a.*"]).apply(doc)["a"] == {"b": "***", "c": "***"}
    assert Mask(["l[*][0]"]).apply(doc)["l"] == [["***", 2], ["***", 4]]
    assert Mask(["a.b"]).apply(doc)["a"]["b"] == "***"
    assert Mask(["x.y"]).apply(doc) == doc
    for bad in ["", "  ", "a..", "a.[0]", "[0]", "a b", "**", "a.**", "a[x]", ".", "a.b.", 3]:
        with pytest.raises(DecisionLogError) as err:
            Mask([bad])
        assert err.value.code == "L0001"
    with pytest.raises(DecisionLogError):
        open_log("sqlite:///tmp/never-created.db", mask=["a..b.."])
    assert "**.name" in DEFAULT_MASK and "**.address" in DEFAULT_MASK


def _id_number(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def _texts(doc) -> list[str]:
    """Every string in a JSON document."""
    if isinstance(doc, dict):
        return [t for v in doc.values() for t in _texts(v)]
    if isinstance(doc, list):
        return [t for v in doc for t in _texts(v)]
    return [doc] if isinstance(doc, str) else []


def test_identity_numbers_used_as_member_ids_are_masked_in_request_and_decision(log, ev, household):
    idn = _id_number("14010519720301123")
    request = copy.deepcopy(household)
    request["household"]["members"][1]["id"] = idn  # the spouse, named in reasons
    request["household"]["members"][0]["id"] = "13912345678"
    decision = ev.evaluate(request)
    assert idn in jsonio.dumps(decision)
    e = make_entry(decision_id=new_decision_id(), request=request, decision=decision, bundle=ev.bundle)
    log.record([e])
    raw = log.get_json(e["decision_id"])
    assert idn not in raw and "13912345678" not in raw
    got = log.get(e["decision_id"])
    assert [m["id"] for m in got["request"]["household"]["members"]] == ["***1", "***2", "子女"]
    assert got["decision"]["programs"]["dibao"]["covered_members"] == ["***1", "***2", "子女"]
    assert set(got["decision"]["programs"]["emergency"]["members"]) == {"***1", "***2", "子女"}
    named = [t for t in _texts(decision) if idn in t and t != idn]  # reasons that name the member
    assert named, "no reason names the member: the masking of reason text is not exercised"
    masked = _texts(got["decision"])
    assert all(t.replace(idn, "***2").replace("13912345678", "***1") in masked for t in named), named
    assert got["decision"]["bundle"]["sha256"] == ev.bundle["manifest"]["sha256"]  # hex digits are not numbers
    assert e["request_sha256"] == hashlib.sha256(
        jsonio.dumps(request, sort_keys=True, indent=None).encode()).hexdigest()
    # an 18-digit string whose check digit is wrong is not an identity number
    not_id = idn[:17] + ("0" if idn[17] != "0" else "1")
    kept = make_entry(decision_id=new_decision_id(), request={"x": not_id}, decision=small_decision(),
                      bundle=SMALL_BUNDLE)
    assert kept["request"]["x"] == not_id
    off = make_entry(decision_id=new_decision_id(), request={"x": idn}, decision=small_decision(),
                     bundle=SMALL_BUNDLE, scrub_identifiers=False)
    assert off["request"]["x"] == idn


def test_identifiers_in_a_decision_given_as_text(log, ev, household):
    idn = _id_number("14010519720301123")
    request = copy.deepcopy(household)
    request["household"]["members"][1]["id"] = idn
    text = ev.evaluate_json(request)
    e = make_entry(decision_id=new_decision_id(), request=request, decision=text, bundle=ev.bundle)
    log.record([e])
    raw = log.get_json(e["decision_id"])
    assert idn not in raw
    assert log.get(e["decision_id"])["decision"]["programs"]["dibao"]["covered_members"] == ["户主", "***1", "子女"]


def test_strings_that_look_like_markers_are_stored_as_they_are(log):
    tricky = {"a": "\u0000", "b": "\x00D12\x00", "c": "name", "d": "\\u0000R0", "e": '"}]', "f": "成员"}
    e = make_entry(decision_id=new_decision_id(), request=tricky, decision=small_decision(), bundle=SMALL_BUNDLE)
    assert e["request"] == tricky  # "name" as a value is not a field called name
    log.record([e])
    assert log.get(e["decision_id"])["request"] == tricky


def test_bad_input_to_make_entry_is_an_error():
    for kwargs in ({"request": [1]}, {"request": {"x": float("nan")}}, {"decision": "{not json"},
                   {"decision": [1]}, {"decision_id": ""}):
        args = {"decision_id": new_decision_id(), "request": {"x": 1}, "decision": small_decision(),
                "bundle": SMALL_BUNDLE, **kwargs}
        with pytest.raises(DecisionLogError) as err:
            make_entry(**args)
        assert err.value.code == "L0005", kwargs


# ── ids, urls, schema ─────────────────────────────────────────────────────────────────────────────────────────────

def test_decision_ids_are_time_ordered_uuid7():
    ids = [new_decision_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for i in ids[:50]:
        u = uuid.UUID(i)
        assert u.version == 7 and u.variant == uuid.RFC_4122 and str(u) == i
        assert re.fullmatch(r"[0-9a-f-]{36}", i)
    ms = int(ids[0].replace("-", "")[:12], 16)
    assert abs(ms / 1000 - time.time()) < 60


def test_open_log_addresses(tmp_path):
    assert open_log(None) is None and open_log("") is None and open_log("  ") is None
    for url in (f"sqlite:///{tmp_path}/a.db", str(tmp_path / "b.db"), f"sqlite:///{tmp_path}/c.db?synchronous=FULL"):
        opened = open_log(url)
        opened.record([small_entry()])
        opened.close()
    assert (tmp_path / "a.db").is_file() and (tmp_path / "b.db").is_file()
    con = sqlite3.connect(tmp_path / "a.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT value FROM policyc_log_meta WHERE key='schema_version'").fetchone()[0] == "1"
    con.execute("UPDATE policyc_log_meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    cases = {
        "ftp://example/x": "L0001",
        "sqlite://host/x.db": "L0001",
        f"sqlite:///{tmp_path}/d.db?mode=x": "L0001",
        f"sqlite:///{tmp_path}/d.db?synchronous=OFF": "L0001",
        str(tmp_path): "L0001",
        f"{tmp_path}/no/such/dir/x.db": "L0002",
        f"sqlite:///{tmp_path}/a.db": "L0003",  # a newer schema than this policyc knows
    }
    for url, code in cases.items():
        with pytest.raises(DecisionLogError) as err:
            open_log(url)
        assert err.value.code == code, url
    with pytest.raises(DecisionLogError) as err:
        open_log(str(tmp_path / "missing.db"), create=False)
    assert err.value.code == "L0002" and not (tmp_path / "missing.db").exists()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(DecisionLogError) as err:
        open_log(str(other), create=False)
    assert err.value.code == "L0003"
    (tmp_path / "text.db").write_text("not a database")
    with pytest.raises(DecisionLogError) as err:
        open_log(str(tmp_path / "text.db"))
    assert err.value.code == "L0002"


def test_postgres_connection_errors_are_messages():
    base = _pg_base()
    bad_port = re.sub(r":\d+/", ":1/", base) if re.search(r":\d+/", base) else "postgresql://u:p@127.0.0.1:1/db"
    with pytest.raises(DecisionLogError) as err:
        open_log(bad_port)
    assert err.value.code == "L0002" and "无法连接" in str(err.value)
    assert ":p@" not in str(err.value) or "u:***@" in str(err.value)
    with pytest.raises(DecisionLogError) as err:
        open_log(_with_schema(base, f"t_missing_{uuid.uuid4().hex[:8]}"), create=False)
    assert err.value.code == "L0003"
    with pytest.raises(DecisionLogError) as err:
        open_log(_with_schema(base, "bad-name;"))
    assert err.value.code == "L0001"


def test_deleting_old_decisions_also_removes_their_program_rows(log, log_url):
    """Retention is the operator's: a plain DELETE on decisions is enough."""
    old, new = small_entry(at=T0), small_entry(at=T0 + dt.timedelta(days=400))
    log.record([old, new])
    if log_url.startswith("sqlite"):
        con = sqlite3.connect(log_url[len("sqlite:///"):])
        con.execute("DELETE FROM decisions WHERE time < '2025-01-01'")
        con.commit()
        left = con.execute("SELECT count(*) FROM decision_programs").fetchone()[0]
        con.close()
    else:
        import psycopg
        base, schema = log_url.split("?schema=")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DELETE FROM "{schema}".decisions WHERE time < %s', (dt.datetime(2025, 1, 1, tzinfo=UTC),))
            left = conn.execute(f'SELECT count(*) FROM "{schema}".decision_programs').fetchone()[0]
    assert left == 1
    assert [e["decision_id"] for e in log.query(program="dibao")] == [new["decision_id"]]


# ── several processes, durability ─────────────────────────────────────────────────────────────────────────────────

WRITER = textwrap.dedent("""
    import sys, time
    from policyc.serve.decisionlog import open_log, make_entry, new_decision_id
    url, tag, batches, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    log = open_log(url)
    while time.time() < start:
        time.sleep(0.001)
    ids = []
    for b in range(batches):
        entries = [make_entry(decision_id=new_decision_id(), request={"tag": tag, "b": b, "i": i},
                              decision={"locality": {"code": "140105"}, "date": "2024-07-01",
                                        "programs": {"dibao": {"eligible": True}}},
                              bundle={"id": "shanxi", "version": "0", "sha256": "0"})
                   for i in range(1 + b % 3)]
        log.record(entries)
        ids += [e["decision_id"] for e in entries]
        print(" ".join(e["decision_id"] for e in entries), flush=True)
    if len(sys.argv) > 5:  # die at once, without closing anything
        import os
        os.kill(os.getpid(), 9)
    log.close()
""")


def _writer(url, tag, batches, start, kill=False):
    return subprocess.Popen([sys.executable, "-c", WRITER, url, tag, str(batches), str(start)] + (["kill"] if kill else []),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_two_processes_writing_one_log_lose_nothing(log_url):
    open_log(log_url).close()  # created once; the writers open it concurrently
    start = time.time() + 1.5
    procs = [_writer(log_url, tag, 150, start) for tag in ("a", "b")]
    written = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        written += out.split()
    assert len(written) == 2 * sum(1 + b % 3 for b in range(150))
    reader = open_log(log_url, create=False)
    try:
        got = [e["decision_id"] for e in reader.query()]
        assert sorted(got) == sorted(written)
        times = [e["time"] for e in reader.query()]
        assert times == sorted(times)
        assert reader.count() == len(written)
        tags = [e["request"]["tag"] for e in reader.query(program="dibao")]
        assert set(tags) == {"a", "b"}

    finally:
        reader.close()


def test_what_record_returned_survives_the_process_being_killed(log_url):
    open_log(log_url).close()
    p = _writer(log_url, "k", 20, time.time(), kill=True)
    out, err = p.communicate(timeout=60)
    assert p.returncode == -9, err
    written = out.split()
    assert len(written) == sum(1 + b % 3 for b in range(20))
    reader = open_log(log_url, create=False)
    try:
        assert sorted(e["decision_id"] for e in reader.query()) == sorted(written)
    finally:
        reader.close()


def test_concurrent_creation_of_a_new_log(log_url):
    """Several workers starting at once on a log that does not exist yet."""
    script = ("import sys,time; from policyc.serve.decisionlog import open_log\n"
              "t=float(sys.argv[2])\nwhile time.time()<t: time.sleep(0.001)\nopen_log(sys.argv[1]).close()")
    start = time.time() + 1.0
    procs = [subprocess.Popen([sys.executable, "-c", script, log_url, str(start)], stderr=subprocess.PIPE, text=True,
                              cwd=ROOT) for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    reader = open_log(log_url, create=False)
    reader.close()


# ── the service's group commit ────────────────────────────────────────────────────────────────────────────────────

def test_async_writer_answers_only_after_commit(log_url):
    log = open_log(log_url)
    other = open_log(log_url, create=False)  # connections of its own: sees only what is committed
    entries = [small_entry() for _ in range(200)]
    seen_after_submit = []

    async def one(e):
        await writer.submit(e)
        seen_after_submit.append(other.get(e["decision_id"]) is not None)

    async def run():
        nonlocal writer
        writer = AsyncLogWriter(log, max_batch=32, max_delay=0.002)
        writer.start()
        await asyncio.gather(*(one(e) for e in entries))
        await writer.close()

    writer = None
    try:
        asyncio.run(run())
        assert seen_after_submit == [True] * len(entries)
        assert other.count() == len(entries)
        assert writer.entries == len(entries)
        assert writer.batches < len(entries)  # grouped: 200 concurrent submits, a handful of transactions
    finally:
        other.close()
        log.close()


class _Flaky(DecisionLog):
    """A log that fails its first `fail` batches, then writes to the real one."""

    def __init__(self, real, fail=1):
        self.real, self.fail, self.calls = real, fail, []

    def record(self, entries):
        self.calls.append(len(entries))
        if self.fail:
            self.fail -= 1
            raise DecisionLogError("L0004", "写入决策日志失败：磁盘已满")
        self.real.record(entries)

    def close(self):
        pass


def test_async_writer_failure_reaches_every_waiter_of_the_batch(log):
    flaky = _Flaky(log)
    first = [small_entry() for _ in range(5)]
    later = small_entry()

    async def run():
        writer = AsyncLogWriter(flaky, max_batch=64, max_delay=0.05)
        results = await asyncio.gather(*(writer.submit(e) for e in first), return_exceptions=True)
        await writer.submit(later)  # the writer goes on after a failed batch
        await writer.close()
        with pytest.raises(DecisionLogError):
            await writer.submit(small_entry())  # closed
        return results

    results = asyncio.run(run())
    assert flaky.calls[0] == 5
    assert all(isinstance(r, DecisionLogError) and r.code == "L0004" for r in results)
    assert [e["decision_id"] for e in log.query()] == [later["decision_id"]]


def test_async_writer_real_failure(log_url):
    """A real failure from the database: a clashing id fails its whole batch, and every waiter hears of it."""
    log = open_log(log_url)
    try:
        a = small_entry()
        log.record([a])
        clash = dict(small_entry(), decision_id=a["decision_id"])
        fine = small_entry()

        async def run():
            writer = AsyncLogWriter(log, max_batch=64, max_delay=0.05)
            out = await asyncio.gather(writer.submit(fine), writer.submit(clash), return_exceptions=True)
            await writer.close()
            return out

        out = asyncio.run(run())
        assert all(isinstance(r, DecisionLogError) for r in out)
        assert log.get(fine["decision_id"]) is None and log.count() == 1
    finally:
        log.close()


def test_async_writer_close_flushes_and_cancelled_waiters_still_get_written(log):
    entries = [small_entry() for _ in range(20)]

    async def run():
        writer = AsyncLogWriter(log, max_batch=4, max_delay=0.01)
        tasks = [asyncio.ensure_future(writer.submit(e)) for e in entries]
        await asyncio.sleep(0)
        tasks[-1].cancel()  # a client that went away: its entry was submitted and is written anyway
        await writer.close()
        return tasks

    tasks = asyncio.run(run())
    assert all(t.done() for t in tasks)
    assert log.count() == len(entries)


# ── policyc log ───────────────────────────────────────────────────────────────────────────────────────────────────

def _cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_query_and_export(log, log_url, tmp_path, capsys):
    entries = [small_entry("140105", ("dibao",), at=T0 + dt.timedelta(minutes=2)),
               small_entry("140702", ("tekun",), at=T0),
               small_entry("140105", ("tekun", "dibao"), at=T0 + dt.timedelta(minutes=1))]
    log.record(entries)
    code, out, err = _cli(capsys, "log", "query", "--decision-log", log_url)
    assert code == 0, err
    lines = out.splitlines()
    assert [json.loads(line)["decision_id"] for line in lines] == [entries[i]["decision_id"] for i in (1, 2, 0)]
    assert all('"monthly_amount":1234.50' in line for line in lines)  # exactly as stored
    code, out, _ = _cli(capsys, "log", "query", "--decision-log", log_url, "--program", "dibao", "--locality",
                        "140105", "--since", "2024-07-01T08:01:00Z", "--limit", "1")
    assert code == 0 and [json.loads(x)["decision_id"] for x in out.splitlines()] == [entries[2]["decision_id"]]
    code, out, _ = _cli(capsys, "log", "query", "--decision-log", log_url, "--until", "2024-07-01T16:01:00+08:00")
    assert [json.loads(x)["decision_id"] for x in out.splitlines()] == [entries[1]["decision_id"]]

    target = tmp_path / "out" / "decisions.jsonl"
    target.parent.mkdir()
    code, out, err = _cli(capsys, "log", "export", "--decision-log", log_url, "--out", target, "--program", "tekun")
    assert code == 0 and out == "" and "2 条" in err
    assert [json.loads(x)["decision_id"] for x in target.read_text(encoding="utf-8").splitlines()] == \
        [entries[1]["decision_id"], entries[2]["decision_id"]]
    assert sorted(p.name for p in target.parent.iterdir()) == ["decisions.jsonl"]  # no temporary file left

    code, out, _ = _cli(capsys, "log", "get", "--decision-log", log_url, entries[0]["decision_id"])
    assert code == 0 and json.loads(out)["decision_id"] == entries[0]["decision_id"]


def test_cli_errors_are_chinese_with_exit_2(log, log_url, tmp_path, capsys):
    log.record([small_entry()])
    cases = [
        (["query", "--decision-log", str(tmp_path / "missing.db")], "不存在"),
        (["query", "--decision-log", "ftp://x/y"], "不支持"),
        (["query", "--decision-log", log_url, "--since", "yesterday"], "无效"),
        (["query", "--decision-log", log_url, "--until", "2024-13-01"], "无效"),
        (["query", "--decision-log", log_url, "--limit", "ten"], "无效"),
        (["query", "--decision-log", log_url, "--locality", "太原市"], "6 位"),
        (["query", "--decision-log", log_url, "--program", "Dibao!"], "程序"),
        (["export", "--decision-log", log_url, "--out", tmp_path / "no" / "dir.jsonl"], "不存在"),
        (["export", "--decision-log", log_url, "--out", tmp_path], "目录"),
        (["get", "--decision-log", log_url, "nope"], "没有"),
    ]
    for args, words in cases:
        code, out, err = _cli(capsys, "log", *args)
        assert code == 2, args
        assert words in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "missing.db").exists()


def test_cli_cannot_connect_is_a_message(capsys):
    base = _pg_base()
    bad = re.sub(r":\d+/", ":1/", base) if re.search(r":\d+/", base) else "postgresql://u:p@127.0.0.1:1/db"
    code, out, err = _cli(capsys, "log", "query", "--decision-log", bad)
    assert code == 2 and "无法连接" in err and "Traceback" not in err
    proc = subprocess.run([sys.executable, "-m", "policyc", "log", "export", "--decision-log", bad, "--out",
                           os.devnull + ".jsonl"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "L0002" in proc.stderr
