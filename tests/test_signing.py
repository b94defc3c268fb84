"""Signed bundles: keygen → sign → verify through the CLI and the runtime API, and every way a bundle or its
signature can be forged, swapped, stripped or relabelled is refused (docs/signing.md)."""
import base64
import json
import shutil
import stat
import subprocess
import sys
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import ROOT, member, request
from policyc.cli import main
from policyc.emit.signing import generate_key, sign_bundle
from policyc.runtime import (BundleError, PinMismatchError, SignatureError, TrustedKeyError, UnknownKeyError,
                             UnsignedBundleError, jsonio, load, read_bundle)
from policyc.runtime.bundle import canonical_content, content_hash
from policyc.runtime.signing import DOMAIN, key_id, load_public_key, signed_header, signing_payload

COMMITTED = ROOT / "generated" / "shanxi.bundle.json"


# ── helpers and fixtures ─────────────────────────────────────────────────────────────────────────────────────
def read_json(path):
    return jsonio.loads(path.read_text(encoding="utf-8"))


def write_json(path, data):
    path.write_text(jsonio.dumps(data, indent=1) + "\n", encoding="utf-8")


def sig_of(path):
    return path.parent / (path.name + ".sig")


def first_money_value(bundle):
    """(parameter id, jurisdiction, index, value) of the first numeric parameter value in the bundle."""
    for pid, param in bundle["parameters"].items():
        for code, entries in param["timelines"].items():
            for i, entry in enumerate(entries):
                if isinstance(entry.get("value"), Decimal):
                    return pid, code, i, entry["value"]
    raise AssertionError("the bundle has no numeric parameter value")


def tamper_value(path, recompute=True):
    """Raise one parameter value by 1 (as someone wanting a bigger payment would); optionally recompute the
    manifest's sha256 so the bundle is self-consistent again."""
    data = read_json(path)
    pid, code, i, value = first_money_value(data)
    data["parameters"][pid]["timelines"][code][i]["value"] = value + 1
    if recompute:
        data["manifest"]["sha256"] = content_hash(data)
    write_json(path, data)
    return data


@pytest.fixture
def bundle_path(tmp_path):
    path = tmp_path / "shanxi.bundle.json"
    shutil.copyfile(COMMITTED, path)
    return path


@pytest.fixture
def key(tmp_path):
    """(private key path, public key path, key id) of a fresh key pair."""
    priv = tmp_path / "keys" / "signer"
    priv.parent.mkdir()
    kid = generate_key(priv)
    return priv, priv.parent / "signer.pub", kid


@pytest.fixture
def other_key(tmp_path):
    priv = tmp_path / "keys" / "other"
    priv.parent.mkdir(exist_ok=True)
    kid = generate_key(priv)
    return priv, priv.parent / "other.pub", kid


@pytest.fixture
def signed(bundle_path, key):
    sign_bundle(key[0], bundle_path)
    return bundle_path


