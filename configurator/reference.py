"""The python-constraint path: the model as a plain CSP, for validation and cross-checks.

It shares nothing with the SAT encoding except the parsed model, so the two can be tested
against each other. Enumerating solutions is exponential: use `domains` on small models only.
`violations` checks a complete configuration rule by rule and is cheap on any model.
"""
from __future__ import annotations

from typing import Callable, Iterator, Mapping

import constraint

from catalog import expr as ex
from catalog.model import ANY, ProductModel, Rule, Table, Value


def _table_predicate(table: Table) -> Callable[..., bool]:
    exact = {row for row in table.rows if ANY not in row}
    patterns = [row for row in table.rows if ANY in row]

    def matches(values: tuple) -> bool:
        return values in exact or any(
            all(p == ANY or p == v for p, v in zip(row, values)) for row in patterns)

    if table.allowed:
        return lambda *values: matches(values)
    return lambda *values: not matches(values)


def rule_predicates(model: ProductModel) -> list[tuple[Rule, tuple[str, ...], Callable[..., bool]]]:
    """Each rule as (rule, attributes it reads, predicate over those attributes' values)."""
    def prop(attr, value, name):
        return model.attribute(attr).property(value, name)

    out = []
    for rule in model.rules:
        if rule.table is not None:
            out.append((rule, rule.table.attributes, _table_predicate(rule.table)))
            continue
        attrs = tuple(sorted(ex.scope(rule.expr)))
        fn = ex.compile_fn(rule.expr, prop)
        out.append((rule, attrs, lambda *values, fn=fn, attrs=attrs: bool(fn(dict(zip(attrs, values))))))
    return out


def problem(model: ProductModel, selections: Mapping[str, Value] | None = None) -> constraint.Problem:
    selections = selections or {}
    csp = constraint.Problem()
    for attribute in model.attributes:
        if attribute.id in selections:
            csp.addVariable(attribute.id, [selections[attribute.id]])
        else:
            csp.addVariable(attribute.id, list(attribute.domain))
    for rule, attrs, predicate in rule_predicates(model):
        if attrs:
            csp.addConstraint(constraint.FunctionConstraint(predicate), list(attrs))
        elif not predicate():
            csp.addConstraint(constraint.FunctionConstraint(lambda *_: False), [model.attributes[0].id])
    return csp


def solutions(model: ProductModel, selections: Mapping[str, Value] | None = None) -> Iterator[dict]:
    return problem(model, selections).getSolutionIter()


def domains(model: ProductModel, selections: Mapping[str, Value] | None = None) -> dict[str, set] | None:
    """For every attribute the values that occur in some solution; None if there is none."""
    found: dict[str, set] = {a.id: set() for a in model.attributes}
    any_solution = False
    for solution in solutions(model, selections):
        any_solution = True
        for attr, value in solution.items():
            found[attr].add(value)
    return found if any_solution else None


def violations(model: ProductModel, assignment: Mapping[str, Value], predicates=None) -> list[Rule]:
    """The rules a complete assignment breaks (empty when it is a valid configuration).
    Pass `rule_predicates(model)` (or a subset) to avoid compiling them on every call."""
    return [rule for rule, attrs, predicate in (predicates or rule_predicates(model))
            if not predicate(*(assignment[a] for a in attrs))]
