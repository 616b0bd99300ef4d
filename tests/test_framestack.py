"""core/framestack.py: calls across the end of a frame-stack chunk stop mapping a new chunk
each time once they run with room. Counted as minor page faults: every freshly mapped chunk
faults when its first frame is written, whatever the machine's speed."""

from __future__ import annotations

import resource
import sys
import types

import pytest

from core.framestack import call_with_room


def _leaf():
    return None


# A leaf frame larger than a _descend frame, so that at some depths the leaf alone crosses
# into a new chunk: the loop at that depth maps and unmaps one chunk per call.
_big_leaf = types.FunctionType(_leaf.__code__.replace(co_stacksize=200), globals(), "_big_leaf")


def _descend(depth: int, calls: int) -> None:
    if depth:
        _descend(depth - 1, calls)
    for _ in range(calls):
        _big_leaf()


def _faults(fn, *args) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn(*args)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="CPython keeps a spare chunk since 3.13")
def test_calls_at_a_chunk_boundary_stop_mapping_chunks_with_room():
    _descend(300, 1)                                   # warm: allocator, specialised code
    plain = _faults(_descend, 300, 200)                # some depth of the 300 ends a chunk
    roomy = _faults(call_with_room, _descend, 300, 200)
    assert plain >= 1000, plain
    assert roomy < plain / 20, (roomy, plain)


def test_call_with_room_passes_arguments_and_results_through():
    assert call_with_room(lambda a, b=0: (a, b), 1, b=2) == (1, 2)
    with pytest.raises(ZeroDivisionError):
        call_with_room(lambda: 1 / 0)
