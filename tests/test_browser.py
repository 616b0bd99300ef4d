"""End to end in a real browser (Debian's Chromium driven by Playwright) against a real server:
one deal through every page in the customer's language, at desktop and phone width, its
e-mail arriving at a local SMTP server: a French customer configures, changes their mind
through a conflict and requests a quote; the rep takes it on, edits and discounts it; an
approver approves; the customer accepts the e-mailed quote; the rep makes the contract and the
order; finance invoices it; the customer pays by the portal's details and the bank statement
records it. Besides: the configurator's details, editing a configured line, credit notes,
accounts and payments, the builder framed by a CRM, and an axe-core accessibility audit of
every page. Screenshots of each step are kept in artifacts/screenshots/ (CI keeps them as
test artifacts).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import datetime, timezone
from pathlib import Path

import io

import httpx
import pypdf
import pytest

from sqlmodel import select

from api.app import create_app
from billing_flow import issued_invoice
from core.apikeys import create_key
from core.db import session_scope
from core.locales import money
from core.settings import DEFAULT_COMPANY, PROJECT_ROOT, Settings
from core.users import create_user
from live_server import load_demo, serve
from mail_server import smtp  # noqa: F401
from rules.store import approval_levels
from sales.order_models import Subscription

playwright_api = pytest.importorskip("playwright.sync_api")
axe_api = pytest.importorskip("axe_playwright_python.sync_playwright")
CHROMIUM = os.environ.get("CPQ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")]
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"


@contextmanager
def served_site(app):
    """The app served with the demo catalog and its users (a rep, an approver of every level,
    finance, an admin) and an ERP key, as {"url", "rep_token", …}."""
    with session_scope(app.extensions["cpq_engine"]) as session:
        load_demo(session)
        _rep, rep_token = create_user(session, "rita@example.com", "Rita Rep", "rep", password=PASSWORD)
        _max, approver_token = create_user(session, "max@example.com", "Max Approver", "approver",
                                           ("sales_manager", "vp_sales", "finance"),
                                           defined_levels=approval_levels(session), password=PASSWORD)
        _fay, finance_token = create_user(session, "fay@example.com", "Fay Finance", "finance", password=PASSWORD)
        admin, _token = create_user(session, "ada@example.com", "Ada Admin", "admin", password=PASSWORD)
        _key, erp = create_key(session, admin, "ERP", ["bom:read", "orders:read"])
    with serve(app) as url:
        yield {"url": url, "rep_token": rep_token, "approver_token": approver_token, "erp": erp,
               "finance_token": finance_token}


@pytest.fixture
def site(app):
    with served_site(app) as served:
        yield served


@pytest.fixture
def mailing_site(engine, database_url, smtp):
    """The site sending its e-mail to a local SMTP server (`smtp`: what arrived), with a bank
    account on its invoices."""
    settings = Settings(database_url=database_url, smtp_url=smtp.url, mail_from="Northwind Billing <billing@northwind.example>",
                        company=DEFAULT_COMPANY | {"iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"})
    app = create_app(settings, TESTING=True)
    with served_site(app) as served:
        yield served | {"smtp": smtp}
    app.extensions["cpq_engine"].dispose()


@pytest.fixture
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    # A page that renders a document or waits for a worker can take seconds on a busy machine
    # (make test runs a test per core): wait up to 20 s for what a page should show, not 5.
    playwright_api.expect.set_options(timeout=20_000)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def overflow(page, width: int) -> str:
    """Why the page scrolls sideways at `width` (its widest innermost elements), or ''. Measured
    once the page has loaded: a page reloaded after an action can show its new text before its
    stylesheet applies, and unstyled tables are wide."""
    page.wait_for_load_state("load")
    if (wide := page.evaluate("document.documentElement.scrollWidth")) <= width:
        return ""
    culprits = page.evaluate("""(w) => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w && ![...e.children].some(c => c.getBoundingClientRect().right > w))
        .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""", width)
    return f"{page.url} scrolls sideways: {wide}px wide: {culprits}"


def fits(page, width: int) -> None:
    assert not (why := overflow(page, width)), why


def sign_in(browser, url: str, email: str):
    page = browser.new_context().new_page()            # a context of its own: more pages may share it
    page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/quotes")
    return page


def mail_to(smtp, address: str, about: str, tries: int = 300):
    """The newest message that arrived for `address` with `about` in its text (sent after the
    commit of the request that wrote it, and after its documents are rendered: waits up to
    30 s for it on a busy machine)."""
    for _ in range(tries):
        found = [a for a in smtp.arrived if address in a.rcpt_tos and about in a.text]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no e-mail to {address} about {about!r}: {[a.subject for a in smtp.arrived]}")


def link_in(arrived, path: str) -> str:
    return next(word for word in arrived.text.split() if f"/{path}/" in word)


def approve_everything(browser, url: str, number: str) -> None:
    """The approver approves each level the quote waits for from the inbox, stage by stage."""
    approver = sign_in(browser, url, "max@example.com")
    approver.goto(f"{url}/app/approvals")
    for _ in range(4):
        playwright_api.expect(approver.locator("#inbox")).not_to_have_text("Loading…")
        button = approver.locator(f"[data-quote='{number}'] button.primary").first
        if not button.count():
            break
        shot(approver, "approver-inbox")
        button.click()
        playwright_api.expect(approver.locator("#message .message.info")).to_be_visible()
        approver.reload()
    playwright_api.expect(approver.locator("#inbox")).to_contain_text("Nothing waits for you")
    approver.context.close()


def contract_and_order(rep, width: int, name: str) -> str:
    """On the accepted quote's page the rep makes the contract and sends it for signature, then
    makes the order on the contract's page (invoicing it is finance's); the order's number."""
    expect = playwright_api.expect
    expect(rep.locator("#q-state")).to_have_text("accepted")
    rep.click("#create-contract")
    rep.click("#send-contract")
    expect(rep.locator("#sign-link-url")).to_be_visible()
    expect(rep.locator("#sign-link .copy")).to_be_visible()
    fits(rep, width)
    shot(rep, f"{name}-rep-sent-the-contract")
    rep.click("#contract-link")
    rep.wait_for_url("**/app/contracts/*")             # loaded, with the script that handles its forms
    expect(rep.locator("#c-state")).to_have_text("Sent")
    expect(rep.locator("#lines tr").first).to_be_visible()
    fits(rep, width)
    rep.click("#create-order button")
    rep.wait_for_url("**/app/orders/*")
    expect(rep.locator("#credit-result")).to_contain_text("Passed")
    expect(rep.locator("#invoice-order")).to_have_count(0)
    fits(rep, width)
    shot(rep, f"{name}-rep-made-the-order")
    return rep.url.rsplit("/", 1)[1]


