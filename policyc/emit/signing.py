"""Signed bundles, the private-key side: `policyc keygen` and `policyc sign` (docs/signing.md).

What is signed is defined once, in `policyc.runtime.signing` (`signed_header`, `signing_payload`), and every
signature written here is read back and verified through the runtime's own code before it is written.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import stat
import tempfile
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..runtime import atomic, jsonio
from ..runtime.bundle import read_verified
from ..runtime.errors import BundleError
from ..runtime.errtext import os_reason
from ..runtime.signing import (key_id, parse_signature, signature_path, signed_header, signing_payload,
                               verify_signature)


class SigningError(Exception):
    """A key or bundle that cannot be used for signing; the message is Chinese and names the file."""


def public_key_path(private_path) -> Path:
    return Path(f"{private_path}.pub")


def generate_key(path, *, force: bool = False) -> str:
    """Write a new ed25519 key pair: the private key (PKCS8 PEM, unencrypted, mode 0600) at `path` and the
    public key (SubjectPublicKeyInfo PEM) at `path`.pub. Refuses to replace either file unless `force`.
    Returns the key id."""
    path = Path(path)
    pub = public_key_path(path)
    for p in (path, pub):
        if p.is_dir():
            raise SigningError(f"{p} 是目录，不能写入密钥")
        if not force and (p.exists() or p.is_symlink()):
            raise SigningError(f"{p} 已存在：不会覆盖（旧密钥将无法恢复）；确要覆盖请加 --force")
    try:  # a new folder for keys is readable by its owner only
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise SigningError(f"无法创建目录 {path.parent}：{os_reason(err)}") from None
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    write_atomically({path: (private_pem, 0o600), pub: (public_pem, 0o644)})
    return key_id(key.public_key())


def load_private_key(path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise SigningError(f"无法读取私钥 {path}：{os_reason(err)}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningError(f"私钥 {path} 已加密：policyc 只使用未加密的 PKCS8 私钥（由 policyc keygen 生成）") from None
    except (ValueError, UnsupportedAlgorithm):
        hint = "：这是公钥，签名需要私钥（不是 .pub 文件）" if b"PUBLIC KEY" in data else ""
        raise SigningError(f"私钥 {path} 不是有效的 PEM 私钥{hint}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"私钥 {path} 不是 ed25519 私钥（policyc 只用 ed25519 签名）")
    return key


def loose_permissions(path) -> bool:
    """Whether a private key file can be read by its group or by others (POSIX only)."""
    try:
        return os.name == "posix" and bool(os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def sign_bundle(key_path, bundle_path, out=None, *, now: dt.datetime | None = None) -> tuple[Path, dict]:
    """Sign a bundle file with the private key at `key_path`; write the detached signature (default
    `bundle_path`.sig) atomically. Returns its path and content. Refuses a bundle whose manifest sha256 does
    not match its content: the signed hash is always recomputed."""
    key = load_private_key(key_path)
    try:
        verified = read_verified(bundle_path)
    except BundleError as err:
        raise SigningError(f"拒绝签名：{err}") from None
    manifest = verified.bundle["manifest"]
    if type(manifest.get("id")) is not str or type(manifest.get("version")) is not str:
        raise SigningError(f"拒绝签名：规则包 {bundle_path} 的 manifest 缺少文字的 id 或 version")
    when = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(microsecond=0)
    kid = key_id(key.public_key())
    header = signed_header(key_id=kid, bundle_id=manifest["id"], bundle_version=manifest["version"],
                           content_sha256=verified.sha256, signed_at=when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    signature = key.sign(signing_payload(header, verified.content))
    doc = dict(header, signature=base64.b64encode(signature).decode("ascii"))
    text = (jsonio.dumps(doc, indent=2) + "\n").encode("utf-8")
    # read back exactly what will be written, through the runtime's parser and verifier
    where = f"规则包 {bundle_path} 的新签名"
    verify_signature(parse_signature(text, where), verified.bundle, verified.content, verified.sha256,
                     {kid: [key.public_key()]}, where)
    out_path = Path(out) if out is not None else signature_path(bundle_path)
    write_atomically({out_path: (text, 0o644)})
    return out_path, doc


def write_atomically(files: dict[Path, tuple[bytes, int]]) -> None:
    """Write each file to a temporary neighbour with its final mode, fsync it, then move all into place."""
    staged: list[tuple[str, Path]] = []
    current = None
    try:
        for path, (content, mode) in files.items():
            current = path
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                if hasattr(os, "fchmod"):
                    os.fchmod(fh.fileno(), mode)
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, path in staged:
            current = path
            atomic.replace(tmp, path)
    except OSError as err:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise SigningError(f"无法写入 {current}：{os_reason(err)}") from None
    except BaseException:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    for directory in {path.parent for path in files}:
        _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
