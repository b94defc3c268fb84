"""Reviewing a policy change: two compiled versions side by side — their semantic diff (diff.py), the version bump
it requires, and its impact on a population (impact.py). Reads bundles (the IR), never policy sources."""
