"""The Chinese 变更说明 (CHANGELOG.md), generated from the semantic diffs between released versions.

A released version is a git tag `<policy id>-v<version>` (e.g. `shanxi-v0.2.0`) or `v<version>` on the
repository holding the policy directory, `<version>` a semantic version; where both name one version, the
prefixed one is used. Released versions are ordered by version; each section is the diff from the one before
(the first says it is the first release). `unreleased` adds a section for the working tree over the last release.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..emit.documents import _md_escape
from . import semver
from .diff import Diff, describe, diff_versions
from .render_diff import KIND_TEXT, OTHER, groups
from .versions import VersionError, git

BUMP_TEXT = {"major": "主版本：请求或决定的契约有不兼容的变化", "minor": "次版本：决定可能改变",
             "patch": "修订版本：决定不变（文字、依据、示例案例、文档）", "none": "没有语义变化"}


@dataclass
class Release:
    tag: str
    version: str
    date: str  # the tagged commit's date, YYYY-MM-DD


def _git(cwd: Path, *args: str) -> str:
    try:
        return git(cwd, *args).decode("utf-8", "replace")
    except VersionError as err:
        raise ValueError(str(err)) from None


def releases(policy: Path, policy_id: str) -> list[Release]:
    """The released versions of the policy set, oldest first."""
    top = Path(_git(policy.resolve(), "rev-parse", "--show-toplevel").strip())
    pattern = re.compile(rf"(?:(?P<id>{re.escape(policy_id)})-)?v(?P<version>\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)")
    found: dict[str, tuple[bool, str]] = {}
    for tag in _git(top, "tag", "--list").split():
        m = pattern.fullmatch(tag)
        if not m:
            continue
        prefixed = m["id"] is not None
        if m["version"] not in found or (prefixed and not found[m["version"]][0]):
            found[m["version"]] = (prefixed, tag)
    out = []
    for version, (_, tag) in sorted(found.items(), key=lambda kv: semver.sort_key(kv[0])):
        date = _git(top, "log", "-1", "--format=%cs", f"{tag}^{{commit}}").strip()
        out.append(Release(tag, version, date))
    return out


def entries(d: Diff) -> list[tuple[str, list[str]]]:
    """The diff as 变更说明 lines, grouped by article (heading, lines)."""
    out = []
    for key, items in groups(d).items():
        lines, cases = [], {"added": 0, "removed": 0, "changed": 0}
        for area, c in items:
            if area == "case":
                cases[c.kind] += 1
            elif area == "rule":
                text = c.after[0] if c.after else c.before[0]
                statement = text.split("：", 1)[1] if "：" in text and c.kind != "removed" else ""
                what = {"added": "新增", "removed": "删除", "changed": "修改"}[c.kind]
                if c.before == c.after:
                    lines.append(f"修改{text.split('：', 1)[0]}（中文表述不变，规则内部的标识或类型改变）")
                    continue
                lines.append(f"{what}{text.split('：', 1)[0]}" + (f"，改为：{statement}" if c.kind == "changed"
                                                                    else f"：{statement}" if statement else ""))
            else:
                lines.append(describe(area, c))
        if any(cases.values()):
            lines.append("示例案例：" + "，".join(f"{KIND_TEXT[k]} {n} 个" for k, n in cases.items() if n))
        out.append((key if key == OTHER else f"{key} {d.articles[key]}", lines))
    if d.contract:
        out.append(("请求与决定契约", [("不兼容：" if c.breaking else "兼容：" if c.level != "patch" else "文字：")
                                       + c.text for c in d.contract]))
    return out


def section(title: str, d: Diff | None) -> list[str]:
    md = _md_escape
    out = [f"## {md(title)}", ""]
    if d is None:
        return out + ["首个发布版本。", ""]
    out += [f"版本类型：{BUMP_TEXT[d.required_bump]}（{md(d.base_version)} → {md(d.head_version)}）", ""]
    for heading, lines in entries(d):
        out += [f"### {md(heading)}", ""] + [f"- {md(line)}" for line in lines] + [""]
    return out


def changelog(policy: Path, load, unreleased: bool = False) -> str:
    """CHANGELOG.md for the policy directory; `load(spec)` returns the Version a spec names (None: working tree)."""
    _git(policy.resolve(), "rev-parse", "--show-toplevel")  # a repository, before compiling anything
    work = load(None)
    manifest = work.bundle["manifest"]
    rels = releases(policy, manifest["id"])
    out = ["# 变更说明", "",
           f"《{_md_escape(manifest['title'])}》（{manifest['id']}）各发布版本之间的变化，由 `policyc changelog` 根据"
           f"已发布版本（git 标签 `{manifest['id']}-v<版本号>` 或 `v<版本号>`）之间的语义差异生成，请勿手工修改。", ""]
    versions = [load(r.tag) for r in rels]
    sections = []
    if unreleased and (not versions or not diff_versions(versions[-1], work).empty):
        diff = diff_versions(versions[-1], work) if versions else None
        sections.append(section(f"未发布（工作区，版本号 {manifest['version']}）", diff))
    for i in reversed(range(len(rels))):
        r, v = rels[i], versions[i]
        title = f"{r.version}（{r.date}）"
        if v.version != r.version:
            title += f"（policy.yaml 中的版本号为 {v.version}）"
        sections.append(section(title, diff_versions(versions[i - 1], v) if i else None))
    if not rels and not unreleased:
        out += ["尚无已发布版本。", ""]
    for s in sections:
        out += s
    return "\n".join(out).rstrip("\n") + "\n"