def edit_sig(bundle_path, **changes):
    path = sig_of(bundle_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.update(changes)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return doc


def refused(bundle_path, keys, cls, **kw):
    with pytest.raises(cls) as err:
        read_bundle(bundle_path, keys=keys, **kw)
    assert str(bundle_path) in str(err.value)  # every refusal names the file
    return err.value


# ── keygen ───────────────────────────────────────────────────────────────────────────────────────────────────
def test_keygen_writes_private_0600_and_public_pem_and_prints_key_id(tmp_path, capsys):
    priv = tmp_path / "release"
    assert main(["keygen", str(priv)]) == 0
    out = capsys.readouterr().out.strip()
    pub = tmp_path / "release.pub"
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(priv.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    assert priv.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted
    public = load_public_key(pub)
    assert public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == \
        private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert out == key_id(public) and out.startswith("ed25519:") and len(out) == len("ed25519:") + 16
    assert not list(tmp_path.glob(".*.tmp"))


def test_keygen_refuses_to_overwrite_without_force(tmp_path, capsys):
    priv = tmp_path / "release"
    assert main(["keygen", str(priv)]) == 0
    first = capsys.readouterr().out.strip()
    before = priv.read_bytes()
    assert main(["keygen", str(priv)]) == 2
    assert "已存在" in capsys.readouterr().err and priv.read_bytes() == before
    (tmp_path / "lonely").with_name("lonely.pub").write_text("x")  # an existing .pub alone also blocks
    assert main(["keygen", str(tmp_path / "lonely")]) == 2 and not (tmp_path / "lonely").exists()
    assert main(["keygen", "--force", str(priv)]) == 0
    assert capsys.readouterr().out.strip() != first and priv.read_bytes() != before
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600


def test_keygen_makes_a_private_directory_for_a_new_key_and_refuses_a_directory(tmp_path, capsys):
    assert main(["keygen", str(tmp_path / "keys" / "release")]) == 0
    assert (tmp_path / "keys" / "release.pub").is_file()
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    capsys.readouterr()
    (tmp_path / "blocked").write_text("a file where a folder should be")
    assert main(["keygen", str(tmp_path / "blocked" / "key")]) == 2
    assert "无法创建目录" in capsys.readouterr().err
    (tmp_path / "dir").mkdir()
    assert main(["keygen", "--force", str(tmp_path / "dir")]) == 2
    assert "是目录" in capsys.readouterr().err and not (tmp_path / "dir.pub").exists()


# ── round trips ──────────────────────────────────────────────────────────────────────────────────────────────
def test_cli_keygen_sign_verify_round_trip(tmp_path, bundle_path, capsys):
    priv = tmp_path / "release"
    assert main(["keygen", str(priv)]) == 0
    kid = capsys.readouterr().out.strip()
    assert main(["sign", "--key", str(priv), str(bundle_path)]) == 0
    capsys.readouterr()
    sig = json.loads(sig_of(bundle_path).read_text(encoding="utf-8"))
    manifest = read_json(bundle_path)["manifest"]
    assert sig["format"] == "policyc-bundle-signature/1" and sig["algorithm"] == "ed25519" and sig["key_id"] == kid
    assert sig["bundle"] == {"id": manifest["id"], "version": manifest["version"],
                             "sha256": content_hash(read_json(bundle_path))}
    assert len(base64.b64decode(sig["signature"])) == 64 and sig["signed_at"].endswith("Z")
    assert main(["verify", "--key", str(tmp_path / "release.pub"), str(bundle_path)]) == 0
    out = capsys.readouterr().out
    assert kid in out and "签名有效" in out


def test_cli_sign_out_and_verify_sig_and_several_keys(tmp_path, bundle_path, key, other_key, capsys):
    out = tmp_path / "elsewhere.sig"
    assert main(["sign", "--key", str(key[0]), "--out", str(out), str(bundle_path)]) == 0
    assert out.exists() and not sig_of(bundle_path).exists()
    assert main(["verify", "--key", str(other_key[1]), "--key", str(key[1]), "--sig", str(out), str(bundle_path)]) == 0
    assert key[2] in capsys.readouterr().out
    assert main(["verify", "--key", str(key[1]), str(bundle_path)]) == 1  # default BUNDLE.sig does not exist
    assert "R0202" in capsys.readouterr().err


def test_api_round_trip_and_signer(signed, key, evaluator):
    pub = key[1]
    for keys in ([pub], [str(pub)], pub, [pub.read_bytes()], [pub.read_text()], [load_public_key(pub)]):
        assert read_bundle(signed, keys=keys)["manifest"]["sha256"] == content_hash(read_json(signed))
    ev = load(signed, keys=[pub])
    assert ev.signer == key[2]
    req = request([member("A", 100)])
    assert ev.evaluate(req) == evaluator.evaluate(req)


def test_unsigned_bundle_still_loads_without_keys(bundle_path):
    ev = load(bundle_path)
    assert ev.signer is None and not sig_of(bundle_path).exists()
    assert read_bundle(bundle_path)["manifest"]["id"] == read_json(COMMITTED)["manifest"]["id"]


def test_signed_bundle_loads_without_keys_too(signed):
    assert load(signed).signer is None  # no keys configured: the signature is neither required nor checked


def test_pinned_sha256_loads_when_it_matches(signed, key):
    actual = content_hash(read_json(signed))
    assert load(signed, sha256=actual).signer is None
    assert read_bundle(signed, keys=[key[1]], sha256="sha256:" + actual.upper())


# ── refusals ─────────────────────────────────────────────────────────────────────────────────────────────────
def test_refuses_unsigned_bundle_when_keys_are_configured(bundle_path, key, capsys):
    err = refused(bundle_path, [key[1]], UnsignedBundleError)
    assert err.code == "R0202" and "没有签名文件" in str(err)
    with pytest.raises(UnsignedBundleError):
        load(bundle_path, keys=[key[1]])
    assert main(["verify", "--key", str(key[1]), str(bundle_path)]) == 1
    assert "验证失败[R0202]" in capsys.readouterr().err


def test_refuses_deleted_signature_file(signed, key):
    sig_of(signed).unlink()
    refused(signed, [key[1]], UnsignedBundleError)


def test_refuses_tampered_value_with_recomputed_sha256(signed, key, capsys):
    tamper_value(signed, recompute=True)
    read_bundle(signed)  # self-consistent: the content hash alone no longer catches it
    err = refused(signed, [key[1]], SignatureError)
    assert err.code == "R0203"
    with pytest.raises(SignatureError):
        load(signed, keys=[key[1]])
    assert main(["verify", "--key", str(key[1]), str(signed)]) == 1
    assert "R0203" in capsys.readouterr().err


def test_refuses_tampered_value_with_sig_relabelled_to_the_new_hash(signed, key):
    data = tamper_value(signed, recompute=True)
    edit_sig(signed, bundle={**json.loads(sig_of(signed).read_text())["bundle"], "sha256": data["manifest"]["sha256"]})
    refused(signed, [key[1]], SignatureError)


def test_refuses_tampered_value_without_recomputed_sha256(signed, key):
    tamper_value(signed, recompute=False)
    err = refused(signed, [key[1]], BundleError)
    assert "sha256" in str(err)


def test_refuses_signature_swapped_from_another_signed_bundle(tmp_path, signed, key):
    other = tmp_path / "other" / "shanxi.bundle.json"
    other.parent.mkdir()
    shutil.copyfile(COMMITTED, other)
    tamper_value(other, recompute=True)  # a different bundle (same id and version), properly signed
    sign_bundle(key[0], other)
    read_bundle(other, keys=[key[1]])
    shutil.copyfile(sig_of(other), sig_of(signed))
    err = refused(signed, [key[1]], SignatureError)
    assert "另一个规则包" in str(err)
    # the swapped signature relabelled with our bundle's hash: the signed bytes still say otherwise
    edit_sig(signed, bundle={**json.loads(sig_of(signed).read_text())["bundle"],
                             "sha256": content_hash(read_json(signed))})
    err = refused(signed, [key[1]], SignatureError)
    assert "与规则包内容不符" in str(err)


def test_refuses_stripped_signature_value(signed, key):
    edit_sig(signed, signature="")
    refused(signed, [key[1]], SignatureError)


def test_refuses_signature_field_removed(signed, key):
    doc = json.loads(sig_of(signed).read_text())
    del doc["signature"]
    sig_of(signed).write_text(json.dumps(doc))
    refused(signed, [key[1]], SignatureError)


def test_refuses_signature_by_unknown_key(signed, other_key, capsys):
    err = refused(signed, [other_key[1]], UnknownKeyError)
    assert err.code == "R0204" and other_key[2] in str(err)
    assert main(["verify", "--key", str(other_key[1]), str(signed)]) == 1
    assert "R0204" in capsys.readouterr().err


def test_refuses_key_id_relabelled_to_a_trusted_key(bundle_path, key, other_key):
    # signed by a key the verifier does not trust, then labelled with the trusted key's id
    sign_bundle(other_key[0], bundle_path)
    edit_sig(bundle_path, key_id=key[2])
    refused(bundle_path, [key[1]], SignatureError)
    # also when both keys are trusted: the key id is inside the signed bytes
    refused(bundle_path, [key[1], other_key[1]], SignatureError)


def test_refuses_forgery_signed_by_attacker_with_trusted_key_id(bundle_path, key):
    """An attacker with their own key signs a tampered bundle correctly and names the trusted key's id."""
    data = tamper_value(bundle_path, recompute=True)
    attacker = Ed25519PrivateKey.generate()
    content = canonical_content(data)
    header = signed_header(key_id=key[2], bundle_id=data["manifest"]["id"], bundle_version=data["manifest"]["version"],
                           content_sha256=data["manifest"]["sha256"], signed_at="2024-01-01T00:00:00Z")
    sig = attacker.sign(signing_payload(header, content))
    sig_of(bundle_path).write_text(json.dumps({**header, "signature": base64.b64encode(sig).decode()}))
    refused(bundle_path, [key[1]], SignatureError)


def test_refuses_truncated_signature(signed, key):
    doc = json.loads(sig_of(signed).read_text())
    raw = base64.b64decode(doc["signature"])
    edit_sig(signed, signature=base64.b64encode(raw[:-1]).decode())
    err = refused(signed, [key[1]], SignatureError)
    assert "截断" in str(err)


def test_refuses_flipped_signature_bit(signed, key):
    raw = bytearray(base64.b64decode(json.loads(sig_of(signed).read_text())["signature"]))
    raw[10] ^= 1
    edit_sig(signed, signature=base64.b64encode(bytes(raw)).decode())
    refused(signed, [key[1]], SignatureError)


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "hs256", "EdDSA", "ED25519", "", None, 0, ["ed25519"]])
def test_refuses_other_algorithms(signed, key, alg):
    edit_sig(signed, algorithm=alg)
    err = refused(signed, [key[1]], SignatureError)
    assert "算法" in str(err)


