"""Compile a product model to CNF.

Every (attribute, value) pair is one Boolean variable; each attribute takes exactly one value.
Rules become clauses grouped per rule id, so a solver can switch a rule on and off (for
explanations) and the engine can name the rule behind a conflict. The encodings are exact:
the solutions of the CNF, projected on the value variables, are exactly the valid
configurations. How each rule is encoded:

* a rule over few value combinations (<= ENUM_LIMIT) is enumerated and the forbidden
  combinations are emitted as a compressed set of clauses (one clause per maximal forbidden
  sub-box along an attribute order), which gives unit propagation full strength;
* larger rules are split along their Boolean structure (and/or/not pushed inward) with
  auxiliary literals that imply their sub-formula;
* a numeric comparison over many attributes is encoded as a layered decision diagram over
  partial sums (states merged when the remaining terms cannot change the outcome);
* an allowed table too large to enumerate stays out of the CNF (`LazyTable`): the solver
  gets its implied unary and pairwise nogoods, and its solutions are checked against the rows.
  Its complete encoding (one selector variable per row plus support clauses, so propagation
  is arc consistent) is built only for MaxSAT and for tables hard to explain lazily.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from math import prod

from catalog import expr as ex
from catalog.model import ANY, ProductModel, Rule, Table
from configurator.numeric import EncodingError, NumericEncoder, flatten  # noqa: F401 (re-exported)
from configurator.tables import LazyTable

ENUM_LIMIT = 4096          # largest rule scope (product of domain sizes) that is enumerated
# Allowed tables at least this long are checked lazily (see LazyTable): all of them. With a
# selector per row, the generated model's 51 short tables (1,810 rows) took 1,810 of its 4,782
# variables, and each SAT call of a click took twice as long as with their pairwise nogoods.
LAZY_MIN_ROWS = 1
# Exactly-one over at most this many values is pairwise (binary clauses, no new variable), beyond
# it a sequential counter: on the generated model (domains of 2 to 12 values) the counters'
# 1,221 auxiliary variables made a satisfiable SAT call 1.5 times as slow as the 2,512 more
# binary clauses that replace them.
PAIRWISE_MAX = 16
NEGATED_CMP = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


@dataclass
class Encoding:
    model: ProductModel
    nvars: int = 0
    lit: dict = field(default_factory=dict)            # (attr, value) -> variable
    value_of: dict = field(default_factory=dict)       # variable -> (attr, value)
    attr_lits: dict = field(default_factory=dict)      # attr -> [variable per domain value]
    structure: list = field(default_factory=list)      # exactly-one clauses (always on)
    rule_clauses: dict = field(default_factory=dict)   # rule id -> [clauses]
    lazy: dict = field(default_factory=dict)           # rule id -> LazyTable (large allowed tables)
    attr_index: dict = field(default_factory=dict)     # attr -> its position in the model

    def eager_clauses(self, rule_id: str) -> list[list[int]]:
        """The complete clauses of a rule, for solvers that cannot check tables themselves
        (MaxSAT): a lazy table's row-selector encoding is built on first use."""
        table = self.lazy.get(rule_id)
        if table is None:
            return self.rule_clauses[rule_id]
        if table.eager is None:
            table.eager = self.rule_clauses[rule_id] + self.row_selector_clauses(rule_id)
        return table.eager

    def row_selector_clauses(self, rule_id: str) -> list[list[int]]:
        """A lazy table's row-selector encoding (new variables each call), which its implied
        clauses in `rule_clauses` do not replace."""
        table = self.lazy[rule_id]
        encoder = RuleEncoder(self, self.model.rule(rule_id))
        encoder.row_selectors(list(table.attrs), table.rows)
        return encoder.out

    def new_var(self) -> int:
        self.nvars += 1
        return self.nvars

    @property
    def value_vars(self) -> range:
        """Value variables are numbered first, 1..n."""
        return range(1, len(self.value_of) + 1)


