"""Contracts: made from an accepted quote, signed by the customer, then active until they
expire, are terminated or renew.

draft -> sent -> signed -> active -> expired | terminated | renewed
draft | sent -> withdrawn (its quote is being revised: nobody signs what is about to change)

A contract copies the facts it needs from the accepted quote revision (account, value, term,
terms text). Signing uses the same e-signature as quote acceptance: a share link, a typed
name and email, time, IP, user agent and the SHA-256 of the PDF signed. Key dates are handled
by `run_jobs` (cpq jobs run): activation on the start date, a reminder before the last day
to give notice of non-renewal, a reminder before expiry, and on the end date renewal (with
the agreed price escalation) or expiry. Each reminder is e-mailed to the customer
(sales/mail.py) and has a de-duplication key, so the job can run any number of times and
never reminds twice.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from core import docstore, webhooks
from core.dates import add_months
from core.db import append, find_row, lock_rows, owned_where, utcnow
from core.errors import InvalidInput, InvalidTransition, NotFound
from core.money import HUNDRED, currency
from core.sequences import next_number
from core.tokens import new_token, token_hash
from core.users import EMAIL_RE, User, describe
from sales import documents
from sales import mail as sales_mail
from sales.acceptance import opened
from sales.accounts import Account
from sales.models import Decision, Quote, ShareLink
from sales.order_models import Contract, ContractEvent
from sales.quotes import check_owner, customer_price, get_quote

DEFAULT_TERM_MONTHS = 12
RENEWAL_NOTICE_LEAD_DAYS = 14     # remind this long before the last day to give notice
EXPIRY_LEAD_DAYS = 30             # remind this long before a contract that will not renew ends


def _record(session: Session, contract: Contract, actor, action: str, from_state: str | None,
            to_state: str | None, reason: str = "", dedupe_key: str | None = None) -> None:
    append(session, ContractEvent, dict(contract_id=contract.id, actor=describe(actor)[:254], action=action,
                                        from_state=from_state, to_state=to_state, reason=reason[:2000],
                                        dedupe_key=dedupe_key))
    webhooks.emit_for(session, "contract", action, lambda: {
        "number": contract.number, "state": to_state or contract.state,
        "account": session.get(Account, contract.account_id).code, "currency": contract.currency,
        "contract_value": str(contract.contract_value), "start_date": contract.start_date.isoformat(),
        "end_date": contract.end_date.isoformat()})


def note(session: Session, contract: Contract, actor, action: str, reason: str = "") -> None:
    """Record something done about the contract (an amendment quoted, a renewal quote made)."""
    _record(session, contract, actor, action, None, None, reason)


def _move(session: Session, contract: Contract, actor, action: str, to: str, reason: str = "") -> Contract:
    _record(session, contract, actor, action, contract.state, to, reason)
    contract.state, contract.updated_at = to, utcnow()
    session.add(contract)            # written with the transaction's next flush (signing and
    return contract                  # activating at once: one UPDATE)


def label(contract: Contract) -> str:
    return f"contract {contract.number}"


def get_contract(session: Session, number: str, *, lock: bool = False) -> Contract:
    """A contract by number; `lock` takes its row lock for writing (core.db.lock_rows: read
    afresh and owned by the transaction; one it made or locked already is not read again)."""
    contract = owned_where(session, Contract, number=number)
    if contract is None and isinstance(number, str):
        contract = find_row(session, Contract, Contract.number == number, lock=lock)
    if contract is None:
        raise NotFound(f"unknown contract {number!r}")
    return contract


def history(session: Session, contract: Contract) -> list[ContractEvent]:
    return list(session.exec(select(ContractEvent).where(ContractEvent.contract_id == contract.id)
                             .order_by(ContractEvent.id)))


_OF_REVISION = select(Contract).where(Contract.quote_id == sa.bindparam("of_quote"))


def of_revision(session: Session, quote_id: int) -> Contract | None:
    """The contract made from this quote revision, if any (its statement built once)."""
    return session.exec(_OF_REVISION, params={"of_quote": quote_id}).first()


def create_from_quote(session: Session, actor: User, quote_number: str, today: date, *,
                      start_date: date | None = None, auto_renew: bool = True, notice_days: int = 60,
                      escalation_percent: Decimal = Decimal(0)) -> tuple[Contract, bool]:
    """The contract of the quote's accepted latest revision, created once; returns it and
    whether it is new (asking again returns the same contract)."""
    quote = get_quote(session, quote_number, lock=True)
    check_owner(quote, actor, "make a contract of")
    existing = of_revision(session, quote.id)
    if existing is not None:
        return existing, False
    if quote.state != "accepted":
        raise InvalidTransition(quote.label, quote.state, "make a contract of it", "the customer has not accepted it")
    if quote.kind != "sale":
        raise InvalidTransition(quote.label, quote.state, "make a contract of it",
                                "an amendment changes its contract: apply it" if quote.kind == "amendment" else
                                "a renewal becomes the next term when the contract ends (cpq jobs run)")
    start = start_date or today
    if start < today:
        raise InvalidInput("start_date", "must be today or later")
    if not 0 <= notice_days <= 365:
        raise InvalidInput("notice_days", "must be from 0 to 365")
    if not Decimal(0) <= escalation_percent <= Decimal(50):
        raise InvalidInput("escalation_percent", "must be from 0 to 50")
    terms = [ln["term_months"] for ln in quote.priced["lines"] if ln["charge"] != "one_time" and ln["term_months"]]
    term = max(terms, default=DEFAULT_TERM_MONTHS)
    contract = Contract(number=f"C-{today.year}-{next_number(session, f'contract-{today.year}'):05d}",
                        quote_id=quote.id, account_id=quote.account_id, currency=quote.currency,
                        start_date=start, end_date=add_months(start, term) - timedelta(days=1), term_months=term,
                        auto_renew=auto_renew, notice_days=notice_days, escalation_percent=escalation_percent,
                        contract_value=quote.contract_value, terms=quote.terms)
    session.add(contract)
    session.flush()
    _record(session, contract, actor, "create", None, "draft", f"from {quote.number} revision {quote.revision}")
    return contract, True


def document_data(session: Session, contract: Contract, company: dict) -> dict:
    quote = session.get(Quote, contract.quote_id)
    account = session.get(Account, contract.account_id)
    return {"company": company, "language": account.language, "number": contract.number,
            "quote": quote.number, "quote_revision": quote.revision,
            "account": {"name": account.name, "code": account.code, "tax_id": account.tax_id,
                        "billing_address": dict(account.billing_address)},
            "currency": contract.currency, "start_date": contract.start_date.isoformat(),
            "end_date": contract.end_date.isoformat(), "term_months": contract.term_months,
            "auto_renew": contract.auto_renew, "notice_days": contract.notice_days,
            "escalation_percent": str(contract.escalation_percent),
            "contract_value": str(currency(contract.currency).round(contract.contract_value)),
            **customer_price(quote), "terms": contract.terms}


def render(session: Session, contract_id: int, company: dict) -> tuple[bytes, dict]:
    """The contract's PDF and what identifies it."""
    contract = session.get(Contract, contract_id)
    content = documents.render_pdf(document_data(session, contract, company), template="documents/contract.html")
    return content, {"contract": contract.number}