@pytest.mark.parametrize("text", [
    "{not json",
    "",
    "[]",
    "null",
    '"ed25519"',
    "\xff\xfe",
])
def test_refuses_malformed_signature_json(signed, key, text):
    sig_of(signed).write_bytes(text.encode("latin-1"))
    refused(signed, [key[1]], SignatureError)


@pytest.mark.parametrize("changes", [
    {"key_id": 5},
    {"key_id": "../../etc/passwd"},
    {"bundle": "shanxi"},
    {"bundle": {"id": "shanxi"}},
    {"bundle": {"id": 1, "version": "0.1.0", "sha256": "0" * 64}},
    {"signed_at": 20240101},
    {"signature": 123},
    {"signature": "***not base64***"},
    {"format": "policyc-bundle-signature/2"},
    {"public_key": "-----BEGIN PUBLIC KEY-----"},  # the file cannot bring its own key
])
def test_refuses_signature_with_wrong_fields_or_types(signed, key, changes):
    edit_sig(signed, **changes)
    refused(signed, [key[1]], SignatureError)


def test_refuses_duplicate_fields_in_signature(signed, key):
    """Two readers of one file must not see two different algorithms (or keys): duplicates are refused even when
    the last one, which Python's json would keep, is the valid one."""
    text = sig_of(signed).read_text()
    sig_of(signed).write_text(text.replace('"algorithm": "ed25519",', '"algorithm": "none", "algorithm": "ed25519",'))
    refused(signed, [key[1]], SignatureError)


