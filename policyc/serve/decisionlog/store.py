"""DecisionLog, the base of both backends: checks entries and filters, and runs record/get/count/query on them."""
from __future__ import annotations

import datetime as _dt
from typing import Iterator

from ...runtime import jsonio
from .entry import make_entry
from .errors import DecisionLogError
from .masking import Mask
from .rows import Row, to_row
from .sql import Statements
from .times import time_text, utc

SCHEMA_VERSION = 1


class DecisionLog:
    """Base of the backends. Thread-safe: record, get and query may be called from any thread.

    A backend sets `url`, `mask`, `_sql` (its Statements) and `_where` (the log's name in messages), says how its
    driver takes a row's time and eligibility (`_param_time`, `_param_eligible`) and why a call failed
    (`_reason`), and implements `_record`, `_fetch_one`, `_stream`, `_check_open` and `close`."""

    url: str
    mask: Mask
    _sql: Statements
    _where: str

    def make_entry(self, *, decision_id: str, request: dict, decision, bundle: dict,
                   time: _dt.datetime | None = None) -> dict:
        """An entry masked with this log's mask."""
        return make_entry(decision_id=decision_id, request=request, decision=decision, bundle=bundle,
                          mask=self.mask, time=time)

    def record(self, entries: list[dict]) -> None:
        """Store the entries in one transaction; returns only after it is committed. Recording an entry again with
        the same id and the same content is a no-op (a retry); with other content it is an error (L0004)."""
        try:
            rows = [to_row(e) for e in entries]
        except (TypeError, ValueError, RecursionError) as err:
            raise DecisionLogError("L0005", f"决策日志条目无法写成 JSON：{err}") from None
        if rows:
            _refuse_repeated_ids(rows)
            self._record(rows)

    def get(self, decision_id: str) -> dict | None:
        text = self.get_json(decision_id)
        return None if text is None else jsonio.loads(text)

    def query(self, since=None, locality: str | None = None, program: str | None = None,
              limit: int | None = None, until=None) -> Iterator[dict]:
        """Entries in time order (then id), filtered; `since` inclusive, `until` exclusive (datetime, date or ISO
        text; naive means UTC)."""
        for text in self.query_json(since=since, locality=locality, program=program, limit=limit, until=until):
            yield jsonio.loads(text)

    def query_json(self, since=None, locality=None, program=None, limit=None, until=None) -> Iterator[str]:
        """As `query`, each entry as the exact JSON text stored (one line, no newline)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise DecisionLogError("L0005", f"条数上限 {limit!r} 无效，应为非负整数")
        since, until = (None if m is None else self._param_time(time_text(utc(m))) for m in (since, until))
        sql, params = self._sql.select(since, until, locality, program, limit)
        self._check_open()
        return self._stream(sql, params)

    def get_json(self, decision_id: str) -> str | None:
        if not isinstance(decision_id, str) or not decision_id:
            return None
        row = self._fetch_one(self._sql.get, (decision_id,))
        return row[0] if row else None

    def count(self) -> int:
        return self._fetch_one(self._sql.count, ())[0]

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # shared by the backends
    def _decision_values(self, rows: list[Row]) -> list[tuple]:
        return [r.table_values(self._param_time) for r in rows]

    def _program_values(self, rows: list[Row]) -> list[tuple]:
        return [v for r in rows for v in r.program_values(self._param_time, self._param_eligible)]

    def _failed(self, code: str, doing: str, err) -> DecisionLogError:
        """`doing` (写入, 读取) this log failed with the driver's error `err`."""
        return DecisionLogError(code, f"{doing}决策日志 {self._where} 失败：{self._reason(err)}")

    def _check_version(self, found) -> None:
        """`found`: the schema_version stored in the log (None if absent)."""
        if found is None:
            raise DecisionLogError("L0003", f"{self._where} 的决策日志缺少结构版本")
        try:
            version = int(found)
        except ValueError:
            raise DecisionLogError("L0003", f"{self._where} 的决策日志结构版本 {found!r} 无法识别") from None
        if version > SCHEMA_VERSION:
            raise DecisionLogError("L0003", f"{self._where} 的决策日志结构版本为 {version}，本程序只支持到 "
                                            f"{SCHEMA_VERSION}：请升级 policyc")

    # backends implement these
    @staticmethod
    def _param_time(text: str):
        """A row's time text as the driver stores it."""
        raise NotImplementedError

    @staticmethod
    def _param_eligible(eligible: bool | None):
        """A program's eligibility (True, False, None) as the driver stores it."""
        raise NotImplementedError

    @staticmethod
    def _reason(err) -> str:
        """The driver's error in words for a message."""
        raise NotImplementedError

    def _record(self, rows: list[Row]) -> None: raise NotImplementedError
    def _fetch_one(self, sql: str, params: tuple) -> tuple | None: raise NotImplementedError
    def _stream(self, sql: str, params: list) -> Iterator[str]: raise NotImplementedError
    def _check_open(self) -> None: raise NotImplementedError


def _refuse_repeated_ids(rows: list[Row]) -> None:
    seen = set()
    for r in rows:
        if r.decision_id in seen:
            raise DecisionLogError("L0004", f"同一批中决策编号 {r.decision_id} 出现了两次，本批未写入")
        seen.add(r.decision_id)


def unstored(rows: list[Row], existing: dict[str, str]) -> list[Row]:
    """After a unique violation, given the entry text already stored under some of the rows' ids: the rows still
    to write. Fine if those stored are stored with the same text (a retried batch); an error otherwise."""
    clash = [r.decision_id for r in rows if r.decision_id in existing and existing[r.decision_id] != r.entry]
    if clash:
        raise DecisionLogError("L0004", f"决策编号 {clash[0]} 已记录过不同的内容，本批未写入")
    return [r for r in rows if r.decision_id not in existing]
