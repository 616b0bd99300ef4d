"""The dashboard's sales figures (sales.analytics), summed by the database, against a plain
Python computation of the same figures over random quotes; and the rules by example: what
the visibility filter hides, no quotes, currencies kept apart, no discount counted for
drafts or rejected quotes, only latest revisions, the cycle from revision 1.

Each random case is written in a transaction that is rolled back, so one migrated database
serves every example (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from core.db import session_scope
from core.users import User
from sales import analytics
from sales.accounts import Account
from sales.models import STATES, Quote

pytestmark = pytest.mark.postgres

D = Decimal
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
CURRENCIES = ("USD", "EUR", "JPY")
NAMES = ("Ann", "Bob", "Cy")      # few names: two reps may share one, and their figures with it


# ---- writing quotes ------------------------------------------------------------------------

@dataclass(frozen=True)
class Rev:
    """One quote revision as the test writes it."""
    number: str
    revision: int
    latest: bool
    state: str
    owner: str
    currency: str = "USD"
    contract_value: Decimal | None = None
    list_contract_value: Decimal | None = None
    created_at: datetime = T0
    decided_at: datetime | None = None


def write(session: Session, users: dict[str, str], revs: list[Rev]) -> None:
    """`users` (id -> name) and `revs`, on one account."""
    for user_id, name in users.items():
        session.add(User(id=user_id, email=f"{user_id}@example.com", name=name, role="rep"))
    account = Account(code="ACME", name="Acme", currency="USD")
    session.add(account)
    session.flush()
    for r in revs:
        session.add(Quote(number=r.number, revision=r.revision, latest=r.latest, state=r.state, account_id=account.id,
                          owner_id=r.owner, currency=r.currency, price_book="list", rule_set="standard",
                          payment_terms="NET30", expires_on=date(2027, 1, 1), contract_value=r.contract_value,
                          list_contract_value=r.list_contract_value, created_at=r.created_at,
                          updated_at=r.created_at, decided_at=r.decided_at,
                          priced={"totals": {"note": "the figures never read this"}}))
    session.flush()


def figures_of(engine, users, revs, owners=None) -> analytics.SalesFigures:
    """The figures over `revs` (visible: those owned by `owners`, None: all), written in a
    transaction that is then rolled back."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            with Session(bind=conn) as session:
                write(session, users, revs)
                return analytics.figures(session, None if owners is None else Quote.owner_id.in_(sorted(owners)))
        finally:
            transaction.rollback()


# ---- the reference -------------------------------------------------------------------------