def invoice_the_order(finance, url: str, order: str) -> str:
    """Finance finds the order in the list and issues its invoice from its page; the invoice's id."""
    finance.goto(f"{url}/app/orders")
    finance.click(f"#rows >> text={order}")
    finance.wait_for_url(f"**/app/orders/{order}")     # loaded: its script handles the form (a click before it submitted natively)
    finance.click("#invoice-order button[type=submit]")
    finance.wait_for_url("**/app/invoices/*")
    playwright_api.expect(finance.locator("#i-state")).to_have_text("Open")
    playwright_api.expect(finance.locator("#pdf")).to_be_visible()
    return finance.url.rsplit("/", 1)[1]


def french(amount: str) -> re.Pattern:
    """An amount in euros as a French page writes it ("1 234,50 €"), whichever space Babel or
    the browser puts between the groups and before the sign."""
    return re.compile(r"\s".join(re.escape(part) for part in money(amount, "EUR", language="fr").split()))


@pytest.mark.parametrize("width", [1280, 375])
def test_one_deal_through_every_page_in_the_customers_language(mailing_site, browser, width):
    """Issue 19's "done when": a French customer configures, changes their mind through a
    conflict and requests a quote; the rep takes the request on, edits the configured line
    without losing options and discounts it; the approver approves; the customer accepts the
    e-mailed quote; the rep makes the contract and the order; finance issues the invoice; the
    customer pays it by bank transfer with the portal's details, and the portal says it is paid.
    Every e-mail arrives at the SMTP server, every customer page is French, and no page
    scrolls sideways."""
    url, smtp, expect = mailing_site["url"], mailing_site["smtp"], playwright_api.expect
    size = {"width": width, "height": 900}
    rep_api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {mailing_site['rep_token']}"})

    # 1. the customer, in a French browser, configures and changes their mind through a conflict
    visit = browser.new_context(locale="fr-FR", viewport=size)
    customer = visit.new_page()
    customer.goto(f"{url}/configure/rack-server?price_book=list-eur")
    expect(customer.locator("html")).to_have_attribute("lang", "fr")
    expect(customer.locator("#complete")).to_have_text("Compléter pour moi")
    expect(customer.locator("#bar-total")).to_have_text(re.compile(r"^\d{1,3}(\s\d{3})*,\d\d\s€$"))   # 1 234,50 €
    chassis = customer.locator("fieldset[data-attribute=chassis]")
    chassis.get_by_text('1U, 10 baies SFF 2,5"').click()                    # the model's labels, in French
    expect(customer.locator("fieldset[data-attribute=gpu] legend")).to_contain_text("Accélérateur GPU")
    l40s = customer.locator("fieldset[data-attribute=gpu] label.choice", has_text="L40S")
    expect(l40s.locator("input")).to_have_attribute("data-ruled-out", "true")
    expect(customer.locator("fieldset[data-attribute=gpu] .why-line")).to_contain_text("Les GPU nécessitent un châssis 2U.")
    l40s.click()
    dialog = customer.locator("dialog.switch")
    expect(dialog.locator("h2")).to_have_text("Passer à NVIDIA L40S 48 Go (double emplacement, 350 W) ?")
    expect(dialog).to_contain_text('Cela retire : 1U, 10 baies SFF 2,5" (Châssis).')
    dialog.get_by_role("button", name="Conserver mes choix").click()         # not yet: nothing changes
    expect(dialog).to_have_count(0)
    expect(chassis.locator("input").first).to_be_checked()
    l40s.click()                                                             # yes: one click switches
    customer.screenshot(path=str(SHOTS / f"journey-{width}-1-switch-proposed.png"))
    dialog.get_by_role("button", name="Changer").click()
    expect(l40s.locator("input")).to_be_checked()
    expect(chassis.locator("input").first).not_to_be_checked()
    customer.click("#complete")
    expect(customer.locator("#validity")).to_contain_text("Tous les choix sont faits.")
    fits(customer, width)
    shot(customer, f"journey-{width}-2-configured")

    # … and requests a quote: the country must be ISO 3166, and the request goes once
    for field, value in (("company", "Initech SARL"), ("name", "Pierre Gibbons"),
                         ("email", "pierre@initech.example"), ("country", "zz")):
        customer.fill(f"#{field}", value)
    send = customer.locator("#request button[type=submit]")
    send.click()
    expect(customer.locator("#request-result .message.error")).to_contain_text(
        customer.locator("label[for=country]").inner_text())
    expect(customer.locator("#country")).to_have_attribute("aria-invalid", "true")
    customer.fill("#country", "fr")
    send.dblclick()                                                          # a second click sends nothing
    done = customer.locator("#request-result .message.info")
    expect(done).to_contain_text("Merci. Votre demande REQ-")
    expect(send).to_be_disabled()
    fits(customer, width)
    shot(customer, f"journey-{width}-3-quote-requested")
    reference = re.search(r"REQ-\d+", done.inner_text()).group()

    # 2. the rep takes the request on, edits the configured line without losing options, discounts it
    rep = sign_in(browser, url, "rita@example.com")
    rep.set_viewport_size(size)
    requests = rep.locator(f"#requests li[data-request='{reference}']")
    expect(rep.locator("#requests li")).to_have_count(1)                     # one request, not two
    expect(requests).to_contain_text("Initech SARL")
    fits(rep, width)
    shot(rep, f"journey-{width}-3b-rep-sees-the-request")
    requests.get_by_role("button", name="New account and quote").click()
    rep.wait_for_url("**/app/quotes/Q-*")
    number = rep.url.rsplit("/", 1)[1]
    expect(rep.locator("#q-state")).to_have_text("draft")
    expect(rep.locator("#lines")).to_contain_text("NVIDIA L40S")             # labels, not gpu=l40s
    expect(rep.locator("#lines")).not_to_contain_text("gpu=")
    before = rep_api.get(f"/quotes/{number}").json()
    account = before["account"]
    assert before["currency"] == "EUR" and before["lines"][0]["selections"]["gpu"] == "l40s"
    assert rep_api.get(f"/accounts/{account}").json()["language"] == "fr"   # asked in French
    rep.locator("#lines button", has_text="Edit").first.click()
    expect(rep.locator("#add-line")).to_have_text("Save line")
    expect(rep.locator("#add-configurator fieldset[data-attribute=gpu] label.choice:has(input:checked)")
           ).to_contain_text("L40S")
    rep.fill("#add-quantity", "2")
    expect(rep.locator("#cancel-edit")).to_be_visible()
    rep.click("#add-line")
    expect(rep.locator("#q-message")).to_contain_text("Line saved.")
    expect(rep.locator("#cancel-edit")).to_be_hidden()                     # no longer editing
    edited = rep_api.get(f"/quotes/{number}").json()["lines"][0]
    assert (edited["selections"], edited["quantity"]) == (before["lines"][0]["selections"], 2)
    discount = rep.locator("#lines input[aria-label^='Discount']").first
    discount.fill("30")
    discount.dispatch_event("change")
    expect(rep.locator("#approvals li").first).to_be_visible()
    fits(rep, width)
    shot(rep, f"journey-{width}-4-rep-edited-and-discounted")
    rep.click("#submit")
    expect(rep.locator("#q-state")).to_have_text("pending_approval")

    # 3. the approver approves from the pages; the rep sends the quote and e-mails its link
    approve_everything(browser, url, number)
    rep.reload()
    expect(rep.locator("#q-state")).to_have_text("approved")
    rep.click("#send")
    expect(rep.locator("#share-link")).to_be_visible()
    rep.click("#email-send")
    expect(rep.locator("#q-message")).to_contain_text("E-mail to pierre@initech.example")
    fits(rep, width)
    shot(rep, f"journey-{width}-5-rep-sent-the-quote")
    quote_mail = mail_to(smtp, "pierre@initech.example", "/q/")
    assert '<html lang="fr">' in quote_mail.html and quote_mail.attachments[f"{number}.pdf"][1].startswith(b"%PDF")

    # 4. the customer opens the e-mailed link (in an English browser: the account's French wins) and accepts
    value = rep_api.get(f"/quotes/{number}").json()["contract_value"]
    inbox = browser.new_context(locale="en-US", viewport=size)
    customer = inbox.new_page()
    customer.goto(link_in(quote_mail, "q"))
    expect(customer.locator("html")).to_have_attribute("lang", "fr")
    expect(customer.locator("#accept-h")).to_have_text("Accepter ce devis")
    expect(customer.locator("main")).to_contain_text(french(value))
    expect(customer.locator("#lines-h")).to_have_text("RS7 Configurable Rack Server")       # not "Web request: …"
    expect(customer.locator("main")).to_contain_text("offert avec la ligne 1")              # the bundle's gift, in French
    customer.fill("#name", "Pierre Gibbons")
    customer.fill("#email", "pierre@initech.example")
    customer.check("#agree")
    customer.get_by_role("button", name="Accepter et signer").click()
    expect(customer.locator("body")).to_contain_text("Accepté par Pierre Gibbons")
    fits(customer, width)
    shot(customer, f"journey-{width}-6-customer-accepted")

    # 5. the rep makes and sends the contract, and the order; the ERP pulls its BOM
    rep.reload()
    order = contract_and_order(rep, width, f"journey-{width}-7")
    assert '<html lang="fr">' in mail_to(smtp, "pierre@initech.example", "/c/").html     # the signature request
    erp = {"Authorization": f"Bearer {mailing_site['erp']}"}
    feed = httpx.get(f"{url}/api/v1/erp/orders?after=0", headers=erp).json()
    assert [o["number"] for o in feed["orders"]] == [order]
    bom = httpx.get(f"{url}/api/v1/orders/{order}/bom?format=csv", headers=erp)
    assert bom.status_code == 200 and "RS7-ASSY" in bom.text

    # … finance issues the invoice from the order's page: it is e-mailed in French with its PDF
    finance = sign_in(browser, url, "fay@example.com")
    finance.set_viewport_size(size)
    invoice = httpx.get(f"{url}/api/v1/invoices/{invoice_the_order(finance, url, order)}",
                        headers={"Authorization": f"Bearer {mailing_site['finance_token']}"}).json()
    assert finance.locator("#totals dd").evaluate_all("""(amounts) => amounts.every((dd) => {
        const text = document.createRange(); text.selectNodeContents(dd);
        return text.getBoundingClientRect().height < 2 * parseFloat(getComputedStyle(dd).fontSize); })""")  # on one line
    fits(finance, width)
    shot(finance, f"journey-{width}-8-finance-issued-the-invoice")
    invoice_mail = mail_to(smtp, "pierre@initech.example", invoice["number"])
    assert invoice_mail.subject.startswith(f"Facture {invoice['number']}")
    assert f"{invoice['number']}.pdf" in invoice_mail.attachments
    assert " ".join(money(invoice["gross_total"], "EUR", language="fr").split()) in " ".join(invoice_mail.text.split())

    # 6. finance e-mails the billing portal's link; the customer sees what to pay and how
    finance.goto(f"{url}/app/accounts/{account}")
    finance.click("#portal-invite button[type=submit]")
    expect(finance.locator("#message")).to_contain_text("Billing portal link e-mailed to pierre@initech.example")
    fits(finance, width)
    customer.goto(link_in(mail_to(smtp, "pierre@initech.example", "/p/"), "p"))
    expect(customer.locator("#balance-h")).to_have_text("Votre solde")
    expect(customer.locator("#balance-h + p")).to_have_text(re.compile("Vous devez " + french(invoice["gross_total"]).pattern))
    pay = customer.locator("section", has=customer.locator("#pay-h"))
    expect(pay.locator("h2")).to_have_text("Modalités de paiement")
    expect(pay).to_contain_text("IBAN FR7630006000011234567890189, BIC AGRIFRPP")
    rf = pay.locator("p strong").nth(1).inner_text()                          # the reference to quote, as printed
    assert rf.startswith("RF") and invoice["number"] in pay.inner_text()
    fits(customer, width)
    shot(customer, f"journey-{width}-9-portal-says-how-to-pay")

    # … the customer's bank transfer quotes it; the bank's statement comes in on the finance page
    statement = (f"id,date,amount,currency,remittance,payer\nSTMT-{width}-1,{invoice['issue_date']},"
                 f"{invoice['gross_total']},EUR,{rf},Initech SARL\n").encode()
    finance.goto(f"{url}/app/finance")
    finance.set_input_files("#statement", {"name": "statement.csv", "mimeType": "text/csv", "buffer": statement})
    finance.click("#bank-statement button[type=submit]")
    expect(finance.locator("#message")).to_contain_text(f"1 paid an invoice ({invoice['number']})")
    expect(finance.locator("#payments")).to_contain_text(f"STMT-{width}-1")
    fits(finance, width)
    shot(finance, f"journey-{width}-10-finance-imported-the-statement")
    customer.reload()
    expect(customer.locator("#balance-h + p")).to_have_text("Rien n’est dû.")
    expect(customer.locator("tr", has_text=invoice["number"])).to_contain_text("payée")
    expect(customer.locator("#pay-h")).to_have_count(0)
    fits(customer, width)
    shot(customer, f"journey-{width}-11-portal-says-paid")


