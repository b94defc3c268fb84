"""`policyc serve`: run the decision service."""
from __future__ import annotations


def register(sub) -> None:
    """Add the `serve` subcommand to the CLI's subparsers."""
