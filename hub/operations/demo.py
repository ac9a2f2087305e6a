"""Sample cases and exchanges for `hub demo` (filled in through the domain operations)."""

from __future__ import annotations


def load_demo_data() -> dict[str, int]:
    """Add sample work once; returns what was added."""
    return {}
