"""open_log: a decision-log address (sqlite:…, postgresql://…, or a file path) opened as its backend."""
from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from .errors import DecisionLogError, redact
from .masking import mask_of
from .postgres import PostgresLog
from .sqlite import SQLiteLog
from .store import DecisionLog


def open_log(url: str | None, mask: list[str] | None = None, *, create: bool = True) -> DecisionLog | None:
    """The decision log at `url`, or None when `url` is None or empty (no logging).

    - `sqlite:///abs/path.db` (or `sqlite:relative/path.db`, or a plain file path): SQLite in WAL mode;
      `?synchronous=FULL` for durability against power loss too (default NORMAL: against process death).
    - `postgresql://user:password@host:port/db` or `postgres://…`: PostgreSQL; `?schema=NAME` puts the tables in that
      schema; any other query parameter goes to libpq (sslmode, connect_timeout, …).
    `mask`: path patterns of fields to mask in requests (None: DEFAULT_MASK; []: mask nothing). `create=False` (the
    query commands) refuses to create a log that is not there. Raises DecisionLogError."""
    if url is None or (isinstance(url, str) and not url.strip()):
        return None
    if not isinstance(url, str):
        raise DecisionLogError("L0001", f"决策日志地址 {url!r} 无效")
    url = url.strip()
    mask_obj = mask_of(mask)
    scheme = url.split(":", 1)[0].lower() if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) else ""
    if scheme in ("postgresql", "postgres"):
        conninfo, schema = _postgres_address(url)
        return PostgresLog(conninfo, mask_obj, schema=schema, create=create, url=url)
    path, sync = _sqlite_address(url, scheme)
    return SQLiteLog(path, mask_obj, create=create, synchronous=sync, url=url)


def _postgres_address(url: str) -> tuple[str, str | None]:
    """The libpq conninfo (the URL without `schema=`) and the schema named, if any."""
    parts = urlsplit(url)
    schema = None
    rest = []
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k == "schema":
            schema = v
        else:
            rest.append((k, v))
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def _sqlite_address(url: str, scheme: str) -> tuple[str, str]:
    """The file path and the synchronous mode of a sqlite: URL or a plain path."""
    if scheme == "sqlite":
        parts = urlsplit(url)
        if parts.netloc:
            raise DecisionLogError("L0001", f"决策日志地址 {url} 无效：SQLite 地址应为 sqlite:///绝对路径 或 "
                                            f"sqlite:相对路径")
        path = unquote(parts.path)
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
    elif scheme and len(scheme) > 1:
        raise DecisionLogError("L0001", f"不支持的决策日志地址 {redact(url)}：应为 sqlite:///路径、文件路径或 "
                                        f"postgresql://…")
    else:
        path, options = url, {}
    if not path:
        raise DecisionLogError("L0001", f"决策日志地址 {url} 缺少文件路径")
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise DecisionLogError("L0001", f"SQLite 决策日志不认识选项 {', '.join(sorted(unknown))}（可用：synchronous）")
    sync = options.get("synchronous", "NORMAL").upper()
    if sync not in ("NORMAL", "FULL", "EXTRA"):
        raise DecisionLogError("L0001", f"synchronous={options['synchronous']} 无效，应为 NORMAL、FULL 或 EXTRA")
    if os.path.isdir(path):
        raise DecisionLogError("L0001", f"决策日志路径 {path} 是目录，应为文件")
    return path, sync
