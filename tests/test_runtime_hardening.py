"""Issue 15, the runtime: requests with dates or numbers the runtime cannot compute with are refused with their
JSON path and a Chinese message (never a traceback, never a slow computation); decisions are the caller's own
(nothing in them is shared with the evaluator or another decision); every cache is bounded by entries and bytes;
and a bundle mutated structurally, with its hash recomputed, loads and decides or is refused as a BundleError —
never another exception, never a hang.

Everything here runs on the committed bundle (generated/shanxi.bundle.json) through the lean runtime: no
compiler is needed."""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from policyc.runtime import BundleError, Evaluator, EvaluationError, InputError, LocalityError, RuntimeFault, jsonio
from policyc.runtime import inputs, load, values
from policyc.runtime.bundle import content_hash
from policyc.runtime.lru import LRU

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "generated" / "shanxi.bundle.json"
EXAMPLE = ROOT / "examples" / "household.json"
CJK = re.compile(r"[\u4e00-\u9fff]")


def chinese(message: str) -> bool:
    return bool(CJK.search(message))


@pytest.fixture(scope="module")
def bundle_text() -> bytes:
    return BUNDLE.read_bytes()


@pytest.fixture(scope="module")
def ev():
    return load(BUNDLE)


def example() -> dict:
    return jsonio.loads(EXAMPLE.read_bytes())


def receiving(req: dict, **more) -> dict:
    """The example household as one receiving 低保 whose income rose above the standard (渐退期 dates)."""
    req["household"]["receiving_dibao"] = dict({"monthly_amount": 300, "since": "2023-01-01",
                                                "income_above_standard_since": "2024-03-01"}, **more)
    return req


def refused(ev, req, path: str, **kwargs) -> str:
    """The message of the problem at `path` when `req` is refused (InputError, with its JSON path)."""
    with pytest.raises(InputError) as err:
        ev.evaluate(req, **kwargs)
    problems = dict(err.value.problems)
    assert path in problems, err.value.problems
    assert chinese(problems[path]), problems[path]
    return problems[path]


def _set(req: dict, path: str, value) -> dict:
    """Set the value at a JSON path ($.a.b[0].c), creating the objects and list items on the way."""
    steps = [int(index) if index else key for key, index in re.findall(r"\.([a-z_0-9]+)|\[(\d+)\]", path[1:])]
    node = req
    for key, nxt in zip(steps, steps[1:] + [None]):
        if isinstance(key, int):
            while len(node) <= key:
                node.append({})
        elif nxt is not None and node.get(key) is None:
            node[key] = [] if isinstance(nxt, int) else {}
        if nxt is None:
            node[key] = value
        else:
            node = node[key]
    return req


# ── dates near the ends of the calendar ─────────────────────────────────────────────────────────────────────
DATE_PATHS = ["$.date", "$.household.last_check_date", "$.household.receiving_dibao.since",
              "$.household.receiving_dibao.income_above_standard_since", "$.household.members[0].tekun_since",
              "$.household.member_died_on"]
OFF_CALENDAR = ["9999-12-31", "9999-06-30", "0001-01-01", "0001-06-01", "1899-12-31", "3000-01-01"]


@pytest.mark.parametrize("day", OFF_CALENDAR)
@pytest.mark.parametrize("path", DATE_PATHS)
def test_dates_outside_the_supported_range_are_input_errors_at_their_path(ev, path, day):
    """Dates near 9999-12-31 made month arithmetic overflow (ValueError: year 10000 is out of range); near
    0001-01-01 the same backwards. Every date of a request must be in 1900-01-01..2999-12-31."""
    req = _set(receiving(example()), path, day)
    message = refused(ev, req, path)
    assert inputs.DATE_RANGE in message and day in message
    with pytest.raises(InputError):
        ev.evaluate_json(req)


@pytest.mark.parametrize("path", DATE_PATHS[1:])
def test_dates_at_the_ends_of_the_supported_range_decide(ev, path):
    for day in (inputs.FIRST_DAY.isoformat(), inputs.LAST_DAY.isoformat()):
        decision = ev.evaluate(_set(receiving(example()), path, day))
        assert decision["programs"]["dibao"]["eligible"] in (True, False, None)