def send_for_signature(session: Session, actor: User, number: str) -> tuple[Contract, str]:
    """Ask for the contract's PDF (rendered once, after the commit: core/docstore.py) and open a
    signing link (the token is returned once); the customer signs once the PDF is ready."""
    contract = get_contract(session, number, lock=True)
    if contract.quote_id is not None:
        check_owner(session.get(Quote, contract.quote_id), actor, "send for signature the contract of")
    if contract.state not in ("draft", "sent"):
        raise InvalidTransition(label(contract), contract.state, "send it for signature")
    docstore.request(session, "contract", contract.id)
    token = new_token()
    expires = utcnow() + timedelta(days=30)
    append(session, ShareLink, dict(token_hash=token_hash(token), contract_id=contract.id, expires_at=expires,
                                    created_by=actor.id))          # nothing here reads it back
    if contract.state == "draft":
        _move(session, contract, actor, "send", "sent")
    return contract, token


def open_link(session: Session, token: str, *, lock: bool = False) -> Contract:
    """The contract of a signing link (sales.acceptance.opened: the link and the contract, or
    the contract locked, in one statement)."""
    return opened(session, token, Contract, lock=lock)[1]


def sign(session: Session, token: str, name: str, email: str, ip: str, user_agent: str, today: date,
         document_sha256: str | None = None) -> Contract:
    """The customer's e-signature; signing again is harmless. A contract that starts today
    becomes active at once (later starts are activated by the job)."""
    contract = open_link(session, token, lock=True)
    if contract.signed_at is not None:
        return contract
    if contract.state != "sent":
        raise InvalidTransition(label(contract), contract.state, "sign it")
    name, email = (name or "").strip(), (email or "").strip().lower()
    if not name:
        raise InvalidInput("name", "type your full name to sign")
    if not EMAIL_RE.match(email):
        raise InvalidInput("email", "expected an email address")
    document = docstore.ready(session, "contract", contract.id)
    if document_sha256 is not None and document_sha256 != document.sha256:
        raise InvalidInput("document_sha256", "this is not the document that was sent; reload the page")
    contract.signed_name, contract.signed_email, contract.signed_at = name[:200], email[:254], utcnow()
    contract.signed_ip, contract.signed_user_agent = (ip or "")[:64], (user_agent or "")[:500]
    _move(session, contract, f"customer {name} <{email}>", "sign", "signed")
    if contract.start_date <= today:
        _move(session, contract, "system", "activate", "active", f"starts {contract.start_date.isoformat()}")
    return contract


