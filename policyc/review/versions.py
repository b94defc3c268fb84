"""One side of a review: a version of the policy, named as a git revision, a policy directory or a bundle file,
compiled to the bundle the runtime reads. Sources are compiled by this compiler; a bundle file is read as is."""
from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import PolicyError, Reporter
from ..runtime.errtext import os_reason


class VersionError(Exception):
    """A spec that names no version, or a version that does not compile (its diagnostics in `reporter`)."""

    def __init__(self, message: str, reporter: Reporter | None = None):
        super().__init__(message)
        self.reporter = reporter


@dataclass
class Version:
    label: str  # what the user named: "main", "policies/shanxi", "old.bundle.json", "工作区"
    bundle: dict  # the bundle as the runtime reads it (after a JSON round trip: Decimals, no tuples)
    _evaluator: object = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return self.bundle["manifest"]["version"]

    def evaluator(self):
        if self._evaluator is None:
            from ..runtime import Evaluator
            self._evaluator = Evaluator(self.bundle)
        return self._evaluator


def load_version(spec: str | None, policy: str | Path) -> Version:
    """The version `spec` names; None is the working tree's `policy` directory.

    A spec is tried as a bundle file (*.json), then a policy directory, then a git revision of the repository
    holding `policy` (its `policy` directory at that revision)."""
    policy = Path(policy)
    if spec is None:
        return Version("工作区", _compile_dir(policy, f"工作区 {policy}"))
    path = Path(spec)
    if path.is_file():
        from ..runtime.bundle import read_bundle
        from ..runtime.errors import BundleError
        try:
            return Version(spec, read_bundle(path))
        except BundleError as err:
            raise VersionError(str(err)) from None
    if path.is_dir():
        return Version(spec, _compile_dir(path, spec))
    return Version(spec, _compile_revision(spec, policy))


def _compile_dir(root: Path, label: str) -> dict:
    from ..compiler import compile_policy
    from ..emit.bundle import build_bundle
    from ..runtime import jsonio
    reporter = Reporter()
    try:
        compilation = compile_policy(root, reporter)
    except PolicyError:
        raise VersionError(f"{label} 的政策源文件有错误，无法编译", reporter) from None
    return jsonio.loads(jsonio.dumps(build_bundle(compilation), indent=None))


def git(cwd: Path, *args: str) -> bytes:
    """git's output, or VersionError with its message (also when git or the directory is missing)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise VersionError("找不到 git 命令：无法按修订版本读取政策") from None
    except OSError as err:  # no such directory
        raise VersionError(f"{cwd}：{os_reason(err)}") from None
    if done.returncode != 0:
        raise VersionError(done.stderr.decode("utf-8", "replace").strip() or f"git {' '.join(args)} 失败")
    return done.stdout


def _compile_revision(rev: str, policy: Path) -> dict:
    """`policy` as it was at git revision `rev`, extracted into a temporary directory and compiled."""
    directory = policy.resolve()
    if not directory.is_dir():
        raise VersionError(f"“{rev}”不是规则包文件、政策目录，也无法作为 git 修订版本读取（{policy} 不是目录）")
    if rev.startswith("-"):
        raise VersionError(f"“{rev}”不是有效的 git 修订版本")
    try:
        top = Path(git(directory, "rev-parse", "--show-toplevel").decode().strip())
        commit = git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except VersionError:
        raise VersionError(f"“{rev}”既不是文件或目录，也不是 {policy} 所在 git 仓库的修订版本") from None
    relative = directory.relative_to(top).as_posix()
    archive = git(top, "archive", "--format=tar", commit, "--", relative)
    with tempfile.TemporaryDirectory(prefix="policyc-review-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        return _compile_dir(Path(tmp) / relative, f"{rev}（{commit[:10]}）")