def encode(model: ProductModel) -> Encoding:
    enc = Encoding(model)
    for k, attribute in enumerate(model.attributes):
        enc.attr_index[attribute.id] = k
        lits = []
        for value in attribute.domain:
            v = enc.new_var()
            enc.lit[(attribute.id, value)] = v
            enc.value_of[v] = (attribute.id, value)
            lits.append(v)
        enc.attr_lits[attribute.id] = lits
    for lits in enc.attr_lits.values():
        enc.structure.extend(_exactly_one(enc, lits))
    for rule in model.rules:
        enc.rule_clauses[rule.id] = RuleEncoder(enc, rule).clauses()
    return enc


def _exactly_one(enc: Encoding, lits: list[int]) -> list[list[int]]:
    clauses = [list(lits)]
    if len(lits) <= PAIRWISE_MAX:
        clauses += [[-a, -b] for a, b in itertools.combinations(lits, 2)]
        return clauses
    # sequential counter (Sinz): s_i means "one of lits[0..i] is true"
    s = [enc.new_var() for _ in lits[:-1]]
    clauses.append([-lits[0], s[0]])
    for i in range(1, len(lits) - 1):
        clauses += [[-lits[i], s[i]], [-s[i - 1], s[i]], [-lits[i], -s[i - 1]]]
    clauses.append([-lits[-1], -s[-1]])
    return clauses