def test_refuses_pin_mismatch(signed, key, capsys):
    actual = content_hash(read_json(signed))
    wrong = ("0" if actual[0] != "0" else "1") + actual[1:]
    err = refused(signed, None, PinMismatchError, sha256=wrong)
    assert err.code == "R0205" and wrong in str(err) and actual in str(err)
    with pytest.raises(PinMismatchError):
        load(signed, keys=[key[1]], sha256=wrong)  # a valid signature does not excuse a wrong pin
    assert main(["verify", "--key", str(key[1]), "--sha256", wrong, str(signed)]) == 1
    assert "R0205" in capsys.readouterr().err


def test_pin_is_recomputed_not_read_from_the_manifest(bundle_path):
    data = tamper_value(bundle_path, recompute=True)
    original = content_hash(read_json(COMMITTED))
    with pytest.raises(PinMismatchError):
        read_bundle(bundle_path, sha256=original)
    assert read_bundle(bundle_path, sha256=data["manifest"]["sha256"])


def test_malformed_pin_is_refused(bundle_path, capsys):
    with pytest.raises(ValueError):
        read_bundle(bundle_path, sha256="abc")
    assert main(["verify", "--key", "x.pub", "--sha256", "abc", str(bundle_path)]) == 2


def test_empty_key_list_fails_closed(signed):
    """OPA GHSA-g2pf-6v5v-qcc8: verification configured without a key id skipped the signature check. Here an
    empty key list still means "verify", and nothing can verify, so every bundle is refused."""
    err = refused(signed, [], UnknownKeyError)
    assert "没有配置任何可信公钥" in str(err)
    with pytest.raises(UnknownKeyError):
        load(signed, keys=())


