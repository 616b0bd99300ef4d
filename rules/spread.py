"""Quote-level discounts spread over a quote's priced lines (rules.engine, step 6).

Each discount is rounded once and allocated over the lines, in the (id) order given, by the
largest remainder (fixed amounts over one-time lines only), never taking a line below its
floor. The split works in integers (core.money.split_units), so the lines' nets and floors
are kept as whole numbers of 10**-scale units (floors may be finer than the currency) and the
lines' Decimal nets are set once, by `settle`: converting every net for every discount was
most of the quote-level time. A share that a floor cuts is worked out in Decimals.
"""

from __future__ import annotations

from decimal import Decimal

from core.money import ZERO, Currency, split_units
from rules.results import Step, tuple_new


class Spread:
    """The discounts of one quote, spread one after the other over its lines (each with
    `net`, `floor`, `charge` and `steps`, which a spread updates)."""

    def __init__(self, cur: Currency, lines: list):
        self.cur, self.lines = cur, lines
        self.scale = scale = max([cur.minor_units] + [-p.floor.as_tuple().exponent for p in lines
                                                      if p.floor is not None])
        self.per_quantum = 10 ** (scale - cur.minor_units)
        self.units = [int(p.net.scaleb(scale)) for p in lines]
        self.floors = [None if p.floor is None else int(p.floor.scaleb(scale)) for p in lines]
        # the lines that take a share: above zero (a free item is at zero), of any charge
        # (False) or one-time (True, for fixed amounts); thinned when a line reaches zero
        priced = [i for i, u in enumerate(self.units) if u > 0]
        self.eligible = {False: priced, True: [i for i in priced if lines[i].charge == "one_time"]}
        self.spent = False                    # some line of `eligible` reached zero
        self.steps = [p.steps for p in lines]
        self.moved: set[int] = set()          # lines whose Decimal net may be behind their units
        self.pinned: set[int] = set()         # lines cut to their floor: their net is the floor

    def __call__(self, kind: str, rule: str | None, label: str, exact: Decimal, fixed: bool) -> Step | None:
        """Spread `exact`; returns the step as given (None when nothing was)."""
        units, floors, per_quantum = self.units, self.floors, self.per_quantum
        if self.spent:
            self.eligible = {k: [i for i in v if units[i] > 0] for k, v in self.eligible.items()}
            self.spent = False
        eligible = self.eligible[fixed]
        if not eligible:
            return None
        weights = [units[i] for i in eligible]
        total = min(int(self.cur.round(exact).scaleb(self.scale)), sum(weights))  # rounding point 2
        quanta, rest = divmod(total, per_quantum)
        if rest:
            raise ValueError(f"{Decimal(total).scaleb(-self.scale)} is not a multiple of {self.cur.quantum}")
        quantum, steps = self.cur.quantum, self.steps
        given, cut = 0, ZERO                  # in quanta, and the shares that floors cut
        for i, part, weight in zip(eligible, split_units(quanta, weights), weights):
            if not part:
                continue
            share = part * per_quantum
            floor = floors[i]
            if floor is not None and (share > weight - floor or share < 0):
                if share < 0 or weight <= floor:     # nothing is added to a line with a floor
                    continue
                self.settle(i)                       # the floor takes the rest
                p = self.lines[i]
                amount = p.net - p.floor
                p.net -= amount
                units[i] = floor
                self.pinned.add(i)
                self.spent = self.spent or floor <= 0
                cut += amount
                steps[i].append(tuple_new(Step, (kind, rule, label, amount)))
                continue
            units[i] = weight - share
            if share == weight:
                self.spent = True
            given += part
            steps[i].append(tuple_new(Step, (kind, rule, label, quantum * part)))
        # a line that took no share gets its own net back from its units (nets are in whole
        # quanta until a floor cuts them, and those lines are pinned)
        self.moved.update(eligible)
        if self.pinned:
            self.moved -= self.pinned
        given = quantum * given + cut
        return Step(kind, rule, label, given) if given else None

    def settle(self, *which: int) -> None:
        """Set the Decimal nets of the lines that moved (of `which`, when given)."""
        for i in which or tuple(self.moved):
            if i in self.moved:
                self.lines[i].net = Decimal(self.units[i] // self.per_quantum).scaleb(-self.cur.minor_units)
                self.moved.discard(i)
