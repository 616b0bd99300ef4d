"""Quotes: create, edit, price, revise and clone.

Every edit goes through `edit()`, which decides what a change to the latest revision means in
its current state: a draft changes in place; a rejected revision changes in place and goes
back to draft; a revision waiting for approval cannot change (recall it first); a frozen one
(approved, sent, declined, expired) gets a new revision that starts as a draft and needs
approval again. An accepted revision is final: what the customer accepted is what is
ordered, contracted and billed, so an edit is refused; the deal changes only by an explicit
revision (workflow.revise) while nothing was ordered or signed, and after that by an
amendment. Lines are priced by the pricing engine on every edit, and the stored
price records the price book, rule set and model versions it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields as dc_fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from catalog.store import get_model, get_price_book
from configurator.store import get_configuration
from core.db import Finder
from core.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from core.sequences import next_number
from core.users import User
from core.validation import digest
from rules.pricing import LineRequest, PricingRequest, price_draft
from rules.results import ManualDiscount
from rules.stacking import explain
from rules.schemas import CustomerPriceSchema, QuotePriceSchema
from sales.accounts import Account, entitled, get_account
from sales.audit import record
from sales import subscriptions
from sales.models import FINAL, FROZEN, Quote, QuoteLine, TermsTemplate
from sales.terms import render_terms

VALIDITY_DAYS = 30
DEFAULT_TERMS = "standard"         # the terms template a new quote gets when it names none
MAX_LINES = 2000
_PRICE_SCHEMA = QuotePriceSchema()
_CUSTOMER_PRICE = CustomerPriceSchema()


@dataclass(frozen=True)
class LineSpec:
    """One quote line as a caller gives it: a product (plain, or configured with selections)
    or a saved configuration."""
    product: str | None = None
    configuration: str | None = None
    selections: Mapping[str, Any] = field(default_factory=dict)
    model_version: int | None = None
    quantity: int = 1
    term_months: int | None = None
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None
    group: str | None = None
    notes: str = ""
    key: str | None = None          # keeps a line's identity when a list of lines replaces another
    subscription: int | None = None   # an amendment's or renewal's line: the subscription it continues
    reprice: bool = False           # priced by the rules afresh rather than at the contract's price


HEADER_FIELDS = ("title", "price_book", "rule_set", "channel", "payment_terms", "promo_codes",
                 "discount_percent", "discount_amount", "expires_on", "terms_template", "notes")
# header fields that change the price (and so void an approval); title, notes and terms do not
PRICE_FIELDS = ("price_book", "rule_set", "channel", "payment_terms", "promo_codes",
                "discount_percent", "discount_amount")


# reading -----------------------------------------------------------------------------------

_REVISION = (Quote.number == sa.bindparam("q_number"), Quote.revision == sa.bindparam("q_revision"))
_LATEST = (Quote.number == sa.bindparam("q_number"), Quote.latest)
#: get_quote's statements (by whether it reads the latest revision), built once
_FINDING = {False: Finder(Quote, *_REVISION), True: Finder(Quote, *_LATEST)}


def get_quote(session: Session, number: str, revision: int | None = None, *, lock: bool = False) -> Quote:
    """A revision of a quote (default: the latest). `lock` takes its row lock for writing
    (core.db.lock_rows: read afresh and owned by the transaction)."""
    quote = None
    if isinstance(number, str):
        params = {"q_number": number} if revision is None else {"q_number": number, "q_revision": revision}
        quote = _FINDING[revision is None].find(session, params, lock=lock)
    if quote is None:
        which = f" revision {revision}" if revision is not None else ""
        raise NotFound(f"unknown quote {number!r}{which}")
    return quote


def revisions(session: Session, number: str) -> list[Quote]:
    rows = list(session.exec(select(Quote).where(Quote.number == number).order_by(Quote.revision)))
    if not rows:
        raise NotFound(f"unknown quote {number!r}")
    return rows


_LINES = select(QuoteLine).where(QuoteLine.quote_id == sa.bindparam("of_quote")).order_by(QuoteLine.position)


def lines_of(session: Session, quote: Quote) -> list[QuoteLine]:
    """The quote's lines in their order (the statement built once: it runs on every step of
    the request path, from pricing to the order)."""
    return list(session.exec(_LINES, params={"of_quote": quote.id}))


def list_quotes(session: Session, *, state: str | None = None, account: str | None = None,
                owner: str | None = None, limit: int = 50, offset: int = 0, visible=None) -> list[Quote]:
    """The latest revisions, newest first; `visible` narrows them (sales.access.quote_filter)."""
    query = select(Quote).where(Quote.latest)
    if visible is not None:
        query = query.where(visible)
    if state:
        query = query.where(Quote.state == state)
    if account:
        query = query.where(Quote.account_id == get_account(session, account).id)
    if owner:
        query = query.where(Quote.owner_id == owner)
    return list(session.exec(query.order_by(Quote.id.desc()).offset(offset).limit(limit)))


def check_owner(quote: Quote, actor: User, action: str) -> None:
    """Only the quote's owner (or an admin) may change it or move it along."""
    if actor.id != quote.owner_id and actor.role != "admin":
        raise Forbidden(f"only the quote's owner or an admin can {action} {quote.label}")


