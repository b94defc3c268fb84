"""The `policyc` command: check, fmt, build, test, coverage, localities, eval, params; keygen, sign, verify
(signing_cli). Exit codes (README, "Exit codes"): 0 fine; 1 policy errors or failing cases; 2 bad usage, bad input,
or a file or standard output that cannot be read or written; 130 interrupted (Ctrl-C); 141 the reader of standard
output went away (`policyc … | head`). `main` is that error policy (policyc/entry.py installs the interrupt part
before anything heavy is imported)."""
from __future__ import annotations

import argparse
import datetime as dt
import errno
import io
from collections import Counter
import os
import sys
from pathlib import Path

from . import __version__
from .cli_i18n import ChineseHelpFormatter, in_chinese
from .diagnostics import PolicyError, Reporter, render_github, render_json, render_text

DEFAULT_POLICY = "policies/shanxi"
MAX_EXPIRING = 36500  # days: a hundred years
MAX_SEED = 2 ** 63 - 1  # a random seed (synthetic populations)
EXIT_OK, EXIT_POLICY, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports an interrupted command
EXIT_PIPE = 141  # standard output's reader went away (`| head`): 128 + SIGPIPE, as a shell reports `cat` then


class UsageError(Exception):
    pass


class Exit(Exception):
    """Stop a command with an exit code, its diagnostics already reported."""

    def __init__(self, code: int):
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse in Chinese (cli_i18n): usage, section titles, help and every error message."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", ChineseHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # argparse exits 2 on bad usage, which is our code too; keep its message
        if message.startswith("argument ") and ": " in message:  # Python 3.10 does not translate this prefix
            name, _, rest = message[len("argument "):].partition(": ")
            message = f"参数 {name}：{rest}"
        self.print_usage(sys.stderr)
        print(f"policyc: 用法错误：{message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


# every method in which argparse makes a message: building the parser (section titles, the help option), parsing
# (errors), and formatting usage and help
for _name in ("__init__", "add_argument", "add_argument_group", "add_mutually_exclusive_group", "add_subparsers",
              "parse_args", "parse_known_args", "parse_intermixed_args", "parse_known_intermixed_args",
              "format_usage", "format_help", "error", "exit"):
    setattr(_Parser, _name, in_chinese(getattr(_Parser, _name)))
del _name


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _report(reporter: Reporter, fmt: str, stream=None) -> None:
    """The diagnostics in `fmt`; as JSON always a list, `[]` when there are none, so the output always parses."""
    diags = reporter.sorted()
    if not diags and fmt != "json":
        return
    if fmt == "json":
        text = render_json(diags)
    elif fmt == "github":
        text = render_github(diags)
    else:
        text = render_text(diags)
    print(text, file=stream or sys.stderr)


def _compile(args, reporter: Reporter):
    from .compiler import compile_policy
    return compile_policy(args.policy, reporter)


def _compiled(args):
    """The compiled policy set, or Exit after reporting its errors."""
    reporter = Reporter()
    try:
        compilation = _compile(args, reporter)
    except PolicyError:
        _report(reporter, "text")
        raise Exit(EXIT_POLICY) from None
    _report(reporter, "text")
    return compilation


def _evaluator(args):
    """An evaluator from --bundle (its signature checked against --verify-key, if given), or compiled in memory
    from the policy sources (reporting their errors)."""
    from .runtime import Evaluator
    keys = getattr(args, "verify_key", None)
    if getattr(args, "bundle", None):
        from .runtime import load
        return load(args.bundle, keys=keys)  # keys None: no signature required; a list: one must verify
    if keys:
        raise UsageError("--verify-key 只能与 --bundle 一起使用（从政策源文件编译时没有签名可验证）")
    from .emit.bundle import build_bundle
    from .runtime import jsonio
    return Evaluator(jsonio.loads(jsonio.dumps(build_bundle(_compiled(args)), indent=None)))


def cmd_check(args) -> int:
    reporter = Reporter()
    try:
        compilation = _compile(args, reporter)
        if args.expiring is not None:
            from .check.params import report_expiring
            report_expiring(compilation.params, dt.date.today(), args.expiring, reporter)
    except PolicyError:
        pass
    _report(reporter, args.format, sys.stdout if args.format != "text" else sys.stderr)
    if reporter.has_errors():
        return EXIT_POLICY
    if args.format == "text":
        print(f"检查通过：{args.policy}（{len(reporter.warnings)} 个警告）", file=sys.stderr)
    return EXIT_OK


def cmd_build(args) -> int:
    """Compile, then replace the output directory by the new tree in one step (emit/outputs.py: all old or all new,
    under a lock so two builds never mix); --check compares instead, and fails on stale or orphaned files."""
    from .emit.outputs import NotAnOutputDirectory, orphan_outputs, output_lock, outputs, stale_outputs, write_tree
    reporter = Reporter()
    stream = sys.stderr if args.format == "text" else sys.stdout  # json and github for a machine, as in check
    out = Path(args.out)
    try:
        files = outputs(_compile(args, reporter), out)
    except PolicyError:
        _report(reporter, args.format, stream)
        print(f"构建失败，{out} 未改动", file=sys.stderr)
        return EXIT_POLICY
    _report(reporter, args.format, stream)

    def waiting():
        print(f"另一个 policyc build 正在写入 {out}，等待它完成…", file=sys.stderr)
    if args.check:
        with output_lock(out, shared=True, waiting=waiting):
            stale, orphans = stale_outputs(files), orphan_outputs(files, out)
        if stale:
            print("以下生成文件与规则源文件不一致，请运行 policyc build 并提交：", file=sys.stderr)
            for path in stale:
                print(f"  {path}", file=sys.stderr)
        if orphans:
            print("以下文件不是由规则源文件生成的（如已删除地区的手册），policyc build 会删除它们，请运行并提交：",
                  file=sys.stderr)
            for path in orphans:
                print(f"  {path}", file=sys.stderr)
        if stale or orphans:
            return EXIT_POLICY
        print(f"生成文件是最新的（{len(files)} 个）", file=sys.stderr)
        return EXIT_OK
    policy, target = Path(args.policy).resolve(), out.resolve()
    if policy == target or target in policy.parents:
        raise UsageError(f"输出目录 {out} 包含政策目录 {args.policy}：构建会用生成文件替换整个输出目录")
    from .runtime.errtext import os_message
    try:
        # only what differs is written, so a reviewer's diff shows only real changes
        changed, removed = write_tree(files, out, waiting=waiting)
    except NotAnOutputDirectory as err:
        raise UsageError(f"输出目录 {out} 已存在且不是 policyc build 的输出（顶层没有 *.bundle.json），构建会删除其中"
                         f"的 {len(err.orphans)} 个其他文件（如 {err.orphans[0]}）：请指定新的或空的目录") from None
    except OSError as err:  # as main() reports it, but always a write: the output directory is left as it was
        print(f"policyc: {os_message(err, '写入')}", file=sys.stderr)
        return EXIT_USAGE
    if args.verbose:
        for path in changed:
            print(f"已更新 {path}", file=sys.stderr)
        for path in removed:
            print(f"已删除 {path}", file=sys.stderr)
    groups = Counter(_output_group(Path(path), out) for path in changed)
    detail = "（" + "，".join(f"{g} {n}" for g, n in sorted(groups.items())) + "）" if groups else ""
    gone = f"，{len(removed)} 个多余文件已删除" if removed else ""
    print(f"构建完成：{len(changed)} 个生成文件已更新{detail}，{len(files) - len(changed)} 个未变{gone}", file=sys.stderr)
    return EXIT_OK


def _output_group(path: Path, out: Path) -> str:
    """Where a generated file belongs, for the build's summary line: docs/handbooks, docs/params, the bundle…"""
    parts = path.relative_to(out).parts  # every output is under the output directory
    if len(parts) > 2:
        return "/".join(parts[:2])
    return "schemas" if parts[0] == "schemas" else "/".join(parts)  # the request and decision schemas together


def cmd_test(args) -> int:
    from .testing import check_cases, run_cases
    if args.update and args.bundle:
        raise UsageError("--update 改写政策源文件中的案例，不能与 --bundle 一起使用")
    ev = _evaluator(args)
    reporter = Reporter()
    check_cases(ev, reporter)
    if reporter.has_errors():
        _report(reporter, "text")
        return EXIT_POLICY
    results = run_cases(ev, args.k)
    if args.update:
        return _update_cases(args, ev, results)
    for res in results:
        if res.passed:
            if args.verbose:
                _out(f"{_mark(True)} {res.name}")
            continue
        _out(f"{_mark(False)} {res.name}  ({res.where})")
        for line in ([res.error] if res.error else res.failures) + res.relative:
            _out(f"    {line}")
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    _out(f"{passed} 个通过，{failed} 个失败")
    return EXIT_OK if failed == 0 and results else EXIT_POLICY


def _mark(passed: bool) -> str:
    """✓ or ✗, or what the console can show instead: √ and × on a GBK console, + and x on an ASCII one."""
    for mark in ("✓", "√", "+") if passed else ("✗", "×", "x"):
        try:
            mark.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
            return mark
        except (UnicodeEncodeError, LookupError):
            continue
    return "+" if passed else "x"


def _update_cases(args, ev, results) -> int:
    """--update: rewrite the failing cases' expected outputs in place, then run the cases again."""
    from .testing import run_cases
    from .testing_update import update
    updated, edits, skipped = update(ev, Path(args.policy), results, _out)
    after = run_cases(_evaluator(args), args.k) if updated else results
    failed = [r for r in after if not r.passed]
    for res in failed:
        _out(f"{_mark(False)} {res.name}  ({res.where})")
        for line in [res.error] if res.error else res.failures:
            _out(f"    {line}")
    _out(f"已更新 {updated} 个案例（{edits} 处期望值），{len(skipped)} 个未更新；"
         f"现在 {len(after) - len(failed)} 个通过，{len(failed)} 个失败")
    return EXIT_OK if not failed and after else EXIT_POLICY


def cmd_coverage(args) -> int:
    from .check.coverage import coverage, render
    from .runtime import jsonio
    reporter = Reporter()
    try:
        rows = coverage(_compile(args, reporter), reporter)
    except PolicyError:
        _report(reporter, "text")
        return EXIT_POLICY
    _out(jsonio.dumps([r.to_json() for r in rows]) if args.format == "json" else render(rows))
    _report(reporter, "text")
    return EXIT_POLICY if reporter.has_errors() else EXIT_OK


def cmd_fmt(args) -> int:
    """Give rule files their canonical layout; --check only lists the files that are not formatted."""
    from .dsl.fmt import format_file
    from .emit.outputs import write_outputs
    from .load.project import display_path, read_source
    paths = [Path(p) for p in args.files] or sorted((Path(args.policy) / "rules").glob("*.policy"))
    reporter = Reporter()
    changed: dict[Path, bytes] = {}
    for path in paths:
        if args.files:
            try:
                os.stat(path)  # a file named on the command line that is not there is a usage error
            except OSError as err:
                from .runtime.errtext import os_reason
                raise UsageError(f"无法读取 {path}：{os_reason(err)}") from None
        # as `check` reads them: no FIFO, device or file over the size cap, and in the policy directory no link
        # leading out of it (E0005, E0006, E0020–E0022)
        text = read_source(path, None if args.files else Path(args.policy), reporter)
        if text is None:
            continue
        result = format_file(display_path(path), text, reporter)
        if result is not None and result != text:
            changed[path] = result.encode("utf-8")
    _report(reporter, "text")
    if reporter.has_errors():
        return EXIT_POLICY
    if args.check:
        for path in changed:
            print(f"未按规范格式排版：{display_path(path)}（运行 policyc fmt）", file=sys.stderr)
        return EXIT_POLICY if changed else EXIT_OK
    write_outputs(changed)
    for path in changed:
        print(f"已排版 {display_path(path)}", file=sys.stderr)
    return EXIT_OK


def cmd_localities(args) -> int:
    """The jurisdiction tree, with the parameters each city and county sets itself."""
    from .emit.localities import render, tree
    from .runtime import jsonio
    c = _compiled(args)
    nodes = tree(c)
    _out(jsonio.dumps(nodes) if args.format == "json"
         else render(nodes, len(c.sources.jurisdictions), len(c.localities)))
    return EXIT_OK


def _read_request(source: str):
    """The request JSON of a file or (`-`) standard input, read as UTF-8 whatever the console's encoding."""
    from .runtime import jsonio
    from .runtime.errtext import json_problem, os_reason
    try:
        if source == "-":
            stdin = getattr(sys.stdin, "buffer", None)
            text = stdin.read().decode("utf-8") if stdin is not None else sys.stdin.read()
        else:
            text = Path(source).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"无法读取 {_named(source)}：{os_reason(err)}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{_named(source)} 不是 UTF-8 编码的文本") from None
    try:
        return jsonio.loads(text)
    except ValueError as err:
        raise UsageError(f"{_named(source)} 不是有效的 JSON：{json_problem(err)}") from None
    except RecursionError:
        raise UsageError(f"{source} 的 JSON 嵌套过深") from None


