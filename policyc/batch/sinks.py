"""Decision and reject files written chunk by chunk: JSONL, CSV or Parquet, by suffix. Each file is written beside
its destination and renamed into place only when the run completes (a failed run leaves the old file, if any, and
no half-written one)."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import duckdb
import pyarrow as pa

from ..runtime import atomic, jsonio
from . import sqltypes as T

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


class SinkError(Exception):
    """An output that cannot be written: a Chinese message naming the file."""


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SinkError(f"{path}: 无法识别的输出格式“{path.suffix}”（支持 .jsonl、.csv、.parquet）")
    return fmt


class _Staged:
    """A file written under a temporary name beside its destination, renamed into place by `commit`."""

    def __init__(self, path: Path):
        self.path = path
        if not path.parent.is_dir():
            raise SinkError(f"{path}: 目录 {path.parent} 不存在")
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")

    def commit(self) -> None:
        atomic.replace(self.tmp, self.path)

    def discard(self) -> None:
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass


def _flat_columns(row_type) -> list[str]:
    """CSV columns: the scalar outputs as `program.key`, nested values (members, lists, referrals) as JSON text."""
    cols = ["row", "id", "locality", "date"]
    fields = dict(row_type[1])

    def walk(t, expr: str, name: str):
        if isinstance(t, str):
            cols.append(f"{expr} AS {_q(name)}")
        elif t[0] == "struct":
            for k, sub in t[1]:
                walk(sub, f"{expr}.{T.quote(k)}", f"{name}.{k}")
        else:
            cols.append(f"to_json({expr}) AS {_q(name)}")

    for prog, t in fields["programs"][1]:
        walk(t, f"programs.{T.quote(prog)}", prog)
    cols += ["to_json(referrals) AS referrals", "to_json(missing_facts) AS missing_facts"]
    return cols


def _q(name: str) -> str:
    for part in name.split("."):
        T.quote(part)  # every part from the closed alphabet
    return f'"{name}"'


class DecisionSink(_Staged):
    def __init__(self, path: str | Path, schema: pa.Schema, row_type):
        super().__init__(Path(path))
        self.fmt = _format(self.path)
        self.schema = schema
        self.rows = 0
        self.con = duckdb.connect(config={"threads": 1})
        self._writer = None
        self._file = None
        if self.fmt == "parquet":
            import pyarrow.parquet as pq
            self._writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        else:
            self._file = self.tmp.open("wb")
            self._select = ", ".join(_flat_columns(row_type)) if self.fmt == "csv" else "*"
            self._chunk = self.tmp.with_name(self.tmp.name + ".part")

    def write(self, table: pa.Table, header_only: bool = False) -> None:
        if table.num_rows == 0 and not header_only:
            return
        if self._writer is not None:
            self._writer.write_table(table)
        else:
            self.con.register("chunk", table)
            options = "FORMAT JSON" if self.fmt == "jsonl" else f"FORMAT CSV, HEADER {str(self.rows == 0).upper()}"
            self.con.execute(f"COPY (SELECT {self._select} FROM chunk) TO '{self._chunk}' ({options})")
            with self._chunk.open("rb") as part:
                while block := part.read(1 << 20):
                    self._file.write(block)
            self._chunk.unlink()
            self.con.unregister("chunk")
        self.rows += table.num_rows

    def close(self, ok: bool) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            if self.rows == 0 and self.fmt == "csv":
                self.write(self.schema.empty_table(), header_only=True)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        self.con.close()
        if ok:
            self.commit()
        else:
            self.discard()


class RejectSink(_Staged):
    """One line per rejected row: row, where (file:line), the first problem's path and message, and all problems."""

    def __init__(self, path: str | Path):
        super().__init__(Path(path))
        self.fmt = _format(self.path)
        if self.fmt == "parquet":
            raise SinkError(f"{self.path}: 拒绝记录文件应为 .jsonl 或 .csv")
        self.rows = 0
        self._file = self.tmp.open("w", encoding="utf-8", newline="")
        if self.fmt == "csv":
            self._csv = csv.writer(self._file)
            self._csv.writerow(["row", "where", "path", "message", "problems"])

    def write(self, rejects: list[dict]) -> None:
        for r in sorted(rejects, key=lambda r: r["row"]):
            problems = [{"path": p, "message": m} for p, m in r["problems"]]
            first = problems[0] if problems else {"path": "$", "message": ""}
            if self.fmt == "csv":
                self._csv.writerow([r["row"], r.get("where", ""), first["path"], first["message"],
                                    jsonio.dumps(problems, indent=None)])
            else:
                self._file.write(jsonio.dumps({"row": r["row"], "where": r.get("where", ""), "path": first["path"],
                                               "message": first["message"], "problems": problems}, indent=None) + "\n")
            self.rows += 1

    def close(self, ok: bool) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if ok:
            self.commit()
        else:
            self.discard()