def reference(users: dict[str, str], revs: list[Rev], owners=None) -> analytics.SalesFigures:
    """The figures, the obvious way: the latest revisions one by one, exact decimals."""
    first_created = {r.number: r.created_at for r in revs if r.revision == 1}
    latest = [r for r in revs if r.latest and (owners is None or r.owner in owners)]
    won = [r for r in latest if r.state == "accepted"]
    lost = [r for r in latest if r.state in ("declined", "expired")]
    decided = len(won) + len(lost)
    cycles = [r.decided_at - first_created.get(r.number, r.created_at) for r in won if r.decided_at is not None]
    microseconds = sum((c // timedelta(microseconds=1) for c in cycles), 0)
    by_currency = defaultdict(list)
    for r in won:
        by_currency[r.currency].append(r.contract_value or D(0))
    discount = defaultdict(lambda: defaultdict(lambda: D(0)))
    pipeline = {}
    for r in latest:
        given_away = (r.list_contract_value or D(0)) - (r.contract_value or D(0))
        if r.state not in ("draft", "rejected") and given_away > 0:
            discount[users[r.owner]][r.currency] += given_away
        count, values = pipeline.get(r.state, (0, defaultdict(lambda: D(0))))
        values[r.currency] += r.contract_value or D(0)
        pipeline[r.state] = (count + 1, values)
    return analytics.SalesFigures(
        win_rate=(D(100 * len(won)) / decided).quantize(D("0.1")) if decided else None,
        won=len(won), lost=len(lost),
        cycle_days=(D(microseconds) / (len(cycles) * 86400 * 10**6)).quantize(D("0.1")) if cycles else None,
        deal_size={c: (sum(v) / len(v)).quantize(D("0.01")) for c, v in sorted(by_currency.items())},
        discount_by_rep={rep: dict(by) for rep, by in sorted(discount.items())},
        pipeline={s: (pipeline[s][0], dict(pipeline[s][1])) for s in STATES if s in pipeline})


def assert_exact(figures: analytics.SalesFigures) -> None:
    """Every amount a Decimal (never a float), written without exponent."""
    amounts = [*figures.deal_size.values(), *(v for by in figures.discount_by_rep.values() for v in by.values()),
               *(v for _n, by in figures.pipeline.values() for v in by.values())]
    for value in [figures.win_rate, figures.cycle_days, *amounts]:
        assert value is None or (type(value) is Decimal and "E" not in str(value)), value


# ---- random quotes -------------------------------------------------------------------------

def amounts(draw) -> Decimal | None:
    """None, or an amount with 0, 2, 3 or 6 decimals (the database keeps six), now and then
    written in exponent form (1E+3), which SQL on SQLite cannot read exactly."""
    if draw(st.integers(0, 5)) == 0:
        return None
    places = draw(st.sampled_from((0, 2, 3, 6)))
    value = Decimal(draw(st.integers(-10**7, 10**13))).scaleb(-places)
    return value.normalize() if draw(st.integers(0, 30)) == 0 else value


def near_a_tie(twentieths: int, microseconds: int) -> timedelta:
    """A cycle a few microseconds from a multiple of 0.05 days, where rounding to 0.1 days
    turns on the last microsecond."""
    return timedelta(minutes=72 * twentieths, microseconds=microseconds)


@st.composite
def cases(draw):
    users = {f"u{i}": draw(st.sampled_from(NAMES)) for i in range(draw(st.integers(1, 4)))}
    revs = []
    for n in range(draw(st.integers(0, 12))):
        number = f"Q-{n:03d}"
        start = draw(st.integers(1, 2))                  # 2: revision 1 is missing
        count = draw(st.integers(1, 3))
        created = T0 + draw(st.timedeltas(timedelta(0), timedelta(days=400)))
        for revision in range(start, start + count):
            contract = amounts(draw)
            listed = contract if draw(st.booleans()) else amounts(draw)
            if contract is not None and listed is not None and draw(st.booleans()):
                listed = contract + abs(listed)          # mostly a discount, sometimes none or a surcharge
            decided = draw(st.one_of(st.none(), st.timedeltas(-timedelta(days=2), timedelta(days=300)),
                                     st.builds(near_a_tie, st.integers(0, 2000), st.integers(-2, 2))))
            revs.append(Rev(number, revision, revision == start + count - 1, draw(st.sampled_from(STATES)),
                            draw(st.sampled_from(sorted(users))), draw(st.sampled_from(CURRENCIES)),
                            contract, listed, created, None if decided is None else created + decided))
            created += draw(st.timedeltas(timedelta(0), timedelta(days=30)))
    owners = draw(st.one_of(st.none(), st.sets(st.sampled_from(sorted(users)))))
    return users, revs, owners


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(case=cases())
def test_the_figures_summed_by_the_database_are_the_plain_computation(engine, case):
    users, revs, owners = case
    figures = figures_of(engine, users, revs, owners)
    assert figures == reference(users, revs, owners)
    assert_exact(figures)


# ---- the rules by example --------------------------------------------------------------------

USERS = {"u1": "Ann", "u2": "Bob"}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def test_no_quotes_give_no_rates_and_empty_figures(engine):
    assert figures_of(engine, USERS, []) == analytics.SalesFigures(None, 0, 0, None, {}, {}, {})


def test_the_visibility_filter_leaves_out_other_reps_quotes(engine):
    revs = [Rev("Q-1", 1, True, "accepted", "u1", contract_value=D(100), list_contract_value=D(150),
                decided_at=day(2)),
            Rev("Q-2", 1, True, "declined", "u2", contract_value=D(50), list_contract_value=D(60)),
            Rev("Q-3", 1, True, "sent", "u2", contract_value=D(70), list_contract_value=D(90))]
    mine = figures_of(engine, USERS, revs, {"u1"})
    assert (mine.won, mine.lost, mine.win_rate, mine.cycle_days) == (1, 0, D(100), D("2.0"))
    assert mine.pipeline == {"accepted": (1, {"USD": D(100)})} and mine.discount_by_rep == {"Ann": {"USD": D(50)}}
    everyone = figures_of(engine, USERS, revs)
    assert (everyone.won, everyone.lost, everyone.win_rate) == (1, 1, D(50))
    assert everyone.discount_by_rep == {"Ann": {"USD": D(50)}, "Bob": {"USD": D(30)}}
    assert figures_of(engine, USERS, revs, set()) == analytics.SalesFigures(None, 0, 0, None, {}, {}, {})


def test_currencies_are_never_summed_together(engine):
    revs = [Rev("Q-1", 1, True, "accepted", "u1", "USD", D("100.50"), D(200), decided_at=day(1)),
            Rev("Q-2", 1, True, "accepted", "u1", "USD", D("99.50"), D(100), decided_at=day(2)),
            Rev("Q-3", 1, True, "accepted", "u1", "EUR", D(10), D(25), decided_at=day(3)),
            Rev("Q-4", 1, True, "accepted", "u1", "JPY", D(1000), D(1000), decided_at=day(4)),
            Rev("Q-5", 1, True, "sent", "u2", "JPY", None, None)]
    figures = figures_of(engine, USERS, revs)
    assert figures.deal_size == {"EUR": D("10.00"), "JPY": D("1000.00"), "USD": D("100.00")}
    assert figures.pipeline == {"sent": (1, {"JPY": D(0)}),
                                "accepted": (4, {"USD": D(200), "EUR": D(10), "JPY": D(1000)})}
    assert figures.discount_by_rep == {"Ann": {"USD": D("100"), "EUR": D(15)}}
    assert [str(v) for v in figures.discount_by_rep["Ann"].values()] == ["15.00", "100.00"]   # as prices show
    assert figures.cycle_days == D("2.5")


def test_drafts_and_rejected_quotes_give_no_discount(engine):
    revs = [Rev("Q-1", 1, True, "draft", "u1", contract_value=D(80), list_contract_value=D(100)),
            Rev("Q-2", 1, True, "rejected", "u1", contract_value=D(80), list_contract_value=D(100)),
            Rev("Q-3", 1, True, "pending_approval", "u2", contract_value=D(80), list_contract_value=D(100)),
            Rev("Q-4", 1, True, "sent", "u2", contract_value=D(120), list_contract_value=D(100)),   # surcharge
            Rev("Q-5", 1, True, "approved", "u2", contract_value=D("0.000001"), list_contract_value=None)]
    figures = figures_of(engine, USERS, revs)
    assert figures.discount_by_rep == {"Bob": {"USD": D(20)}}
    assert figures.pipeline["draft"] == (1, {"USD": D(80)}) and figures.pipeline["sent"] == (1, {"USD": D(120)})


def test_only_latest_revisions_count(engine):
    revs = [Rev("Q-1", 1, False, "accepted", "u1", contract_value=D(500), list_contract_value=D(900),
                decided_at=day(1)),
            Rev("Q-1", 2, True, "draft", "u1", contract_value=D(400), list_contract_value=D(900))]
    figures = figures_of(engine, USERS, revs)
    assert (figures.won, figures.lost, figures.win_rate, figures.cycle_days) == (0, 0, None, None)
    assert figures.deal_size == {}
    assert figures.pipeline == {"draft": (1, {"USD": D(400)})} and figures.discount_by_rep == {}


def test_the_cycle_runs_from_revision_1s_creation_to_the_decision(engine):
    revs = [Rev("Q-1", 1, False, "sent", "u1", created_at=day(0)),
            Rev("Q-1", 2, False, "sent", "u1", created_at=day(10)),
            Rev("Q-1", 3, True, "accepted", "u1", created_at=day(11), decided_at=day(12) + timedelta(hours=3)),
            Rev("Q-2", 2, True, "accepted", "u1", created_at=day(20), decided_at=day(21)),   # no revision 1
            Rev("Q-3", 1, True, "accepted", "u1", created_at=day(30), decided_at=None)]     # not counted
    figures = figures_of(engine, USERS, revs)
    assert figures.cycle_days == D("6.6")             # (12.125 + 1) / 2 = 6.5625
    assert figures.won == 3 and figures.win_rate == D(100)


def test_the_cycle_is_exact_to_the_microsecond_and_rounds_half_to_even(engine):
    # 0.05 days is 72 minutes: a mean of exactly 0.05 rounds to 0.0, a microsecond more to
    # 0.1; a fraction of a second near the next one must not be rounded to milliseconds
    start = day(0) + timedelta(microseconds=999_600)
    tie = [Rev("Q-1", 1, True, "accepted", "u1", created_at=start, decided_at=start + timedelta(minutes=72))]
    assert figures_of(engine, USERS, tie).cycle_days == D("0.0")
    more = [Rev("Q-1", 1, True, "accepted", "u1", created_at=start,
                decided_at=start + timedelta(minutes=72, microseconds=1))]
    assert figures_of(engine, USERS, more).cycle_days == D("0.1")
    half = [Rev("Q-1", 1, True, "accepted", "u1", created_at=start,      # SQLite reads start as 1 s later
                decided_at=start + timedelta(minutes=72, milliseconds=500))]
    assert figures_of(engine, USERS, half).cycle_days == D("0.1")


def test_amounts_in_exponent_form_are_summed_exactly_too(engine):
    plain = [Rev("Q-1", 1, True, "accepted", "u1", contract_value=D("1000"), list_contract_value=D("1200.5"),
                  decided_at=day(1)),
             Rev("Q-2", 1, True, "sent", "u2", contract_value=D("0.25"), list_contract_value=D("0.5"))]
    odd = [Rev("Q-1", 1, True, "accepted", "u1", contract_value=D("1E+3"), list_contract_value=D("1200.5"),
                decided_at=day(1)),
           Rev("Q-2", 1, True, "sent", "u2", contract_value=D("0.25"), list_contract_value=D("5E-1"))]
    expected = reference(USERS, plain)
    assert figures_of(engine, USERS, plain) == expected == figures_of(engine, USERS, odd)
    assert expected.discount_by_rep == {"Ann": {"USD": D("200.5")}, "Bob": {"USD": D("0.25")}}


def test_pricing_a_quote_stores_its_list_contract_value(engine):
    from catalog.store import load_demo_catalog, load_demo_price_books
    from core.users import create_user
    from rules.store import load_demo_rule_sets
    from sales import quotes
    from sales.accounts import create_account
    from sales.quotes import LineSpec

    with session_scope(engine) as session:
        for load in (load_demo_catalog, load_demo_price_books, load_demo_rule_sets):
            load(session)
        rep, _token = create_user(session, "rep@example.com", "Rita", "rep")
        create_account(session, {"code": "ACME", "name": "Acme", "currency": "USD"})
        quote = quotes.create_quote(session, rep, "ACME", {}, [LineSpec(product="SUP-MC-Y", discount_percent=D(20))],
                                    date(2026, 12, 1))
        number = quote.number
    with session_scope(engine) as session:
        quote = session.exec(select(Quote).where(Quote.number == number)).one()
        totals = quote.priced["totals"]
        assert quote.list_contract_value == D(totals["list_contract_value"]) > quote.contract_value
        assert quote.contract_value == D(totals["contract_value"])
        quote.state = "sent"
        session.add(quote)
    with session_scope(engine) as session:
        assert analytics.figures(session).discount_by_rep == {
            "Rita": {"USD": D(totals["list_contract_value"]) - D(totals["contract_value"])}}
