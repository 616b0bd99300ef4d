"""The e-mails of selling, written in the transaction of what causes them (core/mail.py): a
quote's share link, a contract's signature request, the customer's reminders of a contract's
renewal notice deadline and expiry, and the rep's reminder of a renewal quote. The customer's
are in the account's language (docs/i18n.md); the rep's in English, as staff pages are.

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
from sales.models import Quote, ShareLink
from sales.order_models import Contract


def account_recipients(session: Session, account: Account, to: Iterable[str] | None = None) -> list[str]:
    """The addresses given, else the account's primary (or first) contact's; none without contacts."""
    if to:
        return list(to)
    contacts = contacts_of(session, account)
    return [contacts[0].email] if contacts else []


def share_quote(session: Session, quote: Quote, sender: User, url: str, expires_at: datetime, company: str,
                seal: SecretBox, to: Iterable[str] | None = None, note: str = "") -> MailMessage:
    """The quote's share link, with its PDF attached once rendered (stored sealed, as every
    e-mail carrying a link: core/mail.py)."""
    account = session.get(Account, quote.account_id)
    document = docstore.facts(session, "quote", quote.id)
    return mail.compose(session, "quote_share",
                        {"account": account.name, "quote": quote.number, "title": quote.title, "sender": sender.name,
                         "total": quote.contract_value, "currency": quote.currency, "url": url,
                         "valid_until": quote.expires_on, "expires": expires_at, "company": company,
                         "message": note.strip()},
                        account_recipients(session, account, to), f"quote {quote.number}",
                        [(document.id, f"{quote.number}.pdf")] if document is not None else [], seal,
                        account.language)


def signature_request(session: Session, contract: Contract, token: str, url: str, company: str, seal: SecretBox,
                      to: Iterable[str] | None = None) -> MailMessage:
    """The contract's signing link (its PDF is on the page the link opens)."""
    expires_at = session.get(ShareLink, token_hash(token)).expires_at
    account = session.get(Account, contract.account_id)
    return mail.compose(session, "contract_signature",
                        {"account": account.name, "contract": contract.number, "url": url, "expires": expires_at,
                         "company": company},
                        account_recipients(session, account, to), f"contract {contract.number}", seal=seal,
                        language=account.language)


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
                        {"account": account.name, "contract": contract.number, "kind": kind, "due": due,
                         "renews_on": contract.end_date + timedelta(days=1), "end_date": contract.end_date},
                        account_recipients(session, account), f"contract {contract.number}",
                        language=account.language)
