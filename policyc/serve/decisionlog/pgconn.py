"""Connections to PostgreSQL for the log: opening them, a small pool of idle ones, and their failures in words."""
from __future__ import annotations

import threading
from contextlib import suppress

from .errors import DecisionLogError, closed


def pg_reason(err) -> str:
    """A psycopg error as the first line of its text, explained where it is a common one."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    lowered = text.lower()
    if "password authentication failed" in lowered:
        return "用户名或密码错误"
    if "does not exist" in lowered and "database" in lowered:
        return f"数据库不存在：{text}"
    if "connection refused" in lowered or "could not connect" in lowered or "connection failed" in lowered:
        return f"连接被拒绝或无法连接（服务器是否在运行？）：{text}"
    if "timeout" in lowered:
        return f"连接超时：{text}"
    return text


class Pool:
    """Connections to one database, each used by one thread at a time: `acquire` an idle one (or a new one),
    `release` it after its transaction ended; a broken one, or one beyond `max_idle`, is closed. `where` names the
    database in messages. `pg` is the psycopg module (imported by the caller: psycopg is an optional install)."""

    def __init__(self, pg, conninfo: str, *, connect_timeout: int, where: str, max_idle: int):
        self._pg = pg
        self._conninfo = conninfo
        self._timeout = connect_timeout
        self.where = where
        self.max_idle = max_idle
        self._idle: list = []
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self):
        kwargs = {} if "connect_timeout" in self._conninfo else {"connect_timeout": self._timeout}
        try:
            return self._pg.connect(self._conninfo, autocommit=False, **kwargs)
        except self._pg.Error as err:
            raise DecisionLogError("L0002", f"无法连接决策日志数据库 {self.where}：{pg_reason(err)}") from None

    def check_open(self) -> None:
        with self._lock:
            if self._closed:
                raise closed(self.where)

    def acquire(self):
        with self._lock:
            if self._closed:
                raise closed(self.where)
            conn = self._idle.pop() if self._idle else None
        if conn is not None and not conn.closed:
            return conn
        return self._connect()

    def release(self, conn, broken: bool = False) -> None:
        if broken or conn.closed or conn.info.transaction_status != self._pg.pq.TransactionStatus.IDLE:
            with suppress(Exception):
                conn.close()
            return
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(Exception):
                conn.close()