def _named(source: str) -> str:
    return "标准输入" if source == "-" else source


def _date_arg(text: str | None):
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"日期 {text!r} 无效，应为 YYYY-MM-DD") from None


def program_list(value: str | None, program_ids) -> list[str] | None:
    """`--programs a,b`: the program ids, each once (None when the flag is absent). An empty item (`--programs ,`,
    `a,,b`) or an unknown id is a usage error: an empty selection would answer with an empty decision."""
    if value is None:
        return None
    ids = [p.strip() for p in value.split(",")]
    if not any(ids) or not all(ids):
        raise UsageError(f"--programs 应为逗号分隔的程序编号（可用：{'、'.join(program_ids)}）")
    unknown = [p for p in ids if p not in program_ids]
    if unknown:
        raise UsageError(f"没有程序 {'、'.join(unknown)}（可用：{'、'.join(program_ids)}）")
    return list(dict.fromkeys(ids))


def _decide(args, how: str):
    """The decision (`how`: "evaluate" or "explain") for the request file of `eval`/`explain`, or the exit code
    after printing why the runtime refused it."""
    from .runtime import InputError, RuntimeFault, jsonio
    request = _read_request(args.request)
    ev = _evaluator(args)
    programs = program_list(args.programs, ev.program_ids)
    try:
        return ev, getattr(ev, how)(request, locality=args.locality, date=_date_arg(args.date), programs=programs)
    except InputError as err:
        print(jsonio.dumps(err.to_json()), file=sys.stderr)
    except RuntimeFault as err:
        print(f"policyc: 无法评估[{err.code}]：{err}", file=sys.stderr)
    return ev, None


