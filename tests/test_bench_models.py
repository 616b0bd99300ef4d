"""The benchmark's model builders (bench/): DIMACS conversion and the synthetic generator.

Small inputs only; nothing here reads ../shared (the benchmark itself does).
"""
import itertools

from bench.featuremodels import attribute_ids, parse_dimacs, sanitise, to_model_dict
from bench.generate import generate, write_files
from bench.oracle import Oracle, RuleChecker
from catalog.loader import load_model_dict, load_model_file
from configurator.engine import Configurator

DIMACS = """c 1 Root Feature
c 2 and
c 3 Ça-va (x86)!
c 4 4K Display
p cnf 5 6
1 0
-2 1 0
-3 1 0
2 3
-4 0
-2 -3 0
-5 5 0
"""


def test_sanitise_and_ids():
    assert sanitise("Ça-va (x86)!") == "a_va_x86"
    d = parse_dimacs(DIMACS)
    assert d.nvars == 5 and len(d.clauses) == 6
    ids = attribute_ids(d)
    assert ids == {1: "f1_root_feature", 2: "f2_and", 3: "f3_a_va_x86", 4: "f4_4k_display", 5: "f5"}


def test_converted_model_has_exactly_the_dimacs_solutions():
    d = parse_dimacs(DIMACS)
    model = load_model_dict(to_model_dict(d, "tiny"))
    ids = attribute_ids(d)
    cfg = Configurator(model)
    for bits in itertools.product([False, True], repeat=d.nvars):
        expected = all(any(bits[abs(x) - 1] == (x > 0) for x in c) for c in d.clauses)
        selections = {ids[v]: bits[v - 1] for v in ids}
        assert cfg.configure(selections).valid == expected, selections


def test_oracle_agrees_with_engine_on_dimacs():
    d = parse_dimacs(DIMACS)
    ids = attribute_ids(d)
    cfg = Configurator(load_model_dict(to_model_dict(d, "tiny")))
    lit_of = {}
    for v, aid in ids.items():
        lit_of[(aid, True)], lit_of[(aid, False)] = v, -v
    oracle = Oracle(d.clauses, lit_of)
    for sel in ({}, {ids[2]: True}, {ids[4]: True}):
        report = oracle.check(sel, cfg.configure(sel), time_cap=30)
        assert report["errors"] == [] and not report["partial"]
    # the oracle does catch a wrong answer
    result = cfg.configure({})
    wrong = result.__class__(**{**result.__dict__, "attributes": tuple(
        st.__class__(st.id, st.selected, st.domain[:1], st.excluded + st.domain[1:]) if st.id == ids[5] else st
        for st in result.attributes)})
    assert oracle.check({}, wrong, time_cap=30)["errors"]


def small():
    return generate(seed=7, n_attrs=30, n_tables=25, target_rows=3000, n_planted=6, n_int=4,
                    n_bool=3, max_arity=6)


def test_generated_model_is_satisfiable_by_its_planted_configurations():
    g = small()
    assert g.rows == sum(len(r["table"]["allowed"]) for r in g.model["rules"])
    model = load_model_dict(g.model)
    checker = RuleChecker(model)
    cfg = Configurator(model)
    for p in g.planted:
        assert checker.violated(p) == []
        assert cfg.configure(p).valid
    # every table holds the planted projections
    for rule in g.model["rules"]:
        rows = {tuple(r) for r in rule["table"]["allowed"]}
        for p in g.planted:
            assert tuple(p[a] for a in rule["table"]["attributes"]) in rows
    assert small().model == g.model        # seeded


def test_generated_model_round_trips_through_csv_files(tmp_path):
    g = small()
    path = write_files(g.model, tmp_path)
    from_files = load_model_file(path)
    from_dict = load_model_dict(g.model)
    assert [r.table for r in from_files.rules] == [r.table for r in from_dict.rules]
    assert from_files.attributes == from_dict.attributes
