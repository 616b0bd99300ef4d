"""billing.payments: recording and allocating payments, credit, refunds, early-payment
discounts, write-offs; the ledger invariant (check_account) under random sequences of all of
them, and concurrent payments on PostgreSQL that never over-allocate an invoice."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlmodel import Session, select

from billing import ledger
from billing.credit_notes import credit_note, void
from billing.invoices import issue_fee_invoice
from billing.models import Invoice, LedgerEntry, Payment, PaymentAllocation
from billing.payments import (OPEN_STATES, apply_credit, balance_due, check_account, mark_uncollectible,
                              record_payment, refund)
from billing.tax import load_demo_tax_rates
from core.db import session_scope
from core.errors import InvalidInput, InvalidTransition
from sales.accounts import Account

from billing_flow import (D, DAY, acme, in_threads, invoice_numbers, issue, kinds, make_account, pay,  # noqa: F401
                          postgres_only, session)

pytestmark = pytest.mark.postgres


def allocations_of(session, payment) -> list[tuple[str, Decimal]]:
    rows = session.exec(select(Invoice.number, PaymentAllocation.amount).join(Invoice)
                        .where(PaymentAllocation.payment_id == payment.id).order_by(PaymentAllocation.id))
    return [(number, amount) for number, amount in rows]


# ---- payments and allocation -------------------------------------------------------------

def test_partial_payments_then_full_payment(session, acme):
    invoice = issue(session, acme, "100.00", DAY)
    first = pay(session, acme, "40.00", "BANK-1")
    assert (invoice.state, invoice.amount_paid, first.unapplied) == ("partially_paid", D(40), D(0))
    assert ledger.balance(session, acme.id) == D(60)
    second = pay(session, acme, "60.00", "BANK-2", on=DAY + timedelta(days=3))
    assert (invoice.state, invoice.amount_paid, balance_due(invoice)) == ("paid", D(100), D(0))
    assert allocations_of(session, second) == [(invoice.number, D(60))]
    assert kinds(session, acme) == [("invoice", D(100)), ("payment", D(-40)), ("payment", D(-60))]
    assert check_account(session, acme.id) == []


def test_an_allocation_is_written_by_one_insert_outside_the_session(session, acme):
    """Nothing later in the transaction uses an allocation as a session object: one INSERT
    writes it (core.db.insert_row), with the id it returns."""
    invoice = issue(session, acme, "100.00", DAY)
    flushed = []
    sa.event.listen(session, "before_flush", lambda s, *_: flushed.extend(type(obj).__name__ for obj in s.new))
    payment = pay(session, acme, "150.00", "BANK-1")
    later = issue(session, acme, "100.00", DAY + timedelta(days=30))
    allocation = apply_credit(session, payment, later, D(20))
    assert "PaymentAllocation" not in flushed and allocation not in session
    assert allocations_of(session, payment) == [(invoice.number, D(100)), (later.number, D(20))]
    stored = session.get(PaymentAllocation, allocation.id)
    assert (stored.payment_id, stored.invoice_id, stored.amount) == (payment.id, later.id, D(20))
    assert check_account(session, acme.id) == []


def test_over_payment_becomes_account_credit(session, acme):
    invoice = issue(session, acme, "100.00", DAY)
    payment = pay(session, acme, "150.00", "BANK-1")
    assert (invoice.state, payment.unapplied) == ("paid", D(50))
    assert ledger.balance(session, acme.id) == D(-50)           # the account is in credit
    assert check_account(session, acme.id) == []


def test_a_payment_with_no_open_invoice_is_all_credit(session, acme):
    payment = pay(session, acme, "75.00", "BANK-1")
    assert (payment.unapplied, allocations_of(session, payment)) == (D(75), [])
    assert check_account(session, acme.id) == []


def test_automatic_allocation_pays_the_oldest_due_first(session, acme):
    late = issue(session, acme, "100.00", DAY + timedelta(days=20))
    early = issue(session, acme, "100.00", DAY - timedelta(days=10))     # issued later, due first
    middle = issue(session, acme, "100.00", DAY)
    payment = pay(session, acme, "150.00", "BANK-1")
    assert allocations_of(session, payment) == [(early.number, D(100)), (middle.number, D(50))]
    assert [i.state for i in (early, middle, late)] == ["paid", "partially_paid", "open"]
    pay(session, acme, "100.00", "BANK-2")                  # finishes the middle one before the late one
    assert (middle.state, late.amount_paid) == ("paid", D(50))
    assert check_account(session, acme.id) == []


def test_explicit_allocation_across_invoices_leaves_the_rest_as_credit(session, acme):
    a = issue(session, acme, "100.00", DAY)
    b = issue(session, acme, "200.00", DAY - timedelta(days=5))
    payment = pay(session, acme, "250.00", "BANK-1", allocations=[(a, D(100)), (b, D("120.50"))])
    assert allocations_of(session, payment) == [(a.number, D(100)), (b.number, D("120.50"))]
    assert (a.state, b.state, b.amount_paid, payment.unapplied) == ("paid", "partially_paid", D("120.50"),
                                                                    D("29.50"))
    nothing = pay(session, acme, "10.00", "BANK-2", allocations=[])     # explicitly: all credit
    assert (nothing.unapplied, b.amount_paid) == (D(10), D("120.50"))
    assert check_account(session, acme.id) == []


@pytest.mark.parametrize("allocate, field", [
    (lambda a, b, other: [(a, D("100.01"))], "allocations[0].amount"),       # more than it owes
    (lambda a, b, other: [(a, D(100)), (b, D(101))], "allocations"),         # more than the payment
    (lambda a, b, other: [(other, D(10))], "allocations[0].invoice"),       # another account's
    (lambda a, b, other: [(a, D(10)), (a, D(10))], "allocations[1].invoice"),  # twice
    (lambda a, b, other: [(b, D("0.001"))], "allocations[0].amount"),       # finer than a cent
    (lambda a, b, other: [(b, D(0))], "allocations[0].amount"),
    (lambda a, b, other: [(b, 10.0)], "allocations[0].amount"),             # a float
    (lambda a, b, other: [b], "allocations[0]"),
])
def test_bad_allocations_name_the_field_and_record_nothing(session, acme, allocate, field):
    a = issue(session, acme, "100.00", DAY)
    b = issue(session, acme, "100.00", DAY)
    other = issue(session, make_account(session, "GLOBEX"), "100.00", DAY)
    with pytest.raises(InvalidInput) as err:
        pay(session, acme, "200.00", "BANK-1", allocations=allocate(a, b, other))
    assert err.value.field == field
    assert session.exec(select(Payment)).all() == []
    assert ledger.balance(session, acme.id) == D(200)


def test_a_paid_invoice_takes_no_explicit_allocation(session, acme):
    invoice = issue(session, acme, "100.00", DAY)
    pay(session, acme, "100.00", "BANK-1")
    with pytest.raises(InvalidTransition, match="is paid: cannot take a payment"):
        pay(session, acme, "100.00", "BANK-2", allocations=[(invoice, D(100))])


@pytest.mark.parametrize("changes, field", [
    ({"currency": "EUR"}, "currency"),          # not the account's currency
    ({"currency": "XXX"}, "currency"),          # not a currency
    ({"amount": D(0)}, "amount"),
    ({"amount": D("-5.00")}, "amount"),
    ({"amount": D("10.005")}, "amount"),
    ({"amount": 10}, "amount"),
    ({"method": "bitcoin"}, "method"),
    ({"reference": "  "}, "reference"),
    ({"reference": "R" * 101}, "reference"),
    ({"received_on": "2026-03-01"}, "received_on"),
])
def test_bad_payments_name_the_field(session, acme, changes, field):
    args = {"amount": D(10), "currency": "USD", "method": "card", "reference": "R1", "received_on": DAY} | changes
    with pytest.raises(InvalidInput) as err:
        record_payment(session, acme, args["amount"], args["currency"], args["method"], args["reference"],
                       args["received_on"])
    assert err.value.field == field


def test_recording_the_same_reference_again_is_idempotent(session, acme):
    invoice = issue(session, acme, "100.00", DAY)
    first = pay(session, acme, "60.00", "BANK-1")
    again = pay(session, acme, "60.00", "BANK-1", on=DAY + timedelta(days=1))
    assert again.id == first.id
    assert (invoice.amount_paid, kinds(session, acme)) == (D(60), [("invoice", D(100)), ("payment", D(-60))])
    with pytest.raises(InvalidInput) as err:
        pay(session, acme, "61.00", "BANK-1")
    assert err.value.field == "reference"
    other = make_account(session, "GLOBEX")
    assert pay(session, other, "61.00", "BANK-1").id != first.id     # references are per account
    assert check_account(session, acme.id) == check_account(session, other.id) == []


# ---- credit and refunds ------------------------------------------------------------------

def test_credit_is_applied_to_a_later_invoice(session, acme):
    payment = pay(session, acme, "150.00", "BANK-1")
    invoice = issue(session, acme, "100.00", DAY + timedelta(days=30))
    with pytest.raises(InvalidInput) as err:
        apply_credit(session, payment, invoice, D("150.01"))
    assert err.value.field == "amount"
    allocation = apply_credit(session, payment, invoice, D(80))
    assert (allocation.amount, payment.unapplied, invoice.state) == (D(80), D(70), "partially_paid")
    with pytest.raises(InvalidInput, match="more than the USD 20.00 due"):
        apply_credit(session, payment, invoice, D(21))
    apply_credit(session, payment, invoice, D(20))
    assert (payment.unapplied, invoice.state) == (D(50), "paid")
    assert kinds(session, acme) == [("payment", D(-150)), ("invoice", D(100))]    # credit moves no money
    with pytest.raises(InvalidInput) as err:
        apply_credit(session, payment, issue(session, make_account(session, "GLOBEX"), "10.00", DAY), D(10))
    assert err.value.field == "invoice"
    assert check_account(session, acme.id) == []


def test_refunds_pay_back_unapplied_credit_only(session, acme):
    issue(session, acme, "100.00", DAY)
    payment = pay(session, acme, "130.00", "BANK-1")
    with pytest.raises(InvalidInput, match="only the unapplied USD 30.00") as err:
        refund(session, payment, D("30.01"), "customer asked", DAY)
    assert err.value.field == "amount"
    with pytest.raises(InvalidInput) as err:
        refund(session, payment, D(10), "customer asked", DAY - timedelta(days=1))
    assert err.value.field == "on"
    with pytest.raises(InvalidInput) as err:
        refund(session, payment, D(10), "", DAY)
    assert err.value.field == "reason"
    refund(session, payment, D(20), "customer asked", DAY + timedelta(days=2))
    refund(session, payment, D(10), "the rest", DAY + timedelta(days=3))
    assert (payment.unapplied, payment.refunded) == (D(0), D(30))
    assert kinds(session, acme)[-2:] == [("refund", D(20)), ("refund", D(10))]
    assert ledger.balance(session, acme.id) == D(0)
    with pytest.raises(InvalidInput):
        refund(session, payment, D("0.01"), "nothing left", DAY + timedelta(days=3))
    assert check_account(session, acme.id) == []


# ---- early-payment discount --------------------------------------------------------------

def test_paying_the_discounted_amount_by_the_discount_date_settles_the_invoice(session, acme):
    invoice = issue(session, acme, "333.33", DAY + timedelta(days=20), discount_percent=D(2),
                    discount_date=DAY)
    assert balance_due(invoice, DAY) == D("326.66")           # 2 % of 333.33 is 6.67, rounded once
    payment = pay(session, acme, "326.66", "BANK-1", on=DAY)
    assert (invoice.state, invoice.amount_paid, payment.unapplied) == ("paid", D("333.33"), D(0))
    entries = ledger.entries(session, acme.id)
    assert [(e.kind, e.amount, e.on, e.invoice_id, e.payment_id) for e in entries[-1:]] == [
        ("write_off", D("-6.67"), DAY, invoice.id, payment.id)]
    assert "early payment discount 2% on " + invoice.number in entries[-1].memo
    assert ledger.balance(session, acme.id) == D(0)
    assert check_account(session, acme.id) == []


def test_discount_over_several_payments_in_time_and_none_after_the_date(session, acme):
    early = issue(session, acme, "1000.00", DAY + timedelta(days=20), discount_percent=D("1.5"),
                  discount_date=DAY)
    pay(session, acme, "500.00", "BANK-1", on=DAY - timedelta(days=2))
    assert early.state == "partially_paid"
    pay(session, acme, "485.00", "BANK-2", on=DAY)                  # 1000 - 15 discount - 500
    assert (early.state, early.amount_paid) == ("paid", D(1000))
    late = issue(session, acme, "1000.00", DAY + timedelta(days=20), discount_percent=D(2), discount_date=DAY)
    pay(session, acme, "980.00", "BANK-3", on=DAY + timedelta(days=1))   # a day late: no discount
    assert (late.state, balance_due(late)) == ("partially_paid", D(20))
    assert [e.kind for e in ledger.entries(session, acme.id)].count("write_off") == 1
    assert check_account(session, acme.id) == []


def test_paying_the_full_amount_in_the_discount_period_leaves_the_discount_as_credit(session, acme):
    invoice = issue(session, acme, "1000.00", DAY + timedelta(days=20), discount_percent=D(2), discount_date=DAY)
    payment = pay(session, acme, "1000.00", "BANK-1", on=DAY)
    assert (invoice.state, payment.unapplied, ledger.balance(session, acme.id)) == ("paid", D(20), D(-20))
    with pytest.raises(InvalidInput, match="more than the USD 980.00 due"):
        pay(session, acme, "1000.00", "BANK-2", on=DAY, allocations=[(issue(
            session, acme, "1000.00", DAY, discount_percent=D(2), discount_date=DAY), D(1000))])
    assert check_account(session, acme.id) == []


def test_credit_applied_later_keeps_the_discount_of_the_day_it_was_received(session, acme):
    payment = pay(session, acme, "490.00", "BANK-1", on=DAY - timedelta(days=5))
    invoice = issue(session, acme, "500.00", DAY + timedelta(days=20), discount_percent=D(2), discount_date=DAY)
    apply_credit(session, payment, invoice, D(490))
    assert (invoice.state, ledger.entries(session, acme.id)[-1].on) == ("paid", DAY - timedelta(days=5))
    assert check_account(session, acme.id) == []


def test_yen_discounts_round_to_whole_yen(session):
    account = make_account(session, "NIPPON", "JPY")
    invoice = issue(session, account, "10333", DAY, discount_percent=D(2), discount_date=DAY)
    assert balance_due(invoice, DAY) == D(10126)            # 206.66 -> 207
    pay(session, account, "10126", "FURIKOMI-1", on=DAY)
    assert invoice.state == "paid"
    assert check_account(session, account.id) == []


# ---- uncollectible -----------------------------------------------------------------------

def test_uncollectible_writes_off_what_is_still_owed(session, acme):
    invoice = issue(session, acme, "100.00", DAY)
    pay(session, acme, "30.00", "BANK-1")
    mark_uncollectible(session, invoice, "customer insolvent", DAY + timedelta(days=200))
    assert (invoice.state, invoice.amount_paid) == ("uncollectible", D(100))
    assert kinds(session, acme)[-1] == ("write_off", D(-70))
    assert ledger.balance(session, acme.id) == D(0)
    with pytest.raises(InvalidTransition, match="is uncollectible: cannot mark it uncollectible"):
        mark_uncollectible(session, invoice, "again", DAY)
    with pytest.raises(InvalidTransition):
        pay(session, acme, "70.00", "BANK-2", allocations=[(invoice, D(70))])
    late = pay(session, acme, "70.00", "BANK-3")                # automatic allocation skips it
    assert late.unapplied == D(70)
    with pytest.raises(InvalidInput) as err:
        mark_uncollectible(session, issue(session, acme, "5.00", DAY), " ", DAY)
    assert err.value.field == "reason"
    assert check_account(session, acme.id) == []


def test_credit_notes_and_voids_from_billing_keep_the_books_agreeing(session, acme):
    """Invoices issued for real (one-line fee invoices) and corrected by credit notes."""
    load_demo_tax_rates(session)
    a = issue_fee_invoice(session, acme, D("100.00"), "USD", "Consulting", DAY)
    b = issue_fee_invoice(session, acme, D("40.00"), "USD", "Travel", DAY)
    credit_note(session, a, D("30.00"), "goodwill", DAY)
    assert (a.state, a.amount_paid) == ("partially_paid", D(30))
    payment = pay(session, acme, "70.00", "BANK-1", on=DAY + timedelta(days=1))
    assert allocations_of(session, payment) == [(a.number, D(70))]
    void(session, b, "billed in error", DAY + timedelta(days=2))
    extra = credit_note(session, a, D("10.00"), "late delivery", DAY + timedelta(days=3))
    assert (a.state, b.state, extra.state) == ("paid", "void", "open")    # the note's 10 is credit
    assert ledger.balance(session, acme.id) == D(-10)
    assert check_account(session, acme.id) == []


# ---- the invariant -----------------------------------------------------------------------

def test_check_account_reports_books_that_disagree(session, acme):
    invoice = issue(session, acme, "100.00", DAY)
    payment = pay(session, acme, "120.00", "BANK-1")
    assert check_account(session, acme.id) == []
    invoice.amount_paid = D(90)                                  # a lost allocation
    session.add(invoice)
    payment.unapplied = D(30)
    session.add(payment)
    ledger.post(session, acme.id, DAY, "refund", D(5), "USD")    # money out with no payment behind it
    session.flush()
    errors = check_account(session, acme.id)
    assert any(e.startswith("ledger balance -15 != ") for e in errors), errors
    assert any(f"invoice {invoice.number}: amount_paid 90 != allocations, credit notes and write-offs 100" in e
               for e in errors), errors
    assert any(f"invoice {invoice.number}: paid with 90 of 100 settled" in e for e in errors), errors
    assert any("payment BANK-1: allocated 100 + unapplied 30 + refunded 0 != amount 120" in e for e in errors)


amounts = st.decimals(min_value=D("0.01"), max_value=D("900"), places=2)


class Books(RuleBasedStateMachine):
    """Random sequences of invoices, payments, credit, refunds and write-offs on one account.
    After every step the books agree with themselves (check_account), and the ledger balance
    equals an independent tally: invoiced - paid + refunded - discounts - written off."""

    def __init__(self, engine):
        super().__init__()
        self.session = Session(engine)
        self.account = make_account(self.session, f"PROP{next(invoice_numbers)}")
        self.day = DAY
        self.invoices: list[Invoice] = []
        self.payments: list[Payment] = []
        self.expected = D(0)

    def open_invoices(self) -> list[Invoice]:
        return [i for i in self.invoices if i.state in OPEN_STATES]

    def settling(self, on: date, action) -> list[Invoice]:
        """Run `action`; every invoice it pays in full by its discount date earns the
        discount, computed here from the terms alone. Returns the invoices it changed."""
        before = {i.id: (i.state, i.amount_paid) for i in self.invoices}
        action()
        changed = [i for i in self.invoices if (i.state, i.amount_paid) != before[i.id]]
        for i in changed:
            assert (i.state == "paid") == (balance_due(i, on) <= 0)     # settled as soon as nothing is due
            if i.state == "paid" and i.discount_date is not None and on <= i.discount_date:
                self.expected -= (i.gross_total * i.discount_percent / 100).quantize(D("0.01"), ROUND_HALF_UP)
        return changed

    @rule(gross=amounts, discount=st.sampled_from([None, D(2), D("1.5")]), terms=st.integers(0, 30))
    def issue_invoice(self, gross, discount, terms):
        due = self.day + timedelta(days=terms)
        self.invoices.append(issue(self.session, self.account, gross, due, discount_percent=discount,
                                   discount_date=self.day + timedelta(days=terms // 3) if discount else None))
        self.expected += gross

    @rule(amount=amounts, wait=st.integers(0, 12))
    def pay_automatically(self, amount, wait):
        self.day += timedelta(days=wait)
        was_open = self.open_invoices()
        payment = None

        def act():
            nonlocal payment
            payment = pay(self.session, self.account, amount, f"AUTO-{next(invoice_numbers)}", on=self.day)

        touched = sorted(self.settling(self.day, act), key=lambda i: (i.due_date, i.id))
        self.payments.append(payment)
        self.expected -= amount
        untouched = [i for i in was_open if i.id not in {t.id for t in touched}]
        assert all(i.state == "paid" for i in touched[:-1])       # oldest due first, each in full...
        if untouched:                                            # ...before any later one
            assert payment.unapplied == 0
            assert (touched[-1].due_date, touched[-1].id) < min((i.due_date, i.id) for i in untouched)
        assert payment.unapplied == 0 or not self.open_invoices()

    @precondition(lambda self: self.open_invoices())
    @rule(data=st.data(), extra=st.sampled_from([D(0), D("0.01"), D(50)]))
    def pay_explicitly(self, data, extra):
        chosen = data.draw(st.lists(st.sampled_from(self.open_invoices()), min_size=1, unique_by=id))
        parts = [(i, data.draw(st.decimals(min_value=D("0.01"), max_value=balance_due(i, self.day), places=2)))
                 for i in chosen]
        total = sum((p for _, p in parts), D(0)) + extra
        payment = None

        def act():
            nonlocal payment
            payment = pay(self.session, self.account, total, f"EXPL-{next(invoice_numbers)}", on=self.day,
                          allocations=parts)

        self.settling(self.day, act)
        self.payments.append(payment)
        self.expected -= total
        assert payment.unapplied == extra

    @precondition(lambda self: any(p.unapplied for p in self.payments) and self.open_invoices())
    @rule(data=st.data())
    def apply_some_credit(self, data):
        payment = data.draw(st.sampled_from([p for p in self.payments if p.unapplied]))
        invoice = data.draw(st.sampled_from(self.open_invoices()))
        amount = data.draw(st.decimals(min_value=D("0.01"), max_value=payment.unapplied + 1, places=2))
        if amount > min(payment.unapplied, balance_due(invoice, payment.received_on)):
            with pytest.raises(InvalidInput):
                apply_credit(self.session, payment, invoice, amount)
        else:
            self.settling(payment.received_on, lambda: apply_credit(self.session, payment, invoice, amount))

    @precondition(lambda self: self.payments)
    @rule(data=st.data())
    def refund_some(self, data):
        payment = data.draw(st.sampled_from(self.payments))
        amount = data.draw(st.decimals(min_value=D("0.01"), max_value=payment.unapplied + 1, places=2))
        if amount > payment.unapplied:
            with pytest.raises(InvalidInput):
                refund(self.session, payment, amount, "requested", self.day)
        else:
            refund(self.session, payment, amount, "requested", self.day)
            self.expected += amount

    @precondition(lambda self: self.open_invoices())
    @rule(data=st.data())
    def write_one_off(self, data):
        invoice = data.draw(st.sampled_from(self.open_invoices()))
        self.expected -= invoice.gross_total - invoice.amount_paid
        mark_uncollectible(self.session, invoice, "gave up", self.day)

    @invariant()
    def books_agree(self):
        self.session.flush()
        assert check_account(self.session, self.account.id) == []
        assert ledger.balance(self.session, self.account.id) == self.expected

    def teardown(self):
        self.session.rollback()
        self.session.close()


def test_ledger_invariant_holds_over_random_sequences(engine):
    run_state_machine_as_test(lambda: Books(engine), settings=settings(
        max_examples=40, stateful_step_count=15,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


# ---- concurrency (PostgreSQL) ------------------------------------------------------------

def _setup(engine, *grosses) -> tuple[int, list[int]]:
    with session_scope(engine) as session:
        account = make_account(session)
        return account.id, [issue(session, account, g, DAY).id for g in grosses]


@pytest.mark.parametrize("explicit", [False, True], ids=["automatic", "explicit"])
def test_a_second_payment_waits_for_the_first_and_never_over_pays(engine, database_url, explicit):
    postgres_only(database_url)
    account_id, (invoice_id,) = _setup(engine, "100.00")
    first_allocated, first_committing = threading.Event(), threading.Event()

    def pay_in_full(session, reference):
        account, invoice = session.get(Account, account_id), session.get(Invoice, invoice_id)
        return pay(session, account, "100.00", reference, allocations=[(invoice, D(100))] if explicit else None)

    def first():
        with session_scope(engine) as session:
            pay_in_full(session, "BANK-1")
            first_allocated.set()
            time.sleep(0.5)                   # holds the invoice's lock while the second one tries
            first_committing.set()

    def second():
        first_allocated.wait(10)
        with session_scope(engine) as session:
            try:
                outcome = pay_in_full(session, "BANK-2").unapplied
            except InvalidTransition as exc:
                outcome = exc
            assert first_committing.is_set()  # it waited for the lock, then saw the invoice paid
            return outcome

    _, outcome = in_threads(first, second)
    if explicit:
        assert isinstance(outcome, InvalidTransition) and "is paid" in str(outcome)
    else:
        assert outcome == D(100)                               # all credit
    with session_scope(engine) as session:
        invoice = session.get(Invoice, invoice_id)
        assert (invoice.state, invoice.amount_paid) == ("paid", D(100))
        assert sum(session.exec(select(PaymentAllocation.amount)).all(), D(0)) == D(100)
        assert check_account(session, account_id) == []


def test_many_concurrent_payments_allocate_each_cent_once(engine, database_url):
    postgres_only(database_url)
    account_id, invoice_ids = _setup(engine, "100.00", "100.00")
    start = threading.Barrier(6)

    def work(reference):
        with session_scope(engine) as session:
            account = session.get(Account, account_id)
            start.wait(10)
            pay(session, account, "50.00", reference)

    in_threads(*(partial(work, f"BANK-{i}") for i in range(6)))
    with session_scope(engine) as session:
        assert [session.get(Invoice, i).state for i in invoice_ids] == ["paid", "paid"]
        assert sum(session.exec(select(Payment.unapplied)).all(), D(0)) == D(100)
        assert ledger.balance(session, account_id) == D(-100)
        assert check_account(session, account_id) == []


def test_concurrent_recording_of_one_reference_records_it_once(engine, database_url):
    postgres_only(database_url)
    account_id, _ = _setup(engine, "100.00")
    start = threading.Barrier(4)

    def work():
        with session_scope(engine) as session:
            account = session.get(Account, account_id)
            start.wait(10)
            return pay(session, account, "100.00", "SAME-REF").id

    assert len(set(in_threads(*[work] * 4))) == 1
    with session_scope(engine) as session:
        assert len(session.exec(select(LedgerEntry).where(LedgerEntry.kind == "payment")).all()) == 1
        assert check_account(session, account_id) == []
