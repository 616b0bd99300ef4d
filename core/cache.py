"""A small thread-safe LRU cache for values that are expensive to build, and `keep` for memos
on hot paths."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


def keep(store: dict, key: Hashable, value: T, limit: int) -> T:
    """`value`, stored in `store` under `key`, the store emptied first when it holds `limit`
    entries: for memos on hot paths (pricing) where an LRU's bookkeeping would cost more than
    rebuilding what a clear drops."""
    if len(store) >= limit:
        store.clear()
    store[key] = value
    return value


class LruCache(Generic[T]):
    """The last `size` values built, by key. Keys must identify immutable inputs (a stored
    version's content digest, say), so a cached value can never go stale."""

    def __init__(self, size: int = 64):
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()          # outside the lock: building may take a while
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value
