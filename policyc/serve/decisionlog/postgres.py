"""PostgresLog: the decision log in PostgreSQL tables (optionally in a schema of their own), through psycopg 3."""
from __future__ import annotations

import datetime as _dt
import re
import secrets

from .errors import DecisionLogError, redact
from .masking import mask_of
from .pgconn import Pool, pg_reason
from .sql import Statements
from .store import SCHEMA_VERSION, DecisionLog, unstored

_RETRY = object()  # the connection broke: try once more on a fresh one (every call here may be repeated)


def _schema(p: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {p}policyc_log_meta (key text PRIMARY KEY, value text NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS {p}decisions (
              decision_id text COLLATE "C" PRIMARY KEY,
              time timestamptz NOT NULL,
              locality text,
              date text,
              bundle_id text,
              bundle_version text,
              bundle_sha256 text,
              request_sha256 text NOT NULL,
              entry text NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS decisions_time ON {p}decisions (time, decision_id)",
        f"CREATE INDEX IF NOT EXISTS decisions_locality_time ON {p}decisions (locality, time, decision_id)",
        f"CREATE INDEX IF NOT EXISTS decisions_request ON {p}decisions (request_sha256)",
        f"""CREATE TABLE IF NOT EXISTS {p}decision_programs (
              program text NOT NULL,
              time timestamptz NOT NULL,
              decision_id text COLLATE "C" NOT NULL REFERENCES {p}decisions (decision_id) ON DELETE CASCADE,
              eligible boolean,
              PRIMARY KEY (program, time, decision_id))""",
        f"CREATE INDEX IF NOT EXISTS decision_programs_id ON {p}decision_programs (decision_id)",
    ]


class PostgresLog(DecisionLog):
    """PostgreSQL through psycopg 3: a small pool of connections (each used by one thread at a time). Times are
    timestamptz (µs, like the entry's own UTC text), so both backends order and filter identically; the entry is
    exact JSON text (a jsonb column would normalise numbers: cast `entry::jsonb` in ad-hoc SQL). `?schema=NAME` in
    the URL keeps the tables in that schema (created if missing)."""

    MAX_IDLE = 4
    _reason = staticmethod(pg_reason)

    @staticmethod
    def _param_time(text: str) -> _dt.datetime:
        return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)

    @staticmethod
    def _param_eligible(eligible):
        return eligible

    def __init__(self, conninfo: str, mask=None, *, schema: str | None = None, create: bool = True,
                 url: str | None = None, connect_timeout: int = 10):
        try:
            import psycopg
        except ImportError:
            raise DecisionLogError("L0002", "要使用 PostgreSQL 决策日志，请安装 psycopg：pip install 'policyc[postgres]'"
                                   ) from None
        self._pg = psycopg
        self.url = url or conninfo
        self._where = redact(self.url)
        self.mask = mask_of(mask)
        self._schema = schema
        if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
            raise DecisionLogError("L0001", f"模式名 {schema!r} 无效：只能用字母、数字和下划线")
        self._p = f'"{schema}".' if schema else ""
        self._sql = Statements("%s", self._p)
        self._pool = Pool(psycopg, conninfo, connect_timeout=connect_timeout, where=self._where,
                          max_idle=self.MAX_IDLE)
        conn = self._pool.acquire()
        try:
            self._prepare(conn, create)
        except BaseException:
            self._pool.release(conn, broken=True)
            raise
        self._pool.release(conn)

    def _prepare(self, conn, create: bool) -> None:
        p, pg = self._p, self._pg
        try:
            with conn.cursor() as cur:
                exists = cur.execute("SELECT to_regclass(%s)", (f"{p}policyc_log_meta",)).fetchone()[0]
            conn.commit()
            if exists is None:
                if not create:
                    raise DecisionLogError("L0003", f"数据库 {self._where} 中没有决策日志的表")
                with conn.cursor() as cur:
                    # one creator at a time: concurrent CREATE TABLE IF NOT EXISTS can still clash in the catalogue
                    cur.execute("SELECT pg_advisory_xact_lock(7261534829)")
                    if self._schema:
                        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                    for stmt in _schema(p):
                        cur.execute(stmt)
                    cur.execute(f"INSERT INTO {p}policyc_log_meta (key, value) VALUES ('schema_version', %s)"
                                f" ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
                conn.commit()
            with conn.cursor() as cur:
                row = cur.execute(self._sql.version).fetchone()
            conn.commit()
            self._check_version(row[0] if row else None)
        except pg.Error as err:
            raise DecisionLogError("L0002", f"无法准备决策日志 {self._where}：{pg_reason(err)}") from None

    def _attempt(self, conn, work, code: str, doing: str, last: bool):
        """work(conn) on a connection from the pool, which gets it back (closed if anything failed). _RETRY if the
        connection broke and this was not the `last` attempt; a psycopg error as DecisionLogError(code)."""
        pg = self._pg
        try:
            result = work(conn)
        except pg.OperationalError as err:  # the connection broke
            self._pool.release(conn, broken=True)
            if last:
                raise self._failed(code, doing, err) from None
            return _RETRY
        except pg.Error as err:
            self._pool.release(conn, broken=True)
            raise self._failed(code, doing, err) from None
        except BaseException:
            self._pool.release(conn, broken=True)
            raise
        self._pool.release(conn)
        return result

    def _record(self, rows) -> None:
        for attempt in (1, 2):
            try:
                conn = self._pool.acquire()
            except DecisionLogError as err:
                raise DecisionLogError("L0004", f"写入决策日志失败：{err}") from None
            existing = self._attempt(conn, lambda c: self._insert(c, rows), "L0004", "写入", last=attempt == 2)
            if existing is _RETRY:
                continue
            if existing is None:
                return
            rows = unstored(rows, existing)
            if not rows:
                return
        raise DecisionLogError("L0004", f"写入决策日志 {self._where} 失败")

    def _insert(self, conn, rows) -> dict | None:
        """Insert and commit the rows: None; or, if some id is there already, {id: entry} of those stored."""
        try:
            with conn.cursor() as cur:
                cur.executemany(self._sql.insert, self._decision_values(rows))
                progs = self._program_values(rows)
                if progs:
                    cur.executemany(self._sql.insert_programs, progs)
            conn.commit()
            return None
        except self._pg.errors.UniqueViolation:
            conn.rollback()
            with conn.cursor() as cur:
                found = cur.execute(f"SELECT decision_id, entry FROM {self._p}decisions WHERE decision_id = ANY(%s)",
                                    ([r.decision_id for r in rows],)).fetchall()
            conn.commit()
            return dict(found)

    def _fetch_one(self, sql, params):
        def work(conn):
            with conn.cursor() as cur:
                row = cur.execute(sql, params).fetchone()
            conn.commit()
            return row
        for attempt in (1, 2):
            row = self._attempt(self._pool.acquire(), work, "L0002", "读取", last=attempt == 2)
            if row is not _RETRY:
                return row

    def _check_open(self) -> None:
        self._pool.check_open()

    def _stream(self, sql, params):
        pg = self._pg
        conn = self._pool.acquire()
        broken = True
        try:
            # a server-side cursor streams a long export without holding it all in memory
            with conn.cursor(name=f"policyc_log_{secrets.token_hex(4)}") as cur:
                cur.itersize = 256
                cur.execute(sql, params)
                for (text,) in cur:
                    yield text
            conn.commit()
            broken = False
        except pg.Error as err:
            raise self._failed("L0002", "读取", err) from None
        finally:
            self._pool.release(conn, broken=broken)

    def close(self) -> None:
        self._pool.close()
