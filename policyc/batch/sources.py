"""Population files read in chunks of rows, with bounded memory: JSONL, CSV (one row per member) and Parquet.

Every chunk is an Arrow table of `_row` (the request's 0-based position in the file) and either `j` (one
request's JSON text) or the request's top-level columns as Parquet gives them; rows that cannot even be read (a
line that is not UTF-8) are rejects of the chunk, so no row disappears. Formats: docs/batch.md "输入文件".
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from ..ir import Module, strip_optional
from ..runtime import jsonio

CHUNK_ROWS = 32_768  # rows per chunk: memory stays bounded (≈ 2 KB of JSON a row); larger chunks were not faster
_COLUMN = re.compile(r"[a-z_][a-z0-9_]{0,63}")


class SourceError(Exception):
    """The file cannot be read as a population at all (not a row's problem): a Chinese message naming it."""


@dataclass
class Chunk:
    table: pa.Table  # _row, and j or the request's columns
    kind: str  # "json" or "arrow"
    rejects: list = field(default_factory=list)  # {"row", "where", "problems"}
    wheres: dict = field(default_factory=dict)  # _row -> "file:line", for the rejects' messages
    size: int = 0  # progress: bytes or rows read


def open_source(path: str | Path, module: Module, chunk_rows: int = CHUNK_ROWS):
    """(chunks iterator, total progress units, unit name) for a population file, by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"输入文件 {path} 不存在")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl(path, chunk_rows), path.stat().st_size, "B"
    if suffix == ".csv":
        return _csv(path, module, chunk_rows), path.stat().st_size, "B"
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as err:
            raise SourceError(f"{path}: 不是可读的 Parquet 文件（{str(err)[:200]}）") from None
        return _parquet(path, chunk_rows), meta.num_rows, "户"
    raise SourceError(f"{path}: 无法识别的输入格式“{suffix}”（支持 .jsonl、.ndjson、.csv、.parquet）")


def _json_chunk(rows: list[int], texts: list[str], rejects: list, wheres: dict, size: int) -> Chunk:
    table = pa.table({"_row": pa.array(rows, pa.int64()), "j": pa.array(texts, pa.string())})
    return Chunk(table, "json", rejects, wheres, size)


def _jsonl(path: Path, chunk_rows: int):
    rows, texts, rejects, wheres = [], [], [], {}
    row = size = 0
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            size += len(line)
            if not line.strip():
                continue  # blank lines are not rows
            where = f"{path.name}:{n}"
            try:
                text = line.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                rejects.append({"row": row, "where": where, "problems": [("$", f"不是 UTF-8 文本（{err.reason}）")]})
            else:
                rows.append(row)
                texts.append(text)
            wheres[row] = where
            row += 1
            if len(rows) + len(rejects) >= chunk_rows:
                yield _json_chunk(rows, texts, rejects, wheres, size)
                rows, texts, rejects, wheres, size = [], [], [], {}, 0
    if rows or rejects or size:
        yield _json_chunk(rows, texts, rejects, wheres, size)


def _parquet(path: Path, chunk_rows: int):
    import pyarrow.parquet as pq
    f = pq.ParquetFile(path)
    for name in f.schema_arrow.names:
        if name not in ("id", "locality", "date") and not _COLUMN.fullmatch(name):
            raise SourceError(f"{path}: 列名“{name[:60]}”不是请求的字段（应为 id、locality、date 或请求的输入，如 household）")
    start = 0
    for batch in f.iter_batches(batch_size=chunk_rows):
        table = pa.Table.from_batches([batch])
        table = table.append_column("_row", pa.arange(start, start + table.num_rows).cast(pa.int64()))
        start += table.num_rows
        yield Chunk(table, "arrow", [], _RowNumbers(path.name), table.num_rows)


class _RowNumbers:
    """`wheres` of a Parquet file: row r is "name: 第 r+1 行", made when a reject asks for it."""

    def __init__(self, name: str):
        self.name = name

    def get(self, row: int, default=None) -> str:
        return f"{self.name}: 第 {row + 1} 行"


# ── CSV: one row per member ──────────────────────────────────────────────────────────────
def _csv(path: Path, module: Module, chunk_rows: int):
    """Rows of one household are consecutive and share `household_id`; `locality`, `date`, `household.<field>`,
    `incident.<field>` and `application.<field>` are read from its first row, `member.<field>` from each row."""
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise SourceError(f"{path}: 空文件（第一行应为表头）") from None
        except (UnicodeDecodeError, csv.Error) as err:
            raise SourceError(f"{path}: 无法读取表头（{err}）") from None
        plan = _csv_plan(path, header, module)
        rows, texts, wheres = [], [], {}
        current, request, first = None, None, 0
        size = 0
        line = 1
        row = -1
        try:
            for cells in reader:
                line += 1
                size += sum(len(c) for c in cells) + len(cells)
                if not any(c.strip() for c in cells):
                    continue
                key = cells[plan["key"]] if plan["key"] < len(cells) else ""
                if key != current or request is None:
                    if request is not None:
                        rows.append(row)
                        texts.append(jsonio.dumps(request, indent=None))
                        if len(rows) >= chunk_rows:
                            yield _json_chunk(rows, texts, [], wheres, size)
                            rows, texts, wheres, size = [], [], {}, 0
                    row += 1
                    current, first = key, line
                    wheres[row] = f"{path.name}:{first}"
                    request = _csv_household(plan, cells)
                request["household"].setdefault("members", []).append(_csv_fields(plan["member"], cells))
        except (UnicodeDecodeError, csv.Error) as err:
            raise SourceError(f"{path}:{line}: 无法读取（{err}）") from None
        if request is not None:
            rows.append(row)
            texts.append(jsonio.dumps(request, indent=None))
        if rows:
            yield _json_chunk(rows, texts, [], wheres, size)


def _csv_plan(path: Path, header: list[str], module: Module) -> dict:
    inputs = {i.id: i for i in module.inputs}
    household = inputs.get("household")
    if household is None or "household_id" not in header:
        raise SourceError(f"{path}: 表头应有 household_id 列（同一户的各行相邻，共用同一个 household_id）")
    member_rec = _list_record(module, household.type, "members")
    plan: dict = {"key": header.index("household_id"), "top": [], "member": [], "inputs": {}}
    for n, name in enumerate(header):
        if name == "household_id":
            continue
        if name in ("locality", "date"):
            plan["top"].append((n, name, "text"))
            continue
        head, _, rest = name.partition(".")
        if head == "member" and member_rec is not None and member_rec.field(rest) is not None:
            plan["member"].append((n, rest, member_rec.field(rest).type))
            continue
        inp = inputs.get(head)
        rec = module.records.get(strip_optional(inp.type)[7:]) if inp and strip_optional(inp.type).startswith("record:") else None
        fld = rec.field(rest) if rec else None
        if fld is None or (head == "household" and rest == "members"):
            raise SourceError(f"{path}: 列“{name[:80]}”不是请求的字段（应为 household_id、locality、date、"
                              f"household.<字段>、member.<字段>、incident.<字段> 或 application.<字段>）")
        plan["inputs"].setdefault(head, []).append((n, rest, fld.type))
    return plan


def _list_record(module: Module, t: str, field_id: str):
    rec = module.records.get(strip_optional(t)[7:])
    f = rec.field(field_id) if rec else None
    if f is None or not strip_optional(f.type).startswith("list:record:"):
        return None
    return module.records[strip_optional(f.type)[12:]]


def _csv_household(plan: dict, cells: list[str]) -> dict:
    request: dict = {"id": cells[plan["key"]]}
    request.update(_csv_fields(plan["top"], cells))
    for inp, cols in plan["inputs"].items():
        values = _csv_fields(cols, cells)
        if values or inp == "household":
            request[inp] = values
    request.setdefault("household", {})
    return request


def _csv_fields(cols: list, cells: list[str]) -> dict:
    out = {}
    for n, name, t in cols:
        text = cells[n].strip() if n < len(cells) else ""
        if text == "":
            continue  # an empty cell leaves the field out
        out[name] = _cell(text, t)
    return out


def _cell(text: str, t: str):
    """A cell read by its field's type; what does not parse stays text, for the runtime to report at its path."""
    base = strip_optional(t)
    if text == "null":
        return None
    if base.startswith(("record:", "list:")):
        try:
            return jsonio.loads(text)
        except ValueError:
            return text
    if base in ("money", "money/month", "money/year", "ratio", "percent", "number"):
        try:
            value = Decimal(text)
        except InvalidOperation:
            return text
        return value if value.is_finite() and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text) else text
    if base in ("int", "count", "age", "months", "years"):
        return int(text) if re.fullmatch(r"-?[0-9]{1,18}", text) else text
    if base == "bool":
        return {"true": True, "false": False, "是": True, "否": False}.get(text.lower(), text)
    return text


def as_json(chunk: Chunk) -> Chunk:
    """A Parquet chunk as JSON text rows (for an engine without a typed path): each row's columns as one object,
    NULL as null, absent columns left out."""
    import duckdb
    if chunk.kind == "json":
        return chunk
    names = [n for n in chunk.table.column_names if n != "_row"]
    con = duckdb.connect(config={"threads": 1})
    con.register("chunk", chunk.table)
    fields = ", ".join(f'"{n}" := "{n}"' for n in names)  # names checked against the field alphabet on opening
    table = con.execute(f"SELECT _row, CAST(to_json(struct_pack({fields})) AS VARCHAR) AS j FROM chunk").to_arrow_table()
    con.close()
    return Chunk(table, "json", chunk.rejects, chunk.wheres, chunk.size)
