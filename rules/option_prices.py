"""What each choice would do to the price: the configurator page shows it beside every value.

The difference of a value is the list price of the configuration with that value picked
(completed as the price box completes it) minus that of the current one, times the quantity:
exact decimals in the price book's currency, list prices only (a customer may see them; no
cost, margin or rule internals). Values that conflict with the other selections get none:
picking them is a switch that drops earlier choices (`Configurator.switch`). Which values fit
comes from the propagation the page's click already made (cached); a value then costs one
completion (a few SAT calls, fewer as `Configurator.complete_each` shares what the values of
a group have in common), not a propagation, and its unit list price
(`rules.pricing.preview_unit_price`: no rule-by-rule check, no cost, no BOM unless the book
prices a component). The unit differences are kept per price book version, model version and
selections (`_DIFFERENCES`), so the next visitor of a configuration, or the back button, gets
them without a solver call; the quantity multiplies them afterwards, as it did the prices.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

from sqlmodel import Session

from catalog.model import ProductModel, Value
from catalog.pricebook import PriceBook, PricingError
from catalog.store import get_price_book
from configurator.engine import Configurator, get_configurator
from core.cache import LruCache
from rules.pricing import model_of, named, preview_unit_price, resolved_list_price, selection_key


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
    differences = _DIFFERENCES.get((book.digest, model.digest, selection_key(selections)),
                                   lambda: _differences(book, product, model, configurator, selections, values,
                                                        current.unit_price))
    return OptionPrices(book.currency.code, book.name, current.unit_price * quantity,
                        tuple(ValuePrice(attribute, value, unit * quantity) for attribute, value, unit in differences))


def _differences(book: PriceBook, product: str, model: ProductModel, configurator: Configurator,
                 selections: Mapping[str, Value], values: Mapping[str, Value],
                 current: Decimal) -> tuple[tuple[str, Value, Decimal], ...]:
    """(attribute, value, unit price difference) of every value on offer but the current ones,
    in model order. The open attributes' values are picks added to the selections; a selected
    attribute's are picks added to the other selections (what fits them: exact propagation,
    cached). Each group is completed together (`Configurator.complete_each`). `configurator`
    is `model`'s, the one the caller already has."""
    states = configurator.configure(selections).attributes          # in model order
    groups = [(selections, [(s.id, v) for s in states if s.id not in selections for v in s.domain])]
    for k, attribute in enumerate(model.attributes):
        if attribute.id in selections:
            others = {a: v for a, v in selections.items() if a != attribute.id}
            groups.append((others, [(attribute.id, v) for v in configurator.configure(others).attributes[k].domain]))
    found = {}
    for raw, picks in groups:
        picks = [(attr, value) for attr, value in picks if value != values.get(attr)]
        for pick, completion in zip(picks, configurator.complete_each(raw, picks)):
            found[pick] = preview_unit_price(book, product, model, completion.assignment) - current
    order = {a.id: k for k, a in enumerate(model.attributes)}
    return tuple((attr, value, difference) for (attr, value), difference
                 in sorted(found.items(), key=lambda item: order[item[0][0]]))


# Keyed by the digests of the price book and model versions (their content: a new version or
# another active one is another key) and the selections, so an answer can never be stale.
_DIFFERENCES: LruCache[tuple] = LruCache(1024)
