"""core.gcpause: the collector is off inside a pause and back on after it; what an acyclic
pause leaves goes to the oldest generation unscanned, what any other pause leaves stays young."""

import gc

import pytest

from core import gcpause


class Thing:
    pass


def _generation(obj) -> int | None:
    return next((g for g in range(3) if any(o is obj for o in gc.get_objects(g))), None)


@pytest.fixture(autouse=True)
def _enabled():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_acyclic_pause_ages_its_survivors_without_a_scan():
    gc.collect()
    with gcpause.paused(acyclic=True):
        assert not gc.isenabled()
        kept = Thing()
        assert _generation(kept) == 0
    assert gc.isenabled()
    assert _generation(kept) == 2
    assert gc.get_freeze_count() == 0


def test_a_pause_that_may_make_cycles_leaves_them_young():
    gc.collect()
    with gcpause.paused(acyclic=True):
        with gcpause.paused():              # nested (or another thread's): one may make cycles
            kept = Thing()
    assert gc.isenabled()
    assert _generation(kept) == 0


def test_an_exception_leaves_the_collector_enabled_and_a_disabled_one_disabled():
    with pytest.raises(ValueError):
        with gcpause.paused(acyclic=True):
            raise ValueError
    assert gc.isenabled()
    gc.disable()
    with gcpause.paused(acyclic=True):
        kept = Thing()
    assert not gc.isenabled()
    assert _generation(kept) == 0           # a collector that was off is left as it was
