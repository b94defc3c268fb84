"""Any input, however broken, gives diagnostics or a clean error: never an uncaught exception, a hang, or code
injected into the generated evaluator."""
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import POLICY, ROOT, diagnose, member, request
from policyc.diagnostics import Reporter
from policyc.dsl.parser import parse_file
from policyc.load.yamlsrc import load_yaml
from policyc.runtime import InputError, LocalityError, RuntimeFault, jsonio

DIBAO = (POLICY / "rules" / "dibao.policy").read_text(encoding="utf-8")
PARAMS = (POLICY / "parameters" / "dibao.yaml").read_text(encoding="utf-8")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mutate(text: str, data) -> str:
    """Delete, duplicate or replace a slice, or insert random characters."""
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, min(len(text), i + 40)))
    how = data.draw(st.sampled_from(["delete", "duplicate", "insert", "replace"]))
    junk = data.draw(st.text(alphabet=st.sampled_from(list("()[]{}:=<>+-×÷.,，、\"“”#?？ \n\t0123456789元月岁如果则否则且或不定义规则低保标准")),
                             max_size=12))
    if how == "delete":
        return text[:i] + text[j:]
    if how == "duplicate":
        return text[:j] + text[i:j] + text[j:]
    if how == "insert":
        return text[:i] + junk + text[i:]
    return text[:i] + junk + text[j:]


@SETTINGS
@given(st.data())
def test_mutated_rule_files_never_crash_the_parser(data):
    reporter = Reporter()
    parse_file("m.policy", mutate(DIBAO, data), reporter)
    assert all(d.span is None or d.span.line >= 1 for d in reporter.items)


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_never_crashes_the_parser(text):
    parse_file("r.policy", text, Reporter())


@SETTINGS
@given(st.data())
def test_mutated_yaml_never_crashes_the_loader(data):
    load_yaml("m.yaml", mutate(PARAMS, data), Reporter())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_policy_sets_never_crash_the_compiler(policy_copy, data):
    target = data.draw(st.sampled_from(["rules/dibao.policy", "rules/tekun.policy", "parameters/dibao.yaml",
                                        "parameters/tekun.yaml", "cases/dibao.yaml", "localities/140105-xiaodian.yaml",
                                        "events/drill-2024.yaml", "policy.yaml"]))
    path = policy_copy / target
    original = path.read_text(encoding="utf-8")
    path.write_text(mutate(original, data), encoding="utf-8")
    try:
        for d in diagnose(policy_copy):
            assert d.code in __import__("policyc.messages", fromlist=["MESSAGES"]).MESSAGES
    finally:
        path.write_text(original, encoding="utf-8")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.text(max_size=10)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@SETTINGS
@given(st.data())
def test_random_and_mutated_requests_give_decisions_or_input_errors(evaluator, data):
    req = request([member("A", 300), member("B", 0, grade=2, dtype="physical")])
    choice = data.draw(st.sampled_from(["household", "member", "field", "top"]))
    if choice == "top":
        req = data.draw(json_values)
    elif choice == "household":
        req["household"][data.draw(st.sampled_from(list(req["household"])))] = data.draw(json_values)
    elif choice == "member":
        req["household"]["members"][0] = data.draw(json_values)
    else:
        m = req["household"]["members"][1]
        m[data.draw(st.sampled_from(list(m) + ["supporters", "self_care_unmet_items", "x"]))] = data.draw(json_values)
    try:
        decision = evaluator.evaluate(req)
        assert jsonio.loads(jsonio.dumps(decision))["programs"]
    except (InputError, LocalityError) as err:
        assert err.problems and all(p.startswith("$") for p, _ in err.problems)
    except RuntimeFault:
        pass


def test_huge_numbers_nan_and_deep_nesting_in_request_json():
    cases = ['{"locality": "140702", "date": "2024-07-01", "household": {"members": [{"monthly_income": 1e999999}]}}',
             '{"household": NaN}', "[" * 100000 + "]" * 100000, '{"date": "2024-07-01", "locality": ' + "9" * 5000 + "}",
             b"\xff\xfe\x00".decode("latin-1")]
    for payload in cases:
        proc = subprocess.run([sys.executable, "-m", "policyc", "eval", "-"], input=payload, capture_output=True,
                              text=True, cwd=ROOT, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-500:]