def test_the_evaluation_date_given_as_an_argument_is_bounded_too(ev):
    for day in (dt.date(9999, 12, 31), dt.date(1, 1, 1), "9999-12-31"):
        assert inputs.DATE_RANGE in refused(ev, example(), "$.date", date=day)
    # a datetime is taken as its date (it used to fail comparing with the timelines' dates)
    assert ev.evaluate(example(), date=dt.datetime(2024, 7, 1, 12, 30))["date"] == "2024-07-01"
    # the first and last supported days are accepted; no parameter is in force in 1900: an EvaluationError
    with pytest.raises(EvaluationError) as err:
        ev.evaluate(example(), date=inputs.FIRST_DAY)
    assert chinese(str(err.value))
    assert ev.evaluate(example(), date=inputs.LAST_DAY)["date"] == "2999-12-31"


def test_the_range_is_the_batch_lanes_clean_row_range():
    """Rows SQL decides must be rows the Python runtime accepts: the same range."""
    source = (ROOT / "policyc" / "batch" / "sqlinput.py").read_text(encoding="utf-8")
    first, last = re.search(r'FIRST_DAY, LAST_DAY = "([0-9-]+)", "([0-9-]+)"', source).groups()
    assert (first, last) == (inputs.FIRST_DAY.isoformat(), inputs.LAST_DAY.isoformat())


def test_a_computed_date_off_the_calendar_is_an_evaluation_error_in_chinese(ev):
    """A month count from a parameter (here an override) or a computation can still leave the calendar: that is
    EvaluationError R0301, never ValueError."""
    with pytest.raises(values.DateOutOfRange) as err:
        values.add_months(dt.date(9999, 12, 31), 1)
    assert isinstance(err.value, ArithmeticError) and "日历" in str(err.value)
    with pytest.raises(values.DateOutOfRange):
        values.add_months(dt.date(1, 1, 1), Decimal("-1E+999998"))  # refused before any int() conversion
    assert values.add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    req = receiving(example())
    req["household"]["members"][0].update(monthly_income=5000, earned_income=5000)
    for interpret in (False, True):
        with pytest.raises(EvaluationError) as err:
            ev.evaluate(copy.deepcopy(req), overrides={"dibao.grace_months": 10**14}, interpret=interpret)
        assert err.value.code == "R0301" and "日历" in str(err.value)


# ── numbers too large, too long or too small ─────────────────────────────────────────────────────────────────
NUMBER_PATHS = ["$.household.members[0].monthly_income", "$.household.members[0].age",
                "$.household.members[1].supporters[0].age", "$.household.members[2].disability_grade",
                "$.household.income_12m", "$.household.rigid_expenditure_12m.medical",
                "$.household.receiving_dibao.monthly_amount", "$.incident.cost", "$.incident.severity"]
HUGE_TEXT = ["1e400", "-1e400", "1e999999999", "1e-400", "-1e-400", "0e-400", "9" * 10000, "1." + "1" * 10000,
             "1" + "0" * 41]


def _json_with(path: str, literal: str) -> str:
    """The example request as JSON text with `literal` (a JSON number as written) at `path`."""
    marker = "__NUMBER__"
    req = _set(receiving(example()), path, marker)
    return jsonio.dumps(req, indent=None).replace(f'"{marker}"', literal)


@pytest.mark.parametrize("literal", HUGE_TEXT, ids=lambda s: s if len(s) < 20 else f"{s[:6]}…{len(s)}")
@pytest.mark.parametrize("path", NUMBER_PATHS)
def test_numbers_out_of_range_in_request_json_are_input_errors_at_their_path(path, literal):
    """Where JSON is read (jsonio.loads, used by the CLI and the service), before anything converts them."""
    text = _json_with(path, literal)
    t0 = time.perf_counter()
    with pytest.raises(InputError) as err:
        jsonio.loads(text)
    assert time.perf_counter() - t0 < 1
    assert isinstance(err.value, ValueError)  # what every caller already catches for "not usable JSON"
    assert [p for p, _ in err.value.problems] == [path]
    assert chinese(err.value.problems[0][1])


HUGE_VALUES = [Decimal("1e400"), Decimal("-1e400"), Decimal("1e999999999"), Decimal("1e-400"),
               Decimal("-1e-999999999"), 10**10000 - 1, -(10**10000), Decimal("9" * 10000), 10**18,
               Decimal("123456789012345678.5"), float("inf"), float("1e300"), Decimal("NaN"), Decimal("sNaN")]


