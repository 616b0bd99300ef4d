"""How a line's discounts stack, in words, for the rep deciding on a discount: each step of
the waterfall as a share of the amount it applied to, and what they come to ("volume tier:
8%, then manual discount 20%: 20% of the remainder = 26.40% line discount"). The line
discount approval rules test is that last figure (rules/approvals.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable

from core.money import percent_of


def explain(list_total: Decimal, steps: Iterable[tuple[str, Decimal]]) -> str | None:
    """`steps` are a line's waterfall steps (label, amount taken off; negative gives back);
    None when nothing was taken off."""
    running, parts = Decimal(list_total), []
    for label, amount in steps:
        amount = Decimal(amount)
        if not amount or not running:
            continue
        share = _plain(percent_of(abs(amount), running))
        if amount < 0:
            parts.append(f"then {label}: {share}% back")
        else:
            parts.append(f"then {label}: {share}% of the remainder" if parts else f"{label}: {share}%")
        running -= amount
    if not parts:
        return None
    return f"{', '.join(parts)} = {percent_of(Decimal(list_total) - running, Decimal(list_total))}% line discount"


def _plain(percent: Decimal) -> str:
    """8.00 → '8', 5.43 → '5.43'."""
    return format(percent.normalize(), "f")
