"""Minimal conflicts on a solver whose rules can be switched off.

`Explainer` keeps a second solver in which each rule's clauses hang on a selector literal:
a rule holds only while its selector is assumed, so a consistency check of "these
selections with these rules" is one call under assumptions, and an unsatisfiable call's
core already names a (not yet minimal) conflict, which `minimal_conflict` then shrinks.
"""
from __future__ import annotations

from typing import Callable, Collection, Sequence, TypeVar

from pysat.examples.hitman import Hitman
from pysat.solvers import Solver

from configurator.tables import rejections

T = TypeVar("T")
HARD_AFTER = 8           # solutions a lazy table rejects in one explanation before it is encoded


def minimal_conflict(background: Sequence[T], items: Sequence[T],
                     check: Callable[[list[T]], tuple[bool, Collection[T]]]) -> list[T]:
    """A minimal subset C of `items` such that background + C is inconsistent, in the order
    of `items`, keeping earlier items where several minimal conflicts exist.

    Deletion with core refinement: each item in turn, from the last, is dropped if the rest
    stays inconsistent, and then the check's unsatisfiable core drops every other item it
    does not need; an item whose removal makes the rest consistent is in every conflict that
    remains. That is one check per item of the final conflict plus one per refinement, where
    QuickXplain took about twice as many on the generated model (most of them satisfiable,
    the expensive kind). `check(xs)` says whether background + xs is consistent and, if it
    is not, gives a core (a subset of xs that is inconsistent).
    Requires background alone to be consistent and background + items not.
    """
    necessary: list[T] = []
    rest = list(items)
    while rest:
        x = rest.pop()
        consistent, core = check(list(background) + necessary + rest)
        if consistent:
            necessary.append(x)
        else:
            rest = [y for y in rest if y in core]
    order = {x: i for i, x in enumerate(items)}
    return sorted(necessary, key=order.__getitem__)