@pytest.mark.parametrize("value", HUGE_VALUES, ids=lambda v: f"{type(v).__name__}-{str(v)[:12]}"
                         if not (type(v) is int and abs(v) > 10**40) else "int-10000-digits")
@pytest.mark.parametrize("path", NUMBER_PATHS)
def test_numbers_out_of_range_given_through_the_api_are_input_errors_at_their_path(ev, path, value):
    """Values a caller hands to `evaluate` directly, never parsed from JSON: refused by each field's converter
    before any arithmetic, quickly, with a message that quotes the value briefly (a 10,000-digit int has no str)."""
    req = _set(receiving(example()), path, value)
    t0 = time.perf_counter()
    message = refused(ev, req, path)
    assert time.perf_counter() - t0 < 1
    assert len(message) <= 200
    with pytest.raises(InputError):
        ev.evaluate_json(_set(receiving(example()), path, value))


def test_number_fields_have_a_documented_bound():
    """No input of the shipped bundle is a plain number (ratio, percent, number); the converter is checked
    directly: |x| < 10^18, at most 12 decimals."""
    for good in (Decimal("0.5"), 3, Decimal("999999999999999999"), Decimal("0.000000000001"), 1.25):
        errs = inputs.Collected()
        assert inputs.number(good, "$", "x", errs) == Decimal(str(good)) and not errs
    for bad in (Decimal("1e18"), 10**18, -(10**30), Decimal("1e-13"), Decimal("1e-400"), 10**10000,
                Decimal("Infinity"), float("nan"), "1"):
        errs = inputs.Collected()
        assert inputs.number(bad, "$", "x", errs) is None
        assert len(errs) == 1 and chinese(errs[0][1]) and len(errs[0][1]) <= 200
    assert inputs.decimals(Decimal("1.500")) == 1 and inputs.decimals(Decimal("1E+5")) == 0
    assert inputs.decimals(Decimal("1E-400")) == 400


def test_error_messages_quote_any_value_briefly():
    deep: list = []
    for _ in range(100000):
        deep = [deep]
    for value in (10**10000, -(10**10000), Decimal("9" * 10000), deep, {"a": [1] * 100000}, "x" * 100000):
        assert len(inputs.shown(value)) < 120


def test_a_huge_integer_as_locality_is_a_locality_error(ev):
    for value in (10**10000, -140105, 10**18):
        req = example()
        req["locality"] = value
        with pytest.raises(LocalityError) as err:
            ev.evaluate(req)
        assert err.value.problems[0][0] == "$.locality" and chinese(err.value.problems[0][1])


def test_parameter_overrides_out_of_range_are_input_errors(ev):
    for value in (Decimal("1e999999"), 10**10000, Decimal("1e-400"), [[Decimal("1e999999"), 1]]):
        with pytest.raises(InputError) as err:
            ev.evaluate(example(), overrides={"dibao.grace_months": value})
        assert err.value.problems[0][0] == "parameters.dibao.grace_months" and chinese(err.value.problems[0][1])