# creating ----------------------------------------------------------------------------------

def create_quote(session: Session, actor: User, account_code: str, header: Mapping[str, Any],
                 lines: Sequence[LineSpec], today: date, *, origin: Mapping[str, Any] | None = None) -> Quote:
    """A new draft, priced. `origin` makes it an amendment or renewal of a contract (`kind`,
    `contract_id`, `effective_date`: sales/amendments.py, sales/renewals.py)."""
    account = _named(lambda: get_account(session, account_code), "account")
    unknown = set(header) - set(HEADER_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "unknown quote field")
    number = f"Q-{today.year}-{next_number(session, f'quote-{today.year}'):05d}"
    quote = Quote(number=number, account_id=account.id, owner_id=actor.id, currency=account.currency,
                  price_book=header.get("price_book") or f"list-{account.currency.lower()}",
                  rule_set=header.get("rule_set") or "standard", payment_terms=account.payment_terms,
                  channel=account.channel, expires_on=today + timedelta(days=VALIDITY_DAYS), **(origin or {}))
    if "terms_template" not in header and session.get(TermsTemplate, DEFAULT_TERMS) is not None:
        header = {**header, "terms_template": DEFAULT_TERMS}
    _apply_header(session, quote, account, header, today)
    _check_entitled(session, quote, account, actor)
    session.add(quote)
    session.flush()
    _replace_lines(session, quote, lines)
    price(session, quote, account, today)
    record(session, quote, actor, "create", None, "draft")
    return quote


def clone(session: Session, actor: User, number: str, revision: int | None, today: date) -> Quote:
    """A new quote (new number, draft, the actor as owner) with the same account, header and
    lines; priced afresh and, like any new draft, approved afresh."""
    source = get_quote(session, number, revision)
    account = session.get(Account, source.account_id)
    header = {k: getattr(source, k) for k in HEADER_FIELDS if k not in ("expires_on", "terms_template")}
    header["terms_template"] = source.terms_template
    specs = [LineSpec(**{**spec.__dict__, "subscription": None, "reprice": False})
             for spec in _specs(session, source) if spec.quantity]     # a new sale, not a change of a contract
    quote = create_quote(session, actor, account.code, header, specs, today)
    quote.terms = source.terms
    quote.cloned_from = f"{source.number} r{source.revision}"
    record(session, quote, actor, "clone", None, "draft", data={"from": quote.cloned_from})
    return quote


# editing -----------------------------------------------------------------------------------

