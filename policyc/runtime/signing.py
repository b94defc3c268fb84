"""Signed bundles, the verifying side: trusted keys, key ids, the signature file and the one canonical payload
that signing (`policyc.emit.signing`) and verification both use. Needs only `cryptography`. See docs/signing.md.

Trust comes from the keys the caller configures, never from the signature file: the file's key_id only picks
one of the trusted keys, its algorithm must be exactly "ed25519", and what is signed binds the key id, the
algorithm, the bundle's id, version and recomputed content sha256 and the content itself, under a domain prefix.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import SignatureError, TrustedKeyError, UnknownKeyError, UnsignedBundleError

SIG_FORMAT = "policyc-bundle-signature/1"
DOMAIN = b"policyc-bundle-signature/1\n"  # domain separation: these bytes sign policyc bundles and nothing else
ALGORITHM = "ed25519"
SIG_SUFFIX = ".sig"
SIGNATURE_BYTES = 64
MAX_SIG_FILE = 64 * 1024

_KEY_ID = re.compile(r"ed25519:[0-9a-f]{16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("format", "algorithm", "key_id", "bundle", "signed_at", "signature")
_BUNDLE_FIELDS = ("id", "version", "sha256")


# ── keys ─────────────────────────────────────────────────────────────────────────────────────────────────────
def key_id(public_key: Ed25519PublicKey) -> str:
    """A key's stable id: "ed25519:" and the first 16 hex digits of the sha256 of its 32 raw public-key bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(source) -> Ed25519PublicKey:
    """An ed25519 public key from a key object, PEM bytes, PEM text or the path of a PEM file."""
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), "（PEM 数据）"
    elif isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        data, label = source.encode("utf-8"), "（PEM 文本）"
    elif isinstance(source, (str, os.PathLike)):
        label = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as err:
            from .errtext import os_reason
            raise TrustedKeyError(f"无法读取可信公钥 {label}：{os_reason(err)}") from None
    else:
        raise TrustedKeyError(f"无法识别的可信公钥（{type(source).__name__}）：应为公钥文件路径、PEM 或 Ed25519PublicKey")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        hint = "：这是私钥，验证只需要公钥（.pub 文件）" if b"PRIVATE KEY" in data else ""
        raise TrustedKeyError(f"可信公钥 {label} 不是有效的 PEM 公钥{hint}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise TrustedKeyError(f"可信公钥 {label} 不是 ed25519 公钥（policyc 只接受 ed25519 签名）")
    return key


def trusted_keys(keys) -> dict[str, list[Ed25519PublicKey]]:
    """The configured keys by key id (one key, or a list of them, in any form `load_public_key` takes)."""
    if isinstance(keys, (str, bytes, bytearray, os.PathLike, Ed25519PublicKey)):
        keys = [keys]
    try:
        sources = list(keys)
    except TypeError:
        raise TrustedKeyError(f"可信公钥应为列表，而不是 {type(keys).__name__}") from None
    out: dict[str, list[Ed25519PublicKey]] = {}
    for source in sources:
        key = load_public_key(source)
        same = out.setdefault(key_id(key), [])
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if all(k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) != raw for k in same):
            same.append(key)
    return out


# ── what is signed ────────────────────────────────────────────────────────────────────────────────────────────
def signed_header(*, key_id: str, bundle_id: str, bundle_version: str, content_sha256: str, signed_at: str) -> dict:
    """Everything in a signature file but the signature: all of it is covered by the signature."""
    return {"format": SIG_FORMAT, "algorithm": ALGORITHM, "key_id": key_id,
            "bundle": {"id": bundle_id, "version": bundle_version, "sha256": content_sha256},
            "signed_at": signed_at}


def signing_payload(header: dict, content: bytes) -> bytes:
    """The bytes an ed25519 signature covers: DOMAIN, the header as canonical JSON on one line (sorted keys, no
    spaces; JSON escapes any newline in a string), a newline, then the bundle's canonical content
    (`bundle.canonical_content`, whose sha256 is the content hash)."""
    line = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return DOMAIN + line.encode("utf-8") + b"\n" + content


def signature_path(bundle_path) -> Path:
    """Where a bundle's detached signature lives by default: the bundle's path plus ".sig"."""
    return Path(f"{bundle_path}{SIG_SUFFIX}")


# ── the signature file ────────────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Signature:
    """A signature file whose shape and types have been checked (its claims are not yet trusted)."""

    key_id: str
    bundle_id: str
    bundle_version: str
    bundle_sha256: str
    signed_at: str
    signature: bytes


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"重复的字段 {_show(k)}")
        obj[k] = v
    return obj


def _no_constant(name):
    raise ValueError(f"不允许的数值 {name}")


