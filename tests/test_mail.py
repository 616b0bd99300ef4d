"""E-mail: the outbox written with each change, delivered over SMTP by the workers with
retries, attachments that wait for their documents, and what sends it (invoices, dunning,
share links, signature requests, portal links), checked at a real local SMTP server."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlmodel import select

from api.app import create_app
from billing import collections, portal
from billing import mail as billing_mail
from billing.invoices import issue
from billing.order_billing import invoice_order
from billing.tax import load_demo_tax_rates
from cli.main import cli
from core import mail, queue
from core.db import session_scope, utcnow
from core.docstore import Document
from core.mail import MailMessage
from core.mail_delivery import deliver_due
from core.settings import DEFAULT_DEMO_DIR, Settings, SmtpServer
from core.users import create_user
from sales import contracts
from sales.accounts import Account, create_account
from core import locales
from core.crypto import SecretBox
from core.locales import money
from sales.order_models import Contract
from billing_flow import issue as open_invoice, order_for
from mail_server import smtp  # noqa: F401
from quote_flow import call, env, error_of, ok, sent  # noqa: F401
from test_billing_api import chain  # noqa: F401
from test_subscriptions_api import jobs, key_dates, live  # noqa: F401

pytestmark = pytest.mark.postgres

TODAY = date(2026, 3, 15)
CONTACT = {"name": "Jo Buyer", "email": "jo@acme.example", "primary": True}
ACME = {"code": "ACME", "name": "Acme Corp", "currency": "USD", "contacts": [CONTACT],
        "billing_address": {"street": "500 Industrial Way", "city": "Austin", "region": "TX", "country": "US"}}
SELLER = {"name": "Test Seller", "address": ["1 Street"], "email": "billing@seller.example",
          "website": "seller.example", "colour": "#123456"}


def settings_for(database_url: str, smtp_url: str = "") -> Settings:
    return Settings(database_url=database_url, smtp_url=smtp_url, mail_from="Northwind Billing <billing@northwind.example>")


def outbox(engine) -> list[MailMessage]:
    with session_scope(engine) as session:
        session.expire_on_commit = False
        return list(session.exec(select(MailMessage).order_by(MailMessage.id)))


def compose(engine, settings, to=("jo@acme.example",), attachments=()) -> int:
    """A portal-link message written (and, after the commit, sent with `settings`)."""
    with queue.bound(engine, settings), session_scope(engine) as session:
        message = mail.compose(session, "portal_link", {"account": "Acme Corp", "url": "https://cpq.example/p/abc",
                                                        "expires": "2026-04-14", "company": "Northwind"},
                               list(to), "account ACME", attachments)
        return message.id


# ---- settings ----------------------------------------------------------------------------

def test_smtp_settings_are_read_from_the_environment_and_refused_when_wrong():
    settings = Settings.from_env({"CPQ_SMTP_URL": "smtp://mailer:s%40cret@mail.example:587",
                                  "CPQ_MAIL_FROM": "Billing <billing@northwind.example>"})
    server = SmtpServer.parse(settings.smtp_url)
    assert (server.host, server.port, server.tls, server.starttls) == ("mail.example", 587, False, True)
    assert (server.user, server.password) == ("mailer", "s@cret") and "s@cret" not in repr(server)
    assert settings.mail_from == "Billing <billing@northwind.example>"
    assert SmtpServer.parse("smtps://u:p@mail.example") == SmtpServer("mail.example", 465, True, False, "u", "p")
    assert SmtpServer.parse("smtp://relay.internal").starttls is False                 # no credentials to protect
    assert SmtpServer.parse("smtp://relay.internal:25?starttls=true").starttls is True
    for bad in ("http://mail.example", "smtp://", "smtp://mail.example:0"):
        with pytest.raises(ValueError, match="CPQ_SMTP_URL"):
            Settings.from_env({"CPQ_SMTP_URL": bad})
    with pytest.raises(ValueError, match="CPQ_MAIL_FROM"):
        Settings.from_env({"CPQ_MAIL_FROM": "billing"})


# ---- the outbox and its delivery ---------------------------------------------------------

def test_without_smtp_messages_wait_in_the_outbox(engine, database_url):
    compose(engine, settings_for(database_url))
    [message] = outbox(engine)
    assert (message.status, message.attempts, message.recipients) == ("pending", 0, ["jo@acme.example"])
    assert message.subject == "Your billing portal at Northwind"
    assert "https://cpq.example/p/abc" in message.text and 'href="https://cpq.example/p/abc"' in message.html
    with session_scope(engine) as session:
        assert mail.OUTBOX.due_count(session, utcnow()) == 1


def test_a_message_arrives_once_with_its_message_id(engine, database_url, smtp):
    settings = settings_for(database_url, smtp.url)
    compose(engine, settings, to=["jo@acme.example", "JO@acme.example", "ap@acme.example"])
    [arrived] = smtp.arrived
    [message] = outbox(engine)
    assert message.status == "sent" and message.attempts == 1 and message.sent_at is not None
    assert arrived.rcpt_tos == ["jo@acme.example", "ap@acme.example"]
    assert arrived.subject == "Your billing portal at Northwind"
    assert arrived.message["From"] == "Northwind Billing <billing@northwind.example>"
    assert arrived.message["Message-ID"] == f"<{message.message_id}@northwind.example>"
    assert "https://cpq.example/p/abc" in arrived.text and "https://cpq.example/p/abc" in arrived.html
    for _ in range(2):                                # a task that runs again, or the scheduler's sweep
        assert deliver_due(engine, settings).attempted == 0
        with session_scope(engine) as session:
            mail.retry(session, message.id)           # a sent message is never sent twice
    assert len(smtp.arrived) == 1 and outbox(engine)[0].status == "sent"


def test_a_temporary_refusal_is_retried_with_backoff_and_arrives_once(engine, database_url, smtp):
    settings = settings_for(database_url, smtp.url)
    smtp.refuse.append("451 4.3.0 Mailbox busy, try again later")
    compose(engine, settings)
    [message] = outbox(engine)
    assert (message.status, message.attempts, smtp.arrived) == ("pending", 1, [])
    assert message.last_error.startswith("SMTP 451") and "try again later" in message.last_error
    assert timedelta(seconds=25) < message.next_attempt_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert deliver_due(engine, settings).attempted == 0                 # not yet due
    later = lambda: utcnow() + timedelta(minutes=5)                      # noqa: E731
    run = deliver_due(engine, settings, now=later)
    assert (run.delivered, len(smtp.arrived)) == (1, 1)
    assert deliver_due(engine, settings, now=later).attempted == 0
    [message] = outbox(engine)
    assert (message.status, message.attempts, len(smtp.arrived)) == ("sent", 2, 1)


def test_a_permanent_refusal_fails_at_once_and_can_be_sent_again(engine, database_url, smtp):
    settings = settings_for(database_url, smtp.url)
    smtp.refuse.append("550 5.1.1 No such mailbox")
    message_id = compose(engine, settings)
    [message] = outbox(engine)
    assert (message.status, message.next_attempt_at) == ("failed", None) and "550" in message.last_error
    with queue.bound(engine, settings), session_scope(engine) as session:
        mail.retry(session, message_id)
    assert outbox(engine)[0].status == "sent" and len(smtp.arrived) == 1


def test_a_message_without_a_fit_recipient_is_written_failed(engine, database_url):
    compose(engine, settings_for(database_url), to=[])
    compose(engine, settings_for(database_url), to=["jo@acme.example", "Jo <jo@acme.example>"])
    empty, bad = outbox(engine)
    assert (empty.status, empty.last_error) == ("failed", "no recipient: account ACME has no contact with an e-mail address")
    assert (bad.status, bad.last_error) == ("failed", "not an e-mail address: 'Jo <jo@acme.example>'")


def test_attachments_wait_for_their_documents_and_a_failed_one_fails_the_message(engine, database_url, smtp):
    settings = settings_for(database_url, smtp.url)
    with session_scope(engine) as session:
        document = Document(kind="invoice", ref=1, format="pdf")
        session.add(document)
        session.flush()
        document_id = document.id
    compose(engine, settings, attachments=[(document_id, "INV-1.pdf")])
    [message] = outbox(engine)
    assert (message.status, message.attempts, smtp.arrived) == ("pending", 0, [])   # waiting is no attempt
    with session_scope(engine) as session:
        document = session.get(Document, document_id)
        document.status, document.error = "failed", "TemplateError: broken"
        session.add(document)
    deliver_due(engine, settings, now=lambda: utcnow() + timedelta(minutes=1))
    [message] = outbox(engine)
    assert message.status == "failed" and smtp.arrived == []
    assert message.last_error == "attachment INV-1.pdf: the document failed to render (TemplateError: broken)"


def test_the_cli_lists_shows_and_retries_the_outbox(engine, database_url):
    compose(engine, settings_for(database_url))
    compose(engine, settings_for(database_url), to=[])
    env = {"DATABASE_URL": database_url, "CPQ_SMTP_URL": "", "CPQ_QUEUE_URL": ""}
    listed = CliRunner().invoke(cli, ["mail", "list"], env=env, catch_exceptions=False).output.splitlines()
    assert [line.split()[:2] for line in listed] == [["2", "failed"], ["1", "pending"]]
    assert "Your billing portal at Northwind" in listed[1] and "(no recipient: account ACME" in listed[0]
    shown = CliRunner().invoke(cli, ["mail", "show", "1"], env=env, catch_exceptions=False).output
    assert "To: jo@acme.example" in shown and "https://cpq.example/p/abc" in shown
    retried = CliRunner().invoke(cli, ["mail", "retry", "2", "--json"], env=env, catch_exceptions=False).output
    assert json.loads(retried)["status"] == "pending"
    assert "Error: unknown mail message 9" in CliRunner().invoke(cli, ["mail", "show", "9"], env=env).output


# ---- the customer's language --------------------------------------------------------------

LINK = {"account": "Acme", "company": "Northwind", "url": "https://cpq.example/x/abc", "expires": date(2026, 4, 14)}
CUSTOMER_MAIL = {
    "quote_share": {**LINK, "quote": "Q-1", "title": "Servers", "sender": "Rep", "total": "1234.5",
                    "currency": "EUR", "valid_until": date(2026, 4, 30), "message": ""},
    "contract_signature": {**LINK, "contract": "C-1"},
    "contract_reminder": {"account": "Acme", "contract": "C-1", "kind": "expiry", "due": date(2026, 6, 30),
                          "renews_on": date(2026, 7, 1), "end_date": date(2026, 6, 30)},
    "invoice": {"account": "Acme", "company": "Northwind", "invoice": "INV-1", "credit_note": False, "total": "1234.5",
                "currency": "EUR", "issue_date": date(2026, 3, 15), "due_date": date(2026, 4, 14),
                "payment_reference": "RF18", "einvoice": True},
    "portal_link": LINK,
}


@pytest.mark.parametrize("language", locales.LANGUAGES)
@pytest.mark.parametrize("template", CUSTOMER_MAIL)
def test_every_customer_email_reads_in_every_language(template, language):
    subject, text, html = mail.render(template, CUSTOMER_MAIL[template], language)
    assert f'<html lang="{language}">' in html
    if language == "en":
        assert "Dear Acme," in text and "Kind regards" in text
    else:                                               # no English words and no ISO dates left
        assert subject != mail.render(template, CUSTOMER_MAIL[template])[0]
        assert "Dear" not in text and "regards" not in text and "2026-" not in text
    dates = [locales.day(d, language) for d in CUSTOMER_MAIL[template].values() if isinstance(d, date)]
    assert any(d in text and d in html for d in dates)
    if "total" in CUSTOMER_MAIL[template]:
        assert locales.money("1234.5", "EUR", language) in text
        assert f'<strong>{locales.money("1234.5", "EUR", language)}</strong>' in html


# ---- what sends e-mail -------------------------------------------------------------------

@pytest.fixture
def billing(engine):
    with session_scope(engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        user = create_user(session, "rep@example.com", "Rep", "rep")[0].id
        acme = create_account(session, ACME).id
        bare = create_account(session, {**ACME, "code": "BARE", "name": "Bare Ltd", "contacts": []}).id
    return user, acme, bare


def test_an_issued_invoice_is_emailed_with_its_pdf_and_einvoice(engine, database_url, smtp, billing):
    user, acme, _bare = billing
    with queue.bound(engine, settings_for(database_url, smtp.url)), session_scope(engine) as session:
        order = order_for(session, acme, user, [("hw", "one_time", 3, "1000.00")])
        invoice = issue(session, invoice_order(session, order, TODAY), TODAY,
                        company=SELLER)
        number, total = invoice.number, money(invoice.gross_total, "USD")
    [arrived] = smtp.arrived
    assert arrived.rcpt_tos == ["jo@acme.example"]
    assert arrived.subject == f"Invoice {number} from Test Seller"
    assert f"invoice {number} of {total}, dated 2026-03-15 and due on 2026-04-14." in arrived.text
    assert '<html lang="en">' in arrived.html and f"<strong>{number}</strong>" in arrived.html
    files = arrived.attachments
    assert set(files) == {f"{number}.pdf", f"{number}.xml"}
    assert files[f"{number}.pdf"][0] == "application/pdf" and files[f"{number}.pdf"][1].startswith(b"%PDF-")
    xml = files[f"{number}.xml"]
    assert xml[0] == "application/xml"
    assert b"CrossIndustryInvoice" in (xml[1] if isinstance(xml[1], bytes) else xml[1].encode())
    assert number.encode() in (xml[1] if isinstance(xml[1], bytes) else xml[1].encode())


def test_a_french_accounts_invoice_is_emailed_in_french(engine, database_url, smtp, billing):
    """In the language issuing recorded, as its PDF: words, amount and dates (docs/i18n.md)."""
    user, _acme, _bare = billing
    with session_scope(engine) as session:
        french = create_account(session, {**ACME, "code": "ACME-FR", "name": "Acme France", "language": "fr"}).id
    with queue.bound(engine, settings_for(database_url, smtp.url)), session_scope(engine) as session:
        order = order_for(session, french, user, [("hw", "one_time", 3, "1000.00")])
        invoice = issue(session, invoice_order(session, order, TODAY), TODAY, company=SELLER)
        number, total = invoice.number, money(invoice.gross_total, "USD", language="fr")
        english, due = money(invoice.gross_total, "USD"), locales.day(invoice.due_date, "fr")
        session.get(Account, french).language = "de"        # changed after issue: its e-mail stays French
    [arrived] = smtp.arrived
    assert arrived.subject == f"Facture {number} de Test Seller"
    text = " ".join(arrived.text.split())
    assert total not in (english, "") and due == "14 avr. 2026"
    assert text.startswith("Madame, Monsieur, Veuillez trouver ci-joint la facture")
    assert f"facture {number} d’un montant de {' '.join(total.split())}, datée du 15 mars 2026" in text
    assert f"payable au plus tard le {' '.join(due.split())}." in text and "Cordialement, Test Seller" in text
    assert '<html lang="fr">' in arrived.html and f"<strong>{total}</strong>" in arrived.html


def test_a_german_accounts_portal_link_is_emailed_in_german(engine, database_url, smtp, billing):
    settings = settings_for(database_url, smtp.url)
    with queue.bound(engine, settings), session_scope(engine) as session:
        german = create_account(session, {**ACME, "code": "ACME-DE", "name": "Acme GmbH", "language": "de"})
        link, token = portal.invite(session, german, "jo@acme.example", 14, None)
        billing_mail.portal_link(session, link, f"https://cpq.example/p/{token}", "Northwind",
                                 SecretBox.from_settings(settings))
        expires = locales.day(link.expires_at, "de")
    [arrived] = smtp.arrived
    assert arrived.subject == "Ihr Abrechnungsportal bei Northwind"
    text = " ".join(arrived.text.split())
    assert text.startswith("Sehr geehrte Damen und Herren, Ihre Verträge, Rechnungen, Gutschriften")
    assert f"funktioniert bis zum {expires}. Bitte leiten Sie ihn nicht weiter." in text
    assert f"https://cpq.example/p/{token}" in arrived.text and "Mit freundlichen Grüßen Northwind" in text
    assert '<html lang="de">' in arrived.html and ">Abrechnungsportal öffnen</a>" in arrived.html


def test_dunning_letters_are_emailed_and_a_missing_contact_shows(engine, database_url, smtp, billing):
    _user, acme, bare = billing
    with session_scope(engine) as session:
        for account_id, number in ((acme, "T-ACME-1"), (bare, "T-BARE-1")):
            open_invoice(session, session.get(Account, account_id), "120.00", TODAY - timedelta(days=10), number=number)
    with queue.bound(engine, settings_for(database_url, smtp.url)), session_scope(engine) as session:
        run = collections.run_dunning(session, TODAY)
    assert [n.invoice_number for n in run.notices] == ["T-ACME-1", "T-BARE-1"]
    [arrived] = smtp.arrived
    assert arrived.rcpt_tos == ["jo@acme.example"] and arrived.subject == "Payment reminder"
    assert "invoice T-ACME-1, due on 2026-03-05, is 10 days" in arrived.text
    assert "USD 120.00" in arrived.text
    bare_message = [m for m in outbox(engine) if "T-BARE-1" in m.about]
    assert [(m.status, m.last_error.split(":")[0]) for m in bare_message] == [("failed", "no recipient")]


def test_a_contracts_key_dates_are_emailed_to_the_customer_once(engine, database_url, smtp, billing):
    user, acme, _bare = billing
    with session_scope(engine) as session:
        order = order_for(session, acme, user, [("sup", "monthly", 1, "99.00", 12)], contract_start=TODAY)
        contract = session.get(Contract, order.contract_id)
        number, deadline = contract.number, contract.end_date - timedelta(days=contract.notice_days)
    with queue.bound(engine, settings_for(database_url, smtp.url)):
        for day in (deadline - timedelta(days=3), deadline - timedelta(days=2)):
            with session_scope(engine) as session:
                contracts.run_jobs(session, day)
    [arrived] = smtp.arrived
    assert arrived.rcpt_tos == ["jo@acme.example"] and arrived.subject == f"Contract {number} renews on 2028-01-01"
    assert f"unless notice of non-renewal is given by {deadline.isoformat()}" in arrived.text


# ---- through the API -----------------------------------------------------------------------

@pytest.fixture
def app(engine, database_url, smtp):
    app = create_app(settings_for(database_url, smtp.url), TESTING=True)
    yield app
    app.extensions["cpq_engine"].dispose()


def test_a_rep_emails_a_quotes_share_link_with_its_pdf(env, smtp):
    number, _token = sent(env)
    assert error_of(call(env, "post", f"/quotes/{number}/email", "rep", {"to": ["not-an-address"]}), 422)["fields"]["to[0]"]
    assert error_of(call(env, "post", f"/quotes/{number}/email", "manager"), 403)
    message = ok(call(env, "post", f"/quotes/{number}/email", "rep", {"message": "As discussed on the phone."}), 202)
    assert message["recipients"] == ["jo@acme.com"] and message["attachments"][0]["filename"] == f"{number}.pdf"
    [arrived] = smtp.arrived
    assert arrived.rcpt_tos == ["jo@acme.com"] and number in arrived.subject
    assert f"Rep has sent you quote {number}" in arrived.text and "As discussed on the phone." in arrived.text
    url = next(line for line in arrived.text.splitlines() if "/q/" in line).strip()
    shared = ok(env.client.get(f"/api/v1/shared/{url.rsplit('/', 1)[1]}"))      # the e-mailed link opens it
    assert shared["number"] == number
    assert arrived.attachments[f"{number}.pdf"][1].startswith(b"%PDF-")
    outbox_ = ok(call(env, "get", "/mail?status=sent", "finance"))
    assert [m["id"] for m in outbox_] == [message["id"]] and "text" not in outbox_[0]
    assert url in ok(call(env, "get", f"/mail/{message['id']}", "finance"))["text"]
    with session_scope(env.engine) as session:                  # stored, the token is sealed like a secret
        stored = session.get(MailMessage, message["id"])
        token = url.rsplit("/", 1)[1]
        assert stored.sealed and token not in stored.text and token not in stored.html
    assert error_of(call(env, "get", "/mail", "rep"), 403)
    assert error_of(call(env, "get", "/mail?status=lost", "finance"), 422)["fields"]["status"]


def test_signature_requests_invoices_and_portal_links_are_emailed(chain, smtp):
    env, _quote, contract, order = chain              # the contract was sent for signature
    [signing] = smtp.arrived
    assert signing.subject == f"Contract {contract} from Northwind Systems Inc.: ready for your signature"
    assert "/c/" in signing.text and signing.rcpt_tos == ["jo@acme.com"]
    draft = ok(call(env, "post", f"/orders/{order}/invoices", "finance", {}), 201)
    issued = ok(call(env, "post", f"/invoices/{draft['id']}/issue", "finance"))
    invoice_mail = smtp.arrived[1]
    assert set(invoice_mail.attachments) == {f"{issued['number']}.pdf", f"{issued['number']}.xml"}
    link = ok(call(env, "post", "/accounts/ACME/portal-links", "finance", {"email": "jo@acme.com"}), 201)
    assert link["mail"]["status"] == "pending"                  # as the request leaves it: sent after its commit
    assert link["url"] in smtp.arrived[2].text and link["url"] in smtp.arrived[2].html
    quiet = ok(call(env, "post", "/accounts/ACME/portal-links", "finance", {"email": "jo@acme.com",
                                                                            "send_email": False}), 201)
    assert quiet["mail"] is None and len(smtp.arrived) == 3
    statuses = [m["status"] for m in ok(call(env, "get", "/mail", "finance"))]
    assert statuses == ["sent"] * 3


def test_a_renewal_quote_is_announced_to_its_rep(live, smtp):
    env, contract, _order = live
    window, _end = key_dates(env, contract)
    before = len(smtp.arrived)
    jobs(env, window)
    quote = ok(call(env, "get", f"/contracts/{contract}/renewal-quote"))
    [arrived] = [a for a in smtp.arrived[before:] if a.rcpt_tos == ["rep@example.com"]]
    assert arrived.subject == f"Renewal quote {quote['number']} for contract {contract} (Acme Corp)"
    assert f"Its renewal quote {quote['number']} is ready as a draft" in " ".join(arrived.text.split())


def test_a_message_composed_later_is_rendered_by_its_task_to_the_same_bytes(engine, database_url):
    """An issued invoice's e-mail is rendered off the request path: written with its values,
    rendered by the delivering task (SMTP or not) exactly as at once; a broken template fails it."""
    values = {**CUSTOMER_MAIL["invoice"], "total": Decimal("1234.50"), "account": "Acme <b>"}
    with session_scope(engine) as session:
        later = mail.compose(session, "invoice", values, ["jo@acme.example"], "invoice INV-1", language="fr", later=True)
        broken = mail.compose(session, "no_such_template", {}, ["jo@acme.example"], "x", later=True)
        at_once = mail.compose(session, "invoice", values, ["jo@acme.example"], "invoice INV-1", language="fr")
        later_id, broken_id = later.id, broken.id
        assert (later.subject, later.text, later.html) == ("", "", "")
        assert later not in session and session.get(MailMessage, later_id).unrendered["language"] == "fr"
        expected = (at_once.subject, at_once.text, at_once.html)
        shown = mail.as_shown(later, settings_for(database_url))          # the outbox: as it will go
        assert (shown["subject"], shown["text"], shown["html"]) == expected
        assert mail.as_listed(later)["subject"] == at_once.subject and later.subject == ""
        assert mail.as_listed(broken)["subject"] == ""                  # its task fails it, saying why
    assert json.dumps(outbox(engine)[0].unrendered)                # plain JSON
    deliver_due(engine, settings_for(database_url))                # no SMTP: rendered all the same
    with session_scope(engine) as session:
        written = session.get(MailMessage, later_id)
        assert (written.subject, written.text, written.html) == expected and written.unrendered is None
        assert "1 234,50" in " ".join(written.text.split()) and written.status == "pending"
        failed = session.get(MailMessage, broken_id)
        assert failed.status == "failed" and "no_such_template" in failed.last_error
    with pytest.raises(ValueError), session_scope(engine) as session:
        mail.compose(session, "portal_link", LINK, ["jo@acme.example"], "x", seal=SecretBox(["k" * 32]), later=True)