def edit(session: Session, actor: User, number: str, today: date, *,
         header: Mapping[str, Any] | None = None, lines: Sequence[LineSpec] | None = None,
         change_lines: Callable[[list[LineSpec]], list[LineSpec]] | None = None,
         expected_lock: int | None = None, reason: str = "") -> Quote:
    """Change the latest revision (see the module docstring for what each state allows).
    `lines` replaces the lines; `change_lines` maps the current ones to new ones.
    `expected_lock` (the `lock_version` the caller last read) refuses a lost update."""
    quote = get_quote(session, number, lock=True)
    check_owner(quote, actor, "change")
    if expected_lock is not None and expected_lock != quote.lock_version:
        raise InvalidTransition(quote.label, quote.state, "change it",
                                f"it changed since it was read (version {quote.lock_version}, not {expected_lock})")
    header = dict(header or {})
    unknown = set(header) - set(HEADER_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "unknown quote field")
    if quote.state == "pending_approval":
        raise InvalidTransition(quote.label, quote.state, "change it", "recall it from approval first")
    if quote.state in FINAL:
        raise InvalidTransition(quote.label, quote.state, "change it",
                                "the customer accepted it, so it is final; revise it on purpose while it has no "
                                "order or signed contract, after that change it by an amendment")
    if quote.state in FROZEN:
        quote = new_revision(session, actor, quote, reason or "changed after it was " + quote.state)
    account = session.get(Account, quote.account_id)
    before = quote.fingerprint
    _apply_header(session, quote, account, header, today)
    if "price_book" in header or "channel" in header:
        _check_entitled(session, quote, account, actor)
    if change_lines is not None:
        lines = change_lines(_specs(session, quote))
    if lines is not None:
        _replace_lines(session, quote, lines)
    price(session, quote, account, today)
    changed = sorted(header) + (["lines"] if lines is not None else [])
    if quote.state == "rejected":
        record(session, quote, actor, "edit", "rejected", "draft", reason, {"changed": changed})
        quote.state = "draft"
    else:
        record(session, quote, actor, "edit", None, None, reason,
               {"changed": changed, "price_changed": quote.fingerprint != before})
    session.add(quote)
    session.flush()
    return quote


def new_revision(session: Session, actor: User, quote: Quote, reason: str) -> Quote:
    """Freeze `quote` as history and start its next revision as a draft copy."""
    quote.latest = False
    session.add(quote)
    session.flush()
    copy = Quote(**{f: getattr(quote, f) for f in Quote.model_fields
                    if f not in ("id", "revision", "latest", "state", "lock_version", "created_at",
                                 "updated_at", "submitted_at", "sent_at", "decided_at")})
    copy.revision, copy.state = quote.revision + 1, "draft"
    session.add(copy)
    session.flush()
    for line in lines_of(session, quote):
        session.add(QuoteLine(**{f: getattr(line, f) for f in QuoteLine.model_fields if f not in ("id", "quote_id")},
                              quote_id=copy.id))
    session.flush()
    record(session, copy, actor, "revise", None, "draft", reason, {"from_revision": quote.revision})
    return copy


def line_changer(add: Sequence[LineSpec] = (), update: Mapping[str, Mapping[str, Any]] | None = None,
                 remove: Sequence[str] = ()) -> Callable[[list[LineSpec]], list[LineSpec]]:
    """A `change_lines` function: add lines at the end, update fields of lines by key, remove
    lines by key. Unknown keys are errors naming the line."""
    update = dict(update or {})

    def change(current: list[LineSpec]) -> list[LineSpec]:
        keys = {spec.key for spec in current}
        for key in [*update, *remove]:
            if key not in keys:
                raise InvalidInput(f"lines.{key}", "no line with this key")
        names = {f.name for f in dc_fields(LineSpec)} - {"key"}
        out = []
        for spec in current:
            if spec.key in remove:
                continue
            changes = update.get(spec.key, {})
            bad = set(changes) - names
            if bad:
                raise InvalidInput(f"lines.{spec.key}.{sorted(bad)[0]}", "unknown line field")
            out.append(LineSpec(**{**spec.__dict__, **changes}))
        return out + list(add)

    return change


