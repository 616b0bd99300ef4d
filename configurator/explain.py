"""QuickXplain (Junker, 2004): a minimal conflict with O(k log n) consistency checks."""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def quickxplain(background: Sequence[T], constraints: Sequence[T],
                consistent: Callable[[list[T]], bool]) -> list[T]:
    """A minimal subset C of `constraints` such that background + C is inconsistent.

    Requires background alone to be consistent and background + constraints not.
    Earlier constraints are preferred over later ones when several minimal conflicts exist.
    """
    def qx(base: list[T], delta: bool, items: list[T]) -> list[T]:
        if delta and not consistent(base):
            return []
        if len(items) == 1:
            return list(items)
        half = len(items) // 2
        first, second = items[:half], items[half:]
        d2 = qx(base + first, bool(first), second)
        d1 = qx(base + d2, bool(d2), first)
        return d1 + d2

    if not constraints:
        return []
    return qx(list(background), False, list(constraints))
