"""`policyc batch`: a whole population through a bundle, streamed chunk by chunk (docs/batch.md).

Every input row gives exactly one decision row or one reject row; the counts are reconciled and printed with a
summary per program × locality."""
from __future__ import annotations

import datetime as dt
import sys
import time
from decimal import Decimal
from pathlib import Path

from ..cli import EXIT_OK, UsageError, _evaluator, date_arg, int_arg, policy_arg, program_list, verify_key_arg
from ..runtime import atomic

EXIT_MISMATCH = 3  # the counts do not reconcile: a bug of policyc, never the data's fault
MAX_CHUNK = 10_000_000  # rows per chunk: the whole of a chunk is in memory at once
MAX_THREADS = 1024
MAX_PRINTED = 40  # summary rows printed; the rest are in --summary FILE


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date 应为日期 YYYY-MM-DD，实际为 {value!r}") from None


def _engine(args, evaluator, programs):
    if args.engine == "spark":
        from .spark import SparkEngine
        if not args.bundle:
            raise UsageError("--engine spark 需要 --bundle（执行器各自校验规则包的字节）")
        sig = Path(args.bundle + ".sig")
        return SparkEngine(Path(args.bundle).read_bytes(), programs=programs, reasons=args.reasons,
                           keys=args.verify_key, signature=sig.read_bytes() if args.verify_key and sig.is_file()
                           else None, sha256=evaluator.bundle_info["sha256"])
    from .engine import Engine
    return Engine(evaluator, programs=programs, reasons=args.reasons, engine=args.engine, threads=args.threads)


def cmd_batch(args) -> int:
    from ..runtime.errors import InputError
    from .sinks import DecisionSink, RejectSink, SinkError
    from .sources import SourceError, as_json, open_source
    from .sqltyped import SchemaMismatch
    from .summary import Summary

    evaluator = _evaluator(args)
    programs = program_list(args.programs, evaluator.program_ids)
    day = _date(args.date)
    locality = None
    if args.locality is not None:
        try:
            locality = evaluator.resolve_locality(args.locality, "--locality")["code"]
        except InputError as err:
            raise UsageError(err.problems[0][1]) from None
    output = Path(args.output)
    rejects_path = Path(args.rejects) if args.rejects else output.with_name(output.stem + ".rejects.jsonl")
    if rejects_path.resolve() == output.resolve():
        raise UsageError("--rejects 与 --output 不能是同一个文件")
    if Path(args.input).resolve() in (output.resolve(), rejects_path.resolve()):
        raise UsageError("输出文件不能覆盖输入文件 --input")
    started = time.perf_counter()
    engine = _engine(args, evaluator, programs)
    try:
        chunks, total, unit = open_source(args.input, evaluator.module, args.chunk)
        sink = DecisionSink(output, engine.schema, engine.row_type)
        rejects = RejectSink(rejects_path)
    except (SourceError, SinkError) as err:
        raise UsageError(str(err)) from None
    summary = Summary(evaluator, engine.programs)
    rows_in = decided = rejected = 0
    ok = False
    bar = _progress(total, unit)
    try:
        for chunk in chunks:
            if chunk.kind == "arrow" and not hasattr(engine, "decide_arrow"):
                chunk = as_json(chunk)
            if chunk.kind == "arrow":
                table, bad = engine.decide_arrow(chunk.table, locality, day)
            else:
                table, bad = engine.decide(chunk.table, locality, day)
            for r in bad:
                r.setdefault("where", chunk.wheres.get(r["row"], ""))
            bad = chunk.rejects + bad
            rows_in += chunk.table.num_rows + len(chunk.rejects)
            sink.write(table)
            rejects.write(bad)
            summary.add(table)
            decided += table.num_rows
            rejected += len(bad)
            if bar is not None:
                bar.update(chunk.size)
        ok = True
    except (SourceError, SchemaMismatch) as err:
        raise UsageError(f"{args.input}: {err}") from None
    finally:
        if bar is not None:
            bar.close()
        sink.close(ok)
        rejects.close(ok)
    elapsed = time.perf_counter() - started
    counts = getattr(engine, "counts", {})
    _print_summary(summary, rows_in, decided, rejected, counts, elapsed, output, rejects_path, engine)
    if args.summary:
        _write_summary(Path(args.summary), summary, rows_in, decided, rejected, counts, elapsed, evaluator)
    if decided + rejected != rows_in:
        print(f"policyc: 内部错误：输入 {rows_in} 行，但决定 {decided} 行 + 拒绝 {rejected} 行 ≠ 输入行数", file=sys.stderr)
        return EXIT_MISMATCH
    return EXIT_OK


def _progress(total: int, unit: str):
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    if unit == "B":
        return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="评估", file=sys.stderr)
    return tqdm(total=total, unit="户", desc="评估", file=sys.stderr)


def _money(value) -> str:
    return "—" if value is None else f"{Decimal(value):,.2f}"


