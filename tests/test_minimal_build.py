"""A change to the policy rewrites only the generated pages that show what changed (issue 11): a value touches its
parameter's page and the handbooks of the places where it is in force; a rule's text touches its program's rule
page, not every handbook. The expected pages are computed from the policy, never listed by hand."""
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import POLICY
from policyc.check.constraints import effective
from policyc.compiler import compile_policy
from policyc.diagnostics import Reporter
from policyc.emit.chinese import quantity
from policyc.emit.outputs import outputs, write_tree


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The shipped policy set copied and built once into an out directory: (policy dir, out dir, compilation)."""
    root = tmp_path_factory.mktemp("minimal")
    policy = root / "shanxi"
    shutil.copytree(POLICY, policy)
    c = compile_policy(policy, Reporter())
    write_tree(outputs(c, root / "out"), root / "out")
    return policy, root, c


def rebuild(built, tmp_path, edit) -> set[str]:
    """Copy the built tree, apply `edit` to the copy's policy, build as `policyc build` does (only stale files are
    written) and return what was rewritten, relative to the out directory."""
    policy, root, _ = built
    shutil.copytree(root, tmp_path / "b")
    edit(tmp_path / "b" / "shanxi")
    files = outputs(compile_policy(tmp_path / "b" / "shanxi", Reporter()), tmp_path / "b" / "out")
    stale, _ = write_tree(files, tmp_path / "b" / "out")
    return {str(p.relative_to(tmp_path / "b")) for p in stale}


def pages(kind: str, name: str) -> set[str]:
    return {f"out/docs/{kind}/{name}.md", f"out/docs/{kind}/{name}.html"}


def shows(c, p, code: str, entry) -> bool:
    """Whether the handbook of `code` shows `entry` of `p`: the entry is in force there on some day a value of the
    parameter starts along the place's chain (city, province …)."""
    chain = c.chains[code]
    return any(effective(p, chain, v.start) is entry for level in chain for v in p.timelines.get(level, []))


def expected_pages(c, p, entry) -> set[str]:
    """The pages that display `entry`: the parameter's page, every handbook where it is in force, and, for a
    province value, the pages of parameters whose province floor or cap is computed from it."""
    province = c.sources.manifest.data["jurisdiction"]
    out = pages("params", p.id)
    out |= {f for j in c.sources.jurisdictions if shows(c, p, j.code, entry) for f in pages("handbooks", j.code)}
    if entry.jurisdiction == province:
        for q in c.params.values():
            formulas = " ".join(str(k.get("min") or k.get("max")) for k in q.constraints)
            if re.search(rf"(?<![\w.]){re.escape(p.id)}(?![\w.])", formulas):
                out |= pages("params", q.id)
    return out


def set_value(policy: Path, entry, new) -> None:
    """Change the value of one dated entry in its source file (the `value:` line of the entry its span names)."""
    file, line = entry.defined_at.rsplit(":", 2)[:2]
    path = policy / Path(file).parent.name / Path(file).name  # parameters/… or localities/…
    lines = path.read_text(encoding="utf-8").split("\n")
    at = next(i for i in range(int(line) - 1, len(lines)) if re.match(r"\s*(- )?value:", lines[i]))
    assert re.search(rf"value:\s*{re.escape(str(entry.value))}\s*$", lines[at]), lines[at]
    lines[at] = re.sub(r"value:.*$", f"value: {new}", lines[at])
    path.write_text("\n".join(lines), encoding="utf-8")


def numeric_entries(c, level: str):
    """Own numeric values set at `level`, in a stable order."""
    for p in sorted(c.params.values(), key=lambda p: p.id):
        if p.unit and not p.table and not p.choices:
            for code in sorted(p.timelines):
                for v in p.timelines[code]:
                    if v.level == level and not v.inherit and isinstance(v.value, (int, Decimal)):
                        yield p, v


