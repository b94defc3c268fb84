"""`policyc keygen`, `sign` and `verify`: the command-line side of signed bundles (docs/signing.md)."""
from __future__ import annotations

import sys

from .cli import EXIT_OK, EXIT_POLICY, EXIT_USAGE, UsageError, _out


def cmd_keygen(args) -> int:
    from .emit.signing import SigningError, generate_key, public_key_path
    try:
        kid = generate_key(args.path, force=args.force)
    except SigningError as err:
        raise UsageError(str(err)) from None
    print(f"已写入私钥 {args.path}（权限 0600，请妥善保管，不要提交到代码库）", file=sys.stderr)
    print(f"已写入公钥 {public_key_path(args.path)}（分发给验证规则包的服务）", file=sys.stderr)
    _out(kid)
    return EXIT_OK


def cmd_sign(args) -> int:
    from .emit.signing import SigningError, loose_permissions, sign_bundle
    try:
        path, doc = sign_bundle(args.key, args.bundle, args.out)
    except SigningError as err:
        raise UsageError(str(err)) from None
    if loose_permissions(args.key):
        print(f"policyc: 警告：私钥 {args.key} 可被其他用户读取（建议 chmod 600）", file=sys.stderr)
    b = doc["bundle"]
    print(f"已写入签名 {path}：{b['id']} {b['version']}（sha256 {b['sha256']}），签名公钥 {doc['key_id']}",
          file=sys.stderr)
    return EXIT_OK


def cmd_verify(args) -> int:
    from .runtime.bundle import read_verified
    from .runtime.errors import BundleError, TrustedKeyError
    try:
        verified = read_verified(args.bundle, keys=args.key, sha256=args.sha256, signature=args.sig)
    except ValueError as err:  # a malformed --sha256
        raise UsageError(str(err)) from None
    except TrustedKeyError as err:  # a --key that is not a usable public key: the command's input, not the bundle
        print(f"policyc: [{err.code}] {err}", file=sys.stderr)
        return EXIT_USAGE
    except BundleError as err:
        print(f"policyc: 验证失败[{err.code}]：{err}", file=sys.stderr)
        return EXIT_POLICY
    m = verified.bundle["manifest"]
    _out(f"签名有效：{args.bundle}（{m['id']} {m['version']}，sha256 {verified.sha256}）由 {verified.signer} 签名")
    return EXIT_OK


def register(sub) -> None:
    """Add the signing subcommands to the CLI's subparsers."""
    p = sub.add_parser("keygen", help="生成 ed25519 签名密钥对：私钥 PATH，公钥 PATH.pub")
    p.add_argument("path", metavar="PATH", help="私钥文件（公钥写到 PATH.pub）")
    p.add_argument("--force", action="store_true", help="覆盖已有的密钥文件")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("sign", help="为规则包写分离签名 BUNDLE.sig")
    p.add_argument("--key", required=True, metavar="PATH", help="私钥文件（policyc keygen 生成）")
    p.add_argument("--out", metavar="SIG", help="签名文件（默认 BUNDLE.sig）")
    p.add_argument("bundle", metavar="BUNDLE", help="规则包文件")
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("verify", help="用可信公钥验证规则包的签名")
    p.add_argument("--key", required=True, action="append", metavar="PUB", help="可信公钥文件，可重复")
    p.add_argument("--sig", metavar="SIG", help="签名文件（默认 BUNDLE.sig）")
    p.add_argument("--sha256", metavar="HEX", help="另外要求规则包内容的 sha256 等于该值")
    p.add_argument("bundle", metavar="BUNDLE", help="规则包文件")
    p.set_defaults(func=cmd_verify)
