"""Numeric comparisons over many attributes, compiled to CNF as layered decision diagrams.

`NumericEncoder` holds the part of `configurator.encode.RuleEncoder` that turns a rule such
as `total(power) <= psu.watts` into clauses: terms grouped by the attributes they read and
tabulated, then a decision diagram over partial sums whose nodes merge the partial sums with
the same future. MaxSAT minimisation uses the same tabulation for its objective.
"""
from __future__ import annotations

import bisect
import itertools
from decimal import Decimal

from catalog import expr as ex

TERM_LIMIT = 65536         # largest scope of one term (or group of terms) of a numeric rule
MAX_DD_NODES = 200_000     # a numeric rule needing more decision-diagram nodes is refused


class EncodingError(ValueError):
    """A rule the encoder cannot compile within its limits; names the rule."""

    def __init__(self, rule_id: str, reason: str):
        super().__init__(f"rule {rule_id}: {reason}")
        self.rule_id = rule_id
        self.reason = reason


class NumericEncoder:
    """Mixin of `RuleEncoder` (uses its enc, rule, out, domain, size, order and prop)."""

    def linear(self, node: ex.Cmp, guard: tuple[int, ...]) -> None:
        """guard => (left - right) op 0, as a decision diagram over groups of terms."""
        terms: list[tuple[int, ex.Node]] = []
        flatten(node.left, 1, terms)
        flatten(node.right, -1, terms)
        tables, constant = self.term_tables(terms)
        # widest-ranging groups first: the layers after them then separate few classes
        tables.sort(key=lambda t: min(t[1]) - max(t[1]))
        self.diagram(tables, constant, node.op, guard)

    def term_tables(self, terms: list[tuple[int, ex.Node]]):
        """Group signed terms by the attributes they read and tabulate each group:
        ([(attribute order, {value: [combinations]})], constant part)."""
        constant = Decimal(0)
        by_scope: dict[frozenset, list] = {}
        for sign, term in terms:
            attrs = ex.scope(term)
            if not attrs:
                constant += sign * ex.compile_fn(term, self.prop)({})
            else:
                by_scope.setdefault(attrs, []).append((sign, term))
        groups: list[tuple[frozenset, list]] = []
        for s in sorted(by_scope, key=len, reverse=True):   # fold into a wider group covering it
            host = next((g for g in groups if s <= g[0]), None)
            if host is None:
                groups.append((s, list(by_scope[s])))
            else:
                host[1].extend(by_scope[s])
        tables = []
        for attrs, items in groups:
            if self.size(attrs) > TERM_LIMIT:
                raise EncodingError(self.rule.id, "a product term ranges over too many value combinations")
            order = self.order(attrs)
            fns = [(sign, ex.compile_fn(t, self.prop)) for sign, t in items]
            values: dict = {}
            for combo in itertools.product(*(self.domain(a) for a in order)):
                env = dict(zip(order, combo))
                total = sum((sign * f(env) for sign, f in fns), Decimal(0))
                values.setdefault(total, []).append(combo)
            tables.append((order, values))
        return tables, constant

    def diagram(self, tables, constant: Decimal, op: str, guard: tuple[int, ...]) -> None:
        """guard => (sum of the groups' values + constant) op 0.

        Layer i holds one node per class of partial sums with the same future: the sorted
        achievable sums of the remaining groups are cut at the same place (or, for = and !=,
        hit at the same value). This merge is exact and bounds each layer by the number of
        achievable remaining sums, however fine-grained the decimals are.
        """
        n = len(tables)
        target = -constant
        suffix: list[list[Decimal]] = [[] for _ in range(n + 1)]
        suffix[n] = [Decimal(0)]
        for i in range(n - 1, 0, -1):           # layer 0 has a single node: no set needed
            sums = {v + r for v in tables[i][1] for r in suffix[i + 1]}
            if len(sums) > MAX_DD_NODES:
                raise EncodingError(self.rule.id, "numeric rule is too complex to compile")
            suffix[i] = sorted(sums)
        members = [set(x) for x in suffix]

        def cls(i: int, s: Decimal):
            """True/False when decided after i groups at partial sum s, else a class key."""
            rest, t = suffix[i], target - s        # remaining sum r must satisfy r op t
            if op in ("<=", "<", ">=", ">"):
                if op == "<=":
                    k = bisect.bisect_right(rest, t)
                elif op == "<":
                    k = bisect.bisect_left(rest, t)
                elif op == ">=":
                    k = len(rest) - bisect.bisect_left(rest, t)
                else:
                    k = len(rest) - bisect.bisect_right(rest, t)
                return True if k == len(rest) else (False if k == 0 else k)
            hit = t in members[i]
            if op == "=":
                return (True if len(rest) == 1 else t) if hit else False
            return (False if len(rest) == 1 else t) if hit else True

        low = sum(min(values) for _, values in tables)
        high = sum(max(values) for _, values in tables)
        first = _decided(op, low - target, high - target)
        if first is True:
            return
        if first is False:
            self.out.append([-g for g in guard])
            return
        tables = [(order, self.value_conditions(order, values)) for order, values in tables]
        layer = {first: (Decimal(0), list(guard))}      # class -> (a partial sum in it, node)
        count = 0
        for i, (order, values) in enumerate(tables):
            nxt: dict = {}
            for s, node_lits in layer.values():
                for v, combos in values.items():
                    decided = cls(i + 1, s + v)
                    if decided is True:
                        continue
                    if decided is False:
                        target_lits = []
                    else:
                        if decided not in nxt:
                            count += 1
                            if count > MAX_DD_NODES:
                                raise EncodingError(self.rule.id, "numeric rule is too complex to compile")
                            nxt[decided] = (s + v, [self.enc.new_var()])
                        target_lits = nxt[decided][1]
                    self.emit_transition(node_lits, combos, target_lits)
            layer = nxt

    def value_conditions(self, order: list[str], values: dict) -> dict:
        """For each value of a group, clause literals meaning "the group does not take it".

        One attribute: the other values of it. Several: a fresh literal y implied by each of
        the value's combinations (y may be true needlessly, which only adds constraints), so
        a transition costs one clause per node and value instead of one per combination.
        """
        lit = self.enc.lit
        out = {}
        if len(order) == 1:
            attr = order[0]
            for v, combos in values.items():
                chosen = {c[0] for c in combos}
                out[v] = [lit[(attr, w)] for w in self.domain(attr) if w not in chosen]
            return out
        for v, combos in values.items():
            y = self.enc.new_var()
            for combo in combos:
                self.out.append([-lit[(a, x)] for a, x in zip(order, combo)] + [y])
            out[v] = [-y]
        return out

    def emit_transition(self, node_lits, not_taken: list[int], target: list[int]) -> None:
        """node and (group takes the value) => target."""
        self.out.append([-x for x in node_lits] + not_taken + target)


def _decided(op: str, low: Decimal, high: Decimal):
    """True if `x op 0` holds for every x in [low, high], False if for none, else None."""
    holds = ex.COMPARE[op]
    if op in ("<", "<="):
        return True if holds(high, 0) else (False if not holds(low, 0) else None)
    if op in (">", ">="):
        return True if holds(low, 0) else (False if not holds(high, 0) else None)
    if not low <= 0 <= high:
        return op == "!="
    if low == high:                 # exactly 0
        return op == "="
    return None


def flatten(node: ex.Node, sign: int, out: list) -> None:
    """Split a sum into signed terms."""
    if isinstance(node, ex.Arith) and node.op in ("+", "-"):
        flatten(node.left, sign, out)
        flatten(node.right, sign if node.op == "+" else -sign, out)
    else:
        out.append((sign, node))