class Explainer:
    """Minimal conflicts among selections and rules, on a solver with a selector per rule.

    Large allowed tables stay lazy here too (`configurator.tables`): their complete
    row-selector encoding took 5 s and 300 MB to build on 200k rows, and every consistency
    check then cost tens of milliseconds. A lazy table's implied clauses hang on its
    selector; a solution is checked against the tables whose selectors are assumed, and a
    table that rejects it records a nogood, which is added here behind that selector (the
    propagation solver's nogoods are imported the same way). A nogood is a consequence of its
    table, so the guarded clause holds whenever the table does: a check says "consistent"
    only for a solution that every assumed table accepts, and "inconsistent" only when the
    assumed rules really clash. Cores and minimal conflicts are those of the complete encoding.

    A nogood forbids one small box of cells, though, and a sparse table that must fit a few
    tight rules can reject hundreds of solutions in a row. A table that rejects HARD_AFTER
    solutions during one explanation is therefore encoded completely (row selectors, once,
    behind a second selector) and that encoding is switched on for the rest of the
    explanation only: switched on for every explanation, the encodings of tables that are
    easy elsewhere made other explanations up to ten times slower.
    """

    def __init__(self, enc, solver_name: str):
        self._enc = enc
        self._solver = Solver(name=solver_name, bootstrap_with=enc.structure)
        self.rule_of: dict[int, str] = {}            # selector -> rule id
        self._selector: dict[str, int] = {}
        for rule_id, clauses in enc.rule_clauses.items():
            s = enc.new_var()                        # after the encoding's own variables
            self._selector[rule_id] = s
            self.rule_of[s] = rule_id
            self._solver.append_formula([c + [-s] for c in clauses])
        self._lazy = {self._selector[t.rule_id]: t for t in enc.lazy.values()}   # selector -> table
        self._imported = {s: 0 for s in self._lazy}  # selector -> its table's nogoods added
        self._complete: dict[int, int] = {}          # selector -> switch of the table's complete encoding
        self._switched: dict[int, int] = {}          # switch -> selector
        self._hard: set[int] = set()                 # tables encoded completely in this explanation
        self._rejects: dict[int, int] = {}           # selector -> solutions rejected in this explanation
        self._nvalues = len(enc.value_of)

    def _import(self) -> None:
        """Add the nogoods the tables recorded since the last call, each behind its selector."""
        for s, table in self._lazy.items():
            new = table.nogoods[self._imported[s]:]
            if new:
                self._solver.append_formula([c + [-s] for c in new])
                self._imported[s] += len(new)

    def _switch_on(self, s: int) -> None:
        """Use the complete encoding of table `s` for the rest of this explanation (built on
        first use). Its row variables are false while it is off, so they cost no decisions."""
        self._hard.add(s)
        if s in self._complete:
            return
        enc = self._enc
        on = enc.new_var()
        first = enc.nvars + 1
        clauses = [c + [-on] for c in enc.row_selector_clauses(self._lazy[s].rule_id)]
        clauses += [[on, -row] for row in range(first, enc.nvars + 1)]
        self._solver.append_formula(clauses)
        self._complete[s] = on
        self._switched[on] = s

    def consistent(self, assumptions: list[int]) -> bool:
        """Whether the assumed selections and rules (selectors) have a solution."""
        active = set(assumptions)
        solver, n = self._solver, self._nvalues
        while True:
            hard = self._hard & active
            switches = [on if s in hard else -on for s, on in self._complete.items()]
            if not solver.solve(assumptions=assumptions + switches):
                return False
            tables = [t for s, t in self._lazy.items() if s in active and s not in hard]
            if not tables:          # nothing to check: spare fetching the model (all row variables)
                return True
            rejected = rejections(tables, [x for x in solver.get_model()[:n] if x > 0])
            if not rejected:
                return True
            self._import()
            for table, _ in rejected:
                s = self._selector[table.rule_id]
                self._rejects[s] = self._rejects.get(s, 0) + 1
                if self._rejects[s] == HARD_AFTER:
                    self._switch_on(s)

    def conflict(self, background: list[int], items: list[int]) -> list[int] | None:
        """A minimal subset of `items` (selection literals) and of the rules' selectors that is
        inconsistent with `background`, or None if everything together is consistent."""
        self._import()
        self._hard, self._rejects = set(), {}
        everything = items + list(self.rule_of)
        if self.consistent(background + everything):
            return None
        return minimal_conflict(background, self._core(everything), self._check)

    def correction(self, background: list[int], items: list[int]) -> list[int] | None:
        """A minimum-cardinality subset of `items` whose removal makes background + the other
        items consistent, or None if background is inconsistent on its own.

        Implicit hitting sets: every unsatisfiable core among the items is a conflict that any
        correction must break, so a smallest set hitting the cores found so far (pysat's
        Hitman, MaxSAT underneath) is a lower bound; once removing it leaves a consistent
        rest it is a correction, and no smaller one exists. Each failed try adds its core.
        """
        self._import()
        self._hard, self._rejects = set(), {}
        rules = list(self.rule_of)
        if not self.consistent(background + rules):
            return None
        if self.consistent(background + rules + items):
            return []
        with Hitman(bootstrap_with=[self._core(items) or items], htype="sorted") as hitman:
            while True:
                drop = set(hitman.get())
                kept = [x for x in items if x not in drop]
                if self.consistent(background + rules + kept):
                    return [x for x in items if x in drop]
                hitman.hit(self._core(kept) or kept)

    def _core(self, items: list[int]) -> list[int]:
        """The items in the core of the last (unsatisfiable) check. A table's complete encoding
        hangs on its own switch, which stands for the table's selector here."""
        core = {self._switched.get(x, x) for x in self._solver.get_core() or items}
        return [x for x in items if x in core]

    def _check(self, assumptions: list[int]) -> tuple[bool, list[int]]:
        if self.consistent(assumptions):
            return True, []
        return False, self._core(assumptions)
