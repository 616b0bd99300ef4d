"""Pause the cyclic garbage collector around allocation-heavy pure computations.

Pricing a 10,000-line quote allocates about a million short-lived objects that form no
reference cycles, and the collector's generation scans then cost 15-20% of the time for
nothing. `paused()` disables it for the block; the counter makes nested and concurrent
blocks (threads of one server process) re-enable it only when the last one leaves, and
never enables a collector that was off before the first one entered.

What such a block leaves behind (a priced quote: some 50,000 named tuples, which the collector
never untracks, as it does plain tuples of strings and numbers) would still be scanned by the
first young collection after it, and again in the middle generation: a tenth of a new
quote's time at 5,000 rules. A block that makes no cycles says so (`acyclic=True`), and
when every block of a pause did, its survivors go straight to the oldest generation
unscanned (`gc.freeze()` then `gc.unfreeze()`: two list splices). They are freed by their
reference counts as before, and full collections still scan them. Whatever other threads
left young at that moment goes there too (a cycle among it waits for a full collection; it is
not leaked), and anything the program had frozen itself with `gc.freeze()` (nothing here
does) is thawed.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False
_cyclic = False           # some block of this pause may have made cycles


@contextmanager
def paused(*, acyclic: bool = False) -> Iterator[None]:
    global _depth, _was_enabled, _cyclic
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            _cyclic = False
            gc.disable()
        _depth += 1
        _cyclic = _cyclic or not acyclic
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                if not _cyclic:
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()
