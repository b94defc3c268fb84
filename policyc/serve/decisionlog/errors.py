"""DecisionLogError, the decision log's one exception, and how its messages name a log (without a password)."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class DecisionLogError(Exception):
    """A decision-log problem a person can act on; the message is Chinese, `code` is stable:
    L0001 bad address or option, L0002 cannot open or connect, L0003 not a decision log or a newer schema,
    L0004 writing failed, L0005 bad entry or filter."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def closed(where: str) -> DecisionLogError:
    """The error for using a log after close()."""
    return DecisionLogError("L0002", f"决策日志 {where} 已关闭")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(地址)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))
