"""`policyc synthetic`: the impact generator's synthetic Shanxi households (policyc/review/synthetic.py), written
to a population file for `policyc batch` — JSONL as requests, or Parquet with typed nested columns (money as
DECIMAL(18,2), dates as DATE), generated and written in chunks."""
from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

from ..cli import EXIT_OK, MAX_SEED, UsageError, _evaluator, date_arg, int_arg, policy_arg, verify_key_arg
from ..runtime import atomic

CHUNK = 50_000
MAX_HOUSEHOLDS = 100_000_000  # a sane bound: more households than the province has, several times over


def synthetic_requests(evaluator, n: int, seed: int, day: str, start: int = 0):
    """n requests (dicts with `id`, `locality`, `date`), reproducible from (n, seed, day)."""
    from ..review.synthetic import ANCHORS, synthetic_population
    when = dt.date.fromisoformat(day)

    def anchors(code):
        values = evaluator.params_at(code, when)[0]
        missing = [pid for pid in ANCHORS.values() if pid not in values]
        if missing:  # a day before the policy's first values
            raise UsageError(f"{code} 在 {day} 没有参数 {'、'.join(missing)} 的取值，无法按低保标准生成收入")
        return {area: values[pid] for area, pid in ANCHORS.items()}
    pop = synthetic_population(n, seed, jurisdictions=evaluator.bundle["jurisdictions"], modules=[evaluator.module],
                               anchors=anchors, date=day)
    for i, h in enumerate(pop.households):
        yield dict(h.request, id=f"h{start + i + 1}")


def write_synthetic(evaluator, n: int, seed: int, day: str, path: Path) -> None:
    """Writes n households to `path` (.jsonl or .parquet), chunk by chunk (each chunk its own seed, derived)."""
    from ..runtime import jsonio
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".parquet"):
        raise UsageError(f"{path}: 合成人口应写为 .jsonl 或 .parquet")
    text = path.with_name(f".{path.name}.{os.getpid()}.jsonl") if suffix == ".parquet" else \
        path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with text.open("w", encoding="utf-8") as f:
            for start in range(0, n, CHUNK):
                size = min(CHUNK, n - start)
                for request in synthetic_requests(evaluator, size, seed * 1_000_003 + start, day, start):
                    f.write(jsonio.dumps(request, indent=None) + "\n")
        if suffix == ".parquet":
            _to_parquet(evaluator.module, text, path)
            text.unlink()
        else:
            atomic.replace(text, path)
    finally:
        if text.exists():
            text.unlink()


def _to_parquet(module, source: Path, path: Path) -> None:
    import duckdb
    from .sqlinput import InputSql
    from .sqlgen import _lit_text
    structure = InputSql(module, ()).structure(True).replace("DECIMAL(38,2)", "DECIMAL(18,2)")
    cols = ", ".join(f"t.\"{i.id}\" AS \"{i.id}\"" for i in module.inputs)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    con = duckdb.connect(config={"threads": 2})
    try:
        con.execute(
            f"COPY (SELECT j->>'$.id' AS id, j->>'$.locality' AS locality, CAST(j->>'$.date' AS DATE) AS date, {cols} "
            f"FROM (SELECT j, json_transform(j, {_lit_text(structure)}) AS t FROM "
            f"read_json_objects({_lit_text(str(source))}, format='newline_delimited') AS r(j))) "
            f"TO {_lit_text(str(tmp))} (FORMAT PARQUET, COMPRESSION ZSTD)")
        atomic.replace(tmp, path)
    finally:
        con.close()
        if tmp.exists():
            tmp.unlink()


def cmd_synthetic(args) -> int:
    evaluator = _evaluator(args)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"目录 {out.parent} 不存在")
    write_synthetic(evaluator, args.households, args.seed, args.date, out)
    print(f"已写入 {args.households} 户合成人口：{out}（种子 {args.seed}，日期 {args.date}）", file=sys.stderr)
    return EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("synthetic", help="生成可复现的合成山西人口文件（供 policyc batch 使用）")
    policy_arg(p)
    p.add_argument("--bundle", help="按已编译的规则包生成（推荐）")
    verify_key_arg(p)
    p.add_argument("--households", type=int_arg(1, MAX_HOUSEHOLDS), required=True, metavar="N",
                   help=f"户数（1 至 {MAX_HOUSEHOLDS}）")
    p.add_argument("--date", type=date_arg, required=True, help="日期 YYYY-MM-DD：收入按当日各地低保标准生成")
    p.add_argument("--seed", type=int_arg(0, MAX_SEED), default=0, help="随机种子（非负整数，默认 0）")
    p.add_argument("--out", required=True, metavar="FILE", help=".jsonl 或 .parquet")
    p.set_defaults(func=cmd_synthetic)