def test_editing_a_configured_line_keeps_its_configuration_through_to_the_sent_pdf(site, browser):
    """The rep changes a configured server's discount and quantity in the builder: its options
    and list price stay as configured, the sent PDF lists the same server, and once the
    customer accepts it the builder shows the quote as final."""
    url, expect = site["url"], playwright_api.expect
    rep_api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {site['rep_token']}"})
    server = {"cpu": "e9354", "gpu": "l4", "dimm_size": "gb64", "dimm_count": 8}
    made = rep_api.post("/quotes", json={"account": "ACME", "title": "Edge",
                                         "lines": [{"product": "rack-server", "selections": server}]})
    assert made.status_code == 201, made.text
    number, before = made.json()["number"], made.json()
    rep = sign_in(browser, url, "rita@example.com")
    rep.goto(f"{url}/app/quotes/{number}")
    for label, value in (("Discount", "10"), ("Quantity", "3")):      # the second before the first answers
        rep.locator(f"#lines input[aria-label^='{label}']").first.evaluate(   # typed and left, as one event
            "(field, value) => { field.value = value; field.dispatchEvent(new Event('change')); }", value)
    after = before
    for _ in range(300):                                  # both saves answered (the page chains them)
        after = rep_api.get(f"/quotes/{number}").json()
        if after["lock_version"] >= before["lock_version"] + 2:
            break
        time.sleep(0.1)
    expect(rep.locator("#lines input[aria-label^='Quantity']").first).to_have_value("3")
    expect(rep.locator("#q-message .message.error")).to_have_count(0)
    expect(rep.locator("#lines")).to_contain_text("AMD EPYC 9354")             # the option's label, not its code
    expect(rep.locator("#lines")).not_to_contain_text("cpu=")
    line, priced = after["lines"][0], after["price"]["lines"][0]
    assert (line["selections"], line["quantity"], line["discount_percent"]) == (server, 3, "10")
    assert priced["list_unit_price"] == before["price"]["lines"][0]["list_unit_price"]

    # "Edit" reopens the configurator with the line's options; "Save line" stays in view at the
    # bottom of the screen however long the configurator is, and saving keeps every option
    rep.locator("#lines button", has_text="Edit").first.click()
    expect(rep.locator("#add-line")).to_have_text("Save line")
    expect(rep.locator("fieldset[data-attribute=cpu] label.choice:has(input:checked)")).to_contain_text("EPYC 9354")
    rep.evaluate("document.getElementById('add-configurator').scrollIntoView({ block: 'start' })")
    assert rep.evaluate("""(() => { const r = document.getElementById('add-line').getBoundingClientRect();
                                    return r.top >= 0 && r.bottom <= innerHeight; })()""")
    rep.click("#add-line")
    expect(rep.locator("#q-message")).to_contain_text("Line saved.")
    kept = rep_api.get(f"/quotes/{number}").json()["lines"][0]
    assert (kept["selections"], kept["quantity"]) == (server, 3)
    after = rep_api.get(f"/quotes/{number}").json()

    if rep_api.post(f"/quotes/{number}/submit", json={}).json()["state"] == "pending_approval":
        for level in after["approvals_required"]:
            httpx.post(f"{url}/api/v1/quotes/{number}/approve", json={"level": level["level"]},
                       headers={"Authorization": f"Bearer {site['approver_token']}"}).raise_for_status()
    rep.reload()
    rep.click("#send")
    expect(rep.locator("#share-link")).to_be_visible()
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(
        io.BytesIO(rep_api.get(f"/quotes/{number}/pdf").content)).pages)
    for shown in ("AMD EPYC 9354", "64 GB", "NVIDIA L4"):
        assert shown in " ".join(text.split()), shown
    token = rep.locator("#share-link").get_attribute("href").rsplit("/", 1)[1]
    httpx.post(f"{url}/api/v1/shared/{token}/accept", json={"name": "Jo Buyer", "email": "jo@acme.example"}
               ).raise_for_status()
    rep.reload()
    expect(rep.locator("#q-state")).to_have_text("accepted")
    expect(rep.locator("#lines input[aria-label^='Quantity']").first).to_be_disabled()
    expect(rep.locator("#q-message")).to_contain_text("final")
    expect(rep.locator("#revise-form")).to_be_visible()
    shot(rep, "11-rep-sees-an-accepted-quote-as-final")


