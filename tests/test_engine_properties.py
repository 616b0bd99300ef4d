"""The SAT engine against the python-constraint reference on random small models.

Every encoding path is exercised: with the default enumeration limit most rules are
enumerated; with the limit at 1 every rule goes through the structural, decision-diagram and
row-selector encodings instead.
"""
from __future__ import annotations

import itertools
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from catalog import expr as ex
from catalog.loader import load_model_dict
from configurator import encode as encode_module
from configurator import explain as explain_module
from configurator import flips as flips_module
from configurator import propagate as propagate_module
from configurator import reference
from configurator.engine import Configurator

ATTRS = [
    {"id": "a", "type": "enum", "values": [{"code": c, "properties": {"w": w}} for c, w in
                                           [("a1", 1), ("a2", 3), ("a3", 5)]]},
    {"id": "b", "type": "enum", "optional": True,
     "values": [{"code": c, "properties": {"w": w}} for c, w in [("b1", 2), ("b2", 4)]]},
    {"id": "n", "type": "int", "min": 0, "max": 4},
    {"id": "m", "type": "int", "min": 1, "max": 5, "step": 2},
    {"id": "t", "type": "bool"},
    {"id": "c", "type": "enum", "values": ["c1", "c2", "c3", "c4"]},
]
DOMAINS = {"a": ["a1", "a2", "a3"], "b": ["none", "b1", "b2"], "n": [0, 1, 2, 3, 4], "m": [1, 3, 5],
           "t": [False, True], "c": ["c1", "c2", "c3", "c4"]}
COMPONENTS = [
    {"part": "P-BASE", "properties": {"power": 3, "cost": "10.50", "weight": "1.2"},
     "children": [{"part": "P-N", "quantity": "n", "properties": {"power": 2, "cost": "2.25"}},
                  {"part": "P-T", "when": "t", "quantity": "m", "properties": {"power": 4, "cost": "1"}}]},
    {"part": "P-B", "when": "b != none", "quantity": 2, "properties": {"power": 5, "cost": "7"}},
]

atoms = st.one_of(
    st.sampled_from(["a = a1", "a != a2", "b = none", "b in [b1, b2]", "t", "not t", "c in [c1, c3]",
                     "c not in [c2]", "n >= 2", "n < 3", "m = 3", "m <= 3"]),
    st.tuples(st.sampled_from(["n", "m", "a.w", "b.w", "n * a.w", "n + m", "total(power)", "if(t, n, 2)"]),
              st.sampled_from(["<=", ">=", "=", "!=", "<", ">"]),
              st.integers(0, 30)).map(lambda x: f"{x[0]} {x[1]} {x[2]}"),
)


def conditions(depth=2):
    return st.recursive(atoms, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or", "implies"]), inner).map(lambda x: f"({x[0]}) {x[1]} ({x[2]})"),
        inner.map(lambda x: f"not ({x})")), max_leaves=4)