_NOTICE_FLAGS = (("html", "--html"), ("pdf", "--pdf"), ("issuer", "--issuer"), ("doc_number", "--doc-number"),
                 ("issued", "--issued"), ("review_body", "--review-body"))


def cmd_eval(args) -> int:
    from .runtime import jsonio
    if not args.notice:
        given = [flag for attr, flag in _NOTICE_FLAGS if getattr(args, attr) not in (None, False)]
        if given:
            raise UsageError(f"{'、'.join(given)} 只能与 --notice 一起使用（用于输出告知书）")
        ev, decision = _decide(args, "evaluate")
        if decision is None:
            return EXIT_USAGE
        _out(jsonio.dumps(decision))
        return EXIT_OK
    return _eval_notice(args)


def _eval_notice(args) -> int:
    """`eval --notice`: the decision as a 告知书 (Markdown, --html, or --pdf FILE), with who issues it from the
    request's `notice` block and the flags (docs/notice.md)."""
    from .emit import notice as notices
    from .runtime import InputError, RuntimeFault, jsonio, notice_block
    if args.html and args.pdf:
        raise UsageError("--html 与 --pdf 不能同时使用：--html 把 HTML 告知书写到标准输出，--pdf 把 PDF 告知书写入文件")
    flags = {attr: getattr(args, attr) for attr in notice_block.FIELDS}
    problems: list = []
    notice_block.check({k: v for k, v in flags.items() if v is not None}, problems)
    if problems:
        names = dict((attr, flag) for attr, flag in _NOTICE_FLAGS)
        raise UsageError("；".join(f"{names.get(path[1], path[1])}：{message}" for path, message in problems))
    request = _read_request(args.request)
    ev = _evaluator(args)
    programs = program_list(args.programs, ev.program_ids)
    if programs:  # a notice always shows who decides and the rights of objection (审核确认程序)
        programs += [p for p in notices.accompanying(ev.bundle) if p not in programs]
    try:
        decision = ev.evaluate(request, locality=args.locality, date=_date_arg(args.date), programs=programs)
    except InputError as err:
        print(jsonio.dumps(err.to_json()), file=sys.stderr)
        return EXIT_USAGE
    except RuntimeFault as err:
        print(f"policyc: 无法评估[{err.code}]：{err}", file=sys.stderr)
        return EXIT_USAGE
    info = notices.info_from(request, **flags)
    text = notices.notice(decision, ev.bundle, "html" if args.html or args.pdf else "md", request=request, info=info)
    if not args.pdf:
        _out(text)
        return EXIT_OK
    try:
        written = notices.pdf(text, Path(args.pdf))
    except notices.PdfError as err:
        raise UsageError(f"无法生成 PDF 告知书：{err}") from None
    print(f"已写入 PDF 告知书 {written}", file=sys.stderr)
    return EXIT_OK