def test_signature_without_keys_is_a_programming_error(signed):
    with pytest.raises(ValueError):
        read_bundle(signed, signature=sig_of(signed))


def test_explicit_signature_path_and_bytes(signed, key, tmp_path):
    moved = tmp_path / "moved.sig"
    sig_of(signed).rename(moved)
    assert load(signed, keys=[key[1]], signature=moved).signer == key[2]
    assert read_bundle(signed, keys=[key[1]], signature=moved.read_bytes())
    refused(signed, [key[1]], UnsignedBundleError)


@pytest.mark.parametrize("make", [
    lambda k: k[0],  # the private key given as a trusted key
    lambda k: k[1].parent / "missing.pub",
    lambda k: b"not a key",
    lambda k: 42,
])
def test_bad_trusted_key_is_a_configuration_error(signed, key, make):
    with pytest.raises(TrustedKeyError) as err:
        read_bundle(signed, keys=[make(key)])
    assert err.value.code == "R0206"


def test_sign_refuses_bundle_whose_manifest_sha256_is_wrong(bundle_path, key, capsys):
    tamper_value(bundle_path, recompute=False)
    assert main(["sign", "--key", str(key[0]), str(bundle_path)]) == 2
    err = capsys.readouterr().err
    assert "拒绝签名" in err and "sha256" in err and not sig_of(bundle_path).exists()


def test_sign_refuses_public_key_and_missing_bundle(bundle_path, key, tmp_path, capsys):
    assert main(["sign", "--key", str(key[1]), str(bundle_path)]) == 2
    assert "这是公钥" in capsys.readouterr().err
    assert main(["sign", "--key", str(key[0]), str(tmp_path / "none.json")]) == 2
    assert "无法读取规则包" in capsys.readouterr().err


def test_signature_covers_domain_prefix(signed, key):
    """The signature verifies over exactly the documented payload, and not without the domain prefix."""
    data = read_json(signed)
    doc = json.loads(sig_of(signed).read_text())
    content = jsonio.dumps({**data, "manifest": {k: v for k, v in data["manifest"].items() if k != "sha256"}},
                           indent=None, sort_keys=True).encode("utf-8")
    header = {k: v for k, v in doc.items() if k != "signature"}
    payload = signing_payload(header, content)
    sig = base64.b64decode(doc["signature"])
    public = load_public_key(key[1])
    public.verify(sig, payload)
    assert payload.startswith(DOMAIN)
    with pytest.raises(Exception):
        public.verify(sig, payload[len(DOMAIN):])


