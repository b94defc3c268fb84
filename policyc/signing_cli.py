"""`policyc keygen`, `sign` and `verify`: the command-line side of signed bundles."""
from __future__ import annotations


def register(sub) -> None:
    """Add the signing subcommands to the CLI's subparsers."""
