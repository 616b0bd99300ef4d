"""Exact propagation: which values extend the selections to a complete valid configuration.

`Propagation` owns the incremental SAT solver (glucose under assumptions, with the large
tables checked lazily) and the known solutions that spare it calls: solutions of the last
propagation and of the root analysis, those found at earlier sessions' first picks, their
one-flip witnesses, repairs of solutions that
lack a new pick, batched probes for what is left, and one call that proves every remaining
value impossible at once (docs/configurator.md, Propagation).
`Configurator` builds on it; answers are cached there.
"""
from __future__ import annotations

import itertools
from operator import ne
from time import thread_time

from pysat.solvers import Solver

from catalog import expr as ex
from configurator.flips import Flips
from configurator.tables import rejections

POOL_SIZE = 512          # verified solutions kept from one propagation for the next
BATCH = 16               # open values assumed together in one propagation probe
LINK_MAX = 16            # rules over at most this many attributes keep their values out of one batch
FLIPS = True             # try one-flip neighbours of known solutions before SAT probes
FLIP_POOL = 16           # known solutions whose one-flip neighbours are tried before any SAT call
FLIP_RETRY = 8           # neighbour checks that cover less than SAT probes still run every 8th time ...
FLIP_WAIT_MAX = 64       # ... then ever more rarely, down to every 64th time
LEARN_REASONS = 2        # a value proven impossible by at most this many selections becomes a clause
REPAIR_BELOW = 8         # fewer known solutions than this hold the selections: repair others
REPAIR_OPEN = 200        # ... or more values than this are open after them
REPAIR_TRIES = 32        # known solutions tried for repair at most
ARCHIVE_PICKS = 2        # solutions of propagations with at most this many selections are archived ...
ARCHIVE_VALUES = 131_072 # ... as many as hold this many values in all (524 on the generated model)
RETIRED_MAX = 0.25       # the solver is rebuilt once retired activation literals outnumber a quarter of its variables


