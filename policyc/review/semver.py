"""Semantic versions of a policy set (docs/review.md “版本号”): major — the request/decision contract breaks;
minor — some decision can change (rules, parameter values, programs, optional inputs, emergencies); patch —
no decision can change (texts, citations, cases, documents). The levels hold from 0.x on as well (the Cargo
convention of shifting them down below 1.0 is not used): a new standard always asks for a minor version."""
from __future__ import annotations

import re

LEVELS = ("none", "patch", "minor", "major")
LEVEL_TEXT = {"none": "无需升级", "patch": "修订号（patch）", "minor": "次版本号（minor）", "major": "主版本号（major）"}
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")


class BadVersion(ValueError):
    pass


def parse(text: str) -> tuple[int, int, int, str | None]:
    m = _SEMVER.fullmatch(str(text).strip())
    if not m:
        raise BadVersion(f"版本号“{text}”不是语义化版本 MAJOR.MINOR.PATCH")
    return int(m[1]), int(m[2]), int(m[3]), m[4]


def sort_key(text: str) -> tuple:
    major, minor, patch, pre = parse(text)
    return major, minor, patch, pre is None, pre or ""


def bump(base: str, head: str) -> str:
    """The level HEAD's version rises over BASE's: major | minor | patch | none | lower (HEAD is older)."""
    b, h = sort_key(base), sort_key(head)
    if h < b:
        return "lower"
    if h[0] > b[0]:
        return "major"
    if h[1] > b[1]:
        return "minor"
    if h[2] > b[2]:
        return "patch"
    return "none"  # the same numbers (1.2.3-rc.1 → 1.2.3): a pre-release suffix orders, it does not bump


def required(levels) -> str:
    """The largest level among the changes' levels ("none" when there is no change)."""
    return max(levels, key=LEVELS.index, default="none")


def check(base: str, head: str, need: str) -> tuple[bool, str]:
    """(ok, actual bump): ok when HEAD's version rises at least as much as the changes need."""
    try:
        actual = bump(base, head)
    except BadVersion:
        return False, "invalid"
    if actual == "lower":
        return False, actual
    return LEVELS.index(actual) >= LEVELS.index(need), actual


def next_version(base: str, need: str) -> str:
    major, minor, patch, _ = parse(base)
    if need == "major":
        return f"{major + 1}.0.0"
    if need == "minor":
        return f"{major}.{minor + 1}.0"
    if need == "patch":
        return f"{major}.{minor}.{patch + 1}"
    return base