def cmd_explain(args) -> int:
    from .explain_text import render
    from .runtime import jsonio
    _, decision = _decide(args, "explain")
    if decision is None:
        return EXIT_USAGE
    _out(jsonio.dumps(decision) if args.format == "json" else render(decision, args.depth))
    return EXIT_OK


def cmd_params(args) -> int:
    from .runtime import InputError, jsonio
    ev = _evaluator(args)
    day = _date_arg(args.date)
    try:
        juris = ev.resolve_locality(args.locality, "--locality")
    except InputError as err:
        raise UsageError("；".join(m for _, m in err.problems)) from None
    _, entries, _, _ = ev.params_at(juris["code"], day)
    out = {pid: ev.describe(pid, entry) for pid, entry in entries.items()}
    _out(jsonio.dumps({"locality": {"code": juris["code"], "name": juris["full_name"]}, "date": day.isoformat(),
                       "parameters": out}))
    return EXIT_OK


DIAGNOSTICS_FORMAT_HELP = ("诊断的格式：text 中文，附源文件行与指示符（默认，输出到标准错误）；json 列表，无诊断时为 []；"
                           "github 为 GitHub 工作流注释（后两种输出到标准输出）")


def int_arg(low: int, high: int):
    """An argparse type: an integer from `low` to `high`. Anything else is a usage error in Chinese (exit 2) before
    the command starts, so no command meets a number it cannot use (`--expiring 10**30` overflowed the calendar)."""
    def integer(text: str) -> int:
        digits = text.strip().lstrip("+-").lstrip("0")
        try:
            value = int(text) if len(digits) <= 30 else None  # int() refuses over 4300 digits, and slowly
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_shown(text)} 不是有效的整数") from None
        if value is None and not digits.isdigit():
            raise argparse.ArgumentTypeError(f"{_shown(text)} 不是有效的整数")
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"应为 {low} 至 {high} 之间的整数，实际为 {_shown(text)}")
        return value
    return integer


