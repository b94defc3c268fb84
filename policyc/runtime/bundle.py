"""Reads a compiled bundle and proves it is intact: format version and sha256 of its content; optionally that it
is the pinned content (`sha256=`) and that a trusted key signed it (`keys=`, see `signing` and docs/signing.md)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from . import jsonio
from .errors import BundleError, PinMismatchError, UnknownKeyError

BUNDLE_FORMAT = 1

_SHA256 = re.compile(r"[0-9a-f]{64}")


def canonical_content(bundle: dict) -> bytes:
    """The canonical JSON of everything but the hash itself: what the sha256 and a signature cover."""
    manifest = {k: v for k, v in bundle["manifest"].items() if k != "sha256"}
    body = dict(bundle, manifest=manifest)
    return jsonio.dumps(body, indent=None, sort_keys=True).encode("utf-8")


def content_hash(bundle: dict) -> str:
    """sha256 of the canonical JSON of everything but the hash itself."""
    return hashlib.sha256(canonical_content(bundle)).hexdigest()


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle read and checked by `read_verified`."""

    bundle: dict
    content: bytes  # canonical_content(bundle)
    sha256: str  # recomputed from content, never taken from the manifest
    signer: str | None  # key id of the trusted key that verified the signature; None when no keys were given


def read_bundle(path: str | Path, *, keys=None, sha256: str | None = None, signature=None) -> dict:
    """Read and check a bundle file; see `read_verified` for what keys=, sha256= and signature= require."""
    return read_verified(path, keys=keys, sha256=sha256, signature=signature).bundle


def read_verified(path: str | Path, *, keys=None, sha256: str | None = None, signature=None) -> VerifiedBundle:
    """Read a bundle file and refuse it (BundleError) unless it is intact and, when asked, pinned and signed.

    keys: None checks no signature (an unsigned bundle loads, as before). Anything else (one key or a list of
      public-key file paths, PEM bytes or text, Ed25519PublicKey objects) requires a valid ed25519 signature by
      one of those keys, even an empty list: asking for verification and configuring no key refuses every bundle.
    sha256: the content hash the bundle must have (recomputed from its content, never read from its manifest).
    signature: the detached signature file (path, or its bytes); default the bundle path plus ".sig".
    """
    pin = _pin(sha256) if sha256 is not None else None
    trusted = None
    if keys is not None:
        from .signing import trusted_keys  # cryptography is imported only when signatures are checked
        trusted = trusted_keys(keys)
        if not trusted:
            # Whether a signature is required depends only on keys= being given, never on what the bundle or
            # its .sig supply (the lesson of OPA's GHSA-g2pf-6v5v-qcc8: there, a signing block without a keyid
            # skipped verification, so a stripped bundle loaded). No key configured fails closed.
            raise UnknownKeyError(f"要求验证规则包 {path} 的签名，但没有配置任何可信公钥：拒绝加载")
    elif signature is not None:
        raise ValueError("signature= 只有与 keys=（可信公钥）一起才能验证")
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        from .errtext import os_reason
        raise BundleError(f"无法读取规则包 {path}：{os_reason(err)}") from None
    try:
        bundle = jsonio.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        from .errtext import json_problem
        raise BundleError(f"规则包 {path} 不是有效的 JSON：{json_problem(err)}") from None
    except RecursionError:
        raise BundleError(f"规则包 {path} 的 JSON 嵌套过深") from None
    content, actual = _checked_content(bundle, str(path))
    if pin is not None and actual != pin:
        raise PinMismatchError(f"规则包 {path} 的内容 sha256 与固定值不符（要求 {pin}，实际为 {actual}）：拒绝加载")
    signer = None
    if trusted is not None:
        from .signing import check_signature
        signer = check_signature(path, bundle, content, actual, trusted, signature)
    return VerifiedBundle(bundle, content, actual, signer)


def _pin(value) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    text = text[len("sha256:"):] if text.startswith("sha256:") else text
    if not _SHA256.fullmatch(text):
        raise ValueError(f"固定的 sha256 应为 64 位十六进制数字，而不是 {str(value)[:80]!r}")
    return text


def verify(bundle, where: str = "规则包") -> None:
    _checked_content(bundle, where)


def _checked_content(bundle, where: str) -> tuple[bytes, str]:
    """The bundle's canonical content and its sha256, after checking the format and the manifest's sha256."""
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
        content = canonical_content(bundle)
    except (TypeError, ValueError) as err:
        raise BundleError(f"{where} 的内容无法校验：{err}") from None
    actual = hashlib.sha256(content).hexdigest()
    if expected != actual:
        raise BundleError(f"{where} 的内容与其 sha256 不符（记录为 {expected}，实际为 {actual}）：规则包已被改动或损坏")
    return content, actual
