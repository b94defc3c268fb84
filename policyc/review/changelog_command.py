"""`policyc changelog [--out CHANGELOG.md] [--unreleased] [--check]`: the Chinese 变更说明 from the diffs between
released versions (changelog.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..cli import DEFAULT_POLICY, EXIT_OK, EXIT_POLICY, UsageError, _out


def cmd_changelog(args) -> int:
    from .changelog import changelog
    from .diff_command import load
    if args.check and not args.out:
        raise UsageError("--check 需要与 --out 一起使用")
    try:
        text = changelog(Path(args.policy), lambda spec: _cached(spec, args.policy, load), args.unreleased)
    except ValueError as err:  # git failed: not a repository, no git
        raise UsageError(f"无法读取已发布版本：{err}") from None
    if args.check:
        try:
            current = Path(args.out).read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            print(f"policyc: {args.out} 不是最新的变更说明，请运行 policyc changelog --out {args.out} 并提交",
                  file=sys.stderr)
            return EXIT_POLICY
        print(f"{args.out} 是最新的", file=sys.stderr)
        return EXIT_OK
    if args.out:
        from ..emit.outputs import write_outputs
        write_outputs({Path(args.out): text.encode("utf-8")})
        print(f"已写入 {args.out}", file=sys.stderr)
    else:
        _out(text)
    return EXIT_OK


_RELEASED: dict = {}  # (policy dir, commit) → Version: a released version compiles once per process


def _cached(spec, policy: str, load):
    if spec is None:
        return load(spec, policy)
    from .changelog import _git
    key = (str(Path(policy).resolve()), _git(Path(policy).resolve(), "rev-parse", f"{spec}^{{commit}}").strip())
    if key not in _RELEASED:
        _RELEASED[key] = load(spec, policy)
    return _RELEASED[key]


def register(sub) -> None:
    p = sub.add_parser("changelog", help="根据已发布版本（git 标签 <政策集id>-v<版本号> 或 v<版本号>）生成中文变更说明")
    p.add_argument("--policy", default=DEFAULT_POLICY, help=f"政策目录（默认 {DEFAULT_POLICY}）")
    p.add_argument("--out", metavar="FILE", help="写入文件（如 CHANGELOG.md），默认输出到标准输出")
    p.add_argument("--unreleased", action="store_true", help="另列出工作区相对最后一个发布版本的变化")
    p.add_argument("--check", action="store_true", help="只检查 --out 文件是否最新，不写入")
    p.set_defaults(func=cmd_changelog)
