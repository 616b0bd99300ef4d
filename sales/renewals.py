"""Renewals: ahead of a contract's end, a renewal quote of its next term for the rep to change
and send, with the contract's uplift; the end of the term then follows what became of it.

The rule, run daily by `run_jobs` (before the contract jobs, sales/contracts.py):

- From the day the renewal-notice reminder goes out (RENEWAL_NOTICE_LEAD_DAYS before the last
  day to give notice) until the end date, a live contract that renews automatically gets its
  renewal quote, once: a draft (`kind = "renewal"`) owned by the rep who sold the contract,
  one line per subscription running to the end, each continuing it at the contract's net
  unit price raised by `escalation_percent`, over its term; the rep is told by e-mail
  (sales/mail.py). The rep may change anything
  (quantities, re-pricing, lines added or dropped) and takes it through approval and the
  customer's acceptance like any quote. `POST /contracts/<n>/renewal-quote` makes it earlier.
- On the day after the end date:
  - its latest revision **accepted**: the next term is a new active contract made from it
    (its value, term and terms; the customer's acceptance is the signature), the contract
    is renewed, and the renewal quote is ordered like any other (from then on);
  - **declined** by the customer, or notice of non-renewal given: the contract expires, and
    its subscriptions end at the end date;
  - **not acted upon** (a draft, sent and unanswered, expired): as before, the contract
    renews silently at its escalated value when it renews automatically, else expires.
- Subscriptions whose term is over are ended.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from core.db import lock_rows
from core.errors import DomainError, InvalidTransition
from core.users import User
from sales import contracts, subscriptions
from sales import mail as sales_mail
from sales.accounts import Account
from sales.amendments import INHERITED, LIVE, sold_with
from sales.models import Quote
from sales.order_models import Contract
from sales.quotes import LineSpec, create_quote


def renewal_quote(session: Session, contract: Contract) -> Quote | None:
    """The latest revision of the contract's renewal quote, if it has one."""
    return session.exec(select(Quote).where(Quote.contract_id == contract.id, Quote.kind == "renewal", Quote.latest)
                        .order_by(Quote.id.desc())).first()


def create(session: Session, actor: User | None, contract: Contract, today: date) -> tuple[Quote, bool]:
    """The contract's renewal quote, made once (see the module docstring); returns it and
    whether it is new. `actor` None: the rep who sold the contract (the daily job)."""
    existing = renewal_quote(session, contract)
    if existing is not None:
        return existing, False
    if contract.state not in LIVE:
        raise InvalidTransition(contracts.label(contract), contract.state, "quote its renewal", "only a live contract")
    running = [s for s in subscriptions.of_contract(session, contract)
               if s.state == "active" and s.end_date == contract.end_date]
    if not running:
        raise InvalidTransition(contracts.label(contract), contract.state, "quote its renewal",
                                "no subscription runs to its end")
    specs = []
    for subscription in running:
        latest = subscriptions.latest(session, subscription)
        specs.append(LineSpec(subscription.product, None, dict(latest.configuration), latest.model_version,
                              int(latest.quantity), subscription.term_months, subscription=subscription.id))
    sold = sold_with(session, contract)
    header = {name: getattr(sold, name) for name in INHERITED} if sold is not None else {}
    header |= {"title": f"Renewal of {contract.number}", "expires_on": max(contract.end_date, today)}
    owner = actor or session.get(User, sold.owner_id)
    quote = create_quote(session, owner, session.get(Account, contract.account_id).code, header, specs, today,
                         origin={"kind": "renewal", "contract_id": contract.id})
    contracts.note(session, contract, owner, "renewal_quote", f"renewal quote {quote.number}")
    sales_mail.renewal_quote(session, quote, contract, owner, contract.end_date - timedelta(days=contract.notice_days))
    return quote, True


def run_jobs(session: Session, today: date) -> list[str]:
    """Renewal quotes due, and the end of term of contracts whose renewal quote was accepted or
    declined (see the module docstring); safe to run any number of times."""
    done = []
    for contract in lock_rows(session, Contract, Contract.state.in_(LIVE)):
        deadline = contract.end_date - timedelta(days=contract.notice_days)
        quote = renewal_quote(session, contract)
        if (quote is None and contract.auto_renew and contract.state == "active"
                and deadline - timedelta(days=contracts.RENEWAL_NOTICE_LEAD_DAYS) <= today <= contract.end_date):
            try:
                with session.begin_nested():
                    quote, _new = create(session, None, contract, today)
                done.append(f"{contract.number}: renewal quote {quote.number}")
            except DomainError as exc:           # nothing to renew, or it cannot be priced: a silent renewal
                done.append(f"{contract.number}: no renewal quote ({exc})")
        if today > contract.end_date and quote is not None:
            if quote.state == "accepted":
                following = contracts.renew(session, contract, quote)
                done.append(f"{contract.number}: renewed as {following.number} from {quote.number}")
            elif quote.state == "declined" and contract.auto_renew:
                contract.auto_renew = False
                session.add(contract)
                contracts.note(session, contract, "system", "notice", f"renewal quote {quote.number} declined")
                done.append(f"{contract.number}: renewal declined")
    done += [f"subscription {s.id}: ended" for s in subscriptions.end_due(session, today)]
    return done