def _apply_header(session: Session, quote: Quote, account: Account, header: Mapping[str, Any],
                  today: date) -> None:
    for name, value in header.items():
        if name == "expires_on":
            if not isinstance(value, date) or value < today:
                raise InvalidInput("expires_on", "must be a date, today or later")
        elif name == "promo_codes":
            value = sorted({str(c).strip().upper() for c in (value or ()) if str(c).strip()})
        elif name in ("price_book", "rule_set", "payment_terms") and not value:
            raise InvalidInput(name, "must not be empty")
        elif name in ("title", "notes"):
            value = value or ""
        setattr(quote, name, value)
    if quote.discount_percent is not None and quote.discount_amount is not None:
        raise InvalidInput("discount_amount", "give a header discount as a percent or an amount, not both")
    if quote.discount_percent is not None and not Decimal(0) <= quote.discount_percent <= Decimal(100):
        raise InvalidInput("discount_percent", "must be from 0 to 100")
    if quote.discount_amount is not None and quote.discount_amount < 0:
        raise InvalidInput("discount_amount", "must be at least 0")
    if "terms_template" in header or "expires_on" in header or "payment_terms" in header:
        if quote.terms_template:
            quote.terms = render_terms(session, quote.terms_template, account, quote)


def _check_entitled(session: Session, quote: Quote, account: Account, actor: User) -> None:
    """A quote is priced on a book the account is entitled to, in its own channel: a reseller
    book or channel would otherwise be a discount no approval ever sees (discounts are
    measured against the quote's book). Others need quotes:any-price-book."""
    if "quotes:any-price-book" in actor.permissions:
        return
    book = _named(lambda: get_price_book(session, quote.price_book), "price_book")
    if not entitled(account, book):
        raise Forbidden(f"{account.code} is not entitled to price book {book.name} (for the "
                        f"{', '.join(book.channels)} channel); entitle the account or ask someone with "
                        "quotes:any-price-book", field="price_book")
    if quote.channel not in (None, account.channel):
        sold = f"through the {account.channel} channel" if account.channel else "with no channel"
        raise Forbidden(f"{account.code} is sold {sold}, not through {quote.channel}; quoting another channel "
                        "needs quotes:any-price-book", field="channel")


def _replace_lines(session: Session, quote: Quote, specs: Sequence[LineSpec]) -> None:
    if len(specs) > MAX_LINES:
        raise InvalidInput("lines", f"at most {MAX_LINES} lines")
    old = lines_of(session, quote)
    used = {s.key for s in specs if s.key}
    next_key = max([int(ln.key) for ln in old if ln.key.isdigit()] +
                   [int(k) for k in used if k.isdigit()] + [0]) + 1
    for line in old:
        session.delete(line)
    session.flush()
    for position, spec in enumerate(specs):
        where = f"lines[{position}]"
        if spec.product is None and spec.configuration is None:
            raise InvalidInput(f"{where}.product", "give a product or a configuration")
        if spec.subscription is not None:
            subscriptions.check_continues(session, quote, spec.subscription, spec.quantity, where)
        elif spec.quantity < 1:
            raise InvalidInput(f"{where}.quantity", "must be at least 1")
        if spec.discount_percent is not None and spec.discount_amount is not None:
            raise InvalidInput(f"{where}.discount_amount", "give a percent or an amount, not both")
        if spec.configuration is not None:
            _named(lambda: get_configuration(session, spec.configuration), f"{where}.configuration")
        key = spec.key
        if not key:
            key, next_key = str(next_key), next_key + 1
        product = spec.product
        version = spec.model_version
        if spec.configuration is None and product is not None and spec.selections and version is None:
            version = _named(lambda: get_model(session, product).version, f"{where}.product")
        session.add(QuoteLine(quote_id=quote.id, key=key, position=position, group=spec.group,
                              product=product or "", configuration_id=spec.configuration,
                              selections=dict(spec.selections), model_version=version,
                              quantity=spec.quantity, term_months=spec.term_months,
                              discount_percent=spec.discount_percent, discount_amount=spec.discount_amount,
                              notes=spec.notes or "", subscription_id=spec.subscription, reprice=spec.reprice))
    session.flush()


