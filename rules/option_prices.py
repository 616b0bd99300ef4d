"""What each choice would do to the price: the configurator page shows it beside every value.

The difference of a value is the list price of the configuration with that value picked
(completed as the price box completes it) minus that of the current one, times the quantity:
exact decimals in the price book's currency, list prices only (a customer may see them; no
cost, margin or rule internals). Values that conflict with the other selections get none:
picking them is a switch that drops earlier choices (`Configurator.switch`). Which values fit
comes from the propagation the page's click already made (cached); a value then costs one
completion (a few SAT calls) and a BOM, not a propagation. Those completions come from the
solver, so their BOMs skip the rule-by-rule check that guards a price that is quoted.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

from sqlmodel import Session

from catalog.model import Value
from catalog.pricebook import PricingError
from catalog.store import get_price_book
from configurator.engine import get_configurator
from rules.pricing import completed_list_price, model_of, named, resolved_list_price


@dataclass(frozen=True)
class ValuePrice:
    attribute: str
    value: Value
    difference: Decimal           # against the current configuration, for the whole quantity


@dataclass(frozen=True)
class OptionPrices:
    currency: str
    price_book: str
    total: Decimal                # the current configuration's list price, for the whole quantity
    values: tuple[ValuePrice, ...]


def option_prices(session: Session, price_book: str, product: str, raw: Mapping[str, object],
                  quantity: int) -> OptionPrices:
    book = named(lambda: get_price_book(session, price_book), "price_book")
    model = model_of(session, product, None, "product")
    if model is None:
        raise PricingError("product", f"{product} is not a configurable product")
    configurator = get_configurator(model)
    selections = configurator.parse_selections(raw)
    if not configurator.consistent(selections):
        raise PricingError("selections", configurator.conflict(selections).message)
    current, values, _ = resolved_list_price(book, product, model, selections)
    states = configurator.configure(selections).attributes          # in model order
    out = []
    for k, attribute in enumerate(model.attributes):
        others = {a: v for a, v in selections.items() if a != attribute.id}
        if attribute.id in selections:     # what fits the other selections (exact propagation, cached)
            offered = configurator.configure(others).attributes[k].domain
        else:
            offered = states[k].domain
        for value in offered:
            if value == values.get(attribute.id):
                continue
            picked = {**others, attribute.id: value}
            price = completed_list_price(book, product, model, configurator.complete(picked).assignment, verify=False)
            out.append(ValuePrice(attribute.id, value, (price.unit_price - current.unit_price) * quantity))
    return OptionPrices(book.currency.code, book.name, current.unit_price * quantity, tuple(out))
