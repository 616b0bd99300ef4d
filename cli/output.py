"""Plain-text renderings of configurator and pricing results for the `cpq` command line.

Each function returns text; the CLI decides where it goes. Money shows with 2 decimals and
weights with 3 here only: the JSON output keeps the exact decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable

from catalog.model import ProductModel, Value
from configurator.analysis import ModelReport
from configurator.results import Bom, BomLine, Completion, ConfigureResult, Conflict, Explanation
from rules.results import QuotePrice


def value_text(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def number(value: Decimal) -> str:
    """A quantity without trailing zeros: 2, 0.5."""
    return format(value.normalize(), "f")


def conflict_text(conflict: Conflict) -> str:
    if not conflict.rules:
        picks = ", ".join(f"{a}={value_text(v)}" for a, v in conflict.selections.items())
        return f"ruled out by your selection {picks}"
    ids = ", ".join(r.id for r in conflict.rules)
    return f"{conflict.message} [{ids}]"


def conflicts_text(conflicts: Iterable[Conflict], heading: str = "Conflicts:") -> list[str]:
    return [heading] + [f"  - {conflict_text(c)}" for c in conflicts]


def configure_text(model: ProductModel, result: ConfigureResult, explain: bool = False) -> str:
    decided = sum(1 for a in result.attributes if a.decided)
    status = "INVALID" if not result.valid else ("complete" if result.complete else "incomplete")
    lines = [f"{model.name} ({model.product} version {model.version}): {status}, "
             f"{decided} of {len(result.attributes)} attributes decided"]
    states = {s.id: s for s in result.attributes}
    width = max(len(a.id) for a in model.attributes)
    for label, attributes in _grouped(model):
        lines.append(label)
        for attribute in attributes:
            state = states[attribute.id]
            if state.selected is not None:
                clash = "" if state.selected in state.domain else "; conflicts with the rules"
                shown = f"= {value_text(state.selected)}  (selected{clash})"
            elif state.decided:
                shown = f"= {value_text(state.value)}  (decided by the rules)"
            else:
                shown = ": " + " | ".join(map(value_text, state.domain)) if state.domain else ": (none possible)"
            lines.append(f"  {attribute.id:<{width}} {shown}")
            if state.selected is not None:
                continue  # its other values are excluded by the selection itself
            if state.excluded and not explain:
                lines.append(f"  {'':<{width}}   excluded: {', '.join(map(value_text, state.excluded))}")
            if explain:
                for why, values in _by_reason(state).items():
                    lines.append(f"  {'':<{width}}   not {', '.join(values)}: {why}")
    if result.conflicts:
        lines += conflicts_text(result.conflicts)
    return "\n".join(lines)


def _by_reason(state) -> dict[str, list[str]]:
    """Excluded values that share a reason, so `not 11, 12, 13: ...` takes one line."""
    out: dict[str, list[str]] = {}
    for value in state.excluded:
        reason = state.reasons.get(value)
        why = conflict_text(reason) if reason is not None else "excluded"
        out.setdefault(why, []).append(value_text(value))
    return out


def _grouped(model: ProductModel):
    for group in model.groups:
        members = [a for a in model.attributes if a.group == group.id]
        if members:
            yield group.label, members
    rest = [a for a in model.attributes if a.group is None]
    if rest:
        yield ("Other" if model.groups else "Attributes"), rest


def completion_text(model: ProductModel, completion: Completion, minimize: str | None) -> str:
    if not completion.valid:
        return "\n".join(conflicts_text(completion.conflicts, "The selections cannot be completed:"))
    how = f", minimising {minimize}" if minimize else ""
    width = max(len(a) for a in completion.assignment)
    lines = [f"{model.product} version {model.version}: completed{how}"]
    lines += [f"  {a:<{width}} = {value_text(v)}" for a, v in completion.assignment.items()]
    return "\n".join(lines)


def explanation_text(explanation: Explanation) -> str:
    pick = f"{explanation.attribute}={value_text(explanation.value)}"
    if explanation.possible:
        return f"{pick} is possible with the other selections."
    return f"{pick} is excluded: {conflict_text(explanation.conflict)}"


def bom_text(bom: Bom) -> str:
    header = f"{'Qty':>8}  {'Part':<28} {'Description':<36} {'Unit cost':>12} {'Ext. cost':>12} {'Ext. kg':>10}"
    lines = [f"Bill of materials: {bom.product} version {bom.version} "
             f"(costs in {bom.cost_currency}, weights in kg)", header]

    def walk(items: tuple[BomLine, ...]):
        for line in items:
            indent = "  " * (line.level - 1)
            part = f"{indent}{line.part}"
            lines.append(f"{number(line.quantity):>8}  {part:<28} {line.description[:36]:<36} "
                         f"{line.unit_cost:>12,.2f} {line.extended_cost:>12,.2f} {line.extended_weight:>10,.3f}")
            walk(line.children)

    walk(bom.lines)
    lines.append(f"{'Total':<76} {'':>12} {bom.total_cost:>12,.2f} {bom.total_weight:>10,.3f}")
    return "\n".join(lines)


def report_text(model: ProductModel, report: ModelReport) -> tuple[list[str], list[str]]:
    """(information lines, warning lines) for `cpq models check`."""
    info = [f"{model.product} version {model.version}: {len(model.attributes)} attributes, "
            f"{len(model.rules)} rules, {_count(model.components)} components"]
    warnings = []
    if not report.satisfiable:
        info.append("satisfiable: no: " + conflict_text(report.conflict))
        return info, warnings
    info.append("satisfiable: yes")
    if report.defaults_consistent is None:
        info.append("defaults: none given")
    elif report.defaults_consistent:
        info.append("defaults: consistent")
    else:
        info.append("defaults: INCONSISTENT")
        warnings.append(f"the defaults conflict: {conflict_text(report.defaults_conflict)}")
    warnings += [f"dead value: {a}={value_text(v)} is in no valid configuration"
                 for a, v in report.dead_values]
    return info, warnings


def _count(components) -> int:
    return sum(1 + _count(c.children) for c in components)


def quote_text(q: QuotePrice) -> str:
    cur = q.currency
    out = [f"{q.price_book} v{q.price_book_version}, rules {q.rule_set} v{q.rule_set_version}, "
           f"{q.day.isoformat()}, {cur}"]
    for p in q.promotions:
        out.append(f"promo {p.rule}: {p.reason}")
    for line in q.lines:
        charge = "" if line.charge == "one_time" else f" per {_period(line.charge)} x {line.periods}"
        draft = "" if line.complete else "  (defaults filled in)"
        out.append(f"\n[{line.id}] {line.name} x {line.quantity}{charge}{draft}")
        out.append(f"    {'list':<52} {line.list_total:>14}")
        for step in line.steps:
            out.append(f"    {_clip(step.label, 52):<52} {-step.amount:>14}")
        out.append(f"    {'net':<52} {line.net_total:>14}")
    t = q.totals
    out.append("")
    out.append(f"one-time: list {t.one_time_list}, net {t.one_time_net} {cur}")
    for charge, amount in sorted(t.recurring.items()):
        out.append(f"recurring: {amount} {cur} per {_period(charge)}")
    out.append(f"contract value {t.contract_value} {cur} (list {t.list_contract_value}, "
               f"discount {t.discount_percent}%)")
    if t.margin is not None:
        out.append(f"margin {t.margin} {cur} ({t.margin_percent}%)")
    if not q.approvals:
        out.append("approvals: none needed")
    for a in q.approvals:
        out.append(f"approval stage {a.stage}: {a.label}")
        out.extend(f"    {r.description}: {r.detail}" for r in a.reasons)
    return "\n".join(out)


def _period(charge: str) -> str:
    return {"monthly": "month", "quarterly": "quarter", "semiannual": "half-year", "annual": "year"}[charge]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
