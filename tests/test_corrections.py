"""Changing one's mind (`Configurator.switch`): the fewest earlier selections to drop so that a
new pick holds, checked against brute force over every subset of the selections."""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

from hypothesis import given, settings, strategies as st

from catalog.loader import load_model_dict, load_model_file
from configurator import reference
from configurator.engine import Configurator
from sample_models import lamp
from test_engine_properties import COMMON, DOMAINS, enum_limit, models, pick  # noqa: F401 (fixture)

DEMO = Path(__file__).resolve().parent.parent / "catalog" / "demo"


def fewest_to_drop(selections: dict, attr: str, value, consistent) -> int | None:
    """Brute force: the size of the smallest subset of the other selections whose removal
    lets attr = value hold, or None when nothing does."""
    others = [a for a in selections if a != attr]
    for size in range(len(others) + 1):
        for dropped in combinations(others, size):
            kept = {a: selections[a] for a in others if a not in dropped}
            if consistent({**kept, attr: value}):
                return size
    return None


def check_switch(engine: Configurator, selections: dict, attr: str, value, consistent) -> None:
    found = engine.switch(selections, attr, value)
    expected = fewest_to_drop(selections, attr, value, consistent)
    if expected is None:
        assert not found.possible and not found.removes
        return
    assert found.possible
    assert len(found.removes) == expected
    assert all(selections[a] == v and a != attr for a, v in found.removes.items())
    assert found.selections == {**{a: v for a, v in selections.items() if a not in found.removes}, attr: value}
    assert consistent(found.selections)


@COMMON
@given(data=models(), raw=st.lists(st.tuples(st.sampled_from(list(DOMAINS)), st.integers(0, 4)), max_size=5),
       target=st.tuples(st.sampled_from(list(DOMAINS)), st.integers(0, 4)))
def test_switch_drops_the_fewest_selections(enum_limit, data, raw, target):
    model = load_model_dict(data)
    attr, value = next(iter(pick([target]).items()))
    check_switch(Configurator(model), pick(raw), attr, value,
                 lambda picks: reference.domains(model, picks) is not None)


RACK = load_model_file(DEMO / "rack-server.yaml")
RACK_ENGINE = Configurator(RACK)
RACK_PICKS = st.sampled_from([(a.id, v) for a in RACK.attributes for v in a.domain])


@settings(max_examples=40, deadline=None)
@given(raw=st.lists(RACK_PICKS, max_size=6, unique_by=lambda p: p[0]), target=RACK_PICKS)
def test_switch_on_the_rack_server(raw, target):
    """On the demo model brute force checks consistency with the propagation solver (a path
    apart from the explanation solver that finds corrections), and a completion of the
    result must pass every rule of the plain reference."""
    selections = dict(raw)
    check_switch(RACK_ENGINE, selections, *target, RACK_ENGINE.consistent)
    found = RACK_ENGINE.switch(selections, *target)
    if found.possible:
        completion = RACK_ENGINE.complete(found.selections)
        assert reference.violations(RACK, completion.assignment) == []


def test_switching_a_base_drops_only_what_conflicts():
    engine = Configurator(lamp())
    # a large base needs a dimmer: switching to it drops "no dimmer", keeps the shade
    found = engine.switch({"base": "small", "dimmer": False, "shade": "linen"}, "base", "large")
    assert found.possible and found.removes == {"dimmer": False}
    assert found.selections == {"base": "large", "shade": "linen"}
    # nothing conflicts: nothing is dropped, the old value of the attribute is replaced
    assert engine.switch({"base": "small", "dimmer": True}, "base", "large").removes == {}
    # a dead value cannot be had at any price
    dead = engine.switch({"base": "small"}, "shade", "ghost")
    assert not dead.possible and dead.removes == {} and dead.selections == {}
