"""SQLiteLog: the decision log in one SQLite file (WAL mode), which several worker processes may share."""
from __future__ import annotations

import os
import sqlite3
import threading
import time as _time
from contextlib import suppress
from pathlib import Path

from .errors import DecisionLogError, closed
from .masking import mask_of
from .sql import Statements
from .store import SCHEMA_VERSION, DecisionLog, unstored

_SCHEMA = """
CREATE TABLE IF NOT EXISTS policyc_log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
  decision_id TEXT PRIMARY KEY,
  time TEXT NOT NULL,
  locality TEXT,
  date TEXT,
  bundle_id TEXT,
  bundle_version TEXT,
  bundle_sha256 TEXT,
  request_sha256 TEXT NOT NULL,
  entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time, decision_id);
CREATE INDEX IF NOT EXISTS decisions_locality_time ON decisions (locality, time, decision_id);
CREATE INDEX IF NOT EXISTS decisions_request ON decisions (request_sha256);
CREATE TABLE IF NOT EXISTS decision_programs (
  program TEXT NOT NULL,
  time TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  eligible INTEGER,
  PRIMARY KEY (program, time, decision_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS decision_programs_id ON decision_programs (decision_id);
CREATE TRIGGER IF NOT EXISTS decisions_delete_programs AFTER DELETE ON decisions BEGIN
  DELETE FROM decision_programs WHERE decision_id = OLD.decision_id;
END;
"""

_KNOWN_REASONS = {"database is locked": "数据库被其他进程长时间锁定", "disk I/O error": "磁盘读写错误",
                  "database or disk is full": "磁盘已满", "file is not a database": "该文件不是 SQLite 数据库",
                  "unable to open database file": "无法打开该文件（检查路径和权限）",
                  "attempt to write a readonly database": "文件只读，无法写入"}


def _reason(err) -> str:
    text = str(err)
    for k, v in _KNOWN_REASONS.items():
        if k in text:
            return v
    return text


def _split_sql(script: str) -> list[str]:
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER") or joined.endswith("END;")):
            out.append(joined)
            buf = []
    return out


class SQLiteLog(DecisionLog):
    """One file in WAL mode, synchronous=NORMAL by default (a committed entry survives the process being killed;
    `?synchronous=FULL` also survives power loss). Several processes may write the same file: writers take the
    lock with BEGIN IMMEDIATE and wait up to `busy_timeout` ms for it."""

    _sql = Statements("?")
    _reason = staticmethod(_reason)

    @staticmethod
    def _param_time(text: str) -> str:
        return text  # stored as the fixed-width UTC text, whose order is time order

    @staticmethod
    def _param_eligible(eligible):
        return None if eligible is None else int(eligible)

    def __init__(self, path: str, mask=None, *, create: bool = True, synchronous: str = "NORMAL",
                 busy_timeout: int = 30000, url: str | None = None):
        self.path = self._where = str(Path(path).expanduser().absolute())
        self.url = url or f"sqlite://{self.path}"
        self.mask = mask_of(mask)
        self._sync = synchronous
        self._busy = busy_timeout
        self._lock = threading.Lock()
        if not create and not os.path.isfile(self.path):
            raise DecisionLogError("L0002", f"决策日志文件 {self.path} 不存在")
        parent = os.path.dirname(self.path)
        if create and not os.path.isdir(parent):
            raise DecisionLogError("L0002", f"无法创建决策日志 {self.path}：目录 {parent} 不存在")
        try:
            self._conn = self._connect()
            self._prepare(create)
        except sqlite3.DatabaseError as err:
            self._close_quietly()
            raise self._cannot_open(err) from None
        except DecisionLogError:
            self._close_quietly()
            raise

    def _cannot_open(self, err) -> DecisionLogError:
        return DecisionLogError("L0002", f"无法打开决策日志 {self.path}：{_reason(err)}")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy)}")
        return conn

    def _prepare(self, create: bool) -> None:
        c = self._conn
        if create:  # entries are ~20 KB of JSON: larger pages, shorter overflow chains (a no-op on an existing file)
            c.execute("PRAGMA page_size = 16384")
        mode = c.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            if not create and not self._has_tables(c):
                raise DecisionLogError("L0003", f"{self.path} 不是决策日志")
            for _ in range(50):  # switching to WAL needs a moment alone with the file
                try:
                    mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as err:
                    if "locked" not in str(err) and "busy" not in str(err):
                        raise
                    _time.sleep(0.05)
            if str(mode).lower() != "wal":
                raise DecisionLogError("L0002", f"决策日志 {self.path} 无法使用 WAL 模式（{mode}）")
        c.execute(f"PRAGMA synchronous = {self._sync}")
        if self._has_tables(c):
            self._read_version(c)
            return
        if not create:
            raise DecisionLogError("L0003", f"{self.path} 不是决策日志（没有决策日志的表）")
        c.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _split_sql(_SCHEMA):
                c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO policyc_log_meta (key, value) VALUES ('schema_version', ?)",
                      (str(SCHEMA_VERSION),))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._read_version(c)

    @staticmethod
    def _has_tables(c) -> bool:
        return c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'policyc_log_meta'"
                         ).fetchone() is not None

    def _read_version(self, c) -> None:
        row = c.execute(self._sql.version).fetchone()
        self._check_version(row[0] if row else None)

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with suppress(Exception):
                conn.close()
            self._conn = None

    def _record(self, rows) -> None:
        with self._lock:
            c = self._require()
            try:
                try:
                    self._insert(c, rows)
                except sqlite3.IntegrityError:  # rolled back: which of the rows were stored before?
                    existing = {}
                    for r in rows:
                        found = c.execute(self._sql.get, (r.decision_id,)).fetchone()
                        if found:
                            existing[r.decision_id] = found[0]
                    missing = unstored(rows, existing)
                    if missing:  # some were stored before, the rest not: store the rest
                        self._insert(c, missing)
            except sqlite3.DatabaseError as err:
                if c.in_transaction:  # a failed COMMIT (busy) leaves the transaction open
                    try:
                        c.execute("ROLLBACK")
                    except sqlite3.DatabaseError:
                        pass
                raise self._failed("L0004", "写入", err) from None

    def _insert(self, c, rows) -> None:
        """The rows in one transaction of their own, rolled back if any insert fails."""
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany(self._sql.insert, self._decision_values(rows))
            c.executemany(self._sql.insert_programs, self._program_values(rows))
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise closed(self.path)
        return self._conn

    def _check_open(self) -> None:
        self._require()

    def _fetch_one(self, sql, params):
        with self._lock:
            try:
                return self._require().execute(sql, params).fetchone()
            except sqlite3.DatabaseError as err:
                raise self._failed("L0002", "读取", err) from None

    def _stream(self, sql, params):
        # a connection of its own: a long export reads a snapshot and never holds up the writers (WAL)
        try:
            conn = self._connect()
        except sqlite3.DatabaseError as err:
            raise self._cannot_open(err) from None
        try:
            conn.execute("BEGIN")
            cur = conn.execute(sql, params)
            while True:
                rows = cur.fetchmany(256)
                if not rows:
                    break
                for (text,) in rows:
                    yield text
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as err:
            raise self._failed("L0002", "读取", err) from None
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._close_quietly()
