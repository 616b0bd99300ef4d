"""Minimal conflicts (configurator/explain.py): the shrinking algorithm on its own, and
explanations on lazy tables checked against the tables' complete encoding."""
from __future__ import annotations

import itertools
import random

import pytest

from bench.generate import generate
from bench.oracle import ConflictChecker
from catalog.loader import load_model_dict
from configurator import encode as encode_module
from configurator import explain as explain_module
from configurator.engine import Configurator
from configurator.explain import minimal_conflict


def family_check(bad_sets, calls):
    """A consistency check where a set is inconsistent iff it holds one of `bad_sets`; its core
    is the first such set."""
    def check(xs):
        calls.append(list(xs))
        present = set(xs)
        for bad in bad_sets:
            if bad <= present:
                return False, sorted(bad)
        return True, []
    return check


@pytest.mark.parametrize("seed", range(200))
def test_minimal_conflict_is_inconsistent_and_minimal(seed):
    rng = random.Random(seed)
    items = list(range(1, rng.randint(2, 12)))
    background = [100] if rng.random() < 0.5 else []
    pool = items + background
    bad_sets = [set(rng.sample(pool, rng.randint(1, min(4, len(pool))))) for _ in range(rng.randint(1, 4))]
    bad_sets = [b for b in bad_sets if not b <= set(background)] or [{items[-1]}]   # background is consistent
    calls = []
    check = family_check(bad_sets, calls)
    found = minimal_conflict(background, items, check)
    assert len(calls) <= len(items)             # one check per item at most
    assert found == sorted(found) and set(found) <= set(items)
    assert not check(background + found)[0]
    for x in found:
        assert check(background + [y for y in found if y != x])[0]


def test_minimal_conflict_needs_no_check_for_a_single_item():
    calls = []
    assert minimal_conflict([], [7], family_check([{7}], calls)) == [7]
    assert calls == [[]]


def small_model():
    return generate(seed=11, n_attrs=40, n_tables=40, target_rows=6000, n_planted=6, n_int=4,
                    n_bool=3, max_arity=7)


@pytest.mark.parametrize("hard_after", [1, explain_module.HARD_AFTER, 10**9])
def test_explanations_on_lazy_tables_are_minimal_conflicts(monkeypatch, hard_after):
    """Every excluded value after a few picks is explained by a conflict that the complete
    row-selector encoding (built only here, by the checker) confirms real and minimal, whether
    tables stay lazy, switch to their complete encoding when hard, or switch at once. The
    engine never builds the complete encoding of the whole model for that."""
    monkeypatch.setattr(encode_module, "LAZY_MIN_ROWS", 8)        # tight tables are lazy too
    monkeypatch.setattr(explain_module, "HARD_AFTER", hard_after)
    g = small_model()
    cfg = Configurator(load_model_dict(g.model))
    enc = cfg.enc
    assert len(enc.lazy) >= 10
    def complete_clauses(rule_id):          # the complete encoding, left uncached on the engine
        extra = enc.row_selector_clauses(rule_id) if rule_id in enc.lazy else []
        return enc.rule_clauses[rule_id] + extra
    checker = ConflictChecker(enc.structure, complete_clauses, enc.lit)
    explained = 0
    for session in range(4):
        rng = random.Random(session)
        selections: dict = {}
        result = cfg.configure(selections)
        for _ in range(3):
            undecided = [st for st in result.attributes if st.id not in selections and len(st.domain) > 1]
            st = rng.choice(undecided)
            selections[st.id] = rng.choice(st.domain)
            result = cfg.configure(selections)
        excluded = [(st.id, v) for st in result.attributes if st.id not in selections for v in st.excluded]
        for attr, value in itertools.islice(excluded, 0, None, max(1, len(excluded) // 12)):
            explanation = cfg.explain(selections, attr, value)
            assert not explanation.possible and explanation.conflict is not None
            assert checker.errors(attr, value, explanation.conflict) == []
            explained += 1
    assert explained >= 40
    assert all(t.eager is None for t in enc.lazy.values())