def _print_summary(summary, rows_in, decided, rejected, counts, elapsed, output, rejects_path, engine) -> None:
    lanes = ""
    if counts:
        lanes = f"（DuckDB {counts.get('sql', 0)} 行，Python 运行时 {counts.get('python', 0)} 行）"
    print(f"输入 {rows_in} 行 = 决定 {decided} 行{lanes} + 拒绝 {rejected} 行；用时 {elapsed:.1f} 秒"
          f"（{rows_in / elapsed if elapsed else 0:,.0f} 行/秒）", file=sys.stderr)
    print(f"决定：{output}", file=sys.stderr)
    print(f"拒绝：{rejects_path}" + ("（无）" if rejected == 0 else ""), file=sys.stderr)
    if counts.get("sql_failed_chunks"):
        print(f"注意：{counts['sql_failed_chunks']} 批在 DuckDB 中未能完成（{getattr(engine, 'last_sql_failure', '')[:160]}），"
              "已由 Python 运行时逐行评估（结果相同，较慢）；可用 --chunk 减小每批行数", file=sys.stderr)
    if getattr(engine, "sql_error", None):
        print(f"注意：所选程序含 SQL 后端不支持的写法（{engine.sql_error}），全部由 Python 运行时评估", file=sys.stderr)
    rows = summary.rows()
    shown = rows if len(rows) <= MAX_PRINTED else _by_program(rows)
    print("程序 | 地区 | 户数 | 符合 | 待定 | 月支出合计（元）", file=sys.stderr)
    for r in shown:
        print(f"{r['program_name']} | {r['locality_name']} | {r['households']} | {r['eligible']} | {r['undecided']} | "
              f"{_money(r['monthly_total'])}", file=sys.stderr)
    if shown is not rows:
        print(f"（按地区的 {len(rows)} 行明细见 --summary 文件）", file=sys.stderr)


def _by_program(rows: list[dict]) -> list[dict]:
    out: dict = {}
    for r in rows:
        acc = out.setdefault(r["program"], dict(r, locality="", locality_name="全部地区", households=0, eligible=0,
                                                undecided=0, monthly_total=None if r["monthly_total"] is None
                                                else Decimal(0)))
        for k in ("households", "eligible", "undecided"):
            acc[k] += r[k]
        if acc["monthly_total"] is not None:
            acc["monthly_total"] += r["monthly_total"]
    return list(out.values())


def _write_summary(path: Path, summary, rows_in, decided, rejected, counts, elapsed, evaluator) -> None:
    from ..runtime import jsonio
    body = {"bundle": evaluator.bundle_info, "input_rows": rows_in, "decided": decided, "rejected": rejected,
            "lanes": counts, "seconds": round(elapsed, 3), "by_program_and_locality": summary.rows()}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(jsonio.dumps(body) + "\n", encoding="utf-8")
    atomic.replace(tmp, path)


def register(sub) -> None:
    """Adds the `batch` subcommand."""
    p = sub.add_parser("batch", help="批量评估整个人口文件（DuckDB 列式引擎，或 Spark、Python 运行时）")
    policy_arg(p)
    p.add_argument("--bundle", help="用已编译的规则包评估（推荐；否则从 --policy 编译）")
    verify_key_arg(p)
    p.add_argument("--input", required=True, metavar="FILE", help="人口文件：.jsonl、.csv（每名成员一行）或 .parquet")
    p.add_argument("--output", required=True, metavar="FILE", help="决定文件：.jsonl、.csv 或 .parquet")
    p.add_argument("--rejects", metavar="FILE", help="拒绝记录文件：.jsonl 或 .csv（默认：输出文件名.rejects.jsonl）")
    p.add_argument("--date", type=date_arg, help="评估日期 YYYY-MM-DD（请求自带 date 时以请求为准）")
    p.add_argument("--locality", help="地区代码或名称（请求自带 locality 时以请求为准）")
    p.add_argument("--programs", help="只评估这些程序（逗号分隔，如 dibao,tekun）")
    p.add_argument("--engine", choices=("duckdb", "spark", "python"), default="duckdb",
                   help="duckdb（默认，嵌入式列式引擎）、spark（集群，本地模式亦可）或 python（逐户运行时）")
    p.add_argument("--reasons", action="store_true", help="每个决定附上理由的规则编号")
    p.add_argument("--summary", metavar="FILE", help="把汇总（程序 × 地区）写入 JSON 文件")
    p.add_argument("--chunk", type=int_arg(1, MAX_CHUNK), default=32_768, help=f"每批行数（1 至 {MAX_CHUNK}，默认 32768）")
    p.add_argument("--threads", type=int_arg(1, MAX_THREADS), default=None,
                   help=f"DuckDB 线程数（1 至 {MAX_THREADS}，默认 2）")
    p.set_defaults(func=cmd_batch)
