"""`policyc impact --base BASE [--head HEAD]`: both versions over a population (impact.py), reported in Chinese
text, Markdown or JSON (impact_render.py); docs/impact.md."""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from ..cli import EXIT_OK, EXIT_POLICY, MAX_SEED, UsageError, _out, date_arg, int_arg

MAX_SYNTHETIC = 10_000_000  # households, all held in memory by both sides


def cmd_impact(args) -> int:
    from .impact import ImpactError, run_impact
    from .impact_render import render_json, render_md, render_text
    from .impact_sides import SideError
    from .population import PopulationError
    from .versions import load_version
    if args.population and not Path(args.population).is_file():
        raise UsageError(f"人口文件 {args.population} 不存在")
    jobs = "auto" if args.jobs == "auto" else int(args.jobs) > 1
    try:  # each side reads the population file itself (no households cross between processes)
        report = run_impact(partial(load_version, args.base, args.policy),
                            partial(load_version, args.head, args.policy), population=args.population,
                            synthetic=args.synthetic or (None if args.population else 1000), seed=args.seed,
                            date=args.date, locality=args.locality, processes=jobs,
                            witnesses=not args.no_witnesses)
    except (PopulationError, ImpactError) as err:
        raise UsageError(str(err)) from None
    except SideError as err:
        if err.kind == "usage":
            raise UsageError(str(err)) from None
        if err.diagnostics:
            print(err.diagnostics, file=sys.stderr)
        print(f"policyc: {err}", file=sys.stderr)
        return EXIT_POLICY
    render = {"json": render_json, "md": render_md}.get(args.format, render_text)
    _out(render(report))
    if args.timings:
        t = dict(report["timings"])
        cpu = t.pop("cpu")
        print("用时（秒）：" + "，".join(f"{k} {v}" for k, v in t.items()), file=sys.stderr)
        for side, phases in cpu.items():
            print(f"  {side} 进程 CPU：" + "，".join(f"{k} {v:.2f}" for k, v in phases.items() if k != "stats"),
                  file=sys.stderr)
    return EXIT_OK


def register(sub) -> None:
    """Adds the `impact` subcommand."""
    p = sub.add_parser("impact", help="两个版本在同一人口上的结果对比：新增/不再符合、金额与支出变化、见证家庭")
    p.add_argument("--policy", default="policies/shanxi", help="政策目录（默认 policies/shanxi）")
    p.add_argument("--base", required=True, metavar="BASE",
                   help="基线版本：git 修订版本（如 main）、政策目录或规则包文件")
    p.add_argument("--head", metavar="HEAD", help="对比版本（同上；默认为工作区的 --policy 目录）")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--population", metavar="FILE", help="人口文件：.jsonl、.csv 或 .parquet，每行一个评估请求")
    group.add_argument("--synthetic", type=int_arg(1, MAX_SYNTHETIC), metavar="N",
                       help=f"合成 N 户山西人口（1 至 {MAX_SYNTHETIC}，默认 1000 户）")
    p.add_argument("--seed", type=int_arg(0, MAX_SEED), default=0, help="合成人口的随机种子（非负整数，默认 0）")
    p.add_argument("--date", type=date_arg, metavar="D",
                   help="评估日期 YYYY-MM-DD（合成人口默认今天；人口文件默认各行自己的日期）")
    p.add_argument("--locality", metavar="L", help="只统计该地区（含下辖地区）的家庭；合成人口只在该地区生成")
    p.add_argument("--format", choices=("text", "md", "json"), default="text",
                   help="text：中文文本（默认）；md：Markdown，用于合并请求；json：供程序读取")
    p.add_argument("--jobs", choices=("auto", "1", "2"), default="auto",
                   help="2：两个版本各一个进程；1：本进程内依次评估；auto（默认）：有两个空闲处理器核时用 2")
    p.add_argument("--no-witnesses", action="store_true", help="不搜索见证家庭")
    p.add_argument("--timings", action="store_true", help="在标准错误输出各阶段用时")
    p.set_defaults(func=cmd_impact)