def float_arg(low: float, high: float):
    """An argparse type: a finite number from `low` to `high` (never nan or inf)."""
    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_shown(text)} 不是有效的数字") from None
        if not low <= value <= high:  # false for nan, and for ±inf beyond the bounds
            raise argparse.ArgumentTypeError(f"应为 {low:g} 至 {high:g} 之间的数字，实际为 {_shown(text)}")
        return value
    return number


def date_arg(text: str) -> str:
    """An argparse type: a date YYYY-MM-DD on the calendar and within the days a request may have (1900–2999, as
    the runtime checks a request's own `date`); given back as text, as the commands take it."""
    from .runtime.inputs import FIRST_DAY, LAST_DAY, date_range_problem, parse_date
    day = parse_date(text.strip())
    if day is None:
        raise argparse.ArgumentTypeError(f"应为日期 YYYY-MM-DD，实际为 {_shown(text)}")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(date_range_problem(day))
    return day.isoformat()


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def policy_arg(p) -> None:
    p.add_argument("--policy", default=DEFAULT_POLICY, help=f"政策目录（默认 {DEFAULT_POLICY}）")


def request_args(p, programs_help: str) -> None:
    """The options of a command that decides one request file (`eval`, `explain`)."""
    policy_arg(p)
    p.add_argument("--bundle", help="用已编译的规则包评估")
    verify_key_arg(p)
    p.add_argument("--locality", help="地区代码或名称（覆盖请求中的 locality）")
    p.add_argument("--date", type=date_arg, help="评估日期 YYYY-MM-DD（覆盖请求中的 date）")
    p.add_argument("--programs", help=programs_help)


