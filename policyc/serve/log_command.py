"""`policyc log`: query and export the decision log.

    policyc log query  --decision-log URL [--since ISO] [--until ISO] [--locality CODE] [--program ID] [--limit N]
    policyc log export --decision-log URL --out FILE.jsonl [same filters]
    policyc log get    --decision-log URL DECISION_ID

`query` prints one entry per line (JSON Lines) in time order; `export` writes the same lines to a file atomically
(a temporary file beside it, synced, then renamed); `get` prints one entry. Entries are printed exactly as stored.
Errors are Chinese messages with exit code 2, never a traceback.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from ..runtime import atomic


def register(sub) -> None:
    """Add the `log` subcommand to the CLI's subparsers."""
    p = sub.add_parser("log", help="查询和导出决策日志")
    cmds = p.add_subparsers(dest="log_command", required=True, parser_class=type(p), title="子命令", metavar="子命令",
                            help="以下之一；policyc log 子命令 -h 显示该子命令的用法")

    def common(q):
        q.add_argument("--decision-log", required=True, metavar="URL",
                       help="决策日志地址：sqlite:///路径、文件路径或 postgresql://…")

    def filters(q):
        q.add_argument("--since", metavar="ISO", help="只要此时刻及以后的决定（如 2024-07-01 或 2024-07-01T08:00:00Z；"
                                                      "不带时区按 UTC）")
        q.add_argument("--until", metavar="ISO", help="只要此时刻以前的决定（不含）")
        q.add_argument("--locality", metavar="CODE", help="只要该地区（6 位行政区划代码）的决定")
        q.add_argument("--program", metavar="ID", help="只要含该程序结果的决定，如 dibao")
        q.add_argument("--limit", metavar="N", help="最多 N 条")

    q = cmds.add_parser("query", help="按时间顺序输出决定，每行一条 JSON（JSON Lines）")
    common(q)
    filters(q)
    q.set_defaults(func=cmd_query)

    q = cmds.add_parser("export", help="把决定导出为 JSON Lines 文件（原子写入）")
    common(q)
    filters(q)
    q.add_argument("--out", required=True, metavar="FILE", help="输出文件，如 decisions.jsonl")
    q.set_defaults(func=cmd_export)

    q = cmds.add_parser("get", help="输出一条决定")
    common(q)
    q.add_argument("decision_id", help="决策编号")
    q.set_defaults(func=cmd_get)


def _usage(message: str):
    from ..cli import UsageError
    return UsageError(message)


def _filters(args) -> dict:
    from .decisionlog import DecisionLogError
    from .decisionlog.times import utc
    out = {"locality": None, "program": None, "limit": None, "since": None, "until": None}
    try:
        if args.since is not None:
            out["since"] = utc(args.since)
        if args.until is not None:
            out["until"] = utc(args.until)
    except DecisionLogError as err:
        raise _usage(f"[{err.code}] {err}") from None
    if args.locality is not None:
        if not re.fullmatch(r"\d{6}", args.locality.strip()):
            raise _usage(f"地区 {args.locality!r} 无效，应为 6 位行政区划代码，如 140105")
        out["locality"] = args.locality.strip()
    if args.program is not None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.program.strip()):
            raise _usage(f"程序 {args.program!r} 无效，应为程序编号，如 dibao")
        out["program"] = args.program.strip()
    if args.limit is not None:
        if not re.fullmatch(r"\s*\d{1,18}\s*", args.limit):  # up to 10**18 - 1: within SQL's 64-bit integers
            raise _usage(f"条数上限 {args.limit[:40]!r} 无效，应为小于 10^18 的非负整数")
        out["limit"] = int(args.limit)
    return out


def _open(url: str):
    from .decisionlog import DecisionLogError, open_log
    if not url or not url.strip():
        raise _usage("请用 --decision-log 指定决策日志地址")
    try:
        return open_log(url, create=False)
    except DecisionLogError as err:
        raise _usage(f"[{err.code}] {err}") from None


def cmd_query(args) -> int:
    from ..cli import EXIT_OK
    from .decisionlog import DecisionLogError
    filters = _filters(args)
    log = _open(args.decision_log)
    try:
        write = sys.stdout.write
        for text in log.query_json(**filters):
            write(text)
            write("\n")
        sys.stdout.flush()
    except DecisionLogError as err:
        raise _usage(f"[{err.code}] {err}") from None
    finally:
        log.close()
    return EXIT_OK


def cmd_export(args) -> int:
    from ..cli import EXIT_OK
    from .decisionlog import DecisionLogError
    filters = _filters(args)
    target = os.path.abspath(args.out)
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise _usage(f"无法写入 {args.out}：它是目录")
    if not os.path.isdir(folder):
        raise _usage(f"无法写入 {args.out}：目录 {folder} 不存在")
    log = _open(args.decision_log)
    tmp = None
    try:
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
        except OSError as err:
            raise _usage(f"无法写入 {args.out}：{_os_reason(err)}") from None
        count = 0
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                for text in log.query_json(**filters):
                    out.write(text)
                    out.write("\n")
                    count += 1
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644 & ~_umask())
            atomic.replace(tmp, target)
            tmp = None
            _sync_dir(folder)
        except OSError as err:
            raise _usage(f"无法写入 {args.out}：{_os_reason(err)}") from None
        except DecisionLogError as err:
            raise _usage(f"[{err.code}] {err}") from None
    finally:
        log.close()
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    print(f"已导出 {count} 条决定到 {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_get(args) -> int:
    from ..cli import EXIT_OK, _out
    from .decisionlog import DecisionLogError
    log = _open(args.decision_log)
    try:
        text = log.get_json(args.decision_id.strip())
    except DecisionLogError as err:
        raise _usage(f"[{err.code}] {err}") from None
    finally:
        log.close()
    if text is None:
        raise _usage(f"决策日志中没有编号为 {args.decision_id} 的决定")
    _out(text)
    return EXIT_OK


def _os_reason(err: OSError) -> str:
    from ..runtime.errtext import os_reason
    return os_reason(err)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