@pytest.mark.parametrize("width", [1280, 375])
def test_a_customer_changes_their_mind_through_a_conflict(site, browser, width):
    """Issue 19: a ruled-out value looks unavailable and says why in the model's words; picking
    it anyway proposes the fewest earlier choices to drop, and one click applies the switch.
    "None" is a choice, each value shows its price difference, the price bar stays in view, and
    arrow keys move and pick within an attribute."""
    url, expect = site["url"], playwright_api.expect
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(f"{url}/configure/rack-server")
    chassis = page.locator("fieldset[data-attribute=chassis]")
    chassis.get_by_text('1U, 10 x 2.5" SFF bays').click()
    expect(chassis.locator("input").first).to_be_checked()
    gpu = page.locator("fieldset[data-attribute=gpu]")
    l40s = gpu.locator("label.choice", has_text="L40S")
    expect(l40s.locator("input")).to_have_attribute("data-ruled-out", "true")
    assert "line-through" in l40s.locator(".pill").evaluate("e => getComputedStyle(e).textDecorationLine")
    l40s.locator("input").focus()
    reason = page.locator(f"#{l40s.locator('input').get_attribute('aria-describedby')}")
    expect(reason).to_have_text("Needs other changes: GPUs need a 2U chassis.")   # the rule's message, not chassis=c1u10sff: …
    assert reason.evaluate("""e => e.getBoundingClientRect().top >=
        e.closest("fieldset").querySelector(".choices").getBoundingClientRect().bottom - 1""")   # below the choices, over none
    expect(gpu.locator("label.choice", has_text="None")).to_have_count(1)
    expect(page.locator("fieldset[data-attribute=rails] .delta").first).not_to_be_empty()   # price differences
    shot(page, f"5-configurator-ruled-out-{width}")

    l40s.click()                                                     # picking it anyway proposes the switch
    dialog = page.locator("dialog.switch")
    expect(dialog).to_contain_text("Switch to NVIDIA L40S")
    expect(dialog).to_contain_text('This removes: 1U, 10 x 2.5" SFF bays (Chassis)')
    page.screenshot(path=str(SHOTS / f"6-configurator-switch-proposed-{width}.png"))     # the screen as seen
    dialog.get_by_role("button", name="Switch").click()
    expect(dialog).to_have_count(0)
    expect(l40s.locator("input")).to_be_checked()
    expect(chassis.get_by_label('1U, 10 x 2.5" SFF bays')).not_to_be_checked()
    expect(page.locator("#configurator")).to_have_attribute("aria-busy", "false")

    rails = page.locator("fieldset[data-attribute=rails]")
    none = rails.locator("""label[data-value='"none"']""")
    expect(none).to_contain_text("None")
    none.click()                                                     # "none" is a choice like any other
    expect(none.locator("input")).to_be_checked()
    none.locator("input").press("ArrowRight")                        # arrows move and pick
    expect(rails.locator("input").nth(1)).to_be_checked()
    expect(rails.locator("input").nth(1)).to_be_focused()

    held = []                                    # answers held back, then let through newest first
    hold = lambda route: held.append(route)                             # noqa: E731
    page.route("**/api/v1/products/rack-server/configure", hold)
    chassis.locator("label.choice").nth(1).click()                      # 2U LFF: takes 3.5" drives
    expect(page.locator("#configurator")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#busy-note")).to_be_visible()                  # "Updating…": the price is stale
    chosen = rails.locator("label.choice").nth(1)
    expect(chosen.locator("input")).to_be_checked()                     # the last answer's choice…
    assert chosen.locator(".pill").evaluate("e => getComputedStyle(e).borderStyle") == "dashed"   # …no longer looks chosen
    chassis.locator("label.choice").nth(2).click()                      # 2U SFF: no 3.5" drives
    while len(held) < 2:
        page.wait_for_timeout(50)
    held[1].continue_()
    expect(chassis.locator("input").nth(2)).to_be_checked()
    with page.expect_response("**/api/v1/products/rack-server/configure"):
        held[0].continue_()                                             # the older answer comes last: ignored
    page.wait_for_timeout(500)
    page.unroute("**/api/v1/products/rack-server/configure", hold)
    expect(page.locator("#configurator")).to_have_attribute("aria-busy", "false")
    lff = page.locator("""fieldset[data-attribute=drive_type] label[data-value='"sata_hdd_lff"'] input""")
    assert lff.get_attribute("data-ruled-out") == "true"               # the domains are the newest answer's (SFF bays)

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    bar = page.locator("#price-bar")
    expect(page.locator("#bar-total")).not_to_have_text("…")
    assert 0 <= bar.bounding_box()["y"] <= 1 and bar.is_visible()   # sticky: total and progress stay in view
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    expect(page.locator("#configurator")).to_have_attribute("aria-busy", "false")
    found = [(v["id"], [n["target"] for n in v["nodes"]]) for v in axe_api.Axe().run(page, options=WCAG).response["violations"]
             if v["impact"] in ("serious", "critical")]
    assert not found, found
    shot(page, f"7-configurator-switched-{width}")


def tab_until(page, selector: str, limit: int = 60) -> int:
    """Tab presses until the focus is on `selector` (fails past `limit`)."""
    for stops in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return stops
    raise AssertionError(f"{selector} not reached in {limit} stops")


@pytest.mark.parametrize("width", [1280, 375])
def test_the_keyboard_reaches_the_price_and_the_request_in_a_few_stops(site, browser, width):
    """Issue 19: tab order reaches the price and the main action without 30 stops. The price bar
    (the running total and "Request a quote") comes right after the header, each attribute
    is one stop (its choices are one radio group: arrows move within it), and the request's
    button is a few stops after the main action."""
    url, expect = site["url"], playwright_api.expect
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(f"{url}/configure/rack-server")
    expect(page.locator("#configurator")).to_have_attribute("aria-busy", "false", timeout=30_000)   # a cold model
    expect(page.locator("#bar-total")).not_to_have_text("…")
    assert tab_until(page, "#price-bar a") <= 10                           # the header's links, then the bar
    assert page.locator("#price-bar").evaluate("(bar) => bar.contains(document.getElementById('bar-total'))")
    attributes = page.locator("fieldset[data-attribute]").count()
    assert attributes > 15
    assert tab_until(page, "#quantity") == attributes + 1                 # one stop per attribute, then the price box
    page.reload()
    expect(page.locator("#configurator")).to_have_attribute("aria-busy", "false")
    assert tab_until(page, "a[href='#main']") == 1                          # skip the header…
    page.keyboard.press("Enter")
    assert tab_until(page, "#price-bar a") == 1                             # …straight to the price and the action
    page.keyboard.press("Enter")
    expect(page.locator("#company")).to_be_focused()
    assert tab_until(page, "#request button[type=submit]") <= 5             # company, name, email, country, message
    page.close()


#: The WCAG 2.1 A and AA rules of axe-core; best-practice rules are advice, not failures.
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def test_every_page_passes_an_axe_audit(site, browser):
    """axe-core (the engine behind Lighthouse's accessibility score) finds no WCAG 2.1 A or AA
    violation on any page, once its data has loaded, at desktop and at phone width."""
    url = site["url"]
    made = httpx.post(f"{url}/api/v1/quotes", headers={"Authorization": f"Bearer {site['rep_token']}"},
                      json={"account": "ACME", "title": "Audit", "lines": [{"product": "SUP-MC-Y", "quantity": 2}]})
    assert made.status_code == 201, made.text
    rep = {"Authorization": f"Bearer {site['rep_token']}"}
    shared = httpx.post(f"{url}/api/v1/quotes", headers=rep, json={"account": "ACME", "title": "Shared",
                                                                   "lines": [{"product": "SUP-MC-Y", "quantity": 1}]})
    number = shared.json()["number"]
    assert httpx.post(f"{url}/api/v1/quotes/{number}/submit", headers=rep).status_code == 200
    sent = httpx.post(f"{url}/api/v1/quotes/{number}/send", headers=rep)
    assert sent.status_code == 200, sent.text
    deal, contract, order, invoice = closed_deal(site)
    deal_pages = ["/app/contracts", f"/app/contracts/{contract}", "/app/orders", f"/app/orders/{order}",
                  "/app/invoices", f"/app/invoices/{invoice}"]
    pages = {None: ["/", "/configure/rack-server", "/login", sent.json()["share_link"]["url"].removeprefix(url),
                    "/q/no-such-link"],
             "rita@example.com": ["/app/quotes", f"/app/quotes/{made.json()['number']}", f"/app/quotes/{number}",
                                  f"/app/quotes/{deal}",
                                  "/app/accounts", "/app/accounts/ACME", "/app/dashboard", *deal_pages],
             "max@example.com": ["/app/approvals"],
             "fay@example.com": ["/app/finance", "/app/accounts/ACME", "/app/dashboard", *deal_pages]}
    axe = axe_api.Axe()
    probe = browser.new_page()                      # the audit can fail: an unlabelled field does
    probe.set_content("<!doctype html><html lang=en><title>t</title><main><input></main></html>")
    assert "label" in axe.run(probe, options=WCAG).generate_snapshot()
    probe.close()
    found = {}
    for who, paths in pages.items():
        page = sign_in(browser, url, who) if who else browser.new_page()
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            for path in paths:
                page.goto(f"{url}{path}")
                page.wait_for_load_state("networkidle")
                playwright_api.expect(page.locator("text=Loading…")).to_have_count(0)
                result = axe.run(page, options=WCAG)
                if result.violations_count:
                    found[f"{who or 'anonymous'} {path} at {width}px"] = result.generate_report()
                if why := overflow(page, width):
                    found[f"{who or 'anonymous'} {path} at {width}px"] = why
        page.close()
    page = browser.new_page()                       # with values ruled out and a reason showing
    page.goto(f"{url}/configure/rack-server")
    page.get_by_text('1U, 10 x 2.5" SFF bays').click()
    page.locator("fieldset[data-attribute=gpu] input[data-ruled-out]").first.focus()
    if (result := axe.run(page, options=WCAG)).violations_count:
        found["anonymous /configure/rack-server with a value ruled out"] = result.generate_report()
    assert not found, "\n\n".join(f"{where}:\n{report}" for where, report in found.items())


def accepted_quote(site) -> str:
    """A quote the customer accepted (made, approved at once, sent and accepted by the API)."""
    url, rep = site["url"], {"Authorization": f"Bearer {site['rep_token']}"}
    made = httpx.post(f"{url}/api/v1/quotes", headers=rep,
                      json={"account": "ACME", "title": "Deal", "lines": [{"product": "SUP-MC-Y", "quantity": 2}]})
    number = made.json()["number"]
    assert httpx.post(f"{url}/api/v1/quotes/{number}/submit", headers=rep).json()["state"] == "approved"
    token = httpx.post(f"{url}/api/v1/quotes/{number}/send", headers=rep).json()["share_link"]["token"]
    httpx.post(f"{url}/api/v1/shared/{token}/accept", json={"name": "Jo Buyer", "email": "jo@acme.example"}
               ).raise_for_status()
    return number


def closed_deal(site) -> tuple[str, str, str, int]:
    """(quote, contract, order, invoice id) of an accepted quote taken to an issued invoice by the API."""
    url, number = site["url"], accepted_quote(site)
    rep, finance = ({"Authorization": f"Bearer {site[key]}"} for key in ("rep_token", "finance_token"))
    contract = httpx.post(f"{url}/api/v1/contracts", headers=rep, json={"quote": number}).json()["number"]
    httpx.post(f"{url}/api/v1/contracts/{contract}/send", headers=rep).raise_for_status()
    order = httpx.post(f"{url}/api/v1/orders", headers=rep, json={"quote": number}).json()["number"]
    draft = httpx.post(f"{url}/api/v1/orders/{order}/invoices", headers=finance, json={}).json()
    httpx.post(f"{url}/api/v1/invoices/{draft['id']}/issue", headers=finance).raise_for_status()
    return number, contract, order, draft["id"]


@pytest.mark.parametrize("width", [1280, 375])
def test_after_acceptance_the_pages_take_the_deal_from_contract_to_payment(site, browser, width):
    """The rep makes and sends the contract and makes the order from the accepted quote's
    page; finance invoices the order, records the payment and credits part of it, each from
    the page of its object; the payment shows on the invoice and on the account."""
    url, expect = site["url"], playwright_api.expect
    number = accepted_quote(site)
    rep = sign_in(browser, url, "rita@example.com")
    rep.set_viewport_size({"width": width, "height": 900})
    rep.goto(f"{url}/app/quotes/{number}")
    order = contract_and_order(rep, width, f"12-{width}")

    finance = sign_in(browser, url, "fay@example.com")
    finance.set_viewport_size({"width": width, "height": 900})
    invoice_the_order(finance, url, order)
    finance.fill("#p-reference", f"BANK-{width}")
    finance.click("#record-payment button[type=submit]")
    expect(finance.locator("#i-state")).to_have_text("Paid")
    expect(finance.locator("#payments")).to_contain_text(f"BANK-{width}")
    fits(finance, width)
    shot(finance, f"14-{width}-finance-recorded-the-payment")
    finance.fill("#cn-reason", "goodwill")
    finance.fill("#cn-amount", "5.00")
    finance.click("#credit-note button[type=submit]")
    expect(finance.locator("h1")).to_contain_text("Credit note")
    fits(finance, width)
    finance.goto(f"{url}/app/accounts/ACME")
    expect(finance.locator("#payments")).to_contain_text(f"BANK-{width}")


def test_a_rep_opens_an_account_and_finance_records_a_payment(site, browser):
    url = site["url"]
    expect = playwright_api.expect
    rep = sign_in(browser, url, "rita@example.com")
    rep.click("nav >> text=Accounts")
    rep.fill("#search", "acme")
    expect(rep.locator("#rows tr")).to_have_count(1)
    expect(rep.locator("#rows")).to_contain_text("ACME")
    rep.fill("#new-code", "NEWCO")
    rep.fill("#new-name", "New Co")
    rep.fill("#new-contact", "Nina New")
    rep.fill("#new-email", "nina@newco.example")
    rep.click("#new-account button[type=submit]")
    rep.wait_for_url("**/app/accounts/NEWCO")
    expect(rep.locator("#contacts")).to_contain_text("nina@newco.example")
    expect(rep.locator("#f-credit")).to_have_attribute("readonly", "")
    rep.fill("#new-title", "First rack")
    rep.click("#new-quote button[type=submit]")
    rep.wait_for_url("**/app/quotes/Q-*")
    expect(rep.locator("#q-meta")).to_contain_text("NEWCO")

    finance = sign_in(browser, url, "fay@example.com")
    finance.goto(f"{url}/app/finance")
    finance.fill("#p-account", "ACME")
    finance.locator("#p-account").dispatch_event("change")
    expect(finance.locator("#p-currency")).to_have_value("USD")                # the account's
    finance.fill("#p-amount", "100.00")
    finance.fill("#p-reference", "BANK-9")
    finance.click("#record-payment button[type=submit]")
    expect(finance.locator("#message .message.info")).to_contain_text("BANK-9")
    expect(finance.locator("#payments")).to_contain_text("BANK-9")
    shot(finance, "8-finance-recorded-a-payment")
    finance.goto(f"{url}/app/accounts/NEWCO")
    finance.fill("#f-credit", "5000")
    finance.click("#facts button[type=submit]")
    expect(finance.locator("#message .message.info")).to_contain_text("NEWCO saved")
    finance.goto(f"{url}/app/accounts/ACME")
    expect(finance.locator("#payments")).to_contain_text("BANK-9")
    expect(finance.locator("#receivables-title + p")).to_contain_text("credit USD 100.00")
    shot(finance, "9-finance-sees-the-account")
    rep.goto(f"{url}/app/accounts/NEWCO")
    expect(rep.locator("#f-credit")).to_have_value("5000.00")


def test_finance_matches_a_waiting_transfer_on_a_phone(site, browser):
    """A transfer that named no invoice waits on the finance page (at 375 px: no sideways
    scrolling, no axe violation): one in another currency is refused next to its form, and a
    double click on Match pays the invoice once."""
    url, expect = site["url"], playwright_api.expect
    finance_api = {"Authorization": f"Bearer {site['finance_token']}"}
    number = httpx.get(f"{url}/api/v1/invoices/{closed_deal(site)[3]}", headers=finance_api).json()["number"]
    statement = (b"id,date,amount,currency,remittance,payer\nP1,2026-03-02,5.00,EUR,euro transfer,Acme GmbH\n"
                 b"P2,2026-03-02,1.00,USD,a long free text that names no invoice of ours,Acme Corporation\n")
    httpx.post(f"{url}/api/v1/bank-statements", headers=finance_api | {"Content-Type": "text/csv"},
               content=statement).raise_for_status()
    finance = sign_in(browser, url, "fay@example.com")
    finance.set_viewport_size({"width": 375, "height": 900})
    finance.goto(f"{url}/app/finance")
    rows = finance.locator("#transfers tr")
    expect(rows).to_have_count(2)
    assert not (result := axe_api.Axe().run(finance, options=WCAG)).violations_count, result.generate_report()
    fits(finance, 375)
    euro, dollar = rows.nth(0), rows.nth(1)
    euro.locator("input").fill(number)
    euro.locator("button").click()
    expect(euro.locator(".message.error")).to_contain_text("the transfer is in EUR")
    dollar.locator("input").fill(number)
    dollar.locator("button").dblclick()
    expect(finance.locator("#message .message.info")).to_contain_text(f"paid {number}")
    expect(rows).to_have_count(1)
    fits(finance, 375)
    shot(finance, "15-375-finance-matched-a-transfer")
    payments = httpx.get(f"{url}/api/v1/payments", headers=finance_api).json()
    assert [p["reference"] for p in payments] == ["P2"]


@contextmanager
def crm(frame_url: str):
    """A stand-in CRM on its own origin: a page that frames `frame_url` and keeps every
    message the frame posts from the service's origin in `window.events`."""
    service = frame_url.split("/app/")[0]
    html = f"""<!doctype html><html lang="en"><title>CRM</title><h1>Opportunity</h1>
<script>window.events = []; addEventListener("message", (e) => {{
  if (e.origin === "{service}" && e.data?.source === "cpq") window.events.push(e.data); }});</script>
<iframe id="cpq" title="Quote" src="{frame_url}" style="width: 100%; height: 600px"></iframe>""".encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_port
    finally:
        httpd.shutdown()


def test_the_builder_in_a_crms_frame_tells_its_parent_and_refuses_other_framers(app, site, browser):
    url = site["url"]
    expect = playwright_api.expect
    made = httpx.post(f"{url}/api/v1/quotes", headers={"Authorization": f"Bearer {site['rep_token']}"},
                      json={"account": "ACME", "title": "Framed", "lines": [{"product": "SUP-MC-Y", "quantity": 2}]})
    number = made.json()["number"]
    with crm(f"{url}/app/quotes/{number}?embed=1") as port:
        allowed = f"http://127.0.0.1:{port}"
        app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], embed_origins=(allowed,))
        rep = sign_in(browser, url, "rita@example.com")
        parent = rep.context.new_page()                  # the same browser profile: signed in
        parent.goto(f"{allowed}/opportunity/42")
        frame = parent.frame_locator("#cpq")
        expect(frame.locator("#q-state")).to_have_text("draft")
        expect(frame.locator("header.top")).to_have_count(0)                    # no navigation framed
        quantity = frame.locator("#lines input[aria-label^='Quantity']").first
        quantity.fill("5")
        quantity.dispatch_event("change")
        parent.wait_for_function("window.events.some((e) => e.type === 'quote.saved')")
        events = parent.evaluate("window.events")
        saved = next(e for e in events if e["type"] == "quote.saved")
        assert (saved["number"], saved["state"]) == (number, "draft")
        assert any(e["type"] == "cpq:resize" and e["height"] > 300 for e in events), events
        shot(parent, "10-crm-frames-the-builder")

        stranger = rep.context.new_page()                # the same page served from another origin
        stranger.goto(f"http://localhost:{port}/opportunity/42")
        stranger.wait_for_load_state("load")
        expect(stranger.frame_locator("#cpq").locator("body[data-embedded]")).to_have_count(0)   # none of ours
        assert stranger.evaluate("window.events") == []


