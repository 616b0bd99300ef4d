"""The rule expression language's typed syntax tree, and its walks and evaluation.

User-written text only ever becomes these nodes (through `catalog.expr_parser`); nothing
reaches `eval`. Nodes are immutable and carry no attribute objects, so they can be compiled
to SAT clauses, to closures for python-constraint, or evaluated directly.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Mapping, Union


# ---- nodes -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Num:
    value: Decimal


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Var:
    """An int attribute's value (numeric) or a bool attribute's value (condition)."""
    attr: str


@dataclass(frozen=True)
class Prop:
    attr: str
    name: str


@dataclass(frozen=True)
class In:
    """`attr in values` (or `not in` when negate): the atom every value test becomes."""
    attr: str
    values: tuple
    negate: bool = False


@dataclass(frozen=True)
class Arith:
    op: str                 # + - *
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Cmp:
    op: str                 # = != < <= > >=
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Not:
    item: "Node"


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


@dataclass(frozen=True)
class If:
    cond: "Node"
    then: "Node"
    other: "Node"


@dataclass(frozen=True)
class Total:
    """BOM roll-up of a component property; replaced by an explicit sum when a model loads."""
    prop: str


Node = Union[Num, Const, Var, Prop, In, Arith, Cmp, Not, And, Or, If, Total]
BOOL_NODES = (Const, In, Cmp, Not, And, Or)


def implies(a: Node, b: Node) -> Node:
    return Or((Not(a), b))


# ---- analysis and evaluation ---------------------------------------------------------------

def children(node: Node) -> tuple:
    if isinstance(node, (Arith, Cmp)):
        return (node.left, node.right)
    if isinstance(node, Not):
        return (node.item,)
    if isinstance(node, (And, Or)):
        return node.items
    if isinstance(node, If):
        return (node.cond, node.then, node.other)
    return ()


def scope(node: Node) -> frozenset:
    """The attributes an expression reads."""
    if isinstance(node, (Var, Prop, In)):
        return frozenset((node.attr,))
    found: set = set()
    for child in children(node):
        found |= scope(child)
    return frozenset(found)


def replace(node: Node, fn: Callable[[Node], Node | None]) -> Node:
    """Rebuild a tree bottom-up, substituting nodes for which `fn` returns a node."""
    new = fn(node)
    if new is not None:
        return new
    if isinstance(node, Arith):
        return Arith(node.op, replace(node.left, fn), replace(node.right, fn))
    if isinstance(node, Cmp):
        return Cmp(node.op, replace(node.left, fn), replace(node.right, fn))
    if isinstance(node, Not):
        return Not(replace(node.item, fn))
    if isinstance(node, And):
        return And(tuple(replace(x, fn) for x in node.items))
    if isinstance(node, Or):
        return Or(tuple(replace(x, fn) for x in node.items))
    if isinstance(node, If):
        return If(replace(node.cond, fn), replace(node.then, fn), replace(node.other, fn))
    return node


COMPARE = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def compile_fn(node: Node, prop: Callable[[str, object, str], Decimal]) -> Callable[[Mapping], object]:
    """Compile a tree to a closure over an assignment {attr: value}.

    `prop(attr, value, name)` looks up enum value properties. Numbers come out as Decimal,
    conditions as bool. Used for brute-force checks, python-constraint and BOM quantities.
    """
    if isinstance(node, Num):
        value = node.value
        return lambda env: value
    if isinstance(node, Const):
        flag = node.value
        return lambda env: flag
    if isinstance(node, Var):
        attr = node.attr
        return lambda env: Decimal(env[attr])
    if isinstance(node, Prop):
        attr, name = node.attr, node.name
        return lambda env: prop(attr, env[attr], name)
    if isinstance(node, In):
        attr, values, negate = node.attr, frozenset(node.values), node.negate
        if negate:
            return lambda env: env[attr] not in values
        return lambda env: env[attr] in values
    if isinstance(node, Arith):
        f, left, right = _ARITH[node.op], compile_fn(node.left, prop), compile_fn(node.right, prop)
        return lambda env: f(left(env), right(env))
    if isinstance(node, Cmp):
        f, left, right = COMPARE[node.op], compile_fn(node.left, prop), compile_fn(node.right, prop)
        return lambda env: f(left(env), right(env))
    if isinstance(node, Not):
        item = compile_fn(node.item, prop)
        return lambda env: not item(env)
    if isinstance(node, And):
        items = [compile_fn(x, prop) for x in node.items]
        return lambda env: all(f(env) for f in items)
    if isinstance(node, Or):
        items = [compile_fn(x, prop) for x in node.items]
        return lambda env: any(f(env) for f in items)
    if isinstance(node, If):
        cond, then, other = (compile_fn(x, prop) for x in (node.cond, node.then, node.other))
        return lambda env: then(env) if cond(env) else other(env)
    raise TypeError(f"cannot compile {type(node).__name__}")
