"""Price a quote draft from a request: look up the price book, rule set, product models and
saved configurations, resolve each line's list price, then run the pricing engine.

Lines are products with selections (configured now) or saved configurations (configured
before, pinned to their model version), or plain products from the price book. A partial
configuration is priced as it would be completed with the model's defaults (`complete` is
False on its line), so a configurator page shows a price that moves with each choice and
never jumps when the last attribute is decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Mapping

from sqlmodel import Session

from catalog import expr as ex
from catalog.model import ProductModel
from catalog.pricebook import PriceBook, PricingError
from catalog.store import get_model, get_price_book
from configurator import bom as bom_module
from configurator.engine import get_configurator
from configurator.results import SelectionError
from configurator.store import get_configuration
from core.cache import LruCache
from core.errors import NotFound
from rules import promotions
from rules.engine import price_quote
from rules.results import LineInput, ManualDiscount, QuoteInput, QuotePrice
from rules.store import get_rule_set

DEFAULT_RULE_SET = "standard"


@dataclass(frozen=True)
class LineRequest:
    product: str | None = None
    quantity: int = 1
    selections: Mapping[str, object] = field(default_factory=dict)
    configuration: str | None = None       # a saved configuration's id
    model_version: int | None = None        # default: the latest
    id: str | None = None
    term_months: int | None = None
    discount: ManualDiscount | None = None
    contract_price: Decimal | None = None   # net per period kept from a contract (amendments, renewals)


@dataclass(frozen=True)
class PricingRequest:
    price_book: str
    lines: tuple[LineRequest, ...]
    rule_set: str = DEFAULT_RULE_SET
    price_book_version: int | None = None   # default: the active version (give both to replay)
    rule_set_version: int | None = None
    day: date | None = None                 # default: today
    customer: str | None = None
    segment: str | None = None
    tier: str | None = None
    channel: str | None = None
    promo_codes: tuple[str, ...] = ()
    payment_terms: str | None = None
    discount: ManualDiscount | None = None


def price_draft(session: Session, request: PricingRequest) -> QuotePrice:
    book = named(lambda: get_price_book(session, request.price_book, request.price_book_version), "price_book")
    rule_set = named(lambda: get_rule_set(session, request.rule_set, request.rule_set_version), "rule_set")
    day = request.day or date.today()
    if not book.valid_on(day):
        raise PricingError("price_book", f"price book {book.name} is not valid on {day.isoformat()}")
    lines = [resolve_line(session, book, line, i) for i, line in enumerate(request.lines)]
    quote = QuoteInput(book.currency.code, day, request.customer, request.segment, request.tier,
                       request.channel, request.promo_codes, request.payment_terms, request.discount,
                       promotions.usage(session, request.promo_codes, request.customer))
    return price_quote(rule_set, book, quote, lines)


def resolve_line(session: Session, book: PriceBook, line: LineRequest, index: int) -> LineInput:
    where = f"lines[{index}]"
    product, selections, version = line.product, dict(line.selections), line.model_version
    if line.configuration is not None:
        saved = named(lambda: get_configuration(session, line.configuration), f"{where}.configuration")
        if product is not None and product != saved.product:
            raise PricingError(f"{where}.product", f"configuration {saved.id} is a {saved.product}")
        product, selections, version = saved.product, dict(saved.selections), saved.model_version
    if product is None:
        raise PricingError(f"{where}.product", "give a product or a configuration")
    model = model_of(session, product, version, where)
    list_price, values, complete = resolved_list_price(book, product, model, selections, where)
    return LineInput(line.id or str(index + 1), product, Decimal(line.quantity), list_price, values,
                     line.term_months, line.discount, complete, line.contract_price)


def resolved_list_price(book: PriceBook, product: str, model: ProductModel | None, selections: Mapping,
                        where: str = "lines[0]"):
    """(list price, the completed values, whether the selections were complete), cached per
    price book, model and selections: a configurator asks for the same ones again and again."""
    key = (book.digest, product, model.digest if model else None, selection_key(selections))
    return _RESOLVED.get(key, lambda: _list_price(book, product, model, dict(selections), where))


def selection_key(selections: Mapping) -> tuple:
    """Selections as a cache key (with the book's and model's digests, which name their content)."""
    return tuple(sorted((k, repr(v)) for k, v in selections.items()))


def model_of(session: Session, product: str, version: int | None, where: str) -> ProductModel | None:
    """The product's model, or None for a plain product (one with no model)."""
    try:
        return get_model(session, product, version)
    except NotFound:
        if version is not None:
            raise PricingError(f"{where}.model_version", f"{product} has no model version {version}")
        return None


def _list_price(book: PriceBook, product: str, model: ProductModel | None,
                selections: dict, where: str):
    if model is None:
        if selections:
            raise PricingError(f"{where}.selections", f"{product} is not a configurable product")
        return book.list_price(product, field_name=f"{where}.product"), {}, True
    configurator = get_configurator(model)
    try:
        result = configurator.configure(selections)
        completion = configurator.complete(selections) if result.valid else None
    except SelectionError as exc:
        raise PricingError(f"{where}.{exc.field}", exc.reason) from exc
    if completion is None or not completion.valid:
        raise PricingError(f"{where}.selections", "; ".join(c.message for c in result.conflicts))
    values = completion.assignment
    return completed_list_price(book, product, model, values, where), values, result.complete


def completed_list_price(book: PriceBook, product: str, model: ProductModel, values: Mapping, where: str = "lines[0]"):
    """The unit list price of a complete, valid configuration: options, BOM components and cost."""
    bom = get_configurator(model).bom(values)
    bom_cost = None
    if book.cost_from_bom:
        if book.cost_rate is None and model.cost_currency != book.currency.code:
            raise PricingError("price_book", f"{product} costs are in {model.cost_currency}, the price "
                                             f"book in {book.currency.code}: give cost_from_bom.rate")
        bom_cost = _rolled_up(model, book.cost_from_bom)(values)
    return book.list_price(product, values, {line.part: line.quantity for line in bom.flat}, bom_cost,
                           field_name=f"{where}.product")


def preview_unit_price(book: PriceBook, product: str, model: ProductModel, values: Mapping) -> Decimal:
    """`completed_list_price(...).unit_price` of one of the solver's own completions (valid by
    construction, so not checked rule by rule), without its cost (a preview shows none), and
    with a BOM only when the book prices one of the model's parts: nothing else in a unit
    price depends on it."""
    parts = None
    if not book.components.keys().isdisjoint(model.parts):
        parts = {line.part: line.quantity for line in bom_module.build(model, values).flat}
    return book.list_price(product, values, parts).unit_price


_ROLLUPS: LruCache = LruCache(64)


def _rolled_up(model: ProductModel, prop: str):
    """`prop` summed over the BOM and the chosen values, compiled once per model version."""
    def value_prop(attr, value, name):
        return model.attribute(attr).property(value, name)
    return _ROLLUPS.get((model.digest, prop), lambda: ex.compile_fn(model.objective(prop), value_prop))


def named(lookup, field_name: str):
    """Run a lookup; an unknown name becomes a PricingError naming the request field."""
    try:
        return lookup()
    except NotFound as exc:
        raise PricingError(field_name, exc.message) from exc


_RESOLVED: LruCache[tuple] = LruCache(4096)
