"""Errors the runtime raises for bad requests and untrustworthy bundles."""


class RuntimeFault(Exception):
    """Base of all runtime errors; `code` is stable, the message is Chinese."""

    code = "R0000"


class InputError(RuntimeFault):
    """The request does not match the bundle's input contract; lists every problem with its JSON path."""

    code = "R0101"

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("；".join(f"{path}: {msg}" for path, msg in problems))

    def to_json(self) -> dict:
        return {"error": self.code, "message": "请求数据不符合输入格式",
                "problems": [{"path": p, "message": m} for p, m in self.problems]}


class LocalityError(InputError):
    code = "R0102"


class BundleError(RuntimeFault):
    """The bundle cannot be trusted or read: bad JSON, wrong format version or a hash mismatch."""

    code = "R0201"


# Signed bundles (docs/signing.md). Each is a BundleError, so a caller that refuses untrusted bundles keeps working.
class UnsignedBundleError(BundleError):
    """Trusted keys are configured but the bundle has no signature file."""

    code = "R0202"


class SignatureError(BundleError):
    """The signature file is malformed, uses another algorithm, belongs to another bundle or does not verify."""

    code = "R0203"


class UnknownKeyError(BundleError):
    """The signature names a key that is not among the trusted keys (or no trusted key was configured)."""

    code = "R0204"


class PinMismatchError(BundleError):
    """The bundle's recomputed content sha256 differs from the pinned one."""

    code = "R0205"


class TrustedKeyError(BundleError):
    """A configured trusted key cannot be read or is not an ed25519 public key: a configuration mistake."""

    code = "R0206"