class Propagation:
    """The propagation solver and what it keeps between interactions."""

    def __init__(self, enc, solver: str):
        self._enc, self._solver_name = enc, solver
        self._learnt: list[list[int]] = []         # short proofs added to the solver (kept for a rebuild)
        self._lazy = list(enc.lazy.values())
        self._lazy_over: list[list[int]] = [[] for _ in enc.model.attributes]   # attribute -> its lazy tables
        for i, table in enumerate(self._lazy):
            for k in table.positions:
                self._lazy_over[k].append(i)
        self._accepted: list[int] | None = None    # the last solution every lazy table accepted
        self._solver = self._new_solver()
        self._base_vars = self._solver.nof_vars()
        self._nvalues = len(enc.value_of)
        self._pool: list[frozenset] = []           # verified solutions of the last propagation
        self._witness: dict = {}                   # value -> (solution, value it replaces): one-flip witnesses
        self._root_pool: list[frozenset] = []      # the root analysis's, kept once it is done
        self._root_witness: dict = {}
        # solutions found at a session's first picks, offered to later sessions' first picks
        # (they only cover values: kept out of the pool, so later clicks do not carry them)
        self._archive: list[frozenset] = []
        self._archive_size = max(FLIP_POOL, ARCHIVE_VALUES // len(enc.model.attributes))
        # values covered per second of this thread's CPU time (wall time on a shared machine
        # counts the waits for a core, and single repairs then looked slow enough to stop them:
        # Automotive01 under load took 25 solver calls per click instead of 11 to 17)
        self._flip_rate: float | None = None       # by neighbour checks ...
        self._sat_rate = 0.0                       # ... and by SAT probes (moving averages)
        self._flip_wait = FLIP_RETRY // 2          # neighbour checks skipped after one that lost ...
        self._flip_skip = 0                        # ... and how many are still to skip
        self._attr_of = {x: attr for x, (attr, _) in enc.value_of.items()}
        # attributes that share a (small) rule: their values are kept out of one probe batch,
        # where they would clash more often than values of unrelated attributes
        linked: dict[str, set] = {a.id: {a.id} for a in enc.model.attributes}
        for rule in enc.model.rules:
            scope = rule.table.attributes if rule.table is not None else tuple(ex.scope(rule.expr))
            if len(scope) <= LINK_MAX:
                for a in scope:
                    linked[a].update(scope)
        self._linked = linked
        self._flips = Flips(enc) if FLIPS else None

    def _new_solver(self) -> Solver:
        """The encoding's clauses with everything learnt so far: the lazy tables' nogoods (they
        follow from their tables, whichever solver found them) and the short proofs."""
        enc = self._enc
        solver = Solver(name=self._solver_name, bootstrap_with=enc.structure)
        for clauses in enc.rule_clauses.values():
            solver.append_formula(clauses)
        for table in self._lazy:
            solver.append_formula(table.nogoods)
        solver.append_formula(self._learnt)
        return solver

    def _solve(self, assumptions: list[int]) -> list[int] | None:
        """A solution under `assumptions` as its true value variables (one per attribute, in
        model order), or None. Solutions the lazy tables reject teach the solver a nogood and
        are searched again, so only real solutions come out."""
        solver, n = self._solver, self._nvalues
        while solver.solve(assumptions=assumptions):
            chosen = [x for x in solver.get_model()[:n] if x > 0]
            rejected = rejections(self._unchecked(chosen), chosen)
            if not rejected:
                self._accepted = chosen
                return chosen
            solver.append_formula([clause for _, clause in rejected])
        return None

    def _unchecked(self, chosen: list[int]) -> list:
        """The lazy tables that must check `chosen`, in their order: those over an attribute
        whose value differs from the last solution they all accepted. The others see the same
        cells, so they accept them again: on the generated model consecutive solutions differ
        in about 40 of 250 attributes, and checking all 180 lazy tables took 0.2 ms a solution."""
        accepted = self._accepted
        if accepted is None or not self._lazy:
            return self._lazy
        touched = set().union(*itertools.compress(self._lazy_over, map(ne, chosen, accepted)))
        return [self._lazy[i] for i in sorted(touched)]

    def _possible(self, lits: list[int], candidates: frozenset | None) -> frozenset | None:
        """Value variables that extend `lits` to a solution, or None if `lits` is inconsistent.

        Solutions are kept as frozensets of their true value variables (set operations on
        them run in C). Every open value is first tried as a one-flip neighbour of a known
        solution (checked rule by rule, no solver); only what is left is probed by SAT calls.
        """
        solver = self._solver
        wanted = set(lits)
        pool = [sol for sol in self._pool if wanted <= sol]   # still solutions: reuse them
        pool += self._flip_witnesses(self._witness, wanted)
        archived = []
        if len(pool) < FLIP_POOL and self._root_pool:     # a new session: the root's solutions
            pool += [sol for sol in self._root_pool if wanted <= sol][:FLIP_POOL]
            pool += self._flip_witnesses(self._root_witness, wanted)
            archived = [sol for sol in self._archive if wanted <= sol]
        found_from = len(pool)
        consistent, implied = solver.propagate(assumptions=lits)
        if not consistent:
            return None
        ruled_out = {-x for x in implied if x < 0}
        values = (frozenset(range(1, self._nvalues + 1)) if candidates is None else candidates) - ruled_out
        open_ = set(values)
        for sol in itertools.chain(pool, archived):   # (a set difference runs over the smaller side)
            open_ = open_ - sol
            if not open_:
                break
        if (len(pool) < REPAIR_BELOW or len(open_) > REPAIR_OPEN) and self._flips is not None:
            if not self._repairs(lits, wanted, implied, ruled_out, pool, open_):
                return None
        if not self._seeded(lits, pool, open_):
            return None
        witness: dict = {}
        flips = self._flips
        flipping = flips is not None    # neighbour checks keep up with SAT probes in this propagation
        fixed = set() if flips is None else {flips.attr_of[x] for x in lits}
        if open_ and flipping:
            for sol in pool[-FLIP_POOL:]:
                found, flipping = self._neighbours(sol, open_, fixed)
                for y, old in found:
                    witness[y] = (sol, old)
                open_.difference_update(y for y, _ in found)
                if not open_ or not flipping:
                    break
        covered = [-y for y in values.difference(open_)]
        proven: set = set()         # open values shown impossible; the rest get covered
        rest_impossible = False     # the last probe proved its value impossible: try all the rest at once
        some_open = None            # activation literal of "some open value holds" (made on first use)
        while open_:
            started = thread_time()
            if rest_impossible:
                if some_open is None:
                    some_open = solver.nof_vars() + 1
                chosen = self._some_open(lits, some_open, open_, covered)
                if chosen is None:
                    proven |= open_
                    break
                x, rest_impossible = None, False
            else:
                x = open_.pop()
                chosen = self._probe(lits, x, open_, covered, proven)
                if chosen is None:
                    proven.add(x)
                    rest_impossible = True
                    continue
                covered.append(-x)
            solution = frozenset(chosen)
            pool.append(solution)
            fresh = open_.intersection(solution)
            open_ -= fresh
            covered += [-y for y in fresh]
            gained = len(fresh) + (x is not None)
            self._sat_rate += 0.05 * (gained / max(thread_time() - started, 1e-6) - self._sat_rate)
            if flipping and open_:
                found, flipping = self._neighbours(solution, open_, fixed, chosen)
                for y, old in found:
                    witness[y] = (solution, old)
                fresh = [y for y, _ in found]
                open_.difference_update(fresh)
                covered += [-y for y in fresh]
        if some_open is not None:
            self._retire(some_open)
        self._pool = pool[-POOL_SIZE:]
        self._witness = witness
        if len(lits) <= ARCHIVE_PICKS:
            self._archive = (self._archive + pool[found_from:])[-self._archive_size:]
        return values - proven

    def _probe(self, lits: list[int], x: int, open_: set, covered: list, proven: set) -> list[int] | None:
        """A solution with the selections, `x` and as many other open values as a batch holds,
        or None if `x` is impossible. Companions the call proves impossible leave `open_` for
        `proven`."""
        solver, attr_of, linked = self._solver, self._attr_of, self._linked
        # Assume a few open values of other attributes with x: a solution then covers
        # them all. If that fails, the core names the companions to drop, x stays.
        batch, seen = [x], set(linked[attr_of[x]])
        for y in open_:
            if len(batch) == BATCH:
                break
            if attr_of[y] not in seen:
                seen |= linked[attr_of[y]]
                batch.append(y)
        # steer towards uncovered values and away from covered ones (the solver's phase
        # saving overwrites them on every satisfiable call, so they are set again for each
        # probe; a call that fails on its assumptions changes few of them)
        solver.set_phases(list(open_) + covered)
        while True:
            chosen = self._solve(lits + batch)
            if chosen is not None or len(batch) == 1:
                return chosen
            core = set(solver.get_core() or batch)
            culprits = [y for y in batch if y in core]
            if len(culprits) <= 1:          # the selections alone exclude that value
                if not culprits:
                    return None             # (cannot happen: the selections have a solution)
                reasons = [-z for z in lits if z in core]
                if len(reasons) <= LEARN_REASONS:   # a short consequence: later calls get it by UP
                    self._learn([reasons + [-culprits[0]]])
                if culprits[0] == x:
                    return None             # x proven impossible, no retry needed
                open_.discard(culprits[0])  # a companion proven impossible: drop it for good
                proven.add(culprits[0])
            batch = [x] + [y for y in batch[1:] if y not in core]

    def _some_open(self, lits: list[int], some_open: int, open_: set, covered: list) -> list[int] | None:
        """A solution with the selections and at least one open value, or None: then every
        open value is impossible, proven by one call instead of one per value.

        Probes assume a batch of open values and cover many per solution, but a value that is
        impossible costs a call of its own. Once a probe proves one, the rest are often
        impossible too (on the generated model a pick can leave 390 values that unit
        propagation does not rule out, each with a proof of its own): one call then settles
        them, and if it finds a solution instead, the batched probes go on.
        The clause hangs on `some_open`, and each call of a propagation adds a stronger one
        (the open values only shrink), so one activation literal serves a whole propagation.
        """
        solver = self._solver
        solver.add_clause([-some_open, *open_])
        solver.set_phases(list(open_) + covered)
        chosen = self._solve(lits + [some_open])
        if chosen is None:
            core = set(solver.get_core() or ())
            reasons = [-z for z in lits if z in core]
            if len(reasons) <= LEARN_REASONS:       # short proofs, as for single values
                self._learn([reasons + [-y] for y in open_])
        return chosen

    def _learn(self, clauses: list[list[int]]) -> None:
        self._learnt += clauses
        self._solver.append_formula(clauses)

    def _retire(self, literal: int) -> None:
        """Switch an activation literal off for good. Each one costs the solver a variable
        (and every model read a value), so the solver is rebuilt with what it learnt once
        they outnumber a quarter of its own variables."""
        self._solver.add_clause([-literal])
        if self._solver.nof_vars() - self._base_vars > RETIRED_MAX * self._base_vars:
            self._solver.delete()
            self._solver = self._new_solver()

    def _repairs(self, lits: list[int], wanted: set, implied: list[int], ruled_out: set, pool: list,
                 open_: set) -> bool:
        """Known solutions without the current selections, repaired to hold them
        (`Flips.repaired`), added to `pool` and taken out of `open_`: the newest of the last
        propagation's, then the root's, up to REPAIR_TRIES, until one fails or covers fewer
        open values per second than SAT probes do (on the generated model the newest succeed
        and older ones fail or move far, so trying on would only cost time). Once one fails
        with the forced values alone, a solution of the pool is the others' target (found by
        one SAT call if the pool is empty: False if the selections have no solution). On
        Automotive01 the forced values alone mostly failed after a pick that no known solution
        held, and such a click then took 25 to 35 SAT calls."""
        n, attr_of = self._nvalues, self._flips.attr_of
        forced = {attr_of[x]: x for x in implied if 0 < x <= n}
        target = None
        tried = 0
        for sol in itertools.chain(reversed(self._pool), reversed(self._root_pool)):
            if wanted <= sol:
                continue
            if tried == REPAIR_TRIES or not open_:
                break
            tried += 1
            started = thread_time()
            chosen = sorted(sol)
            new = self._flips.repaired(chosen, forced, ruled_out, sol, target)
            if new is None and target is None:
                if not self._seeded(lits, pool, open_):
                    return False
                target = sorted(pool[-1])
                started = thread_time()
                new = self._flips.repaired(chosen, forced, ruled_out, sol, target)
            if new is None:
                break
            new = frozenset(new)
            fresh = open_ & new
            open_ -= fresh
            pool.append(new)
            if len(fresh) < self._sat_rate * (thread_time() - started):
                break
        return True

    def _seeded(self, lits: list[int], pool: list, open_: set) -> bool:
        """Whether the selections have a solution: one of `pool`, else one SAT call's, added
        to it and its values taken out of `open_`."""
        if not pool:
            found = self._solve(lits)
            if found is None:
                return False
            pool.append(frozenset(found))
            open_ -= pool[-1]
        return True

    def _neighbours(self, solution, open_, fixed, chosen=None) -> tuple[list[tuple[int, int]], bool]:
        """The one-flip neighbours of a solution that cover open values, when checking them is
        worth it, and whether this check kept up with SAT probes. `chosen` is the solution in
        model order when the caller has it: a known solution is sorted only for a check that
        runs (on Automotive01, sorting sixteen for checks that were then skipped took 5% of a
        click). Their yield (values per second) is tracked against that of SAT probes, and a
        model where they find little (feature models whose open values need many changes) only
        tries them now and then, twice as rarely after each try that still loses (on
        Automotive01 a try cost 1.5 ms for one value or two). Within one propagation, checks stop after the first that loses: on
        the generated model a session's first pick went on with a dozen checks of 0.7 ms that
        found nothing while the moving average still remembered the first ones' yield."""
        if self._flip_skip:
            self._flip_skip -= 1
            return [], True
        if chosen is None:
            chosen = sorted(solution)
        rate = self._flip_rate
        started = thread_time()
        found = self._flips.neighbours(chosen, open_, fixed, solution)
        sample = len(found) / max(thread_time() - started, 1e-6)
        self._flip_rate = sample if rate is None else rate + 0.2 * (sample - rate)
        if self._flip_rate < self._sat_rate:
            self._flip_wait = min(2 * self._flip_wait, FLIP_WAIT_MAX)
            self._flip_skip = self._flip_wait
        else:
            self._flip_wait = FLIP_RETRY // 2
        return found, sample >= self._sat_rate

    @staticmethod
    def _flip_witnesses(witness: dict, wanted: set) -> list[frozenset]:
        """Solutions among a propagation's one-flip witnesses that contain `wanted`."""
        out = []
        for y in wanted:
            found = witness.get(y)
            if found is not None:
                sol, old = found
                if old not in wanted and wanted - {y} <= sol:
                    out.append((sol - {old}) | {y})
        return out
