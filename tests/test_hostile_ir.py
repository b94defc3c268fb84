"""Hostile bundles: a bundle whose hash was recomputed after its IR was made to carry code is refused before any
code is generated from it; text that is allowed stays data; and generated code is audited before it runs."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import member, request
from policyc.cli import main
from policyc.runtime import BundleError, Evaluator, jsonio
from policyc.runtime import codegen_rules, inputs
from policyc.runtime.bundle import content_hash
from policyc.runtime.pysource import UnsafeSource, audit, literal
from policyc.runtime.validate import MalformedBundle

SENTINEL = "/tmp/policyc-hostile-ir-ran"
SYSTEM = f"__import__('os').system('touch {SENTINEL}')"


@pytest.fixture(autouse=True)
def tripwire(monkeypatch):
    """Any payload that reaches os.system fails the test loudly, and leaves the sentinel absent."""
    if os.path.exists(SENTINEL):
        os.remove(SENTINEL)

    def refuse(*args, **kwargs):
        raise AssertionError(f"a bundle ran os.system{args!r}")
    monkeypatch.setattr(os, "system", refuse)
    yield
    assert not os.path.exists(SENTINEL), "a payload from the bundle was executed"


@pytest.fixture
def fresh(bundle):
    """A private copy of the compiled bundle, as a service would read it from disk."""
    text = jsonio.dumps(bundle)
    return lambda: jsonio.loads(text)


def _definition(b, pred):
    return next(d for d in b["ir"]["definitions"] if pred(d))


def _first_node(b, op):
    for d in b["ir"]["definitions"]:
        stack = [d["expr"]]
        while stack:
            node = stack.pop()
            if node["op"] == op:
                return node
            stack += node.get("args", [])
    raise LookupError(op)


def _list_field(b):
    return next(f for r in b["ir"]["records"] for f in r["fields"]
                if f["type"].startswith("list:") and f["maximum"] is not None)


def _scalar_param(b):
    return next(p for p in b["parameters"].values() if p["type"].startswith("money"))


HOSTILE = {
    # the issue's own example: the maximum of a list field carrying code
    "list maximum": lambda b: _list_field(b).update(maximum=f"30 + ({SYSTEM} and 0)"),
    "field minimum as text": lambda b: _list_field(b).update(minimum="0 or " + SYSTEM),
    "input id": lambda b: b["ir"]["inputs"][0].update(id=f"household']; {SYSTEM}; R['"),
    "definition id": lambda b: b["ir"]["definitions"][0].update(id=f"x')\n{SYSTEM}\n('"),
    "definition name with a line break": lambda b: b["ir"]["definitions"][0].update(name=f"低保\n{SYSTEM}"),
    "operator": lambda b: b["ir"]["definitions"][0]["expr"].update(op="__class__"),
    "list element": lambda b: _first_node(b, "elem").update(value=SYSTEM),
    "aggregate variable": lambda b: _first_node(b, "sum").update(value=f"x) or {SYSTEM} or (x"),
    "number literal": lambda b: _first_node(b, "lit").update(type="money", value=f"1) + ({SYSTEM}"),
    "date literal": lambda b: _first_node(b, "lit").update(type="date", value=f"2024-01-01'); {SYSTEM}; ('"),
    "field name": lambda b: _first_node(b, "field").update(value=f"a'] or {SYSTEM} or ['"),
    "record id": lambda b: b["ir"]["records"][0].update(id=f"r(v, path, errs): pass\n{SYSTEM}\ndef c"),
    "record field id": lambda b: b["ir"]["records"][0]["fields"][0].update(id=f"x'] = {SYSTEM}; out['"),
    "enum code": lambda b: b["ir"]["enums"][0]["members"][0].__setitem__(0, f"urban', {SYSTEM}, '"),
    "type string": lambda b: b["ir"]["definitions"][0].update(type=f"money; {SYSTEM}"),
    "parameter id read by the rules": lambda b: _first_node(b, "param").update(value=f"p'] or {SYSTEM} or P['"),
    "parameter value": lambda b: _scalar_param(b)["timelines"]["140000"][0].update(value=SYSTEM),
    "not a number": lambda b: _scalar_param(b)["timelines"]["140000"][0].update(value="NaN"),
    "huge number": lambda b: _scalar_param(b)["timelines"]["140000"][0].update(value="1e999999"),
    "case mode": lambda b: b["ir"]["definitions"][0]["expr"].update(op="case", value=f"unique; {SYSTEM}"),
    "unknown key": lambda b: b["ir"]["definitions"][0].update(__globals__={"os": "system"}),
    "scope of no record": lambda b: b["ir"]["definitions"][0].update(scope="no_such_record"),
    "program output that is a rule": lambda b: b["ir"]["programs"][0]["outputs"].append(
        _definition(b, lambda d: d["kind"] == "rule")["id"]),
    "bidi override in a reason": lambda b: _definition(b, lambda d: d["reasons"])["reasons"][0]["parts"].insert(
        0, "\u202e" + SYSTEM),
    "NUL in a citation": lambda b: _definition(b, lambda d: d["citations"])["citations"].append("二\x00"),
    "locality code": lambda b: b["jurisdictions"][0].update(code=f"14'{SYSTEM}'"),
    "expression nested too deep": lambda b: b["ir"]["definitions"][0].update(expr=_deep(400)),
    "IR version": lambda b: b["ir"].update(ir_version=99),
    # found by red-teaming: shapes that passed the first check but hung or crashed the load
    "jurisdiction cycle": lambda b: (b["jurisdictions"][0].update(parent=b["jurisdictions"][1]["code"]),
                                     b["jurisdictions"][1].update(parent=b["jurisdictions"][0]["code"])),
    "jurisdiction its own parent": lambda b: b["jurisdictions"][1].update(parent=b["jurisdictions"][1]["code"]),
    "reference that is a list": lambda b: _first_node(b, "input").update(value=["household"]),
    "scope that is a list": lambda b: b["ir"]["definitions"][0].update(scope=["member"]),
    "date not on the calendar": lambda b: _scalar_param(b)["timelines"]["140000"][0].update({"from": "2023-13-45"}),
    "input of type null": lambda b: b["ir"]["inputs"][0].update(type="null"),
    "parameter of type text": lambda b: _scalar_param(b).update(type="text"),
    "emergency raising an enum parameter": lambda b: b["events"].append(dict(
        b["events"][0] if b["events"] else {"id": "x", "name": "x", "localities": ["140000"], "from": "2024-01-01",
                                            "to": "2024-01-02"},
        changes={next(k for k, v in b["parameters"].items() if v["type"].startswith("enum:")): {"add": 1}})),
    "output nested under another output": lambda b: _nest_output(b),
    "version that is no header value": lambda b: b["manifest"].update(version="0.1.0-测试"),
}


def _nest_output(b):
    prog = b["ir"]["programs"][0]
    first = next(d for d in b["ir"]["definitions"] if d["id"] == prog["outputs"][0])
    b["ir"]["definitions"].append(dict(first, id=first["id"] + ".more"))
    prog["outputs"].append(first["id"] + ".more")


def _deep(n):
    node = {"op": "lit", "type": "bool", "value": True}
    for _ in range(n):
        node = {"op": "not", "type": "bool", "args": [node]}
    return node


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_ir_with_a_recomputed_hash_is_refused_before_any_code_is_generated(name, fresh, monkeypatch):
    b = fresh()
    HOSTILE[name](b)
    b["manifest"]["sha256"] = content_hash(b)  # the attacker recomputes the hash: it proves nothing

    def generated(*args, **kwargs):
        raise AssertionError("code was generated from a bundle that should have been refused")
    monkeypatch.setattr(codegen_rules.RulesCodegen, "generate", generated)
    monkeypatch.setattr(inputs.InputCodegen, "generate", generated)
    with pytest.raises(MalformedBundle) as err:
        Evaluator(b)
    assert "$" in str(err.value) and "未从中生成任何代码" in str(err.value)


def test_a_string_never_hashes_like_the_number_it_spells(fresh):
    """The canonical form writes Decimals through a marker; a string spelling that marker must not serialise like
    the number, or an edited bundle would keep its hash and its signature."""
    from decimal import Decimal
    b = fresh()
    entry = _scalar_param(b)["timelines"]["140000"][0]
    before = content_hash(b)
    entry["value"] = f"\x00D{entry['value']}\x00"
    assert content_hash(b) != before
    assert jsonio.dumps({"a": "\x00D5\x00"}, indent=None) != jsonio.dumps({"a": Decimal(5)}, indent=None)


@pytest.mark.parametrize("number", ["1e1000000", "1e-999999999", "9" * 5000, "1" + "0" * 60])
def test_numbers_too_large_to_handle_are_refused_where_they_are_read(number):
    with pytest.raises(ValueError):
        jsonio.loads('{"age": %s}' % number)


def test_a_huge_integral_decimal_given_through_the_api_is_an_input_error(evaluator):
    from decimal import Decimal
    from policyc.runtime import InputError
    req = request([member("A", 100)])
    req["household"]["members"][0]["age"] = Decimal("1e1000000")
    with pytest.raises(InputError):
        evaluator.evaluate(req)


def test_the_cli_refuses_a_hostile_bundle_in_chinese_without_a_traceback(fresh, tmp_path, capsys):
    b = fresh()
    HOSTILE["list maximum"](b)
    b["manifest"]["sha256"] = content_hash(b)
    path = tmp_path / "hostile.bundle.json"
    path.write_text(jsonio.dumps(b), encoding="utf-8")
    req = tmp_path / "req.json"
    req.write_text(jsonio.dumps(request([member("A", 100)])), encoding="utf-8")
    assert main(["eval", "--bundle", str(path), str(req)]) == 2
    err = capsys.readouterr().err
    assert "R0210" in err and "maximum" in err and "Traceback" not in err


# Text a bundle may carry (names, sentences, citations, labels) holds anything printable: it must stay data.
INERT = [
    f"'); {SYSTEM}; ('",
    f'"""; {SYSTEM}; """',
    "{{7*7}} {% raw %} ${7*7}",
    "\\'); " + SYSTEM + " #",
    "# coding: latin-1",
]


@pytest.mark.parametrize("payload", INERT)
def test_text_that_looks_like_code_stays_text(payload, fresh):
    b = fresh()
    rule = _definition(b, lambda d: d["kind"] == "rule" and d["reasons"] and d["program"] == "dibao")
    rule["reasons"][0]["parts"] = [payload]
    rule["reasons"][1:] = [dict(r, parts=[payload]) for r in rule["reasons"][1:]]
    rule["name"] = payload
    rule["citations"] = [payload]
    for d in b["ir"]["definitions"]:
        d["name"] = payload
    b["ir"]["enums"][0]["members"][0][1] = payload
    b["manifest"]["sha256"] = content_hash(b)
    ev = Evaluator(b)
    out = ev.evaluate(request([member("A", 100)]))
    texts = [r["text"] for r in out["programs"]["dibao"]["reasons"]] + \
            [r["citation"] for r in out["programs"]["dibao"]["reasons"]]
    assert any(payload in t for t in texts)


_ALPHABET = st.sampled_from(list("'\"\\\n\r\t #()[]{}:;,.=+-*/%<>!~`_") + ["__import__", "os", "system", "e1",
                                                                        "self", "lambda", "\u202e", "\x00", "a", "0"])


def _string_slots(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _string_slots(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _string_slots(v, path + (i,))
    elif isinstance(node, str):
        yield path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_string_of_the_ir_replaced_by_anything_runs_no_code(data, fresh):
    """Property: whatever string of the IR an attacker rewrites, the bundle is either refused as a bundle or loads
    and decides with the text as data — nothing from it is executed."""
    b = fresh()
    slots = list(_string_slots(b["ir"]))
    path = data.draw(st.sampled_from(slots))
    value = "".join(data.draw(st.lists(_ALPHABET, max_size=12)))
    node = b["ir"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    b["manifest"]["sha256"] = content_hash(b)
    try:
        ev = Evaluator(b)
    except BundleError:
        return
    try:
        ev.evaluate(request([member("A", 100)]))
    except Exception:  # a consistent-looking but wrong bundle may fail to decide; it must not run anything
        pass


@pytest.mark.parametrize("source", [
    "import os",
    "def evaluate(R):\n    return __import__('os').system('x')",
    "def evaluate(R):\n    return R.__class__",
    "def evaluate(R):\n    return getattr(R, 'x')",
    "def evaluate(R):\n    return eval('1')",
    "def evaluate(R):\n    return open('/etc/passwd')",
    "def evaluate(R):\n    return f'{R}'",
    "def evaluate(R):\n    return b'x'",
    "def evaluate(R):\n    return R.system('x')",
    "@decorator\ndef evaluate(R):\n    return R",
    "def evaluate(R):\n    global x\n    return R",
    "def evaluate(R):\n    return [x async for x in R]",
    "def evaluate(R):\n    return sorted(R, reverse=True)",
    "class X: pass",
    "def evaluate(R):\n    return (",
])
def test_the_audit_refuses_anything_the_generators_do_not_emit(source):
    with pytest.raises(UnsafeSource):
        audit(source, {"fmt_number": None})


def test_the_audit_accepts_what_the_generators_emit(evaluator):
    from policyc.runtime.evaluator import _RULE_GLOBALS
    from policyc.runtime.inputs import HELPERS
    audit(evaluator.rules_source, dict(_RULE_GLOBALS, locality_name=None))
    audit(evaluator.inputs_source, dict(HELPERS, locality=None))


def test_the_literal_writer_refuses_what_it_cannot_write_exactly():
    from decimal import Decimal
    assert eval(literal("'); x")) == "'); x"  # noqa: S307 - a constant, checking the writer round-trips
    assert literal(Decimal("12.50")) == "Decimal('12.50')"
    for bad in (Decimal("NaN"), 1.5, object(), b"x", {"k": 1.5}):
        with pytest.raises(ValueError):
            literal(bad)
