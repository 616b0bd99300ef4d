"""Price books and rule sets in the database (versions and activation), pricing drafts against
the demo catalog, and promo code redemptions whose limits hold under concurrent use. Every
test also runs against PostgreSQL in CI (DATABASE_URL)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Callable

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from catalog.pricebook import KIND as PRICE_BOOK_KIND
from catalog.pricebook import PricingError, load_price_book_dict
from catalog.store import (get_model, get_price_book, load_demo_catalog, load_demo_price_books,
                           save_price_book)
from configurator.store import save_configuration
from core.db import create_engine, session_scope
from core.errors import NotFound, VersionConflict
from core.versioned import DocumentSummary, activate_document, list_documents
from rules.loader import load_rule_set_dict
from rules.model import KIND as RULE_SET_KIND
from rules.pricing import LineRequest, PricingRequest, price_draft
from rules.promotions import PromoCounter, PromoLimitReached, PromoRedemption, redeem, usage
from rules.results import ManualDiscount
from rules.store import get_rule_set, load_demo_rule_sets, save_rule_set

pytestmark = pytest.mark.postgres

DAY = date(2026, 12, 1)           # inside the demo EPYC300 promotion


@pytest.fixture
def session(engine):
    with Session(engine) as session:   # never committed: each test has a fresh database
        yield session


@pytest.fixture
def demo(session):
    load_demo_catalog(session)
    load_demo_price_books(session)
    load_demo_rule_sets(session)
    return session


# versions and activation, for both kinds of document -------------------------------------------

@dataclass(frozen=True)
class Kind:
    kind: str
    save: Callable
    get: Callable
    source: Callable[[int, int], dict]      # (version, variant) -> document
    build: Callable[[dict], object]

    def document(self, version: int, variant: int = 1):
        return self.build(self.source(version, variant))


BOOKS = Kind(PRICE_BOOK_KIND, save_price_book, get_price_book,
             lambda version, variant: {"pricebook": "store-test", "version": version, "currency": "USD",
                                       "products": {"A": f"{variant}0.00"}},
             load_price_book_dict)
RULES = Kind(RULE_SET_KIND, save_rule_set, get_rule_set,
             lambda version, variant: {"ruleset": "store-test", "version": version,
                                       "rules": [{"id": "r", "discount_percent": 5 * variant}]},
             load_rule_set_dict)
KINDS = pytest.mark.parametrize("kind", [BOOKS, RULES], ids=["price_book", "rule_set"])


def active(session, kind: Kind) -> DocumentSummary:
    [summary] = [s for s in list_documents(session, kind.kind) if s.name == "store-test"]
    return summary


@KINDS
def test_the_first_version_is_active_and_the_same_content_again_is_a_no_op(session, kind):
    first = kind.save(session, kind.document(1))
    again = kind.save(session, kind.document(1))
    assert again.id == first.id
    assert active(session, kind) == DocumentSummary("store-test", (1,), 1)
    assert kind.get(session, "store-test").digest == kind.document(1).digest


@KINDS
def test_the_same_version_with_other_content_is_a_conflict(session, kind):
    kind.save(session, kind.document(1))
    with pytest.raises(VersionConflict, match="version 1 is already loaded with different content"):
        kind.save(session, kind.document(1, variant=2))


@KINDS
def test_a_new_version_is_not_active_until_activated(session, kind):
    kind.save(session, kind.document(1))
    kind.save(session, kind.document(2, variant=2))
    assert active(session, kind) == DocumentSummary("store-test", (1, 2), 1)
    assert kind.get(session, "store-test").version == 1
    assert kind.get(session, "store-test", 2).version == 2
    activate_document(session, kind.kind, "store-test", 2)
    assert kind.get(session, "store-test").version == 2
    activate_document(session, kind.kind, "store-test", 1)          # and back
    assert kind.get(session, "store-test").version == 1


@KINDS
def test_saving_with_activate_makes_a_version_active_at_once(session, kind):
    kind.save(session, kind.document(1))
    kind.save(session, kind.document(2, variant=2), activate=True)
    assert active(session, kind).active == 2


@KINDS
def test_unknown_names_and_versions(session, kind):
    kind.save(session, kind.document(1))
    label = kind.kind.replace("_", " ")
    with pytest.raises(NotFound, match=f"unknown {label} 'nope'"):
        kind.get(session, "nope")
    with pytest.raises(NotFound, match=f"{label} 'store-test' has no version 9"):
        kind.get(session, "store-test", 9)
    with pytest.raises(NotFound, match="has no version 9"):
        activate_document(session, kind.kind, "store-test", 9)


def test_activation_reaches_the_next_request_without_a_restart(engine):
    request = PricingRequest("store-test", (LineRequest("A", 2),), rule_set="store-test", day=DAY)

    def priced() -> tuple:
        with session_scope(engine) as session:
            result = price_draft(session, request)
        line = result.lines[0]
        return result.price_book_version, result.rule_set_version, line.list_total, line.net_total

    with session_scope(engine) as session:
        for kind in (BOOKS, RULES):
            kind.save(session, kind.document(1))
            kind.save(session, kind.document(2, variant=2))
    assert priced() == (1, 1, Decimal("20.00"), Decimal("19.00"))       # 10.00 x 2 less 5%
    with session_scope(engine) as session:
        activate_document(session, BOOKS.kind, "store-test", 2)
    assert priced() == (2, 1, Decimal("40.00"), Decimal("38.00"))       # 20.00 x 2 less 5%
    with session_scope(engine) as session:
        activate_document(session, RULES.kind, "store-test", 2)
    assert priced() == (2, 2, Decimal("40.00"), Decimal("36.00"))       # now less 10%


def test_a_transaction_reads_the_active_version_once_and_the_next_reads_it_again(engine):
    """core.versioned reads a name's active version (number and digest) once per transaction:
    a later lookup in it runs no statement, and the session's next transaction sees what
    another session activated meanwhile."""
    with session_scope(engine) as session:
        RULES.save(session, RULES.document(1))
        RULES.save(session, RULES.document(2, variant=2))
    statements = []

    def count(*_args):
        statements.append(1)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        with Session(engine) as session:
            assert get_rule_set(session, "store-test").version == 1
            read = len(statements)
            assert get_rule_set(session, "store-test").version == 1
            assert len(statements) == read
            session.commit()
            with session_scope(engine) as other:
                activate_document(other, RULES.kind, "store-test", 2)
            assert get_rule_set(session, "store-test").version == 2
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_the_demo_documents_load_once(session):
    first = load_demo_price_books(session) + load_demo_rule_sets(session)
    again = load_demo_price_books(session) + load_demo_rule_sets(session)
    assert [row.id for row in again] == [row.id for row in first]
    assert list_documents(session, PRICE_BOOK_KIND) == [
        DocumentSummary("list-eur", (2,), 2), DocumentSummary("list-usd", (2,), 2),
        DocumentSummary("partner-eur", (1,), 1)]
    assert list_documents(session, RULE_SET_KIND) == [DocumentSummary("standard", (1,), 1)]
    assert get_price_book(session, "list-usd").currency.code == "USD"
    assert "EPYC300" in get_rule_set(session, "standard").promotions


# pricing drafts against the demo catalog ---------------------------------------------------------

def draft(session, *lines: LineRequest, **request):
    request.setdefault("day", DAY)
    return price_draft(session, PricingRequest(request.pop("price_book", "list-usd"), lines, **request))


def test_a_draft_with_configured_saved_and_plain_lines(demo):
    saved = save_configuration(demo, get_model(demo, "solar-installation"), {"panel_count": 24})
    request = dict(tier="gold", promo_codes=("epyc300",))
    lines = (LineRequest("rack-server", 12, {"cpu": "e9354", "cpu_count": 2}, id="srv"),
             LineRequest(configuration=saved.id, id="sol"),
             LineRequest("SUP-MC-Y", 2, id="sup"),
             LineRequest("TRAINING-DAY", 3, id="trn", discount=ManualDiscount(percent=Decimal(5))))
    result = draft(demo, *lines, **request)
    assert (result.price_book, result.price_book_version, result.rule_set, result.rule_set_version) == (
        "list-usd", 2, "standard", 1)
    assert [o.rule for o in result.promotions if o.applied] == ["EPYC300"]
    by_id = {line.id: line for line in result.lines}
    assert list(by_id) == ["srv", "srv/rails-per-ten", "sol", "sup", "trn"]

    server = by_id["srv"]
    assert server.complete is False                                   # defaults filled in the rest
    assert server.elements[0].kind == "product" and server.elements[0].unit_price == Decimal("1950.00")
    cpu = next(e for e in server.elements if e.code == "cpu=e9354")
    assert (cpu.quantity, cpu.amount) == (2, Decimal("12840.00"))    # per cpu_count
    assert server.list_unit_price == sum(e.amount for e in server.elements)
    assert server.list_total == server.list_unit_price * 12
    assert server.unit_cost is not None                               # from the BOM
    assert {"server-volume", "tier-gold", "launch-epyc", "rails-per-ten"} <= {
        o.rule for o in server.considered if o.applied}
    assert by_id["srv/rails-per-ten"].product == "RAIL-KIT-2U" and by_id["srv/rails-per-ten"].net_total == 0

    solar = by_id["sol"]
    assert solar.product == "solar-installation"
    assert any(e.code.startswith("panel=") and e.quantity == 24 for e in solar.elements)

    support = by_id["sup"]
    assert (support.list_unit_price, support.charge, support.periods) == (Decimal("1800.00"), "annual", 3)
    assert [o.rule for o in by_id["trn"].considered if o.applied] == ["training-block", "tier-gold"]
    assert by_id["trn"].manual

    for line in result.lines:
        assert line.list_total - sum(s.amount for s in line.steps) == line.net_total
    assert result.totals.contract_value == sum(line.net_total * line.periods for line in result.lines)
    assert result.totals.margin is not None

    replay = draft(demo, *lines, price_book_version=2, rule_set_version=1, **request)
    assert replay == result


def test_a_saved_configuration_is_priced_with_its_pinned_selections(demo):
    saved = save_configuration(demo, get_model(demo, "rack-server"), {"cpu": "xp8580", "gpu": "l4"})
    from_saved = draft(demo, LineRequest(configuration=saved.id, id="x"))
    configured = draft(demo, LineRequest("rack-server", selections={"cpu": "xp8580", "gpu": "l4"}, id="x"))
    assert from_saved.lines == configured.lines


SAVED = "<saved>"        # stands for a saved solar-installation configuration
PLAIN = LineRequest("SUP-MC-Y")
BAD_REQUESTS = {
    "unknown price book": ((PLAIN,), {"price_book": "nope"}, "price_book", "unknown price book 'nope'"),
    "unknown price book version": ((PLAIN,), {"price_book_version": 7}, "price_book",
                                   "price book 'list-usd' has no version 7"),
    "unknown rule set": ((PLAIN,), {"rule_set": "nope"}, "rule_set", "unknown rule set 'nope'"),
    "price book not valid yet": ((PLAIN,), {"day": date(2025, 12, 31)}, "price_book",
                                 "price book list-usd is not valid on 2025-12-31"),
    "unknown product": ((LineRequest("NOPE"),), {}, "lines[0].product",
                        "'NOPE' has no price in price book 'list-usd'"),
    "unknown value": ((LineRequest("rack-server", selections={"cpu": "zzz"}),), {}, "lines[0].selections.cpu",
                      "unknown value 'zzz'"),
    "unknown attribute": ((PLAIN, LineRequest("rack-server", selections={"colour": "red"})), {},
                          "lines[1].selections.colour", "unknown attribute"),
    "conflicting selections": ((LineRequest("rack-server", selections={"gpu": "h100nvl", "chassis": "c1u10sff"}),),
                               {}, "lines[0].selections", "GPUs need a 2U chassis"),
    "selections on a plain product": ((LineRequest("SUP-MC-Y", selections={"cpu": "e9354"}),), {},
                                      "lines[0].selections", "SUP-MC-Y is not a configurable product"),
    "unknown configuration": ((LineRequest(configuration="nope"),), {}, "lines[0].configuration",
                              "unknown configuration 'nope'"),
    "configuration of another product": ((LineRequest("rack-server", configuration=SAVED),), {},
                                         "lines[0].product", "is a solar-installation"),
    "unknown model version": ((LineRequest("rack-server", model_version=9),), {}, "lines[0].model_version",
                              "rack-server has no model version 9"),
    "no product": ((LineRequest(),), {}, "lines[0].product", "give a product or a configuration"),
    "term not whole periods": ((LineRequest("SUP-MC-Y", term_months=18),), {}, "lines[0].term_months",
                               "annual charges need a term in whole periods of 12 months"),
}


@pytest.mark.parametrize("lines, changes, field, reason", BAD_REQUESTS.values(), ids=list(BAD_REQUESTS))
def test_bad_inputs_name_the_field(demo, lines, changes, field, reason):
    saved = save_configuration(demo, get_model(demo, "solar-installation"), {"panel_count": 24})
    lines = [replace(line, configuration=saved.id) if line.configuration == SAVED else line for line in lines]
    with pytest.raises(PricingError) as caught:
        draft(demo, *lines, **changes)
    assert caught.value.field == field
    assert reason in caught.value.reason


# promo code redemptions ---------------------------------------------------------------------------

LIMIT = 3
PROMOTIONS = load_rule_set_dict({
    "ruleset": "promo-test", "version": 1,
    "rules": [{"id": "limited", "discount_percent": 10, "when": {"promo_code": "LIMITED"}}],
    "promotions": [{"code": "LIMITED", "usage_limit": LIMIT},
                   {"code": "PERCUSTOMER", "per_customer_limit": 2},
                   {"code": "ONCEEACH", "per_customer_limit": 1}]})


def counted(session, code: str) -> tuple[int, int]:
    """(the code's counter, its redemption rows)."""
    counter = session.get(PromoCounter, code)
    rows = session.exec(select(func.count()).select_from(PromoRedemption)
                        .where(PromoRedemption.code == code)).one()
    return (counter.used if counter else 0), rows


def test_redeeming_twice_for_the_same_reference_is_a_no_op(session):
    first = redeem(session, PROMOTIONS, "LIMITED", "acme", "Q-1")
    again = redeem(session, PROMOTIONS, " limited ", "acme", "Q-1")
    assert again.id == first.id
    assert counted(session, "LIMITED") == (1, 1)
    assert usage(session, ["limited"], "acme") == {"LIMITED": (1, 1)}


def test_the_usage_limit(session):
    for i in range(LIMIT):
        redeem(session, PROMOTIONS, "LIMITED", None, f"Q-{i}")
    redeem(session, PROMOTIONS, "LIMITED", None, "Q-0")                 # same reference: still fine
    with pytest.raises(PromoLimitReached, match=f"promo code LIMITED has reached its usage limit \\({LIMIT}\\)"):
        redeem(session, PROMOTIONS, "LIMITED", None, "Q-new")


def redeem_alone(engine, code: str, customer: str | None, reference: str) -> None:
    """One redemption in its own transaction, as a caller commits a deal."""
    with session_scope(engine) as session:
        redeem(session, PROMOTIONS, code, customer, reference)


def test_the_per_customer_limit(engine):
    redeem_alone(engine, "PERCUSTOMER", "acme", "Q-1")
    redeem_alone(engine, "PERCUSTOMER", "acme", "Q-2")
    with pytest.raises(PromoLimitReached, match="customer acme has used promo code PERCUSTOMER 2 times"):
        redeem_alone(engine, "PERCUSTOMER", "acme", "Q-3")
    redeem_alone(engine, "PERCUSTOMER", "globex", "Q-4")
    with pytest.raises(PromoLimitReached, match="limited per customer: name the customer"):
        redeem_alone(engine, "PERCUSTOMER", None, "Q-5")
    with Session(engine) as session:
        assert usage(session, ["PERCUSTOMER"], "acme") == {"PERCUSTOMER": (3, 2)}
        assert usage(session, ["PERCUSTOMER"], "globex") == {"PERCUSTOMER": (3, 1)}


def test_an_unknown_code_cannot_be_redeemed(session):
    with pytest.raises(NotFound, match="rule set promo-test has no promotion 'NOPE'"):
        redeem(session, PROMOTIONS, "nope", None, "Q-1")


def test_a_refused_redemption_leaves_no_trace(engine):
    for i in range(LIMIT):
        redeem_alone(engine, "LIMITED", None, f"Q-{i}")
    with pytest.raises(PromoLimitReached):
        redeem_alone(engine, "LIMITED", None, "Q-late")
    with Session(engine) as session:
        assert counted(session, "LIMITED") == (LIMIT, LIMIT)


def test_pricing_reads_how_often_a_code_was_used(engine):
    book = load_price_book_dict({"pricebook": "promo-test", "version": 1, "currency": "USD",
                                 "products": {"A": "100.00"}})
    with session_scope(engine) as session:
        save_price_book(session, book)
        save_rule_set(session, PROMOTIONS)
    request = PricingRequest("promo-test", (LineRequest("A"),), rule_set="promo-test", day=DAY,
                             promo_codes=("LIMITED",))
    for i in range(LIMIT + 1):
        with session_scope(engine) as session:
            [promo] = price_draft(session, request).promotions
            if i < LIMIT:
                assert promo.applied
                redeem(session, PROMOTIONS, "LIMITED", None, f"Q-{i}")
    assert (promo.applied, promo.reason) == (False, f"usage limit reached ({LIMIT} of {LIMIT} used)")


# ... under concurrent use -------------------------------------------------------------------------

THREADS = 10
HOLD = 0.05     # seconds each redemption keeps its transaction open, so the others queue behind it


@pytest.fixture
def concurrent(engine, database_url):
    """An engine with a connection per thread (and, on SQLite, a long busy timeout)."""
    if engine.dialect.name == "sqlite":
        other = create_engine(database_url, connect_args={"timeout": 60})
    else:
        other = create_engine(database_url, pool_size=THREADS, max_overflow=0)
    yield other
    other.dispose()


def redeem_concurrently(engine, code: str, attempts: list[tuple[str | None, str]]) -> list[str]:
    """Redeem `code` once per (customer, reference), each in its own thread and transaction,
    all starting together; "ok" or "limit" per attempt (any other error fails the test)."""
    start = threading.Barrier(len(attempts), timeout=60)
    lock, open_now, peak = threading.Lock(), [0], [0]

    def attempt(customer: str | None, reference: str) -> str:
        start.wait()
        with lock:
            open_now[0] += 1
            peak[0] = max(peak[0], open_now[0])
        try:
            with session_scope(engine) as session:
                redeem(session, PROMOTIONS, code, customer, reference)
                time.sleep(HOLD)
            return "ok"
        except PromoLimitReached:
            return "limit"
        finally:
            with lock:
                open_now[0] -= 1

    with ThreadPoolExecutor(len(attempts)) as pool:
        outcomes = list(pool.map(lambda a: attempt(*a), attempts))
    assert peak[0] > 1, "the redemptions did not overlap"
    return outcomes


@pytest.mark.parametrize("earlier", [0, 1], ids=["new-code", "used-code"])
def test_the_usage_limit_holds_under_concurrent_use(concurrent, earlier):
    if earlier:
        with session_scope(concurrent) as session:
            redeem(session, PROMOTIONS, "LIMITED", None, "earlier")
    outcomes = redeem_concurrently(concurrent, "LIMITED", [(None, f"Q-{i}") for i in range(THREADS)])
    assert outcomes.count("ok") == LIMIT - earlier
    assert outcomes.count("limit") == THREADS - LIMIT + earlier
    with Session(concurrent) as session:
        assert counted(session, "LIMITED") == (LIMIT, LIMIT)


def test_the_per_customer_limit_holds_under_concurrent_use(concurrent):
    outcomes = redeem_concurrently(concurrent, "PERCUSTOMER", [("acme", f"Q-{i}") for i in range(THREADS)])
    assert outcomes.count("ok") == 2
    with Session(concurrent) as session:
        assert counted(session, "PERCUSTOMER") == (2, 2)
        assert usage(session, ["PERCUSTOMER"], "acme") == {"PERCUSTOMER": (2, 2)}


def test_different_customers_each_get_their_one_use_concurrently(concurrent):
    outcomes = redeem_concurrently(concurrent, "ONCEEACH", [(f"c{i}", f"Q-{i}") for i in range(THREADS)])
    assert outcomes == ["ok"] * THREADS
    with Session(concurrent) as session:
        assert counted(session, "ONCEEACH") == (THREADS, THREADS)


def test_concurrent_redemptions_for_the_same_reference_count_once(concurrent):
    outcomes = redeem_concurrently(concurrent, "LIMITED", [("acme", "Q-1")] * THREADS)
    assert outcomes == ["ok"] * THREADS
    with Session(concurrent) as session:
        assert counted(session, "LIMITED") == (1, 1)