def test_the_cli_names_the_path_of_a_huge_number_without_a_traceback(tmp_path):
    path = "$.household.members[0].monthly_income"
    proc = subprocess.run([sys.executable, "-m", "policyc", "eval", "--bundle", str(BUNDLE), "-"],
                          input=_json_with(path, "1e400"), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert path in proc.stderr and chinese(proc.stderr)


# ── decisions are the caller's own ──────────────────────────────────────────────────────────────────────────
def _containers(value, out: dict) -> dict:
    """id → object for every dict and list in a decision."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            out[id(v)] = v
            stack.extend(v.values())
        elif isinstance(v, list):
            out[id(v)] = v
            stack.extend(v)
    return out


def _vandalise(value) -> None:
    """What a careless caller might do to a decision: redact, rename, append, clear — at every level."""
    for v in list(_containers(value, {}).values()):
        if isinstance(v, dict):
            for k in list(v):
                if isinstance(v[k], (str, int, Decimal)) and not isinstance(v[k], bool):
                    v[k] = "已删除"
            v["vandalised"] = True
        else:
            v.append("vandalised")


def _requests():
    unknown = example()
    del unknown["household"]["members"][0]["monthly_income"]  # an unknown fact: the interpreter's path
    return [("complete", example(), None), ("receiving", receiving(example()), None),
            ("dibao only", example(), ["dibao"]), ("unknown fact", unknown, None)]


@pytest.mark.parametrize("name,req,programs", _requests(), ids=lambda x: x if isinstance(x, str) else "")
def test_a_decision_shares_nothing_with_the_evaluator_or_another_decision(ev, name, req, programs):
    """A caller that redacted decision["bundle"] (or a trace entry's provenance) changed every later decision
    and the cached JSON: every dict and list of a decision must be new."""
    before = jsonio.dumps(ev.evaluate(copy.deepcopy(req), programs=programs))
    wire = ev.evaluate_json(copy.deepcopy(req), programs=programs)
    first = ev.evaluate(copy.deepcopy(req), programs=programs)
    second = ev.evaluate(copy.deepcopy(req), programs=programs)
    shared = set(_containers(first, {})) & set(_containers(second, {}))
    assert not shared, [_containers(first, {})[i] for i in list(shared)[:3]]
    first["bundle"].clear()
    _vandalise(first)
    assert jsonio.dumps(ev.evaluate(copy.deepcopy(req), programs=programs)) == before
    assert jsonio.dumps(second) == before
    assert ev.evaluate_json(copy.deepcopy(req), programs=programs) == wire
    assert ev.bundle["manifest"]["sha256"] == ev.bundle_info["sha256"] == content_hash(ev.bundle)


def test_an_explained_decision_shares_nothing_either(ev):
    req = example()
    before = jsonio.dumps(ev.explain(copy.deepcopy(req), programs=["dibao"], flips=False))
    first = ev.explain(copy.deepcopy(req), programs=["dibao"], flips=False)
    _vandalise(first)
    assert jsonio.dumps(ev.explain(copy.deepcopy(req), programs=["dibao"], flips=False)) == before
    assert jsonio.dumps(ev.evaluate(req)) == jsonio.dumps(ev.evaluate(example()))


def test_the_parameter_descriptions_are_new_objects(ev):
    _, entries, _, _ = ev.params_at("140105", dt.date(2024, 7, 1))
    pid = "dibao.standard.urban"
    one, two = ev.describe(pid, entries[pid]), ev.describe(pid, entries[pid])
    assert one == two and one["provenance"] is not two["provenance"]
    one["provenance"]["document"] = "已删除"
    assert ev.describe(pid, entries[pid]) == two


# ── bounded caches ──────────────────────────────────────────────────────────────────────────────────────────
def test_the_lru_evicts_least_recently_used_first_by_entries_and_by_bytes():
    cache = LRU("t", 2, 100)
    cache.put("a", 1, 10)
    cache.put("b", 2, 10)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3, 10)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    cache.put("d", 4, 95)  # over the byte bound with a and c: both go
    assert len(cache) == 1 and cache.bytes == 95 and cache.get("d") == 4
    cache.put("e", 5, 1000)  # larger than the whole cache: used, not kept
    assert "e" not in cache and cache.bytes == 95
    stats = cache.stats()
    assert stats["evictions"] == 3 and stats["entries"] <= stats["max_entries"] and stats["bytes"] <= 100


def test_every_cache_stays_within_a_small_configured_bound(bundle_text):
    limits = {"parameters": (3, 10**9), "trace_json": (2, 10**9), "programs": (2, 10**9)}
    small = Evaluator(jsonio.loads(bundle_text), verified=True, cache_limits=limits)
    reference = load(BUNDLE)
    codes = [j["code"] for j in small.bundle["jurisdictions"]][:12]
    selections = [None, ["dibao"], ["tekun"], ["temporary"], ["dibao", "tekun"]]
    for i, code in enumerate(codes):
        req = example()
        req["locality"], req["date"] = code, f"2024-{i % 12 + 1:02d}-15"
        programs = selections[i % len(selections)]
        assert small.evaluate_json(req, programs=programs) == reference.evaluate_json(req, programs=programs)
        assert jsonio.dumps(small.evaluate(req, programs=programs)) == \
            jsonio.dumps(reference.evaluate(req, programs=programs))
        for name, stats in small.cache_stats().items():
            assert stats["entries"] <= limits[name][0], (name, stats)
    stats = small.cache_stats()
    assert all(stats[name]["evictions"] > 0 for name in limits), stats
    # by bytes: one (locality, date) entry is a few kilobytes, one trace text about fifteen
    tight = Evaluator(jsonio.loads(bundle_text), verified=True,
                      cache_limits={"parameters": (1000, 10_000), "trace_json": (1000, 40_000)})
    for i, code in enumerate(codes):
        req = example()
        req["locality"] = code
        tight.evaluate_json(req)
        stats = tight.cache_stats()
        assert stats["parameters"]["bytes"] <= 10_000 and stats["trace_json"]["bytes"] <= 40_000, stats
    assert 1 <= tight.cache_stats()["parameters"]["entries"] < len(codes)
    assert 1 <= tight.cache_stats()["trace_json"]["entries"] < len(codes)
    # a cache too small for any entry keeps none and still decides
    none = Evaluator(jsonio.loads(bundle_text), verified=True, cache_limits={"parameters": (0, 0)})
    assert jsonio.dumps(none.evaluate(example())) == jsonio.dumps(reference.evaluate(example()))
    assert none.cache_stats()["parameters"]["entries"] == 0


def test_the_default_bounds_are_documented_and_an_unknown_cache_is_refused(bundle_text):
    assert set(Evaluator.CACHE_LIMITS) == {"parameters", "trace_json", "programs"}
    for name, (entries, size) in Evaluator.CACHE_LIMITS.items():
        assert 0 < entries <= 100_000 and 0 < size <= 256 << 20, name
        assert f'"{name}"' in (Evaluator.__doc__ or "")
    with pytest.raises(ValueError):
        Evaluator(jsonio.loads(bundle_text), verified=True, cache_limits={"everything": (1, 1)})


# ── jurisdiction cycles and structural mutations of the bundle ──────────────────────────────────────────────
def _hashed(b: dict) -> dict:
    b["manifest"]["sha256"] = content_hash(b)  # an attacker (or a broken tool) recomputes the hash
    return b


def _jurisdiction_cycle(b):
    js = b["jurisdictions"]
    city = next(j for j in js if j["level"] == "city")
    county = next(j for j in js if j["parent"] == city["code"])
    city["parent"] = county["code"]


def _four_levels(b):
    js = b["jurisdictions"]
    county = next(j for j in js if j["level"] == "county")
    other = next(j for j in js if j["level"] == "county" and j is not county)
    other["parent"] = county["code"]


CYCLES = {
    "city and county parents of each other": _jurisdiction_cycle,
    "its own parent": lambda b: b["jurisdictions"][3].update(parent=b["jurisdictions"][3]["code"]),
    "province under a county": lambda b: b["jurisdictions"][0].update(
        parent=next(j["code"] for j in b["jurisdictions"] if j["level"] == "county")),
    "four levels": _four_levels,
}


@pytest.mark.parametrize("name", sorted(CYCLES))
def test_a_jurisdiction_cycle_is_a_bundle_error_not_a_hang(name, bundle_text, tmp_path):
    """A parent cycle made `load` loop forever, memory growing: loaded in a child process with a timeout."""
    b = jsonio.loads(bundle_text)
    CYCLES[name](b)
    path = tmp_path / "cycle.bundle.json"
    path.write_text(jsonio.dumps(_hashed(b)), encoding="utf-8")
    child = ("import sys; from policyc.runtime import load, BundleError\n"
             "try:\n    load(sys.argv[1])\nexcept BundleError as e:\n    print(type(e).__name__, e)\n")
    proc = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert proc.stdout.startswith("MalformedBundle") and "$.jurisdictions[" in proc.stdout, proc.stdout
    assert ".parent" in proc.stdout and chinese(proc.stdout)


def _first(b, pred):
    for d in b["ir"]["definitions"]:
        stack = [d["expr"]]
        while stack:
            n = stack.pop()
            if pred(n):
                return n
            stack += n.get("args", [])
    raise LookupError


def _urban(b):
    return b["parameters"]["dibao.standard.urban"]["timelines"]["140000"]


# Each is a shape the runtime must refuse, naming the path given.
NAMED = {
    "unsorted timeline": (lambda b: _urban(b).reverse(), "$.parameters['dibao.standard.urban'].timelines"),
    "duplicate jurisdiction code": (lambda b: b["jurisdictions"].append(dict(b["jurisdictions"][5])),
                                    "$.jurisdictions[133].code"),
    "months parameter of 10^14": (lambda b: [e.update(value=10**14) for tl in b["parameters"][
        "dibao.grace_months"]["timelines"].values() for e in tl], "$.parameters['dibao.grace_months']"),
    "defined_at that is a number": (lambda b: _urban(b)[0].update(defined_at=5),
                                    "$.parameters['dibao.standard.urban'].timelines['140000'][0].defined_at"),
    "program reading an unknown parameter": (lambda b: b["ir"]["programs"][0]["parameters"].append("no.such"),
                                             "$.ir.programs[0].parameters"),
    "reference to an unknown definition": (lambda b: _first(b, lambda n: n["op"] == "def").update(value="no.such"),
                                           "$.ir.definitions["),
    "type naming an unknown record": (lambda b: b["ir"]["inputs"][0].update(type="record:no_such"),
                                      "$.ir.inputs[0].type"),
    "list where an object belongs": (lambda b: b.update(parameters=list(b["parameters"].values())),
                                     "$.parameters"),
    "object where a list belongs": (lambda b: b.update(jurisdictions={j["code"]: j for j in b["jurisdictions"]}),
                                    "$.jurisdictions"),
    "missing IR key": (lambda b: b["ir"].pop("records"), "$.ir"),
    "missing timeline key": (lambda b: _urban(b)[0].pop("from"), "$.parameters['dibao.standard.urban']"),
    "huge parameter value": (lambda b: _urban(b)[0].update(value=Decimal("1e39")),
                             "$.parameters['dibao.standard.urban'].timelines['140000'][0].value"),
    "event changing an unknown parameter": (lambda b: b["events"][0]["changes"].update({"no.such": {"add": 1}}),
                                            "$.events[0].changes"),
    "event without a period": (lambda b: b["events"][0].pop("to"), "$.events[0]"),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_structural_mutations_are_bundle_errors_with_their_path(name, bundle_text, tmp_path):
    mutate, path = NAMED[name]
    b = jsonio.loads(bundle_text)
    mutate(b)
    file = tmp_path / "mutated.bundle.json"
    file.write_text(jsonio.dumps(_hashed(b)), encoding="utf-8")
    with pytest.raises(BundleError) as err:
        load(file)
    assert path in str(err.value) and chinese(str(err.value)), str(err.value)


# Random structural mutations, run in a child process (each with a watchdog alarm, the whole with a timeout):
# a hang is reported with the mutation that caused it instead of stalling the test run.
SECTIONS = [("ir", 10), ("parameters", 4), ("jurisdictions", 2), ("events", 1), ("manifest", 1), ("articles", 1)]
REPLACEMENTS = [None, True, 0, -1, 10**14, Decimal("1e30"), Decimal("-0.5"), "", "x", [], {}, [1], {"a": 1},
                "140000", "2024-01-01", "9999-12-31", "0001-01-01", "money", "list:money", "record:member",
                "enum:area", "opt:date", "e1", "self", "dibao.standard.urban", "household"]
MUTATIONS = ("delete", "type", "swap", "string", "duplicate", "empty", "cycle", "parent", "number")


def _slots(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _slots(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _slots(v, path + (i,))


def _mutate(b: dict, rng: random.Random) -> str:
    """One structural mutation somewhere the runtime reads: a key deleted, a value of another type, a list made an
    object (or the reverse), a string replaced by another name of the bundle, an entry duplicated, a container
    emptied, a parent cycle, a parent changed, a number at the edge of what JSON reading allows."""
    section = rng.choices([s for s, _ in SECTIONS], [w for _, w in SECTIONS])[0]
    slots = [(p, v) for p, v in _slots(b[section], (section,)) if len(p) > 1] or [((section,), b[section])]
    path, _ = rng.choice(slots)
    parent = b
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    how = rng.choice(MUTATIONS)
    if how == "delete":
        del parent[key]
    elif how == "type":
        parent[key] = copy.deepcopy(rng.choice(REPLACEMENTS))
    elif how == "swap":
        v = parent[key]
        parent[key] = ({str(i): x for i, x in enumerate(v)} if isinstance(v, list) else
                       list(v.values()) if isinstance(v, dict) else [v])
    elif how == "string":
        strings = [v for _, v in _slots(b[section]) if isinstance(v, str) and len(v) < 40] or ["x"]
        parent[key] = rng.choice(strings)
    elif how == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = copy.deepcopy(parent)  # an object inside itself, one level down
    elif how == "empty":
        v = parent[key]
        parent[key] = type(v)() if isinstance(v, (list, dict, str)) else None
    elif how == "cycle":
        js = b["jurisdictions"]
        i, j = rng.sample(range(len(js)), 2)
        js[i]["parent"], js[j]["parent"] = js[j]["code"], js[i]["code"]
        return f"cycle {i}<->{j}"
    elif how == "parent":
        js = b["jurisdictions"]
        i = rng.randrange(len(js))
        js[i]["parent"] = rng.choice(js)["code"]
        return f"parent of {i}"
    else:
        parent[key] = rng.choice([Decimal("1e39"), 10**39, Decimal("-1e39"), Decimal("1e-39"), 10**15, -(10**15)])
    return f"{how} at {'/'.join(map(str, path))}"


def _mutation_child(start: int, count: int, out) -> None:
    """Run in the child process: one JSON line per mutated bundle ("start" first, then its outcome)."""
    text = BUNDLE.read_bytes()
    requests = [example(), receiving(example()), dict(example(), locality="140702", date="2024-08-15"),
                {"locality": "140105", "date": "2024-07-01", "household": {"members": [{"id": "a"}]}}]

    class Hang(Exception):
        pass

    def alarm(*_):
        raise Hang()
    signal.signal(signal.SIGALRM, alarm)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"policyc-mutation-{os.getpid()}.bundle.json"
    for seed in range(start, start + count):
        rng = random.Random(seed)
        b = jsonio.loads(text)
        what = [_mutate(b, rng) for _ in range(rng.choice((1, 1, 2, 3)))]
        try:
            _hashed(b)
            tmp.write_text(jsonio.dumps(b), encoding="utf-8")
        except (TypeError, ValueError, RecursionError):  # not JSON at all (an object inside itself, too deep)
            continue
        print(json.dumps({"seed": seed, "start": what}, ensure_ascii=False), file=out, flush=True)
        outcome, detail = "decided", ""
        signal.alarm(30)
        try:
            ev = load(tmp)
            for req in requests:
                try:
                    decision = ev.evaluate(copy.deepcopy(req))
                    jsonio.dumps(decision)
                    ev.evaluate_json(copy.deepcopy(req))
                except RuntimeFault as err:  # the mutated bundle loads but cannot decide this request: in Chinese
                    if not chinese(str(err)):
                        outcome, detail = "crash", f"{type(err).__name__} not in Chinese: {str(err)[:200]}"
        except BundleError as err:
            outcome, detail = "refused", str(err)[:200]
            if not chinese(str(err)):
                outcome = "crash"
        except Hang:
            outcome = "hang"
        except Exception as err:  # noqa: BLE001 - exactly what the test is looking for
            import traceback
            outcome, detail = "crash", "".join(traceback.format_exception(err))[-1500:]
        finally:
            signal.alarm(0)
        print(json.dumps({"seed": seed, "what": what, "outcome": outcome, "detail": detail}, ensure_ascii=False),
              file=out, flush=True)
    tmp.unlink(missing_ok=True)


@pytest.mark.parametrize("start", [0, 40])
def test_structurally_mutated_bundles_decide_or_are_bundle_errors(start):
    """Loading + evaluating a structurally mutated bundle (hash recomputed) gives decisions (or a request-level
    RuntimeFault in Chinese) or a BundleError: never another exception, never a hang."""
    count = 40
    child = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_runtime_hardening as t; "
             f"t._mutation_child({start}, {count}, sys.stdout)")
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        stdout, stderr = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        started = [json.loads(line) for line in stdout.splitlines() if '"start"' in line]
        pytest.fail(f"the mutation run hung; last mutation started: {started[-1] if started else None}")
    assert proc.returncode == 0, stderr[-2000:]
    results = [json.loads(line) for line in stdout.splitlines() if '"outcome"' in line]
    bad = [r for r in results if r["outcome"] in ("crash", "hang")]
    assert not bad, "\n".join(f"seed {r['seed']} {r['what']}: {r['outcome']} {r['detail']}" for r in bad)
    outcomes = {r["outcome"] for r in results}
    assert len(results) >= count * 3 // 4 and {"refused", "decided"} <= outcomes, outcomes