def test_deeply_nested_yaml_is_refused_not_crashed():
    reporter = Reporter()
    assert load_yaml("d.yaml", "a: " + "[" * 5000 + "]" * 5000, reporter) is None
    assert reporter.items[0].code in ("E0001", "E0008")


def test_policy_text_cannot_inject_code_into_the_evaluator(policy_copy):
    rules = policy_copy / "rules" / "dibao.policy"
    text = rules.read_text(encoding="utf-8")
    evil = "'); import os; os.system('touch /tmp/policyc-pwned'); ('\\\\'''"  # \\ in the rule file: one backslash
    rules.write_text(text.replace('不成立时 "家庭财产状况不符合当地规定"', f'不成立时 "财产不符{evil}"'), encoding="utf-8")
    from policyc.compiler import compile_policy
    from policyc.emit.bundle import build_bundle
    from policyc.runtime import Evaluator
    ev = Evaluator(jsonio.loads(jsonio.dumps(build_bundle(compile_policy(policy_copy, Reporter())))))
    out = ev.evaluate(request([member("A", 100)], assets=False))
    texts = [r["text"] for r in out["programs"]["dibao"]["reasons"]]
    assert any("os.system" in t for t in texts)
    assert not __import__("os").path.exists("/tmp/policyc-pwned")


def test_a_very_long_rule_file_compiles(policy_copy):
    lines = [f"定义 试算{i} (trial_{i}): 元/月 = 城市低保标准 × {i % 7 + 1}" for i in range(3000)]
    (policy_copy / "rules" / "long.policy").write_text("\n".join(lines) + "\n", encoding="utf-8")
    diags = diagnose(policy_copy)
    assert [d for d in diags if d.severity == "error"] == []
    assert sum(d.code == "W0302" for d in diags) == 3000


def test_a_key_given_twice_is_refused_not_last_wins(evaluator, tmp_path):
    """Duplicate keys (issue 15) made the last value count, silently: `locality` given twice decided for the
    second place. Refused by the JSON reader, naming the key — in the API, the CLI and the service's parser."""
    text = jsonio.dumps(request([member("A", 1000)]), indent=None)
    twice = text[:-1] + ',"locality":"140105"}'
    with pytest.raises(ValueError, match="locality"):
        jsonio.loads(twice)
    nested = text.replace('"id":"A"', '"id":"A","id":"B"')
    with pytest.raises(ValueError, match="“id”"):
        jsonio.loads(nested)
    path = tmp_path / "twice.json"
    path.write_text(twice, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "policyc", "eval", str(path)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2 and "locality" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("programs", ["dibao", [None], [1], ["dibao", 2], 5, {"dibao": 1}])
def test_a_program_selection_that_is_not_a_list_of_ids_is_an_input_error(evaluator, programs):
    """Found by the fuzz suite: `programs=[1]` or `[None]` was a TypeError traceback, and "dibao" was read as the
    programs d, i, b, a, o."""
    with pytest.raises(InputError) as err:
        evaluator.evaluate(request([member("A", 1000)]), programs=programs)
    assert err.value.problems[0][0] == "programs" and "程序" in err.value.problems[0][1]


def test_an_empty_program_selection_is_refused(evaluator, tmp_path):
    """`--programs ,` answered with an empty decision and exit 0 (issue 15)."""
    with pytest.raises(InputError):
        evaluator.evaluate(request([member("A", 1000)]), programs=[])
    path = tmp_path / "r.json"
    path.write_text(jsonio.dumps(request([member("A", 1000)])), encoding="utf-8")
    for value in (",", "dibao,,tekun", " "):
        proc = subprocess.run([sys.executable, "-m", "policyc", "eval", "--programs", value, str(path)],
                              capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 2 and "--programs" in proc.stderr and proc.stdout == "", value