def withdraw(session: Session, actor: User, contract: Contract, reason: str) -> Contract:
    """Take back an unsigned contract (its quote is revised); its signing links stop working."""
    if contract.state not in ("draft", "sent"):
        raise InvalidTransition(label(contract), contract.state, "withdraw it", "it was signed")
    return _move(session, contract, actor, "withdraw", "withdrawn", reason)


def give_notice(session: Session, actor: User, number: str, today: date, reason: str = "") -> Contract:
    """Notice of non-renewal, accepted until `notice_days` before the end date."""
    contract = get_contract(session, number, lock=True)
    if contract.state not in ("signed", "active"):
        raise InvalidTransition(label(contract), contract.state, "give notice")
    deadline = contract.end_date - timedelta(days=contract.notice_days)
    if today > deadline:
        raise InvalidTransition(label(contract), contract.state, "give notice",
                                f"the notice period ended on {deadline.isoformat()}")
    if contract.auto_renew:
        contract.auto_renew = False
        _record(session, contract, actor, "notice", None, None, reason or "will not renew")
        session.add(contract)
        session.flush()
    return contract


def terminate(session: Session, actor: User, number: str, on: date, reason: str) -> Contract:
    contract = get_contract(session, number, lock=True)
    if contract.state not in ("signed", "active"):
        raise InvalidTransition(label(contract), contract.state, "terminate it")
    if not reason.strip():
        raise InvalidInput("reason", "say why the contract is terminated")
    contract.terminated_on = on
    return _move(session, contract, actor, "terminate", "terminated", reason)


