"""Reads a compiled bundle and proves it is intact: format version and sha256 of its content."""
from __future__ import annotations

import hashlib
from pathlib import Path

from . import jsonio
from .errors import BundleError

BUNDLE_FORMAT = 1


def content_hash(bundle: dict) -> str:
    """sha256 of the canonical JSON of everything but the hash itself."""
    manifest = {k: v for k, v in bundle["manifest"].items() if k != "sha256"}
    body = dict(bundle, manifest=manifest)
    return hashlib.sha256(jsonio.dumps(body, indent=None, sort_keys=True).encode("utf-8")).hexdigest()


def read_bundle(path: str | Path) -> dict:
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise BundleError(f"无法读取规则包 {path}：{err.strerror or err}") from None
    try:
        bundle = jsonio.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise BundleError(f"规则包 {path} 不是有效的 JSON：{err}") from None
    verify(bundle, str(path))
    return bundle


def verify(bundle, where: str = "规则包") -> None:
    if not isinstance(bundle, dict) or not isinstance(bundle.get("manifest"), dict):
        raise BundleError(f"{where} 缺少 manifest")
    fmt = bundle["manifest"].get("format")
    if fmt != BUNDLE_FORMAT:
        raise BundleError(f"{where} 的格式版本为 {fmt!r}，本运行时只支持 {BUNDLE_FORMAT}")
    for key in ("jurisdictions", "parameters", "ir", "articles"):
        if key not in bundle:
            raise BundleError(f"{where} 缺少 {key}")
    expected = bundle["manifest"].get("sha256")
    try:
        actual = content_hash(bundle)
    except (TypeError, ValueError) as err:
        raise BundleError(f"{where} 的内容无法校验：{err}") from None
    if expected != actual:
        raise BundleError(f"{where} 的内容与其 sha256 不符（记录为 {expected}，实际为 {actual}）：规则包已被改动或损坏")
