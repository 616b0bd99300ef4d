"""The SAT-backed configurator: validate, propagate, explain, complete.

One `Configurator` is compiled per model version and cached. Propagation is exact: a value
is offered iff some complete valid configuration extends the selections with it. It is
computed with an incremental SAT solver under assumptions, with solution-guided pruning:
every model found marks all its values possible, the one-flip neighbours of known solutions
(one attribute changed, the rules over it re-checked in Python) mark more without the
solver, and the solver's phases are pointed at the values not yet covered so that each call
covers as many as it can. Values proven impossible for a subset of the selections stay
impossible, so results are cached per selection set and reused as candidate bounds for the
next interaction. The propagation itself is `configurator.propagate.Propagation`, and
explanations are `configurator.explain.Explainer`.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from functools import cached_property
from itertools import compress
from typing import Iterable, Mapping

from pysat.examples.rc2 import RC2
from pysat.formula import WCNF

from catalog.model import ProductModel, Rule, Value
from configurator import bom as bom_module
from configurator import reference
from configurator.encode import RuleEncoder, encode, flatten
from configurator.explain import Explainer
from configurator.propagate import Propagation
from configurator.results import (AttributeState, Completion, ConfigureResult, Conflict,
                                  Correction, Explanation, RuleRef, SelectionError)
from core.cache import LruCache

SOLVER = "glucose4"       # fastest here on both the generated model and Automotive01
CACHE_SIZE = 4096
STATES_PER_ATTRIBUTE = 64  # unselected attribute states kept for reuse, per attribute

_NEGATE = bytes.maketrans(b"\x00\x01", b"\x01\x00")


def _both(a: bytes, b: bytes) -> bytes:
    """The values possible in both masks: one AND of two big integers (masks hold 0/1 bytes)."""
    return (int.from_bytes(a, "little") & int.from_bytes(b, "little")).to_bytes(len(a), "little")


class InvalidConfiguration(ValueError):
    def __init__(self, conflicts: tuple[Conflict, ...]):
        super().__init__("; ".join(c.message for c in conflicts))
        self.conflicts = conflicts


class IncompleteConfiguration(ValueError):
    def __init__(self, undecided: list[str]):
        super().__init__("not every attribute is decided: " + ", ".join(undecided))
        self.undecided = undecided


class Configurator(Propagation):
    def __init__(self, model: ProductModel, solver: str = SOLVER):
        self.model = model
        self.enc = encode(model)
        self._solver_name = solver
        self._lock = threading.RLock()
        super().__init__(self.enc, solver)
        # attribute -> (id, domain, first variable, last variable + 1): value variables are
        # numbered attribute by attribute, so an attribute's slice of a mask is contiguous
        self._layout = []
        for a in model.attributes:
            xs = self.enc.attr_lits[a.id]
            self._layout.append((a.id, a.domain, xs[0], xs[0] + len(xs)))
        self._states: list[dict] = [{} for _ in self._layout]   # attribute -> mask slice -> state
        self._explainer: Explainer | None = None
        self._rule_predicates: list | None = None
        self._cache: OrderedDict = OrderedDict()
        self.root = self._possible([], None)      # values possible with nothing selected
        self._root_pool, self._root_witness = self._pool, self._witness   # kept: every session starts there
        self._root_mask = None if self.root is None else self._mask(self.root)

    # selections ----------------------------------------------------------------------------
    def parse_selections(self, raw: Mapping[str, object], field: str = "selections") -> dict[str, Value]:
        if not isinstance(raw, Mapping):
            raise SelectionError(field, "expected an object of attribute: value")
        out = {}
        for attr, value in raw.items():
            if not isinstance(attr, str) or not self.model.has_attribute(attr):
                raise SelectionError(f"{field}.{attr}", "unknown attribute")
            try:
                out[attr] = self.model.attribute(attr).coerce(value)
            except ValueError as exc:
                raise SelectionError(f"{field}.{attr}", str(exc)) from None
        return out

    def _lits(self, selections: Mapping[str, Value]) -> list[int]:
        return [self.enc.lit[(a, v)] for a, v in selections.items()]

    # propagation ---------------------------------------------------------------------------
    def possible(self, lits: list[int]) -> bytes | None:
        """A mask (mask[x] == 1 iff value variable x is possible), or None if inconsistent.

        Masks are cached per selection set (one byte per value, so thousands fit in memory).
        """
        key = frozenset(lits)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            bound = self._root_mask                 # a value impossible for a subset stays impossible
            for x in lits if bound is not None else ():
                sub = self._cache.get(key - {x}, b"")
                if sub is None:
                    bound = None
                    break
                if sub:
                    bound = _both(bound, sub)
            result = None
            if bound is not None:
                candidates = frozenset(compress(range(len(bound)), bound))
                found = self._possible(lits, candidates)
                if found is not None:
                    mask = bytearray(bound)
                    for x in candidates - found:
                        mask[x] = 0
                    result = bytes(mask)
            self._cache[key] = result
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return result

    def _mask(self, values: Iterable[int]) -> bytes:
        mask = bytearray(self._nvalues + 1)
        for x in values:
            mask[x] = 1
        return bytes(mask)

    def consistent(self, selections: Mapping[str, Value]) -> bool:
        """One checked solve; a cached propagation answers without the solver."""
        lits = self._lits(selections)
        with self._lock:
            cached = self._cache.get(frozenset(lits), False)
            if cached is not False:
                return cached is not None
            return self._solve(lits) is not None

    def configure(self, raw: Mapping[str, object], explain: bool = False) -> ConfigureResult:
        selections = self.parse_selections(raw)
        lits = self._lits(selections)
        possible = self.possible(lits)
        conflicts: tuple[Conflict, ...] = ()
        applied = list(selections)
        if possible is None:
            conflicts = (self.conflict(selections),)
            applied = self._consistent_prefix(selections)
            possible = self.possible(self._lits({a: selections[a] for a in applied}))
        if possible is None:                    # not even the empty selection: no solution at all
            possible = bytes(self._nvalues + 1)
        impossible = possible.translate(_NEGATE)
        states = []
        applied_sel = {a: selections[a] for a in applied}
        for (attr, domain, lo, hi), seen in zip(self._layout, self._states):
            here = possible[lo:hi]
            if not explain and attr not in selections:
                state = seen.get(here)          # states are immutable: reuse the last one like it
                if state is None:
                    state = AttributeState(attr, None, tuple(compress(domain, here)),
                                           tuple(compress(domain, impossible[lo:hi])))
                    if len(seen) < STATES_PER_ATTRIBUTE:
                        seen[here] = state
                states.append(state)
                continue
            excluded = tuple(compress(domain, impossible[lo:hi]))
            reasons = {}
            if explain:
                for v in excluded:      # excluded only by its own selection if nothing else
                    reasons[v] = (self._reason(applied_sel, attr, v)
                                  or Conflict({attr: applied_sel[attr]}, ()))
            states.append(AttributeState(attr, selections.get(attr), tuple(compress(domain, here)),
                                         excluded, reasons))
        return ConfigureResult(self.model.product, self.model.version, selections,
                               valid=not conflicts, attributes=tuple(states), conflicts=conflicts,
                               applied=tuple(applied))

    def _consistent_prefix(self, selections: dict[str, Value]) -> list[str]:
        """The longest prefix of the selections (in the order given) that is consistent."""
        names = list(selections)
        lo, hi = 0, len(names)          # prefix of length lo is consistent, hi is not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.consistent({a: selections[a] for a in names[:mid]}):
                lo = mid
            else:
                hi = mid
        return names[:lo]

    # explanations --------------------------------------------------------------------------
    def _minimal_conflict(self, background: list[int], selections: Mapping[str, Value]) -> Conflict | None:
        sel_lits = {self.enc.lit[(a, v)]: (a, v) for a, v in selections.items()}
        with self._lock:
            found = self._explanations().conflict(background, list(sel_lits))
        if found is None:
            return None
        rule_of = self._explainer.rule_of
        picks = {sel_lits[x][0]: sel_lits[x][1] for x in found if x in sel_lits}
        rules = tuple(RuleRef(rule_of[x], self.model.rule(rule_of[x]).message) for x in found if x in rule_of)
        return Conflict(picks, rules)

    def _explanations(self) -> Explainer:
        """The explanation solver, built on first use (about 20 ms per 10k rules)."""
        with self._lock:
            if self._explainer is None:
                self._explainer = Explainer(self.enc, self._solver_name)
            return self._explainer

    def conflict(self, selections: Mapping[str, Value]) -> Conflict:
        found = self._minimal_conflict([], selections)
        if found is None:
            raise ValueError("the selections are consistent")
        return found

    def _reason(self, selections: Mapping[str, Value], attr: str, value: Value) -> Conflict | None:
        """Why `attr` cannot take `value`, judged against the *other* selections: for a selected
        attribute that says whether switching would conflict. None if nothing excludes it."""
        others = {a: v for a, v in selections.items() if a != attr}
        return self._minimal_conflict([self.enc.lit[(attr, value)]], others)

    def _pick(self, attr: str, value: object) -> Value:
        if not self.model.has_attribute(attr):
            raise SelectionError("attribute", "unknown attribute")
        try:
            return self.model.attribute(attr).coerce(value)
        except ValueError as exc:
            raise SelectionError("value", str(exc)) from None

    def explain(self, raw: Mapping[str, object], attr: str, value: object) -> Explanation:
        selections = self.parse_selections(raw)
        value = self._pick(attr, value)
        others = {a: v for a, v in selections.items() if a != attr}
        lits = self._lits(others)
        possible = self.possible(lits)
        if possible is None:
            raise InvalidConfiguration((self.conflict(others),))
        if possible[self.enc.lit[(attr, value)]]:
            return Explanation(attr, value, True)
        return Explanation(attr, value, False, self._reason(others, attr, value))

    def switch(self, raw: Mapping[str, object], attr: str, value: object) -> Correction:
        """Pick `attr` = `value` whatever was chosen before: the smallest set of the other
        selections to drop so that the pick holds (a minimum correction set, exact), and the
        selections after dropping them. A previous value of `attr` is replaced, not dropped."""
        selections = self.parse_selections(raw)
        value = self._pick(attr, value)
        others = {a: v for a, v in selections.items() if a != attr}
        sel_lits = self._lits(others)
        with self._lock:
            found = self._explanations().correction([self.enc.lit[(attr, value)]], sel_lits)
        if found is None:
            return Correction(attr, value, False)
        dropped = {self.enc.value_of[x][0] for x in found}
        after = {a: v for a, v in selections.items() if a not in dropped}
        after[attr] = value
        return Correction(attr, value, True, {a: others[a] for a in others if a in dropped}, after)

    # completion ----------------------------------------------------------------------------
    def complete(self, raw: Mapping[str, object], minimize: str | None = None) -> Completion:
        """Fill every unset attribute with a valid completion.

        Without `minimize`: defaults first, then each attribute's first consistent value, in
        model order. With `minimize=prop`: a configuration with the exact minimum of `prop`
        rolled up over the BOM and the chosen values (e.g. "cost"), then as many defaults as
        that minimum allows (weighted MaxSAT, lexicographic weights).
        """
        selections = self.parse_selections(raw)
        lits = self._lits(selections)
        with self._lock:
            if minimize:
                lits = None if self._solve(lits) is None else self._cheapest(lits, selections, minimize)
            else:
                lits = self._greedy(lits, selections)
            if lits is None:
                return Completion(False, dict(selections), (self.conflict(selections),))
        assignment = dict(self.enc.value_of[x] for x in lits if x in self.enc.value_of)
        return Completion(True, {a.id: assignment[a.id] for a in self.model.attributes})

    def complete_each(self, raw: Mapping[str, object], picks: Iterable[tuple[str, object]]) -> list[Completion]:
        """`complete({**raw, attr: value})` for each (attr, value) of `picks` (attributes `raw`
        leaves open), sharing their work. Adding a pick to `raw` only takes solutions away, so
        what is impossible for `raw` is impossible for each pick: the values its propagation
        rules out are never probed, and those its completion passed over (proven impossible
        after the same earlier choices) are not probed again while a pick's completion makes
        the same choices. A pick whose value fits `raw`'s completion as a one-flip neighbour
        starts from that solution instead of a solver call. Every pick still gets the first
        preferred value that fits, exactly as `complete` does."""
        selections = self.parse_selections(raw)
        lits = self._lits(selections)
        wanted = []
        for attr, raw_value in picks:
            if attr in selections:
                raise ValueError(f"{attr} is selected: a pick must add to the selections")
            value = self._pick(attr, raw_value)
            wanted.append(({**selections, attr: value}, self.enc.lit[(attr, value)]))
        with self._lock:
            possible = self.possible(lits)
            base = None if possible is None else self._greedy(lits, selections, possible)
            known: dict[int, frozenset] = {}       # pick -> the base solution with just that value changed
            if base is not None and self._flips is not None:
                solution = frozenset(base)
                for y, old in self._flips.neighbours(sorted(base), {x for _, x in wanted if possible[x]}, set(),
                                                     solution):
                    known[y] = solution - {old} | {y}
            choice = None if base is None else {self.enc.value_of[x][0]: x for x in base}
            out = []
            for picked, x in wanted:
                found = None
                if base is not None and possible[x]:
                    found = self._greedy(self._lits(picked), picked, possible, choice, known.get(x))
                if found is None:
                    out.append(Completion(False, picked, (self.conflict(picked),)))
                    continue
                assignment = dict(self.enc.value_of[y] for y in found)
                out.append(Completion(True, {a.id: assignment[a.id] for a in self.model.attributes}))
        return out

    def _greedy(self, lits: list[int], selections: Mapping[str, Value], possible: bytes | None = None,
                base: Mapping[str, int] | None = None, known: frozenset | None = None) -> list[int] | None:
        """Each open attribute's first preferred value that still extends to a solution, in
        model order; None if `lits` has no solution. Which solution shows a value possible does
        not change the answer, so the first solve doubles as the consistency check, and a
        `known` solution of `lits` spares it. Known impossible, and so not probed
        (`complete_each`): values `possible` (the mask of a subset of `lits`) rules out, and
        while every attribute so far has `base`'s value (the greedy completion of that
        subset), the values `base` passed over."""
        preferred = self._preferred
        self._solver.set_phases([xs[0] for xs in preferred.values()])
        first = known if known is not None else self._solve(lits)
        if first is None:
            return None
        current = set(first)
        chosen = dict(zip(selections, lits))
        lits = list(lits)
        same = base is not None
        for attribute in self.model.attributes:
            x = chosen.get(attribute.id)
            if x is None:
                passed_over = preferred[attribute.id].index(base[attribute.id]) if same else 0
                for x in preferred[attribute.id][passed_over:]:
                    if x in current:
                        break
                    if possible is not None and not possible[x]:
                        continue
                    model = self._solve(lits + [x])
                    if model is not None:
                        current = set(model)
                        break
                lits.append(x)
            same = same and x == base[attribute.id]
        return lits

    @cached_property
    def _preferred(self) -> dict[str, tuple[int, ...]]:
        """Each attribute's values in the order a completion tries them: the default first."""
        out = {}
        for attribute in self.model.attributes:
            lits = list(self.enc.attr_lits[attribute.id])
            if attribute.default is not None:
                lits.insert(0, lits.pop(attribute.domain.index(attribute.default)))
            out[attribute.id] = tuple(lits)
        return out

    def _cheapest(self, lits: list[int], selections: Mapping[str, Value], prop: str) -> list[int]:
        known = self.model.property_names()
        if prop not in known:       # a typo would otherwise be minimised as a constant
            expected = ", ".join(sorted(known)) or "none defined"
            raise SelectionError("minimize", f"unknown property {prop!r}; expected one of {expected}")
        encoder = RuleEncoder(self.enc, Rule("objective", "", "constraint"))
        terms: list = []
        flatten(self.model.objective(prop), 1, terms)
        tables, _ = encoder.term_tables(terms)
        defaults = [self.enc.lit[(a.id, a.default)] for a in self.model.attributes
                    if a.default is not None and a.id not in selections]
        scale = 10 ** max([0] + [-v.as_tuple().exponent for _, values in tables for v in values])
        heavy = len(defaults) + 1          # one unit of cost outweighs every default
        formula = WCNF()
        formula.extend(self.enc.structure)
        for rule_id in self.enc.rule_clauses:
            formula.extend(self.enc.eager_clauses(rule_id))
        formula.extend([x] for x in lits)
        for order, values in tables:
            low = min(values)
            for v, not_taken in encoder.value_conditions(order, values).items():
                if v > low:
                    formula.append(not_taken, weight=int((v - low) * scale) * heavy)
        formula.extend(encoder.out)
        for x in defaults:
            formula.append([x], weight=1)
        with RC2(formula) as maxsat:
            model = maxsat.compute()
        return [x for x in model[: self._nvalues] if x > 0]

    # bill of materials ---------------------------------------------------------------------
    def bom(self, raw: Mapping[str, object]):
        """The BOM of a complete valid configuration (attributes decided by rules may be omitted).

        A configuration that gives every attribute (a completion, as pricing passes) needs no
        propagation: the plain rules alone say whether it is valid."""
        assignment = self.parse_selections(raw)
        if len(assignment) < len(self.model.attributes):
            result = self.configure(assignment)
            if not result.valid:
                raise InvalidConfiguration(result.conflicts)
            undecided = [a.id for a in result.attributes if not a.decided]
            if undecided:
                raise IncompleteConfiguration(undecided)
            assignment = result.assignment()
        broken = reference.violations(self.model, assignment, self._predicates())
        if broken:
            if self.consistent(assignment):   # the SAT encoding and the plain rules disagree: never ship that BOM
                raise RuntimeError(f"encoding error: {[r.id for r in broken]} violated by {assignment}")
            raise InvalidConfiguration((self.conflict(assignment),))
        return bom_module.build(self.model, assignment)

    def _predicates(self) -> list:
        """The plain rules compiled once, for checking complete configurations."""
        if self._rule_predicates is None:
            self._rule_predicates = reference.rule_predicates(self.model)
        return self._rule_predicates


MAX_MODELS = 32
_CONFIGURATORS: LruCache[Configurator] = LruCache(MAX_MODELS)


def get_configurator(model: ProductModel) -> Configurator:
    """The compiled configurator for a model version (compiled once per content digest)."""
    return _CONFIGURATORS.get(model.digest, lambda: Configurator(model))
