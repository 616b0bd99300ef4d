"""The e-mails of billing, written in the transaction of what causes them (core/mail.py): an
issued invoice or credit note with its PDF and e-invoice XML attached (sent once both are
rendered), a dunning letter when a notice is written, and a billing portal link.

They go to the account's primary (or first) contact (sales/mail.py); the seller named is the
one copied onto the invoice at issue. An invoice's e-mail is in the language recorded with it
at issue, like its PDF; the others in the account's (docs/i18n.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session

from billing.models import DunningNotice, Invoice
from core import docstore, mail
from core.crypto import SecretBox
from core.mail import MailMessage
from sales.accounts import Account
from sales.mail import account_recipients

if TYPE_CHECKING:                 # billing.portal reads payments, which read invoices, which send mail
    from billing.portal import PortalLink


def invoice_issued(session: Session, invoice: Invoice, account: Account,
                   documents: list[docstore.Facts | docstore.Document]) -> MailMessage:
    """The issued invoice (or credit note) with its `documents` attached (as requested),
    rendered by the task that sends it (off the request path that issues it)."""
    suffixes = {"pdf": "pdf", "cii": "xml"}
    attachments = [(found.id, f"{invoice.number}.{suffixes[found.format]}") for found in documents]
    return mail.compose(session, "invoice",
                        {"account": account.name, "invoice": invoice.number, "credit_note": invoice.kind != "invoice",
                         "total": invoice.gross_total, "currency": invoice.currency, "issue_date": invoice.issue_date,
                         "due_date": invoice.due_date, "payment_reference": invoice.payment_reference or "",
                         "einvoice": len(attachments) > 1, "company": invoice.seller.get("name", "")},
                        account_recipients(session, account), f"invoice {invoice.number}", attachments,
                        language=invoice.buyer.get("language"), later=True)


def dunning_letter(session: Session, notice: DunningNotice, invoice: Invoice, account: Account) -> MailMessage:
    """The notice's letter, as written (web/templates/letters)."""
    return mail.compose(session, "dunning", {"letter": notice.letter, "company": invoice.seller.get("name", "")},
                        account_recipients(session, account), f"invoice {invoice.number}, reminder {notice.level}",
                        language=account.language)


def portal_link(session: Session, link: PortalLink, url: str, company: str, seal: SecretBox) -> MailMessage:
    """A billing portal link, to the contact it was made for (stored sealed: core/mail.py)."""
    account = session.get(Account, link.account_id)
    return mail.compose(session, "portal_link",
                        {"account": account.name, "url": url, "expires": link.expires_at, "company": company},
                        [link.email], f"account {account.code}", seal=seal, language=account.language)