@st.composite
def rules(draw, index):
    kind = draw(st.sampled_from(["constraint", "requires", "excludes", "table"]))
    rule = {"id": f"r{index}", "message": f"rule {index}"}
    if kind == "constraint":
        rule["constraint"] = draw(conditions())
    elif kind == "requires":
        rule["requires"] = {"if": draw(atoms), "then": draw(conditions())}
    elif kind == "excludes":
        rule["excludes"] = draw(st.lists(atoms, min_size=2, max_size=3))
    else:
        attrs = draw(st.lists(st.sampled_from(list(DOMAINS)), min_size=2, max_size=3, unique=True))
        allowed = draw(st.booleans())
        combos = list(itertools.product(*(DOMAINS[a] for a in attrs)))
        chosen = draw(st.lists(st.sampled_from(combos), min_size=1, max_size=max(1, len(combos) * 2 // 3)))
        rows = [[("*" if draw(st.integers(0, 9)) == 0 else v) for v in row] for row in chosen]
        rule["table"] = {"attributes": attrs, "allowed" if allowed else "forbidden": rows}
    return rule


@st.composite
def models(draw):
    count = draw(st.integers(1, 5))
    return {"product": "random", "name": "Random", "version": 1, "attributes": ATTRS,
            "rules": [draw(rules(i)) for i in range(count)], "components": COMPONENTS}


selection_lists = st.lists(st.tuples(st.sampled_from(list(DOMAINS)), st.integers(0, 4)), max_size=3)


def pick(raw):
    return {attr: DOMAINS[attr][i % len(DOMAINS[attr])] for attr, i in raw}


@pytest.fixture(params=["enumerated", "structural", "lazy tables", "lazy tables, encoded when hard"])
def enum_limit(request, monkeypatch):
    """Every encoding path: enumerated rules; structural, decision-diagram and row-selector
    encodings (nothing enumerated); tables checked lazily (every allowed table), and in
    explanations either always lazily or switched to their complete encoding as soon as they
    reject a solution."""
    if request.param != "enumerated":
        monkeypatch.setattr(encode_module, "ENUM_LIMIT", 1)
    lazy = request.param.startswith("lazy tables")
    monkeypatch.setattr(encode_module, "LAZY_MIN_ROWS", 1 if lazy else 10**9)
    monkeypatch.setattr(explain_module, "HARD_AFTER", 1 if request.param.endswith("hard") else 10**9)


COMMON = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])


@COMMON
@given(data=models(), raw=selection_lists)
def test_propagation_matches_enumeration(enum_limit, data, raw):
    model = load_model_dict(data)
    engine = Configurator(model)
    selections = pick(raw)
    expected = reference.domains(model, selections)
    result = engine.configure(selections)
    if expected is None:
        assert not result.valid
        conflict = result.conflicts[0]
        assert set(conflict.selections.items()) <= set(selections.items())
    else:
        assert result.valid
        assert {s.id: set(s.domain) for s in result.attributes} == expected


@COMMON
@given(data=models(), raw=selection_lists)
def test_conflicts_are_real_and_minimal(enum_limit, data, raw):
    model = load_model_dict(data)
    engine = Configurator(model)
    selections = pick(raw)
    if reference.domains(model, selections) is not None:
        return
    conflict = engine.conflict(selections)
    rule_ids = {r.id for r in conflict.rules}

    def consistent(picks, ids):
        sub = load_model_dict({**data, "rules": [r for r in data["rules"] if r["id"] in ids]})
        return reference.domains(sub, picks) is not None

    assert not consistent(conflict.selections, rule_ids)
    for attr in conflict.selections:
        assert consistent({a: v for a, v in conflict.selections.items() if a != attr}, rule_ids)
    for rid in rule_ids:
        assert consistent(conflict.selections, rule_ids - {rid})


@COMMON
@given(data=models(), raw=selection_lists)
def test_explanations_exclude_and_completions_are_valid(enum_limit, data, raw):
    model = load_model_dict(data)
    engine = Configurator(model)
    selections = pick(raw)
    result = engine.configure(selections, explain=True)
    if not result.valid:
        return
    for state in result.attributes:
        for value, why in state.reasons.items():
            if state.id in why.selections:       # excluded only because another value is chosen
                assert why.selections == {state.id: selections[state.id]} and not why.rules
                continue
            sub = load_model_dict({**data, "rules": [r for r in data["rules"]
                                                     if r["id"] in {x.id for x in why.rules}]})
            assert reference.domains(sub, {**why.selections, state.id: value}) is None
    completion = engine.complete(selections)
    assert completion.valid
    assert reference.violations(model, completion.assignment) == []
    assert {a: completion.assignment[a] for a in selections} == selections
    cheapest = engine.complete(selections, minimize="cost")
    cost = ex.compile_fn(model.objective("cost"), lambda a, v, n: model.attribute(a).property(v, n))
    assert reference.violations(model, cheapest.assignment) == []
    assert cost(cheapest.assignment) == min(cost(s) for s in reference.solutions(model, selections))


@COMMON
@given(data=models(), raw=selection_lists)
def test_repaired_solutions_are_valid(enum_limit, data, raw):
    """Known solutions moved to what unit propagation forces under the selections are kept
    only when every rule holds for them, and so are those that took a target solution's
    values for the rules the move broke (flips.Flips.repaired)."""
    model = load_model_dict(data)
    engine = Configurator(model)
    lits = engine._lits(pick(raw))
    consistent, implied = engine._solver.propagate(assumptions=lits)
    if not consistent or engine.root is None:
        return
    flips, n = engine._flips, len(engine.enc.value_of)
    forced = {flips.attr_of[x]: x for x in implied if 0 < x <= n}
    excluded = {-x for x in implied if x < 0}
    target = engine._solve(lits)
    with mock.patch.object(flips_module, "CROSS_SHARE", 1.0):    # six attributes: let every one move
        for sol in engine._root_pool:
            for new in (flips.repaired(sorted(sol), forced, excluded, sol),
                        target and flips.repaired(sorted(sol), forced, excluded, sol, target)):
                if new:
                    assignment = dict(engine.enc.value_of[x] for x in new)
                    assert reference.violations(model, assignment) == []
                    assert set(lits) <= set(new)


@COMMON
@given(data=models(), steps=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4), st.booleans()),
                                     min_size=1, max_size=8))
def test_a_session_of_clicks_matches_enumeration(enum_limit, data, steps):
    """One engine through a session, as the configurator page uses it: each click picks a
    value still offered (or drops a pick), and every answer is exact although it is built
    from what earlier clicks left (known solutions, witnesses, repaired and crossed solutions,
    cached subsets, learnt proofs). Repairs run on every click and may move every attribute:
    the thresholds that keep them off only save time, and six attributes would never pass them."""
    model = load_model_dict(data)
    with mock.patch.object(propagate_module, "REPAIR_OPEN", 0), \
            mock.patch.object(flips_module, "CROSS_SHARE", 1.0):
        engine = Configurator(model)
        selections: dict = {}
        result = engine.configure(selections)
        for attr_index, value_index, drop in steps:
            attr = list(DOMAINS)[attr_index]
            if drop and selections:
                del selections[attr if attr in selections else next(iter(selections))]
            else:
                offered = next(s for s in result.attributes if s.id == attr).domain
                if not offered or attr in selections:
                    continue
                selections[attr] = offered[value_index % len(offered)]
            result = engine.configure(dict(selections))
            expected = reference.domains(model, selections)
            assert result.valid == (expected is not None)
            if expected is not None:
                assert {s.id: set(s.domain) for s in result.attributes} == expected


