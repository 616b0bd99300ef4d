"""End to end in a real browser (Debian's Chromium driven by Playwright) against a real server:
a customer configures a product, sees a value disabled with its reason and requests a quote;
the rep prices and submits it; an approver approves; the rep sends it; the customer accepts
through the share link; an ERP key pulls the order's BOM. Screenshots of each step are kept
in artifacts/screenshots/ (CI keeps them as test artifacts).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from core.apikeys import create_key
from core.db import session_scope
from core.settings import PROJECT_ROOT
from core.users import create_user
from live_server import load_demo, serve

playwright_api = pytest.importorskip("playwright.sync_api")
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
        create_user(session, "max@example.com", "Max Approver", "approver",
                    ("sales_manager", "vp_sales", "finance"), password=PASSWORD)
        admin, _token = create_user(session, "ada@example.com", "Ada Admin", "admin")
        _key, erp = create_key(session, admin, "ERP", ["bom:read", "orders:read"])
    with serve(app) as url:
        yield {"url": url, "rep_token": rep_token, "erp": erp}


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
    page = browser.new_page()
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
    gpu = customer.locator("fieldset[data-attribute=gpu] input[aria-disabled=true]").first
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
    expect(done).to_contain_text("Your request Q-")
    number = done.inner_text().split("request ")[1].split(" ")[0]
    shot(customer, "2-customer-requested-a-quote")

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
