"""`policyc log`: query and export the decision log."""
from __future__ import annotations


def register(sub) -> None:
    """Add the `log` subcommand to the CLI's subparsers."""
