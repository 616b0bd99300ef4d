"""Room on CPython's frame stack for deep recursive work (WeasyPrint's layout and drawing).

CPython 3.11 and 3.12 keep Python frames in chunks of 16 KiB, mapped when a call does not fit
in the current chunk and unmapped as soon as that call returns (python/cpython#142183, fixed
in 3.13 by keeping one chunk). Code that keeps calling at the depth where a chunk ends maps
and unmaps one on every call, each a pair of system calls and a page fault: rendering a
200-line quote did it 25,000 times, about 15% of its CPU time.

`call_with_room` calls a function from a frame that declares an evaluation stack of 8,192
slots, so entering it takes a fresh 128 KiB chunk of which 64 KiB stay free for the frames
above it: deeper than any document render goes, so those frames never cross a chunk
boundary. The declared stack is never used, only reserved, so results are unchanged.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

ROOM_SLOTS = 8192          # pointer-sized slots: 64 KiB, past the next power-of-two chunk size


def _call(fn, args, kwargs):
    return fn(*args, **kwargs)


_roomy_call = types.FunctionType(_call.__code__.replace(co_stacksize=ROOM_SLOTS), globals(), "_roomy_call")


def call_with_room(fn: Callable[..., T], /, *args, **kwargs) -> T:
    """`fn(*args, **kwargs)`, with frame-stack room for deep recursion under it."""
    return _roomy_call(fn, args, kwargs)