def renew(session: Session, contract: Contract, quote: Quote | None = None) -> Contract:
    """The next term as a new active contract; the old one is renewed. Silently, at the
    escalated value for the same term; or as the customer accepted its renewal quote
    (sales/renewals.py): that quote's value, term and terms, its acceptance the signature."""
    start = contract.end_date + timedelta(days=1)
    value = currency(contract.currency).round(contract.contract_value * (HUNDRED + contract.escalation_percent) / HUNDRED)
    term, terms = contract.term_months, contract.terms
    signed = (contract.signed_name, contract.signed_email, contract.signed_at)
    if quote is not None:
        value, terms = quote.contract_value, quote.terms
        term = max((ln["term_months"] for ln in quote.priced["lines"] if ln["charge"] != "one_time" and ln["term_months"]),
                   default=contract.term_months)
        decision = session.get(Decision, quote.id)
        signed = (decision.name, decision.email, decision.at)
    following = Contract(number=f"{contract.number.split('/')[0]}/R{_renewal_count(session, contract) + 1}",
                         quote_id=quote.id if quote else None, account_id=contract.account_id,
                         currency=contract.currency, start_date=start,
                         end_date=add_months(start, term) - timedelta(days=1), term_months=term, auto_renew=True,
                         notice_days=contract.notice_days, escalation_percent=contract.escalation_percent,
                         contract_value=value, renewal_of=contract.id, terms=terms, state="active",
                         signed_name=signed[0], signed_email=signed[1], signed_at=signed[2])
    session.add(following)
    session.flush()
    why = f"renewal of {contract.number}" + (f" as accepted on {quote.number}" if quote else "")
    _record(session, following, "system", "renew", None, "active", why)
    _move(session, contract, "system", "renew", "renewed", f"renewed as {following.number}")
    return following


def _renewal_count(session: Session, contract: Contract) -> int:
    count, current = 0, contract
    while current.renewal_of is not None:
        count, current = count + 1, session.get(Contract, current.renewal_of)
    return count


def _remind_once(session: Session, contract: Contract, kind: str, due: date, text: str) -> bool:
    """Record a reminder and e-mail it to the customer, unless this one was already sent
    (unique de-duplication key)."""
    key = f"reminder:{kind}:{due.isoformat()}"
    if session.exec(select(ContractEvent).where(ContractEvent.contract_id == contract.id,
                                                ContractEvent.dedupe_key == key)).first() is not None:
        return False
    try:
        with session.begin_nested():
            _record(session, contract, "system", "remind", None, None, text, dedupe_key=key)
            sales_mail.contract_reminder(session, contract, kind, due)
    except sa.exc.IntegrityError:          # a concurrent run sent it first
        return False
    return True


def run_jobs(session: Session, today: date) -> list[str]:
    """Activate, remind, renew and expire, as of `today`; returns what was done."""
    done = []
    for contract in lock_rows(session, Contract, Contract.state.in_(("signed", "active"))):
        if contract.state == "signed" and contract.start_date <= today:
            _move(session, contract, "system", "activate", "active", f"starts {contract.start_date.isoformat()}")
            done.append(f"{contract.number}: activated")
        if contract.state != "active":
            continue
        deadline = contract.end_date - timedelta(days=contract.notice_days)
        if contract.auto_renew and deadline - timedelta(days=RENEWAL_NOTICE_LEAD_DAYS) <= today <= deadline:
            if _remind_once(session, contract, "renewal_notice", deadline,
                            f"renews on {(contract.end_date + timedelta(days=1)).isoformat()} unless notice "
                            f"is given by {deadline.isoformat()}"):
                done.append(f"{contract.number}: renewal notice reminder")
        if not contract.auto_renew and contract.end_date - timedelta(days=EXPIRY_LEAD_DAYS) <= today <= contract.end_date:
            if _remind_once(session, contract, "expiry", contract.end_date,
                            f"expires on {contract.end_date.isoformat()}"):
                done.append(f"{contract.number}: expiry reminder")
        if today > contract.end_date:
            if contract.auto_renew:
                done.append(f"{contract.number}: renewed as {renew(session, contract).number}")
            else:
                _move(session, contract, "system", "expire", "expired", f"ended {contract.end_date.isoformat()}")
                done.append(f"{contract.number}: expired")
    return done