def check_value_change(built, tmp_path, p, entry):
    _, root, c = built
    new = Decimal(str(entry.value)) - 10
    changed = rebuild(built, tmp_path, lambda policy: set_value(policy, entry, new))
    docs = {f for f in changed if f.startswith("out/docs/")}
    expected = expected_pages(c, p, entry)
    assert docs == expected, (sorted(docs - expected), sorted(expected - docs))
    # the bundle and the evaluator generated from it change; the schemas, the index, the search data do not
    assert changed - docs <= {"out/shanxi.bundle.json", "out/shanxi.evaluator.py"}
    shown = quantity(new, p.unit)
    for f in sorted(f for f in docs if "/handbooks/" in f or f in pages("params", p.id)):
        assert shown in (tmp_path / "b" / f).read_text(encoding="utf-8"), f
    return docs


@pytest.mark.parametrize("pid", ["dibao.standard.urban", "dibao.standard.rural"])
def test_a_province_value_rewrites_only_the_pages_that_show_it(built, tmp_path, pid):
    _, _, c = built
    p = c.params[pid]
    province = c.sources.manifest.data["jurisdiction"]
    entry = p.timelines[province][-1]
    docs = check_value_change(built, tmp_path, p, entry)
    handbooks = {f for f in docs if "/handbooks/" in f}
    assert pages("handbooks", province) <= handbooks  # the province's own, and the places that inherit it …
    assert len(handbooks) > 2
    overriding = [code for code in p.timelines if code != province and not shows(c, p, code, entry)]
    assert overriding and not any(pages("handbooks", code) & docs for code in overriding)  # … not the others
    assert not any("/rules/" in f or f.endswith(("index.html", "search-index.js", "articles.md")) for f in docs)


def test_a_county_value_rewrites_its_handbook_and_the_parameter_page(built, tmp_path):
    _, _, c = built
    p, entry = next(numeric_entries(c, "county"))
    docs = check_value_change(built, tmp_path, p, entry)
    assert pages("handbooks", entry.jurisdiction) <= docs
    assert not any(f"/handbooks/{c.chains[entry.jurisdiction][-1]}." in f for f in docs)  # not the province's


def test_a_rule_text_change_rewrites_its_rule_page_not_the_handbooks(built, tmp_path):
    def edit(policy):
        rules = policy / "rules" / "dibao.policy"
        text = rules.read_text(encoding="utf-8")
        old = "家庭人口 高于 0 且 家庭月收入 低于 家庭低保标准合计\n"
        assert old in text
        rules.write_text(text.replace(old, old.replace(" 低于 ", " 不高于 "), 1), encoding="utf-8")
    changed = rebuild(built, tmp_path, edit)
    assert changed == pages("rules", "dibao") | {"out/shanxi.bundle.json", "out/shanxi.evaluator.py"}
    assert "家庭月收入不高于家庭低保标准合计" in (tmp_path / "b" / "out/docs/rules/dibao.md").read_text(encoding="utf-8")


def test_every_handbook_links_the_rule_pages_and_shows_its_values(built):
    """A handbook without the rule text is still complete for a caseworker: the values in force there and a link
    to every rule page (which exists)."""
    _, root, c = built
    docs = root / "out" / "docs"
    p = c.params["dibao.standard.urban"]
    for j in c.sources.jurisdictions:
        text = (docs / "handbooks" / f"{j.code}.md").read_text(encoding="utf-8")
        html = (docs / "handbooks" / f"{j.code}.html").read_text(encoding="utf-8")
        for prog in c.module.programs:
            assert f"](../rules/{prog.id}.md)" in text and f'href="../rules/{prog.id}.html' in html
            assert (docs / "rules" / f"{prog.id}.md").exists() and (docs / "rules" / f"{prog.id}.html").exists()
        chain = c.chains[j.code]
        for v in p.timelines[chain[-1]]:
            in_force = effective(p, chain, v.start)
            if in_force is not None:
                assert quantity(in_force.value, p.unit) in text and quantity(in_force.value, p.unit) in html