def _specs(session: Session, quote: Quote) -> list[LineSpec]:
    return [LineSpec(ln.product or None, ln.configuration_id, dict(ln.selections), ln.model_version,
                     ln.quantity, ln.term_months, ln.discount_percent, ln.discount_amount, ln.group,
                     ln.notes, ln.key, ln.subscription_id, ln.reprice) for ln in lines_of(session, quote)]


# pricing -----------------------------------------------------------------------------------

def price(session: Session, quote: Quote, account: Account, today: date) -> None:
    """Price the revision's lines now and store the result with the versions it used."""
    lines = lines_of(session, quote)
    carried = subscriptions.contract_prices(session, quote, lines)
    request = PricingRequest(
        quote.price_book,
        tuple(LineRequest(ln.product or None, ln.quantity, ln.selections, ln.configuration_id, ln.model_version,
                          ln.key, ln.term_months, _discount(ln.discount_percent, ln.discount_amount),
                          carried.get(ln.key))
              for ln in lines),
        rule_set=quote.rule_set, day=today, customer=account.code, segment=account.segment,
        tier=account.tier, channel=quote.channel, promo_codes=tuple(quote.promo_codes),
        payment_terms=quote.payment_terms,
        discount=_discount(quote.discount_percent, quote.discount_amount))
    result = price_draft(session, request)
    if result.currency != quote.currency:
        raise InvalidInput("price_book", f"price book {quote.price_book} is in {result.currency}; "
                                         f"the quote is in {quote.currency}")
    for ln, priced in zip(lines, result.lines):       # a saved configuration names its product
        if not ln.product:
            ln.product = priced.product
            session.add(ln)
    quote.priced = _PRICE_SCHEMA.dump(result)
    quote.priced_on = today
    quote.price_book_version, quote.rule_set_version = result.price_book_version, result.rule_set_version
    quote.one_time_net = result.totals.one_time_net
    quote.contract_value = result.totals.contract_value
    quote.list_contract_value = result.totals.list_contract_value
    quote.discount_given_percent = result.totals.discount_percent
    quote.fingerprint = digest({
        "account": [account.code, account.segment, account.tier],
        "header": {f: getattr(quote, f) for f in PRICE_FIELDS},
        "lines": [[ln.key, ln.product, ln.configuration_id, ln.selections, ln.model_version, ln.quantity,
                   ln.term_months, ln.discount_percent, ln.discount_amount, ln.subscription_id, ln.reprice]
                  for ln in lines],
        "origin": [quote.kind, quote.contract_id, quote.effective_date],
        "priced": quote.priced})


def customer_price(quote: Quote) -> dict[str, Any]:
    """The revision's stored price as its customer may see it (lines, quote steps, totals):
    every document and page a customer reads is built from this, never from the price."""
    return _CUSTOMER_PRICE.dump(quote.priced or {"currency": quote.currency, "lines": [], "quote_steps": [],
                                                 "totals": {}})


def required_approvals(quote: Quote) -> list[dict]:
    """The approvals the stored price needs (levels with stage and reasons)."""
    return list((quote.priced or {}).get("approvals", []))


def discount_explanations(quote: Quote) -> dict[str, str]:
    """How the discounts of each discounted line stack, in words (rules/stacking.py), by line
    id: what the rep reads beside the approvals a line discount asks for. Free items are
    left out, as the approval rules leave them out (rules/approvals.py)."""
    explained = {}
    for line in (quote.priced or {}).get("lines", []):
        if line["free_of"] is not None:
            continue
        text = explain(Decimal(line["list_total"]), ((s["label"], Decimal(s["amount"])) for s in line["steps"]))
        if text:
            explained[line["id"]] = text
    return explained


def _discount(percent: Decimal | None, amount: Decimal | None) -> ManualDiscount | None:
    if percent is None and amount is None:
        return None
    return ManualDiscount(percent, amount)


def _named(lookup, field_name: str):
    try:
        return lookup()
    except NotFound as exc:
        raise InvalidInput(field_name, exc.message) from exc
