"""One-flip neighbours of known solutions, checked rule by rule without the SAT solver.

Propagation tries them before its SAT probes: a neighbour that passes is a valid
configuration, so its values are possible without a solver call.
"""
from __future__ import annotations

from catalog import expr as ex
from catalog.model import ANY
from configurator.tables import cells_key, exact_cells, row_supports

CROSS_SHARE = 0.125      # a repair moving more of the attributes to the target is given up


class Flips:
    """One-flip witnesses: which values an attribute can switch to in a known solution while
    every rule still holds, judged without the SAT solver.

    A solution with one attribute changed only needs the rules over that attribute checked
    again, and the exactly-one structure holds by construction. Tables are checked with
    per-(position, value) row bitsets: for each table the rows matching the solution on every
    position but one are one AND chain, so whether a value fits at that position is one more
    AND (some allowed row matches; no forbidden row does). Rules whose clauses mention value
    variables only are checked on those clauses: a clause can only break if it loses its true
    literals, so only the clauses with the old value or against the new one are counted.
    Other rules are evaluated with their compiled expression (as in `configurator.reference`).
    A neighbour that passes is a valid configuration, so its values are possible: the answer
    stays exact.
    """

    def __init__(self, enc):
        model = enc.model
        attrs = [a.id for a in model.attributes]
        index = enc.attr_index
        self.first = [enc.attr_lits[a][0] for a in attrs]
        self.size = [len(enc.attr_lits[a]) for a in attrs]
        n = len(enc.value_of)
        self.attr_of = [0] * (n + 1)
        self.value_of = [None] * (n + 1)
        for x, (a, v) in enc.value_of.items():
            self.attr_of[x] = index[a]
            self.value_of[x] = v
        # (attribute indices, supports, allowed, cells of a solution, rows without `*`, has `*` rows)
        self.tables: list = []
        self.table_occ: list[list] = [[] for _ in attrs]    # attribute -> [(table, position)]
        self.clauses: list = []                             # (positive, negated) value variables
        self.occ_pos: dict[int, list[int]] = {}             # x -> clauses with literal x
        self.occ_neg: dict[int, list[int]] = {}             # x -> clauses with literal -x
        self.clause_occ: list[list] = [[] for _ in attrs]   # attribute -> clauses over its values
        self.expr_occ: list[list] = [[] for _ in attrs]     # attribute -> [(attr, scope, expression)]

        def prop(attr, value, name):
            return model.attribute(attr).property(value, name)

        for rule in model.rules:
            if rule.table is not None:
                rule_attrs = rule.table.attributes
                lazy = enc.lazy.get(rule.id)
                positions = tuple(index[a] for a in rule_attrs)
                if lazy is not None:
                    support, exact = lazy.support, lazy.exact
                else:
                    support, cells = row_supports(rule.table.rows, [model.attribute(a).domain for a in rule_attrs])
                    exact = exact_cells(cells, [self.first[k] for k in positions])
                wild = any(ANY in row for row in rule.table.rows)
                t = len(self.tables)
                self.tables.append((positions, support, rule.table.allowed, cells_key(positions), exact, wild))
                for p, k in enumerate(positions):
                    self.table_occ[k].append((t, p))
                continue
            clauses = enc.rule_clauses[rule.id]
            if all(abs(lit) <= n for c in clauses for lit in c):
                for c in clauses:
                    i = len(self.clauses)
                    self.clauses.append((frozenset(x for x in c if x > 0), frozenset(-x for x in c if x < 0)))
                    for lit in set(c):
                        (self.occ_pos if lit > 0 else self.occ_neg).setdefault(abs(lit), []).append(i)
                    for k in {self.attr_of[abs(lit)] for lit in c}:
                        self.clause_occ[k].append(i)
                continue
            rule_attrs = sorted(ex.scope(rule.expr))
            fn = ex.compile_fn(rule.expr, prop)
            scope = tuple((a, index[a]) for a in rule_attrs)
            for a in rule_attrs:
                self.expr_occ[index[a]].append((a, scope, fn))

    def _except(self, t: int, chosen) -> list[int]:
        """Per position of table t: the rows matching `chosen` on every other position."""
        positions, support = self.tables[t][:2]
        first = self.first
        cells = [sup[chosen[k] - first[k]] for sup, k in zip(support, positions)]
        m = len(cells)
        prefix = [-1] * (m + 1)
        for j in range(m):
            prefix[j + 1] = prefix[j] & cells[j]
        out = [0] * m
        acc = -1
        for j in range(m - 1, -1, -1):
            out[j] = prefix[j] & acc
            acc &= cells[j]
        return out

    def neighbours(self, chosen, open_, fixed, solution: frozenset | None = None) -> list[tuple[int, int]]:
        """(y, x) for each open value y of an attribute not in `fixed` such that the solution
        `chosen` (true value variables in model order) with y in place of x is valid."""
        attr_of, first, tables = self.attr_of, self.first, self.tables
        by_attr: dict[int, list[int]] = {}
        for y in open_:
            k = attr_of[y]
            if k not in fixed:
                by_attr.setdefault(k, []).append(y)
        masks: dict[int, list[int]] = {}
        counts: dict[int, int] = {}             # clause -> its true literals in the solution
        occ_pos, occ_neg, clauses = self.occ_pos, self.occ_neg, self.clauses
        out = []
        for k, ys in by_attr.items():
            f = first[k]
            for t, p in self.table_occ[k]:
                m = masks.get(t)
                if m is None:
                    m = masks[t] = self._except(t, chosen)
                mp = m[p]
                sup = tables[t][1][p]
                if tables[t][2]:
                    ys = [y for y in ys if sup[y - f] & mp]
                else:
                    ys = [y for y in ys if not sup[y - f] & mp]
                if not ys:
                    break
            old = chosen[k]
            if ys and (old in occ_pos or any(y in occ_neg for y in ys)):
                if solution is None:
                    solution = frozenset(chosen)
                keep = []
                for y in ys:
                    for c in occ_pos.get(old, []) + occ_neg.get(y, []):
                        pos, neg = clauses[c]
                        true = counts.get(c)
                        if true is None:
                            true = counts[c] = len(pos & solution) + len(neg) - len(neg & solution)
                        if true - (old in pos) + (old in neg) + (y in pos) - (y in neg) <= 0:
                            break
                    else:
                        keep.append(y)
                ys = keep
            if ys and self.expr_occ[k]:
                value_of = self.value_of
                for attr, scope, fn in self.expr_occ[k]:
                    env = {a: value_of[chosen[j]] for a, j in scope}
                    keep = []
                    for y in ys:
                        env[attr] = value_of[y]
                        if fn(env):
                            keep.append(y)
                    ys = keep
                    if not ys:
                        break
            if ys:
                out += [(y, old) for y in ys]
        return out

    def repaired(self, chosen, forced: dict[int, int], excluded: set, solution: frozenset,
                 target=None) -> list[int] | None:
        """The solution `chosen` (true value variables in model order) moved to the values
        that unit propagation forces under the selections: `forced` maps an attribute to the
        value it must take, and a chosen value in `excluded` (forced false) gives way to the
        first value of its attribute that is not. The result if every rule over a changed
        attribute holds for it; else, given a `target` (a solution that holds the selections,
        in model order), the attributes of each broken rule take the target's values until no
        rule breaks; else None.

        After a pick that no known solution contains, the previous solutions mostly need just
        those changes (a feature's parents, its excluded alternatives), so each repaired one is
        a new solution that covers thousands of values without a SAT call. Where they need
        more (on Automotive01 a new feature's subtree, the group it joins), the target's values
        settle the rules around the pick and the rest of the old solution stays: a rule that
        still breaks has an attribute off the target, so each round moves one at least and the
        result is at worst the target itself. Rules over an attribute moved in a round are
        checked again in the next, so every rule over a changed attribute holds at the end.
        A solution that needs more than CROSS_SHARE of its attributes moved is given up: it
        is close to the target, so it covers little, and on the generated model the old
        solutions of a session's start took 0.3 to 1.5 ms each for a few values.
        """
        new = list(chosen)
        changed = []
        for k, x in forced.items():
            if new[k] != x:
                new[k] = x
                changed.append(k)
        attr_of, first, size = self.attr_of, self.first, self.size
        for x in solution & excluded:
            k = attr_of[x]
            if new[k] == x:
                new[k] = next((y for y in range(first[k], first[k] + size[k]) if y not in excluded), 0)
                if not new[k]:
                    return None
                changed.append(k)
        budget = len(new) * CROSS_SHARE     # attributes that may still move to the target
        present = set(new)
        while changed:
            broken = list(self._broken(new, changed, present))
            if not broken:
                return new
            if target is None:
                return None
            changed = []
            for scope in broken:
                for k in scope:
                    if new[k] != target[k]:
                        present.discard(new[k])
                        new[k] = target[k]
                        present.add(new[k])
                        changed.append(k)
            budget -= len(changed)
            if budget < 0:
                return None
        return new

    def _broken(self, new, changed, present: set):
        """The attribute indices of each rule over the `changed` attributes that `new` breaks
        (`present`: the values of `new` as a set, kept by the caller across its moves).

        A table is judged by one set lookup of its cells among its rows without `*`, and by
        its row bitsets only when it has rows with `*` that the lookup cannot see: a repair
        that fails changes about 90 attributes on the generated model, and judging their
        tables took 0.21 ms with bitsets, 0.17 ms so."""
        first, tables, clauses = self.first, self.tables, self.clauses
        value_of, attr_of = self.value_of, self.attr_of
        seen_tables, seen_clauses, seen_exprs = set(), set(), set()
        for k in changed:
            for t, _ in self.table_occ[k]:
                if t in seen_tables:
                    continue
                seen_tables.add(t)
                positions, support, allowed, key, exact, wild = tables[t]
                if key(new) in exact:
                    if not allowed:
                        yield positions
                    continue
                if not wild:
                    if allowed:
                        yield positions
                    continue
                rows = -1
                for sup, j in zip(support, positions):
                    rows &= sup[new[j] - first[j]]
                    if not rows:
                        break
                if bool(rows) != allowed:
                    yield positions
            for c in self.clause_occ[k]:
                if c not in seen_clauses:
                    seen_clauses.add(c)
                    pos, neg = clauses[c]
                    if pos.isdisjoint(present) and neg <= present:
                        yield {attr_of[x] for x in pos | neg}
            for _, scope, fn in self.expr_occ[k]:
                if id(fn) not in seen_exprs:
                    seen_exprs.add(id(fn))
                    if not fn({a: value_of[new[j]] for a, j in scope}):
                        yield [j for _, j in scope]
