"""Exactness checks for bench/configurator.py, independent of the engine's answers.

`Oracle` re-derives every offered and excluded value of a propagation with a fresh solver on
a CNF of the model's own origin; `RuleChecker` evaluates the plain rules on complete
assignments; `ConflictChecker` proves an explanation's conflict inconsistent and minimal.
"""
from __future__ import annotations

import time

ORACLE_SOLVER = "glucose4"      # the engine uses glucose4 too, but on its own encoding
CONFLICT_SOLVER = "minisat22"   # another solver kind for the conflict checks


class RuleChecker:
    """Evaluates every rule of a model on a complete assignment, without the encoder: the
    plain rules of configurator.reference, indexed by attribute for one-attribute changes."""

    def __init__(self, model):
        from configurator.reference import rule_predicates
        self.checks = rule_predicates(model)
        self.by_attr: dict[str, list] = {}
        for check in self.checks:
            for a in check[1]:
                self.by_attr.setdefault(a, []).append(check)

    def violated(self, assignment: dict, checks=None) -> list[str]:
        return [rule.id for rule, attrs, predicate in (self.checks if checks is None else checks)
                if not predicate(*(assignment[a] for a in attrs))]

    def flip_ok(self, assignment: dict, attr: str, value) -> bool:
        """Whether `assignment` (valid) with attr=value is still valid: rules over attr only."""
        trial = dict(assignment)
        trial[attr] = value
        return not self.violated(trial, self.by_attr.get(attr, []))


class Oracle:
    """Independent exactness check: a fresh solver of another kind on a CNF, with a map from
    (attribute, value) to a literal of that CNF."""

    def __init__(self, clauses, lit_of: dict, checker: RuleChecker | None = None):
        from pysat.solvers import Solver
        self.solver = Solver(name=ORACLE_SOLVER, bootstrap_with=clauses)
        self.lit_of = lit_of
        self.pairs_of: dict[int, list] = {}
        for pair, x in lit_of.items():
            self.pairs_of.setdefault(x, []).append(pair)
        self.checker = checker

    def check(self, selections: dict, result, time_cap: float) -> dict:
        t0 = time.perf_counter()
        s = self.solver
        base = [self.lit_of[(a, v)] for a, v in selections.items()]
        offered, excluded = [], []
        for st in result.attributes:
            offered += [(st.id, v) for v in st.domain]
            excluded += [(st.id, v) for v in st.excluded]
        errors, witnessed = [], set()
        n_solve = n_witness_checked = n_flip = 0
        done_off = done_exc = 0
        partial = False
        pool: list[dict] = []          # complete assignments verified valid by direct evaluation
        for pair in offered:
            if time.perf_counter() - t0 > time_cap:
                partial = True
                break
            done_off += 1
            if pair in witnessed:
                continue
            if self.checker is not None and pair[0] not in selections:
                # a verified solution with just this attribute changed, checked rule by rule
                if any(self.checker.flip_ok(w, *pair) for w in pool[-8:]):
                    n_flip += 1
                    continue
            n_solve += 1
            if not s.solve(assumptions=base + [self.lit_of[pair]]):
                errors.append(f"{pair[0]}={pair[1]} offered but no solution has it")
                continue
            model = s.get_model()
            true = set(x for x in model)
            for x in true:
                witnessed.update(self.pairs_of.get(x, ()))
            if self.checker is not None:
                n_witness_checked += 1
                assignment = {a: v for (a, v), x in self.lit_of.items() if x in true}
                bad = self.checker.violated(assignment)
                if bad:
                    errors.append(f"witness for {pair[0]}={pair[1]} violates rules {bad[:5]}")
                else:
                    pool.append(assignment)
        n_up = 0
        for pair in excluded:
            if partial or time.perf_counter() - t0 > time_cap:
                partial = True
                break
            done_exc += 1
            lits = base + [self.lit_of[pair]]
            ok, _ = s.propagate(assumptions=lits)
            if not ok:                       # unit propagation refutes it: UNSAT
                n_up += 1
                continue
            n_solve += 1
            if s.solve(assumptions=lits):
                errors.append(f"{pair[0]}={pair[1]} excluded but a solution has it")
        return {"offered": len(offered), "excluded": len(excluded), "checked_offered": done_off,
                "checked_excluded": done_exc, "errors": errors, "partial": partial,
                "solves": n_solve, "up_refuted": n_up, "witness_rule_checks": n_witness_checked,
                "flip_witnesses": n_flip,
                "seconds": time.perf_counter() - t0}


def describe(c: dict) -> str:
    return (f"{c['checked_offered']}/{c['offered']} offered, {c['checked_excluded']}/{c['excluded']} excluded "
            f"values verified ({c['solves']} solves, {c['up_refuted']} refuted by UP, {c['flip_witnesses']} "
            f"one-flip witnesses) in {c['seconds']:.1f}s" + (" PARTIAL (time cap)" if c["partial"] else "")
            + (f"; ERRORS: {c['errors'][:3]}" if c["errors"] else ""))


class ConflictChecker:
    """Checks that an explanation's conflict is real and minimal, on clauses of the model's
    origin (the DIMACS clauses of a feature model; the complete row-selector encoding of the
    generated one): the conflict's selections, the explained value and its rules have no
    solution together, and dropping any one selection or rule gives one."""

    def __init__(self, base, clauses_of, lit_of: dict):
        self.base = base                    # clauses that always hold (exactly-one structure)
        self.clauses_of = clauses_of        # rule id -> its clauses
        self.lit_of = lit_of                # (attribute, value) -> literal

    def errors(self, attr: str, value, conflict) -> list[str]:
        from pysat.solvers import Solver
        explained = self.lit_of[(attr, value)]
        picks = [self.lit_of[(a, v)] for a, v in conflict.selections.items()]
        rule_clauses = [self.clauses_of(r.id) for r in conflict.rules]
        top = max([abs(x) for cs in [self.base, *rule_clauses] for c in cs for x in c]
                  + [abs(x) for x in picks + [explained]])
        clauses, selectors = list(self.base), []
        for cs in rule_clauses:             # each rule hangs on a selector, so it can be dropped
            top += 1
            selectors.append(top)
            clauses += [c + [-top] for c in cs]
        with Solver(name=CONFLICT_SOLVER, bootstrap_with=clauses) as solver:
            everything = [explained] + picks + selectors
            out = []
            if solver.solve(assumptions=everything):
                out.append(f"{attr}={value}: the conflict {conflict.message!r} has a solution")
            for x in everything[1:]:
                if not solver.solve(assumptions=[y for y in everything if y != x]):
                    out.append(f"{attr}={value}: the conflict {conflict.message!r} is not minimal")
                    break
            return out