def verify_key_arg(p) -> None:
    p.add_argument("--verify-key", action="append", metavar="PUB",
                   help="可信公钥文件（可重复）：规则包须有其中之一的有效签名 BUNDLE.sig，否则拒绝加载")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="policyc", description="山西省社会救助政策规则编译器（policy-as-code）",
                     epilog="退出码：0 成功；1 政策有错误或案例未通过；2 用法或输入有误，或无法读取、写入文件或标准输出；"
                            "130 被中断（Ctrl-C）；141 标准输出的读取方已关闭（如 | head），其余输出被丢弃。")
    parser.add_argument("--version", action="version", version=f"policyc {__version__}", help="显示版本号并退出")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, title="命令", metavar="命令",
                                help="以下之一；policyc 命令 -h 显示该命令的用法")

    p = sub.add_parser("check", help="检查规则与参数，报告全部错误")
    policy_arg(p)
    p.add_argument("--expiring", type=int_arg(0, MAX_EXPIRING), metavar="DAYS",
                   help=f"另外警告将在 DAYS 天内停止适用的取值（0 至 {MAX_EXPIRING}）")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help=DIAGNOSTICS_FORMAT_HELP)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("build", help="编译规则包与生成文件到 generated/")
    policy_arg(p)
    p.add_argument("--out", default="generated",
                   help="输出目录（默认 generated）：全部生成文件都在其中，构建一步替换整个目录，删除其中不是生成的文件")
    p.add_argument("--check", action="store_true", help="只检查生成文件是否最新、有无多余文件，不写入")
    p.add_argument("-v", "--verbose", action="store_true", help="逐个列出已更新的生成文件")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help=DIAGNOSTICS_FORMAT_HELP)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("test", help="运行规则旁的示例案例")
    policy_arg(p)
    p.add_argument("--bundle", help="用已编译的规则包运行")
    verify_key_arg(p)
    p.add_argument("-k", help="只运行名称包含该文字的案例")
    p.add_argument("-v", "--verbose", action="store_true", help="也列出通过的案例")
    p.add_argument("--update", action="store_true",
                   help="把失败案例的期望输出改写为现在的评估结果（就地修改 cases/*.yaml，保留注释与排版）")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("coverage", help="列出实施意见每一条的编码情况")
    policy_arg(p)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text：中文表格（默认）；json：每一条一个对象的列表")
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("fmt", help="把规则文件排成统一格式")
    policy_arg(p)
    p.add_argument("--check", action="store_true", help="只检查，不改写；有未排版的文件时失败")
    p.add_argument("files", nargs="*", help="规则文件（默认政策目录 rules/ 下全部）")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("localities", help="列出行政区划树及各地自定的参数")
    policy_arg(p)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text：中文树状列表（默认）；json：行政区划树")
    p.set_defaults(func=cmd_localities)

    p = sub.add_parser("eval", help="评估一个家庭，输出 JSON 决定")
    request_args(p, "只评估这些程序（及其依赖），逗号分隔，如 dibao,temporary")
    p.add_argument("--notice", action="store_true", help="输出告知书（Markdown）而不是 JSON")
    p.add_argument("--html", action="store_true", help="与 --notice 一起用：输出 HTML 告知书")
    p.add_argument("--pdf", metavar="文件", help="与 --notice 一起用：用无界面 Chromium 把告知书打印为 A4 PDF，写入该文件")
    p.add_argument("--issuer", metavar="机关", help="与 --notice 一起用：承办机关（覆盖请求中 notice.issuer）")
    p.add_argument("--doc-number", metavar="文号", help="与 --notice 一起用：告知书文号（覆盖请求中 notice.doc_number）")
    p.add_argument("--issued", metavar="日期", help="与 --notice 一起用：告知日期 YYYY-MM-DD（覆盖请求中 notice.issued）")
    p.add_argument("--review-body", metavar="机关", help="与 --notice 一起用：行政复议机关（覆盖请求中 notice.review_body）")
    p.add_argument("request", help="请求 JSON 文件，- 表示标准输入")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("explain", help="解释一个家庭的决定：每项结果的推导，以及改变哪一项事实会改变结果")
    request_args(p, "只解释这些程序，逗号分隔，如 dibao,tekun")
    p.add_argument("--format", choices=("text", "json"), default="text", help="text：中文推导树（默认）；json：决定及其 explanation")
    p.add_argument("--depth", type=int_arg(1, 1000), default=6, help="推导树显示的层数（1 至 1000，默认 6；JSON 总是完整的）")
    p.add_argument("request", help="请求 JSON 文件，- 表示标准输入")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("params", help="列出某地某日适用的全部参数及来源")
    policy_arg(p)
    p.add_argument("--bundle", help="从已编译的规则包读取")
    verify_key_arg(p)
    p.add_argument("--locality", required=True, help="地区代码或名称，如 140100 或 太原市")
    p.add_argument("--date", type=date_arg, required=True, help="日期 YYYY-MM-DD：列出当日适用的取值")
    p.set_defaults(func=cmd_params)

    # commands that live beside the parts they drive (each module registers its own subcommands)
    from .signing_cli import register as register_signing
    from .serve.command import register as register_serve
    from .serve.log_command import register as register_log
    from .review.diff_command import register as register_diff
    from .review.impact_command import register as register_impact
    from .batch.command import register as register_batch
    from .batch.synthetic import register as register_synthetic
    register_signing(sub)
    register_serve(sub)
    register_log(sub)
    register_diff(sub)
    register_impact(sub)
    register_batch(sub)
    register_synthetic(sub)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's own help page opens with the line the command list shows for it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if sub.description is None:
                    sub.description = helps.get(name)
                _describe(sub)


# the optional parts of the distribution and the extra that installs each (see pyproject.toml)
_EXTRAS = {"lark": "compiler", "yaml": "compiler", "jinja2": "compiler", "jsonschema": "compiler",
           "starlette": "serve", "uvicorn": "serve", "prometheus_client": "serve", "psycopg": "postgres",
           "duckdb": "batch", "pyarrow": "batch", "tqdm": "batch", "pyspark": "spark"}


def _console_safe() -> None:
    """Writing never fails on a console that cannot show every character (a GBK or ASCII one): a character it
    lacks is written as a \\uXXXX escape, so a JSON output stays valid JSON with the same content."""
    import codecs
    try:
        codecs.lookup_error("policyc-escape")
    except LookupError:
        codecs.register_error("policyc-escape", _escape)
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        try:
            if not encoding or codecs.lookup(encoding).name == "utf-8" or not hasattr(stream, "reconfigure"):
                continue
            stream.reconfigure(errors="policyc-escape")
        except (LookupError, ValueError, OSError):  # an unknown encoding, a closed or non-reconfigurable stream
            continue


def _escape(err: UnicodeError):
    if not isinstance(err, UnicodeEncodeError):
        raise err
    out = []
    for ch in err.object[err.start:err.end]:
        code = ord(ch)
        if code > 0xFFFF:  # as JSON writes it: a surrogate pair
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), err.end


# functions whose OSError is a failed write (pathlib's, os's, shutil's, tempfile's and policyc's own writers)
_WRITERS = {"write_text", "write_bytes", "mkdir", "makedirs", "touch", "replace", "rename", "unlink", "rmdir",
            "rmtree", "mkstemp", "mkdtemp", "chmod", "copyfile", "copy", "copy2", "copytree", "symlink_to",
            "write_outputs", "_write_summary", "write_synthetic", "_to_parquet"}


