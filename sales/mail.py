"""The e-mails of selling, written in the transaction of what causes them (core/mail.py): a
quote's share link, a contract's signature request, the customer's reminders of a contract's
renewal notice deadline and expiry, and the rep's reminder of a renewal quote.

Share and signing links are credentials shown once, so the front end that made the link
gives its address here, in the same transaction. A customer's e-mail goes to the addresses
given, else to the account's primary contact (its first contact if none is primary).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Iterable

from sqlmodel import Session

from core import docstore, mail
from core.crypto import SecretBox
from core.mail import MailMessage
from core.tokens import token_hash
from core.users import User
from sales.accounts import Account, contacts_of
from core.locales import money
from sales.models import Quote, ShareLink
from sales.order_models import Contract


def account_recipients(session: Session, account: Account, to: Iterable[str] | None = None) -> list[str]:
    """The addresses given, else the account's primary (or first) contact's; none without contacts."""
    if to:
        return list(to)
    contacts = contacts_of(session, account)
    return [contacts[0].email] if contacts else []


def day(moment: datetime | date) -> str:
    """The day of a date or moment, as the templates show it."""
    return (moment.date() if isinstance(moment, datetime) else moment).isoformat()


def share_quote(session: Session, quote: Quote, sender: User, url: str, expires_at: datetime, company: str,
                seal: SecretBox, to: Iterable[str] | None = None, note: str = "") -> MailMessage:
    """The quote's share link, with its PDF attached once rendered (stored sealed, as every
    e-mail carrying a link: core/mail.py)."""
    account = session.get(Account, quote.account_id)
    document = docstore.facts(session, "quote", quote.id)
    total = money(quote.contract_value, quote.currency) if quote.contract_value is not None else ""
    return mail.compose(session, "quote_share",
                        {"account": account.name, "quote": quote.number, "title": quote.title, "sender": sender.name,
                         "total": total, "url": url, "valid_until": quote.expires_on.isoformat(),
                         "expires": day(expires_at), "company": company, "message": note.strip()},
                        account_recipients(session, account, to), f"quote {quote.number}",
                        [(document.id, f"{quote.number}.pdf")] if document is not None else [], seal)


def signature_request(session: Session, contract: Contract, token: str, url: str, company: str, seal: SecretBox,
                      to: Iterable[str] | None = None) -> MailMessage:
    """The contract's signing link (its PDF is on the page the link opens)."""
    expires_at = session.get(ShareLink, token_hash(token)).expires_at
    account = session.get(Account, contract.account_id)
    return mail.compose(session, "contract_signature",
                        {"account": account.name, "contract": contract.number, "url": url,
                         "expires": day(expires_at), "company": company},
                        account_recipients(session, account, to), f"contract {contract.number}", seal=seal)


def renewal_quote(session: Session, quote: Quote, contract: Contract, rep: User, notice_by: date) -> MailMessage:
    """Tell the rep a renewal quote waits for them to review and send."""
    account = session.get(Account, contract.account_id)
    return mail.compose(session, "renewal_quote",
                        {"rep": rep.name, "account": account.name, "contract": contract.number, "quote": quote.number,
                         "end_date": contract.end_date.isoformat(), "notice_by": notice_by.isoformat()},
                        [rep.email], f"quote {quote.number}")


def contract_reminder(session: Session, contract: Contract, kind: str, due: date) -> MailMessage:
    """Remind the customer of a key date: `renewal_notice` (the contract renews unless notice is
    given by `due`) or `expiry` (it ends on `due`)."""
    account = session.get(Account, contract.account_id)
    return mail.compose(session, "contract_reminder",
                        {"account": account.name, "contract": contract.number, "kind": kind, "due": due.isoformat(),
                         "renews_on": (contract.end_date + timedelta(days=1)).isoformat(),
                         "end_date": contract.end_date.isoformat()},
                        account_recipients(session, account), f"contract {contract.number}")