@COMMON
@given(data=models(), sessions=st.lists(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4)), min_size=1,
                                                 max_size=2), min_size=2, max_size=6))
def test_sessions_one_after_another_match_enumeration(enum_limit, data, sessions):
    """Sessions one after another on one engine, as the users of a model version share it: a
    session's first and second picks take values from the solutions that earlier sessions'
    first picks archived (`Propagation._archive`), and every answer stays exact. Answers are
    not taken from the cache, so each click propagates."""
    model = load_model_dict(data)
    engine = Configurator(model)
    for picks in sessions:
        selections: dict = {}
        for attr_index, value_index in picks:
            attr = list(DOMAINS)[attr_index]
            offered = next(s for s in engine.configure(dict(selections)).attributes if s.id == attr).domain
            if not offered or attr in selections:
                continue
            selections[attr] = offered[value_index % len(offered)]
            engine._cache.clear()
            result = engine.configure(dict(selections))
            assert {s.id: set(s.domain) for s in result.attributes} == reference.domains(model, selections)


def greedy_completion(model, selections: dict) -> dict:
    """What `complete` promises, by enumeration: each open attribute in model order takes its
    default, else its first value, that some solution still extends."""
    solutions = list(reference.solutions(model, selections))
    chosen = dict(selections)
    for attribute in model.attributes:
        if attribute.id in chosen:
            continue
        order = [v for v in [attribute.default] if v is not None] + [v for v in attribute.domain
                                                                     if v != attribute.default]
        chosen[attribute.id] = next(v for v in order if any(
            all(s[a] == w for a, w in chosen.items()) and s[attribute.id] == v for s in solutions))
    return chosen


@COMMON
@given(data=models(), raw=selection_lists, defaults=st.lists(st.integers(0, 9), min_size=len(ATTRS),
                                                             max_size=len(ATTRS)))
def test_the_completions_of_each_pick_are_the_completions_one_by_one(enum_limit, data, raw, defaults):
    """`complete_each` shares work between the picks (what the selections rule out, the values
    their completion passed over, one-flip witnesses) yet gives every pick exactly the greedy
    completion `complete` gives it, and a pick that does not fit a conflict."""
    data = {**data, "attributes": [
        {**a, "default": DOMAINS[a["id"]][d % len(DOMAINS[a["id"]])]} if d < 5 else a
        for a, d in zip(ATTRS, defaults)]}
    model = load_model_dict(data)
    engine = Configurator(model)
    selections = pick(raw)
    picks = [(a, v) for a in DOMAINS if a not in selections for v in DOMAINS[a]]
    for (attr, value), completion in zip(picks, engine.complete_each(selections, picks), strict=True):
        picked = {**selections, attr: value}
        assert completion.assignment == engine.complete(picked).assignment
        if reference.domains(model, picked) is None:
            assert not completion.valid and completion.conflicts
        else:
            assert completion.valid and completion.assignment == greedy_completion(model, picked)


@COMMON
@given(data=models(), raw=selection_lists)
def test_one_call_proves_the_rest_impossible_or_finds_a_solution(enum_limit, data, raw, monkeypatch):
    """`_some_open` says None only when every value asked about is impossible under the
    selections, and otherwise returns a valid configuration with the selections and one of
    them; the solver rebuilt afterwards (with what it learnt) still answers exactly."""
    model = load_model_dict(data)
    engine = Configurator(model)
    selections = pick(raw)
    expected = reference.domains(model, selections)
    if expected is None:
        return
    lits = engine._lits(selections)
    possible = {engine.enc.lit[(a, v)] for a, values in expected.items() for v in values}
    impossible = set(engine.enc.value_vars) - possible
    asked = [impossible] + [impossible | {y} for y in sorted(possible - set(lits))[:3]]
    for values in asked:
        literal = engine._solver.nof_vars() + 1
        chosen = engine._some_open(lits, literal, set(values), [])
        engine._retire(literal)
        if values == impossible:
            assert chosen is None
            continue
        assert chosen is not None and set(lits) <= set(chosen) and values & set(chosen)
        assert reference.violations(model, dict(engine.enc.value_of[x] for x in chosen)) == []
    monkeypatch.setattr(propagate_module, "RETIRED_MAX", -1)      # rebuild on the next retirement
    solver = engine._solver
    engine._retire(engine._solver.nof_vars() + 1)
    assert engine._solver is not solver
    engine._cache.clear()
    result = engine.configure(selections)
    assert {s.id: set(s.domain) for s in result.attributes} == expected
