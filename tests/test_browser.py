"""End to end in a real browser (Debian's Chromium driven by Playwright) against a real server:
a customer configures a product, sees a value disabled with its reason and requests a quote;
the rep prices and submits it; an approver approves; the rep sends it; the customer accepts
through the share link; an ERP key pulls the order's BOM; the rep makes the contract and the
order and finance invoices, records a payment and credits from the pages. Besides: accounts
and payments, the builder framed by a CRM, and an axe-core accessibility audit of every page. Screenshots of
each step are kept in artifacts/screenshots/ (CI keeps them as test artifacts).
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

from billing_flow import issued_invoice
from core.apikeys import create_key
from core.db import session_scope
from core.settings import PROJECT_ROOT
from core.users import create_user
from live_server import load_demo, serve
from rules.store import approval_levels
from sales.order_models import Subscription

playwright_api = pytest.importorskip("playwright.sync_api")
axe_api = pytest.importorskip("axe_playwright_python.sync_playwright")
CHROMIUM = os.environ.get("CPQ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")]
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def site(app):
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
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(browser, url: str, email: str):
    page = browser.new_context().new_page()            # a context of its own: more pages may share it
    page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/quotes")
    return page


def test_from_the_customers_configuration_to_the_erps_bom(site, browser):
    url = site["url"]
    expect = playwright_api.expect

    # the customer configures: a 1U chassis rules out GPUs, and the page says why
    customer = browser.new_page(viewport={"width": 390, "height": 844})          # phone width
    customer.goto(f"{url}/configure/rack-server")
    customer.get_by_text('1U, 10 x 2.5" SFF bays').click()
    gpu = customer.locator("fieldset[data-attribute=gpu] input[data-ruled-out]").first
    expect(gpu).to_be_attached()
    reason = customer.locator(f"#{gpu.get_attribute('aria-describedby')}")
    gpu.focus()
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("GPUs need a 2U chassis")
    shot(customer, "1-customer-disabled-value-with-reason")
    list_price = customer.locator("#price [data-amount=total]")
    expect(list_price).not_to_be_empty()
    before = list_price.inner_text()
    customer.click("#complete")
    expect(customer.locator("#validity")).to_contain_text("Every choice is made")
    customer.fill("#quantity", "3")
    customer.locator("#quantity").dispatch_event("change")
    expect(list_price).not_to_have_text(before)
    customer.fill("#company", "Initech")
    customer.fill("#name", "Peter Gibbons")
    customer.fill("#email", "peter@initech.example")
    customer.fill("#country", "us")
    customer.click("#request button[type=submit]")
    done = customer.locator("#request-result .message.info")
    expect(done).to_contain_text("Your request REQ-")
    reference = done.inner_text().split("request ")[1].split(" ")[0]
    shot(customer, "2-customer-requested-a-quote")

    # a rep turns the request into a new account and its draft (no page for that yet: the API)
    converted = httpx.post(f"{url}/api/v1/quote-requests/{reference}/convert",
                           headers={"Authorization": f"Bearer {site['rep_token']}"})
    assert converted.status_code == 201, converted.text
    number = converted.json()["quote_number"]

    # the rep finds it, gives a discount that needs approval, and submits
    rep = sign_in(browser, url, "rita@example.com")
    expect(rep.locator("#rows")).to_contain_text(number)
    rep.click(f"text={number}")
    expect(rep.locator("#q-state")).to_have_text("draft")
    rep.locator("#lines input[aria-label^='Discount']").first.fill("30")
    rep.locator("#lines input[aria-label^='Discount']").first.dispatch_event("change")
    expect(rep.locator("#approvals li").first).to_be_visible()
    shot(rep, "3-rep-builder-waterfall-and-approvals")
    rep.click("#submit")
    expect(rep.locator("#q-state")).to_have_text("pending_approval")

    # the approver approves every level it waits for (stage by stage)
    approver = sign_in(browser, url, "max@example.com")
    approver.goto(f"{url}/app/approvals")
    for _ in range(4):
        expect(approver.locator("#inbox")).not_to_have_text("Loading…")
        button = approver.locator(f"[data-quote='{number}'] button.primary").first
        if not button.count():
            break
        shot(approver, "4-approver-inbox")
        button.click()
        expect(approver.locator("#message .message.info")).to_be_visible()
        approver.reload()
    expect(approver.locator("#inbox")).to_contain_text("Nothing waits for you")

    # the rep sends it; the customer accepts through the share link
    rep.reload()
    expect(rep.locator("#q-state")).to_have_text("approved")
    rep.click("#send")
    link = rep.locator("#share-link")
    expect(link).to_be_visible()
    expect(rep.locator("#q-state")).to_have_text("sent")
    shot(rep, "5-rep-sent")
    rep.click("#email-send")                          # the link again, by e-mail to the primary contact
    expect(rep.locator("#q-message")).to_contain_text("E-mail to ")
    customer.goto(link.get_attribute("href"))
    customer.fill("#name", "Peter Gibbons")
    customer.fill("#email", "peter@initech.example")
    customer.check("#agree")
    customer.click("text=Accept and sign")
    expect(customer.locator("body")).to_contain_text("Accepted by Peter Gibbons")
    shot(customer, "6-customer-accepted")

    # the rep orders it; the ERP pulls the BOM with its API key
    order = httpx.post(f"{url}/api/v1/orders", json={"quote": number},
                       headers={"Authorization": f"Bearer {site['rep_token']}"})
    assert order.status_code == 201, order.text
    erp = {"Authorization": f"Bearer {site['erp']}"}
    feed = httpx.get(f"{url}/api/v1/erp/orders?after=0", headers=erp).json()
    assert [o["number"] for o in feed["orders"]] == [order.json()["number"]]
    bom = httpx.get(f"{url}/api/v1/orders/{order.json()['number']}/bom?format=csv", headers=erp)
    assert bom.status_code == 200 and bom.text.startswith("line,product,part")
    assert "RS7-ASSY" in bom.text
    rep.reload()
    expect(rep.locator("#fulfilment")).to_contain_text(order.json()["number"])
    shot(rep, "7-rep-sees-the-order")
    assert len(list(Path(SHOTS).glob("*.png"))) >= 7


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


def test_the_configurator_speaks_the_browsers_language(site, browser):
    """A French browser gets the configurator in French: its buttons, the switch it proposes and
    its amounts (the words come from the page's catalog, labels and rule messages from the model)."""
    url, expect = site["url"], playwright_api.expect
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(f"{url}/configure/rack-server")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#complete")).to_have_text("Compléter pour moi")
    expect(page.locator("#progress-text")).to_contain_text(" sur ")
    expect(page.locator("#bar-total")).to_have_text(re.compile(r"\d,\d\d"))     # 1 234,50: a decimal comma
    page.locator("fieldset[data-attribute=chassis]").get_by_text('1U, 10 baies SFF 2,5"').click()
    expect(page.locator("fieldset[data-attribute=gpu] legend")).to_contain_text("Accélérateur GPU")
    l40s = page.locator("fieldset[data-attribute=gpu] label.choice", has_text="L40S")
    expect(l40s.locator("input")).to_have_attribute("data-ruled-out", "true")
    expect(page.locator("fieldset[data-attribute=gpu] .why-line")).to_contain_text("Les GPU nécessitent un châssis 2U.")
    l40s.click()
    dialog = page.locator("dialog.switch")
    expect(dialog.locator("h2")).to_have_text("Passer à NVIDIA L40S 48 Go (double emplacement, 350 W) ?")
    expect(dialog).to_contain_text('Cela retire : 1U, 10 baies SFF 2,5" (Châssis).')
    dialog.get_by_role("button", name="Conserver mes choix").click()
    expect(dialog).to_have_count(0)
    context.close()


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
                if (wide := page.evaluate("document.documentElement.scrollWidth")) > width:
                    culprits = page.evaluate("""(w) => [...document.querySelectorAll('body *')]
                        .filter(e => e.getBoundingClientRect().right > w && ![...e.children].some(c => c.getBoundingClientRect().right > w))
                        .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""", width)
                    found[f"{who or 'anonymous'} {path} at {width}px"] = f"scrolls sideways: {wide}px wide: {culprits}"
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


def fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


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
    expect(rep.locator("#q-state")).to_have_text("accepted")
    rep.click("#create-contract")
    rep.click("#send-contract")
    expect(rep.locator("#sign-link-url")).to_be_visible()
    expect(rep.locator("#sign-link .copy")).to_be_visible()
    fits(rep, width)
    shot(rep, f"12-{width}-rep-sent-the-contract")
    rep.click("#contract-link")
    expect(rep.locator("#c-state")).to_have_text("Sent")
    expect(rep.locator("#lines tr")).to_have_count(1)
    fits(rep, width)
    rep.click("#create-order button")
    rep.wait_for_url("**/app/orders/*")
    expect(rep.locator("#credit-result")).to_contain_text("Passed")
    expect(rep.locator("#invoice-order")).to_have_count(0)             # invoicing is finance's
    order = rep.url.rsplit("/", 1)[1]
    fits(rep, width)
    shot(rep, f"13-{width}-rep-made-the-order")

    finance = sign_in(browser, url, "fay@example.com")
    finance.set_viewport_size({"width": width, "height": 900})
    finance.goto(f"{url}/app/orders")
    finance.click(f"#rows >> text={order}")
    finance.click("#invoice-order button[type=submit]")
    finance.wait_for_url("**/app/invoices/*")
    expect(finance.locator("#i-state")).to_have_text("Open")
    expect(finance.locator("#pdf")).to_be_visible()
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