class RuleEncoder(NumericEncoder):
    def __init__(self, enc: Encoding, rule: Rule):
        self.enc = enc
        self.rule = rule
        self.model = enc.model
        self.out: list[list[int]] = []

    def clauses(self) -> list[list[int]]:
        if self.rule.table is not None:
            self.table(self.rule.table)
        else:
            self.require(self.rule.expr, ())
        return self.out

    # helpers -------------------------------------------------------------------------------
    def domain(self, attr: str) -> tuple:
        return self.model.attribute(attr).domain

    def size(self, attrs) -> int:
        return prod(len(self.domain(a)) for a in attrs)

    def prop(self, attr, value, name):
        return self.model.attribute(attr).property(value, name)

    def order(self, attrs) -> list[str]:
        """Largest domain last: the last attribute's values fold into one clause per prefix."""
        return sorted(attrs, key=lambda a: (len(self.domain(a)), a))

    # boolean structure ---------------------------------------------------------------------
    def require(self, node: ex.Node, guard: tuple[int, ...]) -> None:
        """Emit clauses meaning: all literals in `guard` true => node holds."""
        node = _nnf(node)
        attrs = ex.scope(node)
        if isinstance(node, ex.Const):
            if not node.value:
                self.out.append([-g for g in guard])
            return
        if isinstance(node, ex.In):
            self.out.append([-g for g in guard] + self.in_lits(node))
            return
        if not attrs:
            if not ex.compile_fn(node, self.prop)({}):
                self.out.append([-g for g in guard])
            return
        if self.size(attrs) <= ENUM_LIMIT:
            self.enumerate(node, sorted(attrs), guard)
            return
        if isinstance(node, ex.And):
            for item in node.items:
                self.require(item, guard)
            return
        if isinstance(node, ex.Or):
            clause = [-g for g in guard]
            for item in node.items:
                item = _nnf(item)
                if isinstance(item, ex.In):
                    clause += self.in_lits(item)
                elif isinstance(item, ex.Const):
                    if item.value:
                        return
                else:
                    aux = self.enc.new_var()
                    self.require(item, (aux,))
                    clause.append(aux)
            self.out.append(clause)
            return
        if isinstance(node, ex.Cmp):
            self.linear(node, guard)
            return
        raise EncodingError(self.rule.id, f"cannot encode {type(node).__name__}")

    def in_lits(self, node: ex.In) -> list[int]:
        values = set(node.values)
        return [self.enc.lit[(node.attr, v)] for v in self.domain(node.attr)
                if (v in values) != node.negate]

    def enumerate(self, node: ex.Node, attrs: list[str], guard: tuple[int, ...]) -> None:
        check = ex.compile_fn(node, self.prop)
        order = self.order(attrs)
        doms = [self.domain(a) for a in order]
        forbidden = set()
        for combo in itertools.product(*doms):
            if not check(dict(zip(order, combo))):
                forbidden.add(combo)
        self.forbid(order, forbidden, guard)

    def forbid(self, order: list[str], forbidden: set, guard: tuple[int, ...]) -> None:
        """Clauses excluding exactly the `forbidden` combinations of the attributes in `order`."""
        lit = self.enc.lit
        doms = [self.domain(a) for a in order]
        base = [-g for g in guard]

        def walk(depth: int, prefix: list[int], combos: set) -> None:
            attr, dom = order[depth], doms[depth]
            if depth == len(order) - 1:
                bad = {c[depth] for c in combos}
                if bad:
                    self.out.append(base + prefix + [lit[(attr, v)] for v in dom if v not in bad])
                return
            full = prod(len(d) for d in doms[depth + 1:])
            by_value: dict = {}
            for c in combos:
                by_value.setdefault(c[depth], set()).add(c)
            all_bad = {v for v, cs in by_value.items() if len(cs) == full}
            if all_bad:
                self.out.append(base + prefix + [lit[(attr, v)] for v in dom if v not in all_bad])
            for v, cs in by_value.items():
                if v not in all_bad:
                    walk(depth + 1, prefix + [-lit[(attr, v)]], cs)

        if forbidden:
            walk(0, [], forbidden)

    # tables --------------------------------------------------------------------------------
    def table(self, table: Table) -> None:
        attrs = list(table.attributes)
        if not table.allowed:
            lit = self.enc.lit
            for row in set(table.rows):
                self.out.append([-lit[(a, v)] for a, v in zip(attrs, row) if v != ANY])
            return
        if self.size(attrs) > ENUM_LIMIT and len(table.rows) >= LAZY_MIN_ROWS:
            lazy = LazyTable(self.rule.id, tuple(attrs), table.rows,
                             [[self.enc.lit[(a, v)] for v in self.domain(a)] for a in attrs],
                             [self.domain(a) for a in attrs],
                             tuple(self.enc.attr_index[a] for a in attrs))
            self.enc.lazy[self.rule.id] = lazy
            self.out.extend(lazy.implied_clauses())
            return
        if self.size(attrs) <= ENUM_LIMIT:
            allowed = set()
            doms = [self.domain(a) for a in attrs]
            for row in table.rows:
                allowed.update(itertools.product(*((v,) if v != ANY else d for v, d in zip(row, doms))))
            order = self.order(attrs)
            idx = [attrs.index(a) for a in order]
            forbidden = {tuple(c[i] for i in idx) for c in itertools.product(*doms)} - \
                {tuple(c[i] for i in idx) for c in allowed}
            self.forbid(order, forbidden, ())
            return
        self.row_selectors(attrs, table.rows)

    def row_selectors(self, attrs: list[str], rows) -> None:
        lit = self.enc.lit
        out = self.out
        supports: dict[int, list[int]] = {}
        wildcard: list[list[int]] = [[] for _ in attrs]
        selectors = []
        for row in dict.fromkeys(rows):
            r = self.enc.new_var()
            selectors.append(r)
            for j, (a, v) in enumerate(zip(attrs, row)):
                if v == ANY:
                    wildcard[j].append(r)
                else:
                    x = lit[(a, v)]
                    out.append([-r, x])
                    supports.setdefault(x, []).append(r)
        out.append(selectors)
        for j, a in enumerate(attrs):
            for v in self.domain(a):
                x = lit[(a, v)]
                out.append([-x] + supports.get(x, []) + wildcard[j])


def _nnf(node: ex.Node) -> ex.Node:
    """Push a top-level negation inward so the encoder sees and/or/atoms."""
    if not isinstance(node, ex.Not):
        return node
    inner = node.item
    if isinstance(inner, ex.Not):
        return _nnf(inner.item)
    if isinstance(inner, ex.And):
        return ex.Or(tuple(ex.Not(x) for x in inner.items))
    if isinstance(inner, ex.Or):
        return ex.And(tuple(ex.Not(x) for x in inner.items))
    if isinstance(inner, ex.In):
        return ex.In(inner.attr, inner.values, not inner.negate)
    if isinstance(inner, ex.Cmp):
        return ex.Cmp(NEGATED_CMP[inner.op], inner.left, inner.right)
    if isinstance(inner, ex.Const):
        return ex.Const(not inner.value)
    return node