def test_a_customer_opens_their_billing_portal_and_downloads_an_invoice(app, site, browser):
    url = site["url"]
    expect = playwright_api.expect
    with session_scope(app.extensions["cpq_engine"]) as session:
        invoice = issued_invoice(session, "ACME", [("rails", "one_time", 2, "150.00"),
                                                   ("fleet", "monthly", 5, "49.50", 24)])
        number, gross = invoice.number, f"USD {invoice.gross_total:,.2f}"
        subscription = session.exec(select(Subscription).where(Subscription.order_id == invoice.order_id)).one().id
    finance = {"Authorization": f"Bearer {site['finance_token']}"}
    now = datetime.now(timezone.utc).isoformat()               # this month: usage to date
    usage = httpx.post(f"{url}/api/v1/usage", headers=finance, json={"records": [
        {"account": "ACME", "meter": "solar_api_calls", "quantity": quantity, "event_time": now,
         "idempotency_key": f"fleet-{n}", "subscription_id": subscription}
        for n, quantity in enumerate(["12000", "13000"])]})
    assert usage.status_code == 201, usage.text
    contact = httpx.get(f"{url}/api/v1/accounts/ACME", headers=finance).json()["contacts"][0]["email"]
    link = httpx.post(f"{url}/api/v1/accounts/ACME/portal-links", headers=finance, json={"email": contact})
    assert link.status_code == 201, link.text

    customer = browser.new_page(viewport={"width": 375, "height": 812}, accept_downloads=True)
    customer.goto(link.json()["url"])
    expect(customer.locator("#balance-h + p")).to_contain_text(f"You owe {gross}")
    row = customer.locator("tr", has_text=number)
    expect(row).to_contain_text(gross)
    expect(customer.locator("tr", has_text="Item fleet")).to_contain_text("USD 49.50 monthly")
    used = customer.locator("section", has=customer.locator("#usage-h")).locator("tr", has_text="Solar fleet API calls")
    expect(used).to_contain_text("25,000 call")          # 10,000 included, 15,000 at 0.002
    expect(used).to_contain_text("USD 30.00")
    shot(customer, "10-customer-billing-portal")
    with customer.expect_download() as download:
        row.get_by_role("link", name=f"PDF of {number}").click()
    assert download.value.suggested_filename == f"{number}.pdf"
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    assert customer.evaluate("document.documentElement.scrollWidth") <= 375         # nothing wider than a phone
    axe = axe_api.Axe()
    for width in (375, 1280):
        customer.set_viewport_size({"width": width, "height": 900})
        result = axe.run(customer, options=WCAG)
        assert not result.violations_count, result.generate_report()
