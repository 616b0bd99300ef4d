"""Bill of materials for a complete configuration: tree, exploded view and roll-ups.

Quantities and roll-ups are exact decimals; nothing is rounded here (money is rounded once,
by pricing, in the price book's currency).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Mapping

from catalog import expr as ex
from catalog.model import ProductModel, Value
from configurator.results import Bom, BomLine, FlatLine
from core.cache import LruCache

ZERO = Decimal(0)


_COMPILED: LruCache[tuple] = LruCache(32)


def _compiled(model: ProductModel) -> tuple:
    """The component tree as (component, condition or None, quantity, children) with its
    expressions compiled, once per model version: pricing builds a BOM per priced
    configuration, and compiling each time was half the work."""
    def prop(attr, value, name):
        return model.attribute(attr).property(value, name)

    def walk(components) -> tuple:
        return tuple((c, None if c.when is None else ex.compile_fn(c.when, prop), ex.compile_fn(c.quantity, prop),
                      walk(c.children)) for c in components)
    return _COMPILED.get(model.digest, lambda: walk(model.components))


def build(model: ProductModel, assignment: Mapping[str, Value]) -> Bom:
    def lines(components: tuple, parent_qty: Decimal, level: int) -> list[BomLine]:
        out = []
        for c, when, quantity, children in components:
            if when is not None and not when(assignment):
                continue
            qty = quantity(assignment)
            if qty <= 0:
                continue
            extended = qty * parent_qty
            kids = tuple(lines(children, extended, level + 1))
            own_cost = c.properties.get("cost", ZERO)
            own_weight = c.properties.get("weight", ZERO)
            unit_cost = own_cost + sum((k.quantity * k.unit_cost for k in kids), ZERO)
            unit_weight = own_weight + sum((k.quantity * k.unit_weight for k in kids), ZERO)
            out.append(BomLine(c.part, c.description, c.uom, level, qty, extended, unit_cost,
                               unit_cost * extended, unit_weight, unit_weight * extended,
                               dict(c.properties), kids))
        return out

    tree = tuple(lines(_compiled(model), Decimal(1), 1))
    flat: dict[str, list] = {}

    def explode(items):
        for line in items:
            entry = flat.setdefault(line.part, [line, ZERO])
            entry[1] += line.extended_quantity
            explode(line.children)
    explode(tree)
    flat_lines = []
    for line, qty in flat.values():
        cost, weight = line.properties.get("cost", ZERO), line.properties.get("weight", ZERO)
        flat_lines.append(FlatLine(line.part, line.description, line.uom, qty, cost, cost * qty,
                                   weight, weight * qty))
    return Bom(model.product, model.version, dict(assignment), model.cost_currency, tree, tuple(flat_lines),
               total_cost=sum((line.extended_cost for line in tree), ZERO),
               total_weight=sum((line.extended_weight for line in tree), ZERO))
