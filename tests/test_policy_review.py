"""The pull-request review (tools/policy-review.sh, run by .github/workflows/policy.yml) on a temporary git repository
with two commits: the base policy and an officer's change to a standard."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import set_urban_standard

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "policy-review.sh"
POLICYC = str(Path(sys.executable).with_name("policyc"))


def run(cmd, cwd, **env):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env})


def git(repo, *args):
    done = run(["git", "-c", "user.name=审查测试", "-c", "user.email=review@example.invalid", *args], repo)
    assert done.returncode == 0, done.stderr
    return done.stdout


def policyc(repo, *args):
    done = run([POLICYC, *args], repo)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def bump_minor(policy_dir: Path) -> str:
    path = policy_dir / "policy.yaml"
    text = path.read_text(encoding="utf-8")
    m = re.search(r"^version: (\d+)\.(\d+)\.(\d+)$", text, re.M)
    new = f"{m.group(1)}.{int(m.group(2)) + 1}.0"
    path.write_text(text[:m.start()] + f"version: {new}" + text[m.end():], encoding="utf-8")
    return new


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A repository whose first commit is the shipped policy with its generated files, the second an officer's
    change of the urban 低保 standard (cases updated, generated files rebuilt) without a version bump yet."""
    repo = tmp_path_factory.mktemp("review-repo")
    shutil.copytree(ROOT / "policies" / "shanxi", repo / "policies" / "shanxi")
    git(repo, "init", "-q", "-b", "main")
    policyc(repo, "build")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base policy")
    old = set_urban_standard(repo / "policies" / "shanxi", "NEW")
    set_urban_standard(repo / "policies" / "shanxi", int(old) + 20)
    policyc(repo, "test", "--update")
    policyc(repo, "build")
    git(repo, "commit", "-q", "-am", "raise the urban standard")
    return repo


def review(repo, tmp_path):
    comment = tmp_path / "comment.md"
    summary = tmp_path / "summary.md"
    done = run(["bash", str(SCRIPT), "HEAD~1", str(comment)], repo,
               POLICYC=POLICYC, SYNTHETIC="300", GITHUB_STEP_SUMMARY=str(summary))
    return done, comment.read_text(encoding="utf-8"), summary.read_text(encoding="utf-8")


def test_a_change_without_a_version_bump_fails_the_version_step(repo, tmp_path):
    done, comment, summary = review(repo, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert summary == comment
    table = {m.group(1): m.group(2) for m in re.finditer(r"^\| (\S+) \| (\S+) \|", comment, re.M)}
    assert table["版本号"] == "❌"
    for step in ("规则检查", "格式", "示例案例", "生成文件是最新的", "条款覆盖"):
        assert table[step] == "✅", comment
    assert "minor" in comment or "次版本" in comment


def test_the_change_bumped_passes_and_shows_what_it_does(repo, tmp_path):
    bump_minor(repo / "policies" / "shanxi")
    policyc(repo, "build")
    git(repo, "commit", "-q", "-am", "version bump")
    try:
        done = run(["bash", str(SCRIPT), "HEAD~2", str(tmp_path / "comment.md")], repo,
                   POLICYC=POLICYC, SYNTHETIC="300", GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))
        comment = (tmp_path / "comment.md").read_text(encoding="utf-8")
        assert done.returncode == 0, comment
        assert "❌" not in comment
        # the semantic diff names the parameter change in Chinese, with its article
        assert "城市低保标准" in comment
        assert "二(二)5" in comment
        # the impact section reports the synthetic population
        assert "300" in comment
    finally:
        git(repo, "reset", "-q", "--hard", "HEAD~1")