def _os_error(err: OSError) -> str:
    """`无法读取 <file>：<原因>` or `无法写入 …`: whether it was a write is read off the failing calls."""
    from .runtime.errtext import os_message, os_verb
    verb = "写入" if getattr(err, "filename2", None) is not None else os_verb(err)  # a rename: always a write
    tb = err.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        mode = frame.f_locals.get("mode") if frame.f_code.co_name == "open" else None
        if frame.f_code.co_name in _WRITERS or (isinstance(mode, str) and set(mode) & set("wax+")):
            verb = "写入"
            if err.filename is None:  # a failed write() names no file; the writer's own path does (a full disk)
                path = frame.f_locals.get("self", frame.f_locals.get("path"))
                if isinstance(path, (str, os.PathLike)):
                    err.filename = os.fspath(path)
        tb = tb.tb_next
    return os_message(err, verb)


def _input_error(err: Exception) -> str | None:
    """A user's file that is not valid YAML, JSON or UTF-8, reported in Chinese (None: not such an error)."""
    import json
    from .runtime.errtext import json_problem
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(err, yaml.YAMLError):
        from .load.yamlsrc import yaml_problem
        mark = getattr(err, "problem_mark", None)
        where = ""
        if mark is not None:
            name = str(getattr(mark, "name", "") or "")
            where = f"{name}:{mark.line + 1}:{mark.column + 1}：" if name and not name.startswith("<") else \
                f"第 {mark.line + 1} 行第 {mark.column + 1} 列："
        return f"YAML 语法错误：{where}{yaml_problem(getattr(err, 'problem', None) or str(err))}"
    msgspec = sys.modules.get("msgspec")
    if isinstance(err, json.JSONDecodeError) or (msgspec is not None and isinstance(err, msgspec.DecodeError)):
        return f"不是有效的 JSON：{json_problem(err)}"
    if isinstance(err, UnicodeDecodeError):
        return f"文件不是 UTF-8 编码的文本（{json_problem(err)}）"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (it never raises SystemExit: `--help`, `--version` and a usage error
    return 0 or 2). The error policy — nothing a user can cause ends in a traceback (README, "Exit codes"):

    - a usage error, a bad input, a file that cannot be read or written (`policyc: 无法读取/写入 <文件>：<原因>`),
      and standard output that cannot be written (closed, a full disk: `policyc: 无法写入 标准输出：…`): 2;
    - standard output's reader went away (`policyc … | head`): the rest of the output is dropped quietly, 141;
    - Ctrl-C: `policyc: 已中断`, 130 (policyc/entry.py covers the start-up, before this module is imported);
    - standard error is best effort: a message it cannot take is dropped, and the exit code stays the command's.

    Output still buffered is written before returning, under this policy, not at interpreter exit (where a failure
    would print `Exception ignored … BrokenPipeError`)."""
    saved = sys.stdin, sys.stdout, sys.stderr
    try:
        try:
            _console_safe()
            _std_streams()
            code = _run(argv)
            sys.stdout.flush()
            sys.stderr.flush()
        except KeyboardInterrupt:
            _flush_quietly()
            try:  # stderr is None before _std_streams when descriptor 2 is closed (and print would use stdout)
                if sys.stderr is not None:
                    print("policyc: 已中断", file=sys.stderr)
            except (OSError, ValueError):
                pass
            code = EXIT_INTERRUPTED
        except OSError as err:
            code = _os_failure(err)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return code


def _run(argv: list[str] | None) -> int:
    """Parse and run a command, its known failures reported in Chinese; OSError and KeyboardInterrupt are left to
    `main`."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except SystemExit as stop:  # argparse after --help, --version or a usage error (its message written already)
        return _exit_code(stop.code)
    except UsageError as err:
        print(f"policyc: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exit as stop:
        return stop.code
    except ModuleNotFoundError as err:  # a lean install (the runtime only) asked for a part it does not have
        extra = _EXTRAS.get((err.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"policyc: 此命令需要未安装的组件 {err.name}：请安装 pip install 'policyc[{extra}]'", file=sys.stderr)
        return EXIT_USAGE
    except OSError:
        raise
    except Exception as err:  # a bundle or runtime fault that is not the user's doing in policy files
        if _interrupted(err):
            raise KeyboardInterrupt from err
        from .runtime import RuntimeFault
        if isinstance(err, RuntimeFault):
            print(f"policyc: [{err.code}] {err}", file=sys.stderr)
            return EXIT_USAGE
        problem = _input_error(err)
        if problem is not None:
            print(f"policyc: {problem}", file=sys.stderr)
            return EXIT_USAGE
        raise


def _interrupted(err: Exception) -> bool:
    """Ctrl-C that a library turned into an exception of its own (DuckDB stops its query and raises `RuntimeError:
    Query interrupted` or InterruptException): the entry point saw the SIGINT, or the exception says so."""
    entry = sys.modules.get("policyc.entry")
    if entry is not None and getattr(entry, "interrupted", False):
        return True
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(err, getattr(duckdb, "InterruptException", ()))


def _exit_code(code) -> int:
    """SystemExit's code as an exit code: None is 0; a message (sys.exit("…")) is written and gives 1."""
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_POLICY


def _os_failure(err: OSError) -> int:
    """The exit code for an OSError that reached `main`, after saying what failed."""
    if getattr(err, "policyc_stream", None) is None:  # a file: a missing or unreadable input, an unwritable output
        print(f"policyc: {_os_error(err)}", file=sys.stderr)
        return EXIT_USAGE
    _discard_stdout()
    if err.errno == errno.EPIPE:  # the reader went away: nothing to report, as `cat` would end
        return EXIT_PIPE
    reason = "已关闭" if err.errno == errno.EBADF else _os_reason(err)
    print(f"policyc: 无法写入 标准输出：{reason}", file=sys.stderr)
    return EXIT_USAGE


def _os_reason(err: OSError) -> str:
    from .runtime.errtext import os_reason
    return os_reason(err)


def _flush_quietly() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        _discard_stdout()
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _discard_stdout() -> None:
    discard = getattr(sys.stdout, "discard", None)
    if discard is not None:
        discard()


def _std_streams() -> None:
    """sys.stdout and sys.stderr for the command (see `main`): standard output whose write errors are marked as
    its own, standard error that drops what it cannot write. A standard stream that was closed when Python
    started (`>&-`; Python sets it to None) gets /dev/null on its descriptor, so that no file opened later takes
    descriptor 0, 1 or 2, where a child process or a stray write would find it; reading or writing it is then an
    error that names it (`无法写入 标准输出：已关闭`)."""
    for fd, name, label in ((0, "stdin", "标准输入"), (1, "stdout", "标准输出"), (2, "stderr", "标准错误")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
            except OSError:
                pass
        setattr(sys, name, _Closed(label))
    sys.stdout = _Stdout(sys.stdout)
    sys.stderr = _Stderr(sys.stderr)


class _Stdout:
    """sys.stdout while a command runs: an OSError in writing it is marked (`policyc_stream`), so that `main`
    reports standard output, not a file, and writes the rest of the output, once it has failed, to /dev/null.
    A failed write that its caller ignored (argparse does, printing --help) fails the next flush."""

    def __init__(self, stream):
        self._stream = stream
        self._failed: OSError | None = None

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as err:
            err.policyc_stream = "标准输出"
            self._failed = err
            raise

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        failed, self._failed = self._failed, None
        try:
            self._stream.flush()
        except OSError as err:
            err.policyc_stream = "标准输出"
            raise
        if failed is not None:
            raise failed

    def discard(self) -> None:
        """Nothing more reaches the failed output: what is still buffered is dropped (and the interpreter, flushing
        it at exit, finds /dev/null instead and stays silent)."""
        _to_devnull(self._stream)

    def __getattr__(self, name):  # encoding, isatty, fileno, buffer, reconfigure…
        if name == "_stream":  # not set yet (a copy): no endless recursion
            raise AttributeError(name)
        return getattr(self._stream, name)


class _Stderr:
    """sys.stderr while a command runs: best effort. Once a write fails (closed, a full disk, its reader gone),
    this and every later message is dropped; the command goes on and keeps its exit code."""

    def __init__(self, stream):
        self._stream = stream
        self._lost = False

    def write(self, text):
        if not self._lost:
            try:
                self._stream.write(text)
            except (OSError, ValueError):
                self._lose()
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if not self._lost:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self) -> None:
        self._lost = True
        _to_devnull(self._stream)

    def __getattr__(self, name):
        if name == "_stream":
            raise AttributeError(name)
        return getattr(self._stream, name)


def _to_devnull(stream) -> None:
    """Point the process's own standard stream's descriptor at /dev/null and drop what it still buffers into it
    (a stream that is not the process's own — a test's capture — is left alone)."""
    if stream is not None and stream in (sys.__stdout__, sys.__stderr__):
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, stream.fileno())
            os.close(null)
            stream.flush()
        except (OSError, ValueError):
            pass


class _Closed(io.TextIOBase):
    """A standard stream that was closed when policyc started: reading or writing it fails with EBADF."""

    encoding = "utf-8"

    def __init__(self, label: str):
        super().__init__()
        self._label = label

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def read(self, size=-1):
        raise OSError(errno.EBADF, "已关闭", self._label)

    def readline(self, size=-1):
        raise OSError(errno.EBADF, "已关闭", self._label)

    def write(self, text):
        if not text:
            return 0
        raise OSError(errno.EBADF, "已关闭")