def parse_signature(raw: bytes, where: str) -> Signature:
    """Check a signature file's shape strictly; `where` names it in the SignatureError's message."""
    def bad(reason: str) -> SignatureError:
        return SignatureError(f"{where} 无效：{reason}")

    if len(raw) > MAX_SIG_FILE:
        raise bad(f"签名文件超过 {MAX_SIG_FILE} 字节")
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise bad("签名文件不是 UTF-8 编码的文本") from None
    except (ValueError, RecursionError) as err:
        from .errtext import json_problem
        raise bad(f"签名文件不是有效的 JSON（{json_problem(err)}）") from None
    if not isinstance(doc, dict):
        raise bad("签名文件应为 JSON 对象")
    unknown = [k for k in doc if k not in _FIELDS]
    if unknown:
        raise bad(f"签名文件含有未知字段 {', '.join(_show(k) for k in unknown)}")
    missing = [k for k in _FIELDS if k not in doc]
    if missing:
        raise bad(f"签名文件缺少字段 {', '.join(missing)}")
    if doc["format"] != SIG_FORMAT or type(doc["format"]) is not str:
        raise bad(f"签名格式为 {_show(doc['format'])}，本运行时只支持 {SIG_FORMAT}")
    # The algorithm is fixed by the verifier, not chosen by the file: "none", "HS256", "EdDSA" and the like are
    # refused here, before any key is looked at.
    if type(doc["algorithm"]) is not str or doc["algorithm"] != ALGORITHM:
        raise bad(f"签名算法为 {_show(doc['algorithm'])}，只接受 {ALGORITHM}")
    kid = doc["key_id"]
    if type(kid) is not str or not _KEY_ID.fullmatch(kid):
        raise bad(f"key_id {_show(kid)} 格式不对（应为 ed25519: 加 16 位十六进制数字）")
    claimed = doc["bundle"]
    if type(claimed) is not dict or sorted(claimed) != sorted(_BUNDLE_FIELDS):
        raise bad("bundle 字段应为只含 id、version、sha256 的对象")
    if not all(type(claimed[k]) is str for k in _BUNDLE_FIELDS):
        raise bad("bundle 的 id、version、sha256 应为文字")
    if not _SHA256.fullmatch(claimed["sha256"]):
        raise bad(f"bundle.sha256 {_show(claimed['sha256'])} 不是 64 位小写十六进制数字")
    signed_at = doc["signed_at"]
    if type(signed_at) is not str or len(signed_at) > 64:
        raise bad("signed_at 应为不超过 64 个字符的时间文字")
    text = doc["signature"]
    if type(text) is not str:
        raise bad("signature 应为 base64 文字")
    try:
        sig = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise bad("signature 不是有效的 base64") from None
    if len(sig) != SIGNATURE_BYTES:
        raise bad(f"签名长度为 {len(sig)} 字节，ed25519 签名应为 {SIGNATURE_BYTES} 字节（签名被截断或删去）")
    return Signature(kid, claimed["id"], claimed["version"], claimed["sha256"], signed_at, sig)


def verify_signature(sig: Signature, bundle: dict, content: bytes, content_sha256: str,
                     trusted: dict[str, list[Ed25519PublicKey]], where: str) -> str:
    """The key id of the trusted key whose signature over this bundle `sig` carries; else SignatureError or
    UnknownKeyError. `content` and `content_sha256` must be recomputed from the bundle, never read from it."""
    # Only trusted keys can verify. The file's key_id selects among them and nothing else: a key id not
    # configured is refused, never looked up elsewhere or replaced by a key the file supplies. Since the key id
    # is also inside the signed bytes, relabelling a signature with another trusted key's id breaks it.
    candidates = trusted.get(sig.key_id)
    if not candidates:
        raise UnknownKeyError(f"{where} 由未知公钥 {sig.key_id} 签名，不在可信公钥之列"
                              f"（可信：{'、'.join(sorted(trusted)) or '无'}）：拒绝加载")
    manifest = bundle["manifest"]
    bundle_id, version = manifest.get("id"), manifest.get("version")
    if type(bundle_id) is not str or type(version) is not str:
        raise SignatureError(f"{where} 无法验证：规则包 manifest 的 id 或 version 不是文字")
    if (sig.bundle_id, sig.bundle_version, sig.bundle_sha256) != (bundle_id, version, content_sha256):
        raise SignatureError(f"{where} 属于另一个规则包（签名针对 {_show(sig.bundle_id)} {_show(sig.bundle_version)}、"
                             f"sha256 {sig.bundle_sha256}；本规则包为 {bundle_id} {version}、sha256 {content_sha256}）："
                             "规则包或签名已被替换或改动")
    header = signed_header(key_id=sig.key_id, bundle_id=bundle_id, bundle_version=version,
                           content_sha256=content_sha256, signed_at=sig.signed_at)
    payload = signing_payload(header, content)
    for key in candidates:
        try:
            key.verify(sig.signature, payload)
        except InvalidSignature:
            continue
        return sig.key_id
    raise SignatureError(f"{where} 与规则包内容不符：规则包或签名已被改动，或签名不是由 {sig.key_id} 做出")


def check_signature(path, bundle: dict, content: bytes, content_sha256: str,
                    trusted: dict[str, list[Ed25519PublicKey]], signature=None) -> str:
    """Read the bundle's signature (a path, its bytes, or by default the bundle path plus ".sig") and verify it;
    the signer's key id. Only called when keys are configured: then a missing signature is always refused."""
    if isinstance(signature, (bytes, bytearray)):
        raw, where = bytes(signature), f"规则包 {path} 的签名"
    else:
        sig_path = Path(signature) if signature is not None else signature_path(path)
        where = f"规则包 {path} 的签名 {sig_path}"
        try:
            with open(sig_path, "rb") as fh:
                raw = fh.read(MAX_SIG_FILE + 1)
        except FileNotFoundError:
            raise UnsignedBundleError(f"规则包 {path} 没有签名文件 {sig_path}：已配置可信公钥，拒绝加载未签名的规则包") from None
        except OSError as err:
            from .errtext import os_reason
            raise SignatureError(f"无法读取规则包 {path} 的签名 {sig_path}：{os_reason(err)}") from None
    return verify_signature(parse_signature(raw, where), bundle, content, content_sha256, trusted, where)
