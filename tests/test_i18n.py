"""The customer's language: complete catalogs that compile and match the templates, amounts
and dates formatted for the locale, an account's language on its quote PDF, share pages,
billing portal, invoices (frozen at issue) and dunning letters, and the browser's language
where no account is known. English stays as it was."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date, timedelta
from decimal import Decimal

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlmodel import select

from billing import invoices, portal
from billing.collections import run_dunning
from billing.models import DunningNotice
from billing.tax import load_demo_tax_rates
from billing.terms import parse_terms
from billing_flow import issued_invoice, make_account
from core import locales
from core.db import session_scope
from core.settings import PROJECT_ROOT
from quote_flow import act, call, customer, env, error_of, ok  # noqa: F401
from sales import documents
from sales.accounts import update_account
from sales.models import Quote
from sales.quote_data import document_data, render

NNBSP, NBSP = "\u202f", "\xa0"            # CLDR's group separator in French, the space before €
POT = locales.CATALOGS / "messages.pot"


def _messages(po_path) -> dict:
    with open(po_path, "rb") as f:
        return {m.id: m for m in read_po(f) if m.id}


# ---- the catalogs ------------------------------------------------------------------------------

def test_the_template_lists_every_message_the_code_and_templates_use():
    """`pybabel extract` was run after the last text changed (docs/i18n.md)."""
    with open(PROJECT_ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    extracted = {m[2] if isinstance(m[2], str) else m[2][0]
                 for m in extract_from_dir(PROJECT_ROOT, method_map, options_map)}
    assert extracted == set(_messages(POT)), "run the pybabel extract and update commands of docs/i18n.md"


@pytest.mark.parametrize("language", [lang for lang in locales.LANGUAGES if lang != locales.DEFAULT])
def test_every_catalog_translates_every_message_and_compiles(language, tmp_path):
    wanted = set(_messages(POT))
    with open(locales.catalog_path(language), "rb") as f:
        catalog = read_po(f, locale=language)
    have = {m.id: m for m in catalog if m.id}
    assert wanted - set(have) == set(), f"{language}: messages missing (pybabel update)"
    assert set(have) - wanted == set(), f"{language}: messages no longer used (pybabel update)"
    untranslated = sorted(i for i, m in have.items() if not m.string or m.fuzzy)
    assert untranslated == [], f"{language}: untranslated or fuzzy"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert problems == []                                # placeholders as in the English text
    with open(tmp_path / "messages.mo", "wb") as mo:
        write_mo(mo, catalog)
    assert locales.translations(language).gettext("Quote %(number)s") != "Quote %(number)s"


# ---- formats -------------------------------------------------------------------------------------

@pytest.mark.parametrize("language, expected", [
    ("en", "EUR 1,234.50"),                             # English as it always was: the code first
    ("fr", f"1{NNBSP}234,50{NBSP}€"),
    ("de", f"1.234,50{NBSP}€"),
    ("nl", f"€{NBSP}1.234,50"),
    ("sv", f"1{NBSP}234,50{NBSP}€"),
])
def test_amounts_read_as_the_locale_writes_them(language, expected):
    assert locales.money("1234.5", "EUR", language) == expected


def test_amounts_keep_the_currencys_minor_units_in_every_language():
    assert locales.money("1200", "JPY", "fr") == f"1{NNBSP}200{NBSP}JPY"
    assert locales.money("12.345", "KWD", "de") == f"12,345{NBSP}KWD"
    assert locales.money("0.30000000000000004", "USD", "fr").startswith("0,30000000000000004")   # never rounded away
    assert locales.amount("1234.5", "EUR", "fr") == f"1{NNBSP}234,50"
    assert [locales.number(v, lang) for v, lang in [("16.50", "en"), ("16.50", "fr"), ("1500", "de"), ("1E+3", "en")]] \
        == ["16.50", "16,50", "1.500", "1,000"]                         # quantities and percentages as given
    with pytest.raises(ValueError):
        locales.money("NaN", "EUR", "fr")


def test_dates_and_moments_in_each_language():
    assert [locales.day("2026-06-30", lang) for lang in locales.LANGUAGES] == [
        "2026-06-30", "30 juin 2026", "30 juni 2026", "30 jun 2026", "30.06.2026"]
    assert locales.timestamp("2026-11-24T10:00:00+00:00", "en") == "2026-11-24 10:00 UTC"
    assert locales.timestamp("2026-11-24T10:00:00+01:00", "de") == "24.11.2026 10:00 UTC+0100"
    assert locales.language_of("es") == "en" and locales.language_of("sv") == "sv"


def test_payment_terms_read_in_each_language():
    terms = parse_terms("2/10net30")
    assert [terms.label(locales.translations(lang).gettext) for lang in locales.LANGUAGES] == [
        "2% within 10 days, net 30 days", "2 % d’escompte sous 10 jours, net à 30 jours",
        "2 % rabatt inom 10 dagar, 30 dagar netto", "2% korting binnen 10 dagen, 30 dagen netto",
        "2 % Skonto innerhalb von 10 Tagen, 30 Tage netto"]
    assert parse_terms("due_on_receipt").label(locales.translations("nl").gettext) == "Te betalen bij ontvangst"


# ---- the account's language ---------------------------------------------------------------------

def french_account(env, code="ACME-FR", language="fr"):
    return ok(call(env, "post", "/accounts", "rep", {
        "code": code, "name": "Acme France", "currency": "EUR", "language": language,
        "billing_address": {"street": "1 rue de la Paix", "city": "Paris", "country": "FR"}}), 201)


def test_an_account_has_a_language_set_and_changed_through_the_api(env):
    assert ok(call(env, "get", "/accounts/ACME"))["language"] == "en"               # the default
    assert french_account(env)["language"] == "fr"
    before = ok(call(env, "get", "/accounts/ACME-FR"))
    after = ok(call(env, "patch", "/accounts/ACME-FR", "rep", {"language": "de"}))
    changed = {k for k in before if before[k] != after[k]} - {"updated_at"}
    assert changed == {"language"} and after["language"] == "de"
    assert error_of(call(env, "patch", "/accounts/ACME-FR", "rep", {"language": "es"}), 422)
    page = env.client.get("/app/accounts/ACME-FR", headers={"Authorization": f"Bearer {env.tokens['rep']}"})
    assert '<option value="de" lang="de" selected>Deutsch</option>' in page.get_data(as_text=True)


def sent_quote(env, account):
    number = ok(call(env, "post", "/quotes", "rep", {"account": account, "lines": [{"product": "SUP-MC-Y"}]}),
                201)["number"]
    assert act(env, number, "submit")["state"] == "approved"
    return number, act(env, number, "send")["share_link"]["token"]


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_a_french_accounts_quote_pdf_is_in_french_with_french_amounts(env, tmp_path):
    french_account(env)
    _number, token = sent_quote(env, "ACME-FR")
    response = env.client.get(f"/q/{token}/pdf")
    assert response.status_code == 200
    text = pdf_text(response.data, tmp_path)
    assert "Devis" in text and "Conditions de paiement" in text and "Valeur totale du contrat" in text
    assert f"5{NNBSP}130,00{NBSP}€" in text or "5 130,00 €" in text        # 3 years of 1,710.00 EUR
    assert "Quote" not in text and "EUR 5,130.00" not in text


def test_a_french_accounts_contract_page_and_pdf_are_in_french(env, tmp_path):
    french_account(env)
    number, token = sent_quote(env, "ACME-FR")
    assert customer(env, token, "accept", email="jo@acme.fr").status_code == 200
    contract = ok(call(env, "post", "/contracts", body={"quote": number}), 201)
    link = ok(call(env, "post", f"/contracts/{contract['number']}/send"))["token"]
    page = env.client.get(f"/c/{link}").get_data(as_text=True)
    assert '<html lang="fr">' in page and "Signer ce contrat" in page and f"5{NNBSP}130,00{NBSP}€" in page
    text = pdf_text(env.client.get(f"/c/{link}/pdf").data, tmp_path)
    assert f"Contrat {contract['number']}" in text and "Valeur du contrat" in text and "36 mois" in text


def test_a_bundles_free_line_says_so_in_the_accounts_language(env, tmp_path):
    french_account(env)
    server = {"product": "rack-server", "selections": {"gpu": "l40s"}}          # deployment comes free
    number = ok(call(env, "post", "/quotes", "rep", {"account": "ACME-FR", "lines": [server]}), 201)["number"]
    if act(env, number, "submit")["state"] == "pending_approval":
        for level in ok(call(env, "get", f"/quotes/{number}"))["approvals_required"]:
            ok(call(env, "post", f"/quotes/{number}/approve", "manager", {"level": level["level"]}))
    token = act(env, number, "send")["share_link"]["token"]
    page = env.client.get(f"/q/{token}").get_data(as_text=True)
    assert "offert avec la ligne 1" in page and "free with line" not in page
    assert "offert avec la ligne 1" in " ".join(pdf_text(env.client.get(f"/q/{token}/pdf").data, tmp_path).split())


def test_documents_stay_deterministic_in_every_language(env):
    french_account(env)
    number, _token = sent_quote(env, "ACME-FR")
    with session_scope(env.engine) as session:
        quote = session.exec(select(Quote).where(Quote.number == number, Quote.latest)).one()
        company = env.settings.company
        first, _ = render(session, quote.id, company, draft=False)
        assert render(session, quote.id, company, draft=False)[0] == first
        update_account(session, "ACME-FR", {"language": "en"})
        assert render(session, quote.id, company, draft=False)[0] != first     # the language is the account's


def test_an_english_quote_reads_as_before(env, tmp_path):
    _number, token = sent_quote(env, "ACME")
    text = pdf_text(env.client.get(f"/q/{token}/pdf").data, tmp_path)
    assert "Quote" in text and "Payment terms" in text and "USD 5,400.00" in text
    page = env.client.get(f"/q/{token}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Total contract value" in page     # the account's, not the browser's


def test_a_quotes_configuration_reads_in_the_accounts_language(env):
    """The configuration summary of a line (share page and PDF) is the model's labels in the
    account's language; the quote builder's labels stay English."""
    french_account(env)
    number = ok(call(env, "post", "/quotes", "rep", {"account": "ACME-FR", "lines": [
        {"product": "rack-server", "selections": {"chassis": "c2u24sff", "cpu": "e9354"}}]}), 201)["number"]
    with session_scope(env.engine) as session:
        quote = session.exec(select(Quote).where(Quote.number == number, Quote.latest)).one()
        doc = document_data(session, quote, env.settings.company, draft=True)
        french = dict(doc["lines"][0]["configuration"])
        assert french["Châssis"] == '2U, 24 baies SFF 2,5"' and french["Nombre de processeurs"] == "1"
        assert french["Modèle de processeur"] == "AMD EPYC 9354 (32 cœurs, 3,25 GHz, 280 W)"
        assert french["Système d'exploitation préinstallé en usine"] == "Aucun" and french["Façade avant verrouillable"] == "Oui"
        assert "Châssis: 2U, 24 baies SFF 2,5" in documents.render_html(doc)
        update_account(session, "ACME-FR", {"language": "en"})
        english = dict(document_data(session, quote, env.settings.company, draft=True)["lines"][0]["configuration"])
        assert english["Chassis"] == '2U, 24 x 2.5" SFF bays' and english["Locking front bezel"] == "Yes"
    chosen = ok(call(env, "get", f"/quotes/{number}"))["lines"][0]["chosen"]
    assert '2U, 24 x 2.5" SFF bays' in chosen and "AMD EPYC 9354 (32C, 3.25 GHz, 280 W)" in chosen


def test_the_share_page_of_a_german_account_is_in_german(env):
    french_account(env, "ACME-DE", "de")
    _number, token = sent_quote(env, "ACME-DE")
    page = env.client.get(f"/q/{token}", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="de">' in page
    for text in ("Angebot", "Gesamtvertragswert", "Dieses Angebot annehmen", "Annehmen und unterschreiben",
                 f"5.130,00{NBSP}€"):
        assert text in page, text


def test_a_bad_link_is_a_page_in_the_browsers_language(env):
    for path in ("/q/nope", "/c/nope", "/p/nope", "/q/nope/pdf"):
        response = env.client.get(path, headers={"Accept-Language": "nl-BE, nl;q=0.9, en;q=0.5"})
        assert response.status_code == 404 and response.mimetype == "text/html"
        assert "Link niet gevonden" in response.get_data(as_text=True)
    for accepted in ("es, pt;q=0.8", None):                                   # none spoken: English
        headers = {"Accept-Language": accepted} if accepted else {}
        page = env.client.get("/q/nope", headers=headers).get_data(as_text=True)
        assert '<html lang="en">' in page and "Link not found" in page
    sv = env.client.get("/q/nope", headers={"Accept-Language": "sv-SE"}).get_data(as_text=True)
    assert "Länken hittades inte" in sv


def test_the_billing_portal_and_invoices_speak_the_accounts_language_frozen_at_issue(env):
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session)
        account = make_account(session, "SWEDE", "EUR")
        update_account(session, "SWEDE", {"language": "sv", "contacts": [{"name": "AP", "email": "ap@swede.example"}]})
        invoice = issued_invoice(session, "SWEDE", [("hw", "one_time", 1, "1234.50")])
        token = portal.invite(session, account, "ap@swede.example", 30, None)[1]
        invoice_id = invoice.id
    with session_scope(env.engine) as session:
        invoice = session.get(invoices.Invoice, invoice_id)
        html = documents.render_html(invoices.document_data(invoice, invoices.lines_of(session, invoice), None),
                                     invoices.TEMPLATE)
        assert '<html lang="sv">' in html and "Faktura" in html and "Förfallodag" in html and "30 dagar netto" in html
        update_account(session, "SWEDE", {"language": "de"})     # issued: the document keeps its language
        again = invoices.document_data(invoice, invoices.lines_of(session, invoice), None)
        assert again["language"] == "sv" and invoice.buyer["language"] == "sv"
    page = env.client.get(f"/p/{token}").get_data(as_text=True)
    assert '<html lang="de">' in page and "Rechnungen und Gutschriften" in page and "Offener Betrag" in page
    assert "Verbrauch in diesem Monat" in page and "Keine Abonnements." in page          # every section, not some
    assert "Subscriptions" not in page and "Usage this month" not in page and "so far" not in page
    assert "Zahlungsweise" in page and "Quote the reference" not in page                # how to pay what is due


def test_dunning_letters_are_written_in_the_accounts_language(env):
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session)
        make_account(session, "LEFRANC", "EUR")
        update_account(session, "LEFRANC", {"language": "fr"})
        invoice = issued_invoice(session, "LEFRANC", [("hw", "one_time", 1, "1234.50")], date(2026, 3, 1))
        [action] = run_dunning(session, invoice.due_date + timedelta(days=7)).notices
        letter = session.get(DunningNotice, action.notice_id).letter
        due, gross = invoice.due_date, invoice.gross_total
    assert letter.startswith("Rappel de paiement\n\nMadame, Monsieur,\n\n")
    assert f"échue le {locales.day(due, 'fr')}" in letter and "7 jours" in letter
    assert locales.money(gross, "EUR", "fr") in letter and "Compte client : LEFRANC" in letter
    assert gross > Decimal(1000)                                  # a group separator to format


# ---- the customer's pages of the storefront (web/storefront.py) -------------------------------

def test_the_configurator_follows_the_browsers_language(env):
    page = env.client.get("/configure/rack-server", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"})
    text = page.get_data(as_text=True)
    assert '<html lang="fr">' in text
    for french in ("Demander un devis", "Compléter pour moi", "Pays (2 lettres)", "Votre prix"):
        assert french in text, french
    assert "Request a quote" not in text and "Complete for me" not in text
    assert "<h1>Serveur rack configurable RS7</h1>" in text                    # the model's name, in French
    words = _script_words(text, "configurator-messages")                     # the configurator.js texts
    assert words["switch_to"] == "Passer à {value} ?" and words["none"] == "Aucun"
    assert _script_words(text, "page-messages")["progress"] == "{decided} sur {total}"
    english = env.client.get("/configure/rack-server").get_data(as_text=True)
    assert '<html lang="en">' in english and "Request a quote" in english
    assert _script_words(english, "configurator-messages")["switch_to"] == "Switch to {value}?"


def _script_words(page: str, id_: str) -> dict:
    return json.loads(re.search(f'<script type="application/json" id="{id_}">(.*?)</script>', page, re.S).group(1))


def test_a_language_picked_on_a_customer_page_holds_for_the_visit_but_not_on_staff_pages(env):
    home = env.client.get("/?lang=de", headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in home.get_data(as_text=True) and "Produkt konfigurieren" in home.get_data(as_text=True)
    assert "cpq_lang=de" in home.headers["Set-Cookie"]
    page = env.client.get("/configure/rack-server", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="de">' in page and "Angebot anfordern" in page
    links = env.client.get("/configure/rack-server?price_book=list-eur").get_data(as_text=True)
    assert 'href="/configure/rack-server?price_book=list-eur&amp;lang=sv"' in links       # the page, in Swedish
    login = env.client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="en">' in login                                      # staff pages stay English
    env.client.get("/?lang=xx")                                              # not a language: ignored
    assert '<html lang="de">' in env.client.get("/").get_data(as_text=True)
