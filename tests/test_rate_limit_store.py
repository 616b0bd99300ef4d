"""The in-memory rate limit store (api.auth.SweptMemoryStorage) against the limits release it
was written for: it replaces a name-mangled private method of limits' MemoryStorage, so an
upgrade that renames either method would silently bring back a thread per hit, or break every
hit. These tests fail in both cases."""

from __future__ import annotations

import threading
import time

from limits import parse as parse_limit
from limits.strategies import MovingWindowRateLimiter

from api.auth import SweptMemoryStorage


def test_hits_share_one_sweep_timer():
    storage = SweptMemoryStorage("memory://")
    limiter = MovingWindowRateLimiter(storage)
    storage.timer.join()                      # the library's first sweep, started when made
    started = threading.Thread.start
    starts = []

    def counting_start(thread):
        starts.append(thread)
        started(thread)

    threading.Thread.start = counting_start
    try:
        for i in range(20):                   # hits further apart than the library's 10 ms sweep
            assert limiter.hit(parse_limit("1000/minute"), f"caller-{i % 7}")
            time.sleep(0.015)
    finally:
        threading.Thread.start = started
    assert len(starts) == 1, f"{len(starts)} threads for 20 hits"
    assert storage.timer.interval == SweptMemoryStorage.SWEEP_SECONDS and storage.timer.daemon


def test_the_sweep_drops_expired_entries(monkeypatch):
    monkeypatch.setattr(SweptMemoryStorage, "SWEEP_SECONDS", 0.05)
    storage = SweptMemoryStorage("memory://")
    limiter = MovingWindowRateLimiter(storage)
    assert limiter.hit(parse_limit("5/second"), "caller")
    assert any(storage.events.values())
    deadline = time.monotonic() + 5
    while any(storage.events.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
        if not storage.timer.is_alive():      # a sweep that found the entry still alive
            storage._MemoryStorage__schedule_expiry()
    assert not any(storage.events.values()), "expired moving-window entries were never swept"
