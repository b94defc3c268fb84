"""Request bodies: read within the size limit while they stream in, parsed with exact numbers, checked for size
before any evaluation, and the bundle a request asks for."""
from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import Request

from policyc.runtime import jsonio
from policyc.runtime.errtext import json_problem

from .problems import Problem


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it is known to exceed `limit` bytes: from Content-Length before
    reading anything, else while the chunks arrive, so an oversized body is never held in memory or parsed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise Problem("S0112", [("Content-Length", f"“{declared[:40]}”不是字节数")]) from None
        if size > limit:
            raise Problem("S0104", [("$", f"请求体有 {size} 字节，上限为 {limit} 字节")])
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem("S0104", [("$", f"请求体超过上限 {limit} 字节")])
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes | str, path: str = "$"):
    """Strict UTF-8, then JSON with Decimal numbers (policyc.runtime.jsonio); Problems S0101–S0103 otherwise."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise Problem("S0102", [(path, f"第 {err.start} 个字节起不是有效的 UTF-8")]) from None
    try:
        return jsonio.loads(raw)
    except json.JSONDecodeError as err:
        raise Problem("S0101", [(path, json_problem(err))]) from None
    except RecursionError:
        raise Problem("S0103", [(path, "JSON 嵌套层数过多")]) from None
    except ValueError as err:  # NaN/Infinity (jsonio) or an integer too long to convert
        raise Problem("S0101", [(path, str(err)[:200])]) from None


def check_members(request, limit: int, path: str = "$") -> None:
    """Refuses (413) a household with more members than the service allows, before it is evaluated."""
    household = request.get("household") if isinstance(request, dict) else None
    members = household.get("members") if isinstance(household, dict) else None
    if isinstance(members, list) and len(members) > limit:
        raise Problem("S0105", [(f"{path}.household.members", f"最多 {limit} 名成员，实际为 {len(members)} 名")])


@dataclass(frozen=True)
class Selector:
    """Which loaded bundle a request asks for: an id, optionally a version and a content sha256."""

    id: str
    version: str | None = None
    sha256: str | None = None

    def __str__(self) -> str:
        return self.id if self.version is None else f"{self.id}@{self.version}"


def parse_selector(value, path: str) -> Selector:
    """"id@version", "id" (its newest loaded version), or an object {"id", "version", "sha256"?} such as a
    decision's own `bundle` field."""
    if isinstance(value, str) and value.strip():
        ident, _, version = value.strip().partition("@")
        if ident and (version or "@" not in value):
            return Selector(ident, version or None)
    elif isinstance(value, dict) and isinstance(value.get("id"), str) and set(value) <= {"id", "version", "sha256"} \
            and all(isinstance(v, str) for v in value.values()):
        return Selector(value["id"], value.get("version"), value.get("sha256"))
    raise Problem("S0109", [(path, "规则包应写为“id@version”、“id”或 {\"id\", \"version\"} 对象")])


def take_selector(request, selector: Selector | None, path: str = "$", strict: bool = True):
    """The request without its `bundle` field, and the bundle it selects: that field, or ?bundle= (`selector`).
    strict (a single request): both may be given only if they agree (the more specific one is used); otherwise
    (a batch item) ?bundle= is the default that the item's own field replaces."""
    if isinstance(request, dict) and "bundle" in request:
        request = dict(request)
        own = parse_selector(request.pop("bundle"), f"{path}.bundle")
        if strict and selector is not None and (own.id != selector.id or None not in (own.version, selector.version)
                                     and own.version != selector.version):
            raise Problem("S0109", [(f"{path}.bundle", f"与查询参数 bundle={selector} 不一致")])
        if not strict or selector is None or own.version is not None:
            selector = own
    return request, selector
