"""The policyc runtime: loads a compiled bundle and evaluates requests. It never imports the compiler
(no lark, yaml or jinja2): a service needs only this package, the bundle file and, to check signatures,
`cryptography`."""
from .bundle import read_bundle, read_verified
from .errors import (BundleError, InputError, LocalityError, PinMismatchError, RuntimeFault, SignatureError,
                     TrustedKeyError, UnknownKeyError, UnsignedBundleError)
from .evaluator import EvaluationError, Evaluator


def load(path, keys=None, sha256=None, signature=None) -> Evaluator:
    """Load and verify a bundle file, and compile its evaluator.

    keys: trusted ed25519 public keys (paths, PEM bytes or text, or Ed25519PublicKey objects). When given, the
      bundle must carry a valid signature by one of them (default file: the bundle path plus ".sig"); an empty
      list refuses every bundle. sha256: the content hash the bundle must have. signature: the signature file.
    The evaluator's `.signer` is the key id that verified the bundle, or None when no keys were given.
    Raises BundleError (or one of its subclasses R0202–R0206) for a bundle that cannot be trusted.
    """
    # Compile exactly the bytes that were verified: re-reading the file here would let it change in between.
    verified = read_verified(path, keys=keys, sha256=sha256, signature=signature)
    evaluator = Evaluator(verified.bundle, verified=True)
    evaluator.signer = verified.signer
    return evaluator


__all__ = ["load", "read_bundle", "read_verified", "Evaluator", "RuntimeFault", "InputError", "LocalityError",
           "BundleError", "UnsignedBundleError", "SignatureError", "UnknownKeyError", "PinMismatchError",
           "TrustedKeyError", "EvaluationError"]
