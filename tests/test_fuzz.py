"""The fuzz suite, bounded for CI (≈ 2 minutes): hostile and odd requests, request texts, policy sources, bundles and
CLI environments (tests/fuzzkit.py says what each kind tries and what it asserts). The same kinds run for longer
with `python tools/fuzz.py` (docs/fuzz.md records a run of ≥ 100,000 inputs and its tally). Builds killed at a
random moment are tried in tests/test_build_atomic.py.

The examples are derandomized, so CI runs the same inputs every time; the long run draws new ones from its seed."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzkit

BUDGET = {"request": 400, "request_text": 300, "source_text": 300, "bundle": 25, "policy_set": 6,
          "cli_agrees": 12, "cli_env": 20}


@pytest.fixture(scope="module")
def context():
    ctx = fuzzkit.Context()
    yield ctx
    ctx.close()


def _settings(kind):
    return settings(max_examples=BUDGET[kind], deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _test(kind):
    @_settings(kind)
    @given(rng=st.randoms(use_true_random=False))
    def test(context, rng):
        context.run(kind, rng)  # a broken contract raises fuzzkit.Broken with how to replay it
    test.__name__ = f"test_fuzz_{kind}"
    return test


test_fuzz_request = _test("request")
test_fuzz_request_text = _test("request_text")
test_fuzz_source_text = _test("source_text")
test_fuzz_bundle = _test("bundle")
test_fuzz_policy_set = _test("policy_set")
test_fuzz_cli_agrees = _test("cli_agrees")
test_fuzz_cli_env = _test("cli_env")


def test_every_kind_has_a_budget():
    assert set(BUDGET) | {"build_kill"} == set(fuzzkit.KINDS)  # builds are killed in test_build_atomic.py