# ── the CLI commands that take --bundle ──────────────────────────────────────────────────────────────────────
def test_eval_params_test_with_verify_key(signed, key, tmp_path, capsys):
    req = request([member("A", 100)])
    req_file = tmp_path / "req.json"
    req_file.write_text(json.dumps(req), encoding="utf-8")
    assert main(["eval", "--bundle", str(signed), "--verify-key", str(key[1]), str(req_file)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(jsonio.dumps(load(signed).evaluate(req)))
    assert main(["params", "--bundle", str(signed), "--verify-key", str(key[1]), "--locality", req["locality"],
                 "--date", req["date"]]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"]
    # the case runs from the verified bundle as it does from the file unverified (whether it passes is for
    # `policyc test` to say, not for this test)
    case = read_json(signed)["cases"][0]["name"]
    verified = main(["test", "--bundle", str(signed), "--verify-key", str(key[1]), "-k", case])
    out = capsys.readouterr().out
    assert verified == main(["test", "--bundle", str(signed), "-k", case]) and out == capsys.readouterr().out
    assert out.strip().endswith(("1 个通过，0 个失败", "0 个通过，1 个失败"))


@pytest.mark.parametrize("command", ["eval", "params", "test"])
def test_commands_refuse_bundles_that_do_not_verify(bundle_path, key, other_key, tmp_path, capsys, command):
    req_file = tmp_path / "req.json"
    req_file.write_text(json.dumps(request([member("A", 100)])), encoding="utf-8")
    extra = {"eval": [str(req_file)], "params": ["--locality", "140702", "--date", "2024-07-01"], "test": []}[command]
    # unsigned
    assert main([command, "--bundle", str(bundle_path), "--verify-key", str(key[1]), *extra]) == 2
    assert "R0202" in capsys.readouterr().err
    # signed by a key that is not trusted
    sign_bundle(other_key[0], bundle_path)
    assert main([command, "--bundle", str(bundle_path), "--verify-key", str(key[1]), *extra]) == 2
    assert "R0204" in capsys.readouterr().err
    # signed by the trusted key, then a value changed and the hash recomputed
    sign_bundle(key[0], bundle_path)
    tamper_value(bundle_path)
    assert main([command, "--bundle", str(bundle_path), "--verify-key", str(key[1]), *extra]) == 2
    assert "R0203" in capsys.readouterr().err


@pytest.mark.parametrize("command,extra", [
    ("eval", ["-"]),
    ("params", ["--locality", "140702", "--date", "2024-07-01"]),
    ("test", []),
])
def test_verify_key_without_bundle_is_a_usage_error(key, capsys, monkeypatch, command, extra):
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO(json.dumps(request([member("A", 100)]))))
    assert main([command, "--verify-key", str(key[1]), *extra]) == 2
    assert "--verify-key 只能与 --bundle 一起使用" in capsys.readouterr().err


def test_cli_refusals_have_no_traceback(signed, key, tmp_path):
    edit_sig(signed, algorithm="none")
    proc = subprocess.run([sys.executable, "-m", "policyc", "verify", "--key", str(key[1]), str(signed)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "算法" in proc.stderr


def test_runtime_verifies_without_compiler_or_emit(signed, key):
    code = ("import sys, json\n"
            "from policyc.runtime import load\n"
            f"ev = load({str(signed)!r}, keys=[{str(key[1])!r}])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'yaml', 'jinja2', 'jsonschema'))\n"
            "other = sorted(m for m in sys.modules if m.startswith('policyc.') and not m.startswith('policyc.runtime')"
            " and m != 'policyc.ir')\n"
            "print(json.dumps([bad, other, ev.signer]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(result.stdout) == [[], [], key[2]]
