"""Every entry of the broken-policy corpus gives its diagnostic code at its line; docs/errors.md is current."""
import shutil
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import corpus  # noqa: E402

ENTRIES = corpus.entries()
EXAMPLES: dict[str, str] = {}  # filled by the corpus tests, read by the reference test that runs after them


def test_the_corpus_covers_at_least_forty_kinds():
    assert len({e["code"] for e in ENTRIES}) >= 40


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["code"] for e in ENTRIES])
def test_broken_policy_gives_its_code_at_its_line(entry):
    diags, target, line, policy = corpus.run(entry)
    try:
        text = corpus.example(entry, diags, policy)
        if text is not None:
            EXAMPLES.setdefault(entry["code"], text)
        found = [d for d in diags if d.code == entry["code"]]
        assert found, (entry["code"], [(d.code, d.message) for d in diags])
        if line is not None:
            assert any(d.span and d.span.line == line and d.span.file.endswith(target.name) for d in found), \
                [(str(d.span), d.message) for d in found]
    finally:
        shutil.rmtree(policy.parent, ignore_errors=True)


def test_errors_reference_is_current_and_documents_every_code():
    from policyc.messages import MESSAGES
    doc = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for code in MESSAGES:
        assert f"### {code}" in doc, code
    examples = EXAMPLES if len(EXAMPLES) == len({e["code"] for e in ENTRIES}) else None  # run alone: recompute
    assert doc == corpus.write_docs(examples), "run: python tools/corpus.py"
