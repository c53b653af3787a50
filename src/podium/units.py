"""Human-readable quantities, shared by the CLI tables and the web pages."""

from __future__ import annotations


def format_size(size: int) -> str:
    """A byte count in B, KiB, MiB or GiB."""
    amount = float(size)
    for unit in ("B", "KiB", "MiB"):
        if amount < 1024:
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"
