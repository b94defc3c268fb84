"""The policyc runtime: loads a compiled bundle and evaluates requests. It never imports the compiler
(no lark, yaml or jinja2): a service needs only this package and the bundle file."""
from .bundle import read_bundle
from .errors import BundleError, InputError, LocalityError, RuntimeFault
from .evaluator import EvaluationError, Evaluator


def load(path) -> Evaluator:
    """Load and verify a bundle file, and compile its evaluator."""
    return Evaluator.from_file(path)


__all__ = ["load", "read_bundle", "Evaluator", "RuntimeFault", "InputError", "LocalityError", "BundleError",
           "EvaluationError"]
