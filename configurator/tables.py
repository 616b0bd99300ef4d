"""Large allowed tables, checked outside the CNF.

A selector variable per row would make every SAT call re-propagate every row of such a
table, so the encoder leaves it to a `LazyTable`, which checks the solver's solutions against
per-(position, value) row bitsets (`row_supports`); the engine's one-flip checks use the same
bitsets for every table. The propagation solver and the explanation solver both check their
solutions with `nogoods`, and each table keeps the nogoods learnt so that one solver can
import those the other found.
"""
from __future__ import annotations

import itertools
import operator

from catalog.model import ANY


_WILD, _OUT = 255, 254       # row_supports: byte codes of a `*` cell and of a value outside the domain


def row_supports(rows, domains) -> tuple[list[list[int]], list[tuple[int, ...]]]:
    """Per (position, domain index) the bitset (a Python int) of the rows that allow that value
    there (a `*` cell allows every value), and the domain indices of the rows without `*`.
    Rows holding a value outside a domain match nothing and are left out.

    Each column becomes one byte per row (its domain index); a value's bitset is then that
    string translated to '0'/'1' and read as a binary number, all of it in C.
    """
    unique = list(dict.fromkeys(rows))
    index = [{v: i for i, v in enumerate(d)} for d in domains]
    columns = []
    if unique and all(len(d) < _OUT for d in domains):
        for ix, cells in zip(index, zip(*unique)):
            codes = dict(ix)
            codes[ANY] = _WILD
            col = bytes(map(codes.get, cells, itertools.repeat(_OUT)))
            if _OUT in col:
                columns = []
                break
            columns.append(col)
    if not columns:             # huge domains or values outside a domain: row by row
        return _row_supports_slow(unique, index)
    support = []
    for pos, col in enumerate(columns):
        backwards = col[::-1]               # row 0 becomes the lowest bit
        masks = []
        wild = _WILD in col
        for i in range(len(domains[pos])):
            table = bytearray(b"0" * 256)
            table[i] = ord("1")
            if wild:
                table[_WILD] = ord("1")
            bits = backwards.translate(table)
            masks.append(int(bits, 2) if bits else 0)
        support.append(masks)
    exact = [cells for cells in zip(*columns) if _WILD not in cells]
    return support, exact


def _row_supports_slow(unique, index):
    support = [[0] * len(ix) for ix in index]
    exact = []
    r = 0
    for row in unique:
        if not all(v == ANY or v in ix for v, ix in zip(row, index)):
            continue
        bit = 1 << r
        r += 1
        for pos, (v, ix) in enumerate(zip(row, index)):
            if v == ANY:
                for j in range(len(ix)):
                    support[pos][j] |= bit
            else:
                support[pos][ix[v]] |= bit
        if ANY not in row:
            exact.append(tuple(ix[v] for v, ix in zip(row, index)))
    return support, exact


def cells_key(positions: tuple[int, ...]):
    """A function from a solution's true value variables (one per attribute, in model order)
    to the tuple of its cells at `positions`, computed in C."""
    if len(positions) == 1:
        return lambda chosen, k=positions[0]: (chosen[k],)
    return operator.itemgetter(*positions)


def exact_cells(exact, first) -> frozenset:
    """`row_supports`' rows without `*` as tuples of value variables (`first`: each position's
    first variable), the form `cells_key` gives a solution's cells in."""
    return frozenset(tuple(map(operator.add, first, cells)) for cells in exact)


class LazyTable:
    """A large allowed table kept out of the CNF.

    Encoding 100k+ rows with a selector variable each makes every SAT call re-propagate
    millions of clauses. Instead the solver gets the table's implied unary and pairwise
    nogoods up front; every solution it proposes is checked against the rows here, and a
    violated table yields a minimal unsupported sub-tuple as a new clause. Such clauses are
    consequences of the table, so adding them is always sound, and a solution only counts
    once every table accepts it: answers stay exact.

    A solution is checked as the tuple of its chosen value variables on the table's
    attributes: one set lookup when it matches a row without `*`. Otherwise rows are
    indexed by per-(position, value) bitsets (Python ints), so "does any row match these
    cells" is a few big-integer ANDs.
    """

    def __init__(self, rule_id: str, attrs: tuple[str, ...], rows, lits: list[list[int]], domains,
                 positions: tuple[int, ...]):
        self.rule_id = rule_id
        self.attrs = attrs
        self.rows = rows
        self.eager: list | None = None
        self.nogoods: list[list[int]] = []     # every nogood learnt from this table, in order
        self.lits = lits                       # position -> value variables, in domain order
        self.first = [xs[0] for xs in lits]    # position -> its attribute's first variable
        self.positions = positions             # position -> attribute index in the model
        self.key = cells_key(positions)
        self.support, exact = row_supports(rows, domains)
        self.exact = exact_cells(exact, self.first)

    def implied_clauses(self) -> list[list[int]]:
        out = []
        for pos, masks in enumerate(self.support):
            out += [[-self.lits[pos][i]] for i, m in enumerate(masks) if not m]
        for p, q in itertools.combinations(range(len(self.attrs)), 2):
            for i, mp in enumerate(self.support[p]):
                if not mp:
                    continue
                for j, mq in enumerate(self.support[q]):
                    if mq and not mp & mq:
                        out.append([-self.lits[p][i], -self.lits[q][j]])
        return out

    def check(self, chosen) -> list[int] | None:
        """None if the solution (`chosen`: its true value variables in model order) matches a
        row; else a clause forbidding a minimal set of its cells that no row supports."""
        cells_vars = self.key(chosen)
        if cells_vars in self.exact:
            return None
        chosen_idx = [x - f for x, f in zip(cells_vars, self.first)]
        support = self.support
        mask = -1
        for pos, i in enumerate(chosen_idx):
            mask &= support[pos][i]
            if not mask:
                cells = list(range(pos + 1))
                break
        else:
            return None
        for pos in list(cells):                 # drop cells that are not needed for the conflict
            rest = [p for p in cells if p != pos]
            mask = -1
            for p in rest:
                mask &= support[p][chosen_idx[p]]
                if not mask:
                    break
            if not mask:
                cells = rest
        return [-self.lits[p][chosen_idx[p]] for p in cells]


def rejections(tables, chosen) -> list[tuple[LazyTable, list[int]]]:
    """(table, nogood) for each of the `tables` that rejects a solution (`chosen`: its true
    value variables in model order); none if every table accepts it. Each nogood is also
    recorded on its table."""
    out = []
    for table in tables:
        if table.key(chosen) not in table.exact:
            clause = table.check(chosen)
            if clause:
                table.nogoods.append(clause)
                out.append((table, clause))
    return out
