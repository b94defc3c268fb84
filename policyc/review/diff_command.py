"""`policyc diff BASE [HEAD]`: the semantic diff of two versions, in Chinese (diff.py), and the version check;
`policyc changelog` (changelog_command.py) is registered with it."""
from __future__ import annotations

import sys

from ..cli import DEFAULT_POLICY, EXIT_OK, EXIT_POLICY, Exit, UsageError, _out, _report


def load(spec: str | None, policy: str, fmt: str = "text"):
    """The version `spec` names, or Exit after reporting why it cannot be read (2) or compiled (1)."""
    from .versions import VersionError, load_version
    try:
        return load_version(spec, policy)
    except VersionError as err:
        if err.reporter is None:
            raise UsageError(str(err)) from None
        _report(err.reporter, "github" if fmt == "github" else "text")
        print(f"policyc: {err}", file=sys.stderr)
        raise Exit(EXIT_POLICY) from None


def cmd_diff(args) -> int:
    from ..runtime import jsonio
    from .diff import diff_versions
    from .render_diff import render_github, render_md, render_text, version_line
    base = load(args.base, args.policy, args.format)
    head = load(args.head, args.policy, args.format)
    try:
        d = diff_versions(base, head)
    except ValueError as err:  # e.g. a bundle of another IR version
        raise UsageError(f"无法比较这两个版本：{err}") from None
    if args.format == "json":
        _out(jsonio.dumps(d.to_json()))
    elif args.format == "md":
        _out(render_md(d))
    elif args.format == "github":
        _out(render_github(d, args.check_version))
    else:
        _out(render_text(d))
    if args.check_version and not d.version_check()["ok"]:
        print(f"policyc: {version_line(d)}", file=sys.stderr)
        return EXIT_POLICY
    return EXIT_OK


def register(sub) -> None:
    """Adds the `diff` and `changelog` subcommands."""
    p = sub.add_parser("diff", help="两个版本的语义差异（中文，按条款分组）及版本号检查")
    p.add_argument("--policy", default=DEFAULT_POLICY, help=f"政策目录（默认 {DEFAULT_POLICY}；按 git 修订版本读取时也用它）")
    p.add_argument("--format", choices=("text", "md", "json", "github"), default="text",
                   help="text：中文文本（默认）；md：Markdown，用于合并请求；json：供程序读取；github：GitHub 工作流注释")
    p.add_argument("--check-version", action="store_true",
                   help="HEAD 的版本号升级幅度小于变化所需时退出码为 1（主版本：契约不兼容；次版本：决定可能改变；修订号：其余）")
    p.add_argument("base", metavar="BASE", help="基准版本：git 修订版本、政策目录或规则包文件")
    p.add_argument("head", metavar="HEAD", nargs="?", help="比较的版本（默认工作区的政策目录）")
    p.set_defaults(func=cmd_diff)
    from .changelog_command import register as register_changelog
    register_changelog(sub)
