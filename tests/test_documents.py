"""Quote documents (sales/documents.py): the HTML says what the quote says, escapes what it
is given, and the PDF renders, to the same bytes whatever the process rendered before. HTML
tests are fast; the PDF renders are kept few (and small)."""

from __future__ import annotations

import copy
import html as htmllib
import re
import subprocess
import sys
import threading

import pytest

from bench.documents import sample_doc
from core.settings import PROJECT_ROOT
from sales import documents
from core.locales import money
from sales.documents import page_count, render_html, render_pdf


def small_doc(**changes) -> dict:
    doc = {
        "company": {"name": "Northwind Systems Inc.", "address": ["500 Market Street", "San Francisco, CA 94105"],
                    "email": "sales@northwind.example", "website": "northwind.example", "colour": "#1f4e79"},
        "number": "Q-2026-00001", "revision": 2, "title": "Lab refresh",
        "date": "2026-11-23", "expires_on": "2026-12-23", "currency": "USD",
        "payment_terms": "net30", "draft": False,
        "account": {"name": "Contoso LLC", "code": "ACC-1", "tax_id": "US-12-3456789",
                    "billing_address": {"street": "1 Industrial Way", "city": "Columbus",
                                        "region": "OH", "postal_code": "43004", "country": "US"}},
        "owner": {"name": "Dana Whitfield", "email": "dana@northwind.example"},
        "lines": [
            {"key": "1", "group": "Compute", "name": "Rack server", "product": "rack-server",
             "quantity": "2", "charge": "one_time", "term_months": None,
             "configuration": [["Chassis", "1U 10 SFF"], ["Memory", "512 GB"]],
             "list_unit_price": "1234.50", "list_total": "2469.00", "discount_total": "100.00",
             "net_total": "2369.00", "contract_value": "2369.00", "notes": "", "free_of": None},
            {"key": "2", "group": "Software", "name": "Observability platform", "product": "obs-platform",
             "quantity": "10", "charge": "monthly", "term_months": 36, "configuration": [],
             "list_unit_price": "50.00", "list_total": "500.00", "discount_total": "0.00",
             "net_total": "500.00", "contract_value": "18000.00", "notes": "Starts on activation", "free_of": None},
            {"key": "3", "group": None, "name": "Installation", "product": "install",
             "quantity": "1", "charge": "one_time", "term_months": None, "configuration": [],
             "list_unit_price": "800.00", "list_total": "800.00", "discount_total": "0.00",
             "net_total": "800.00", "contract_value": "800.00", "notes": "", "free_of": None},
        ],
        "totals": {"one_time_list": "3269.00", "one_time_net": "3169.00", "recurring": {"monthly": "500.00"},
                   "contract_value": "21037.55", "list_contract_value": "21269.00", "discount_percent": "1.09"},
        "quote_steps": [{"label": "header manual discount 0.6%", "amount": "131.45"}],
        "terms": "Prices exclude tax.\n\nDelivery within 30 days.\nRisk passes on delivery.",
        "notes": "Call before delivery.",
        "signature": None,
    }
    doc.update(changes)
    return doc


def text_of(html: str) -> str:
    """The visible text, whitespace collapsed (the stylesheet is dropped)."""
    html = re.sub(r"(?s)<(style|title)>.*?</\1>", " ", html)
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html)))


# ---- money ----------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, code, expected", [
    ("1234.50", "USD", "USD 1,234.50"),
    ("1234.5", "USD", "USD 1,234.50"),
    ("1234567.89", "USD", "USD 1,234,567.89"),
    ("0.1", "USD", "USD 0.10"),
    ("-1234.50", "USD", "USD -1,234.50"),
    ("1200", "JPY", "JPY 1,200"),
    ("1E+3", "JPY", "JPY 1,000"),
    ("12.345", "KWD", "KWD 12.345"),
    ("1234567.001", "KWD", "KWD 1,234,567.001"),
    ("0.30000000000000004", "USD", "USD 0.30000000000000004"),  # never rounded away silently
])
def test_money(amount, code, expected):
    assert money(amount, code) == expected


def test_money_rejects_non_amounts():
    for bad in ("", "abc", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            money(bad, "USD")


# ---- HTML -----------------------------------------------------------------------------------

def test_html_shows_quote_lines_and_totals():
    doc = small_doc()
    text = text_of(render_html(doc))
    assert "Quote Q-2026-00001 (revision 2)" in text
    for line in doc["lines"]:
        assert line["name"] in text and line["product"] in text
    assert "Chassis: 1U 10 SFF · Memory: 512 GB" in text
    assert "Contoso LLC" in text and "ACC-1" in text and "US-12-3456789" in text
    assert "Columbus, OH 43004" in text
    assert "Dana Whitfield" in text and "dana@northwind.example" in text
    assert "Net 30 days" in text
    assert "monthly 36 months" in text and "total 18,000.00" in text
    assert "One-time list USD 3,269.00" in text
    assert "One-time discount USD 100.00" in text
    assert "One-time net USD 3,169.00" in text
    assert "Recurring, monthly USD 500.00" in text
    assert "header manual discount 0.6% USD 131.45" in text
    assert "Total contract value USD 21,037.55" in text
    assert "Call before delivery." in text


def test_html_groups_lines_under_headings_ungrouped_first():
    html = render_html(small_doc())
    headings = re.findall(r'<tr class="group"><th colspan="7">([^<]+)</th></tr>', html)
    assert headings == ["Compute", "Software"]
    assert html.index("Installation") < html.index("Compute") < html.index("Rack server")
    assert html.index("Software") < html.index("Observability platform")


def test_html_terms_keep_paragraphs():
    html = render_html(small_doc())
    assert "<p>Prices exclude tax.</p>" in html
    assert "<p>Delivery within 30 days.\nRisk passes on delivery.</p>" in html


def test_draft_watermark_only_on_drafts():
    assert 'class="watermark"' not in render_html(small_doc())
    assert "DRAFT" not in text_of(render_html(small_doc()))
    html = render_html(small_doc(draft=True))
    assert re.search(r'<div class="watermark"[^>]*>DRAFT', html)


def test_signature_block():
    unsigned = text_of(render_html(small_doc()))
    assert "Accepted by" not in unsigned
    assert "Name Signature Title Date" in unsigned
    digest = "ab" * 32
    signed = text_of(render_html(small_doc(signature={
        "name": "Pat Buyer", "email": "pat@contoso.example", "at": "2026-11-24T10:00:00+00:00",
        "sha256": digest})))
    assert "Accepted by Pat Buyer <pat@contoso.example> on 2026-11-24 10:00 UTC, document SHA-256" in signed
    assert digest in signed
    assert "Signature Date" not in signed


def test_html_escapes_what_it_is_given():
    doc = small_doc()
    doc["lines"][0]["name"] = "<script>alert(1)</script> server"
    doc["lines"][1]["notes"] = "<script>alert(2)</script> & co"
    doc["lines"][0]["configuration"] = [["<b>Memory</b>", "<i>512</i>"]]
    html = render_html(doc)
    assert "<script>" not in html and "<b>Memory" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; server" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt; &amp; co" in html


def test_brand_colour_is_a_hex_colour_or_the_default():
    """The company's colour is written into a stylesheet: anything but a hex colour falls back."""
    assert "background: #123456;" in documents.brand_rules("#123456")
    assert documents.brand_rules("red;} body{display:none") == documents.brand_rules(None)
    assert "#1f4e79" in documents.brand_rules(None) and "display" not in documents.brand_rules(None)


def test_html_fails_loudly_on_a_missing_key():
    doc = small_doc()
    del doc["owner"]
    with pytest.raises(Exception, match="owner"):
        render_html(doc)


def test_jpy_and_kwd_amounts_in_the_document():
    doc = small_doc(currency="KWD")
    doc["lines"][0]["list_unit_price"] = "12.345"
    assert "12.345" in text_of(render_html(doc))
    doc = small_doc(currency="JPY")
    doc["lines"][0]["list_unit_price"] = "1200"
    doc["totals"] = dict(doc["totals"], contract_value="1234567")
    text = text_of(render_html(doc))
    assert " 1,200 " in text and "Total contract value JPY 1,234,567" in text


def test_html_does_not_modify_the_doc():
    doc = small_doc()
    before = copy.deepcopy(doc)
    render_html(doc)
    assert doc == before


# ---- PDF ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_pdf() -> bytes:
    return render_pdf(small_doc(draft=True))


def test_pdf_renders_and_is_deterministic(small_pdf):
    assert small_pdf.startswith(b"%PDF")
    assert page_count(small_pdf) >= 1
    assert render_pdf(small_doc(draft=True)) == small_pdf
    assert re.fullmatch(r"[0-9a-f]{64}", documents.sha256(small_pdf))
    assert documents.sha256(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_long_quote_spans_pages():
    pdf = render_pdf(sample_doc(200))
    assert pdf.startswith(b"%PDF")
    assert page_count(pdf) > 1


def test_pdf_bytes_do_not_depend_on_what_was_rendered_before(small_pdf):
    """A thread keeps one font configuration and parsed stylesheet for all its documents, so
    a document rendered after another (warm caches, other glyphs to subset) must give the
    bytes it gives first, and the bytes a fresh process gives."""
    other = small_doc(number="Q-2026-00002", title="Ωmega kit: ½ rack, ≥ 4 × 25 GbE, Zürich")
    assert render_pdf(other) != small_pdf
    assert render_pdf(small_doc(draft=True)) == small_pdf
    fresh = subprocess.run(
        [sys.executable, "-c", ("import sys; from tests.test_documents import small_doc; from sales.documents "
                                "import render_pdf; sys.stdout.buffer.write(render_pdf(small_doc(draft=True)))")],
        cwd=PROJECT_ROOT, capture_output=True, check=True, timeout=120).stdout
    assert fresh == small_pdf


def test_threads_render_side_by_side(small_pdf):
    """Web threads may render drafts at the same time: each has its own font configuration."""
    results = []
    threads = [threading.Thread(target=lambda: results.append(render_pdf(small_doc(draft=True))))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [small_pdf, small_pdf]


def test_tinyhtml5_parses_the_same_with_a_regex_cache_that_hits():
    """sales/documents.py replaces tinyhtml5's `chars_until` cache, whose keys never match in
    2.1.0. The documents parse to the same tree with it; once this fails on the first assert,
    tinyhtml5 caches right by itself and RegexCache can go."""
    from xml.etree import ElementTree

    from tinyhtml5 import inputstream, parse

    html = render_html(small_doc(signature={"name": "Pat", "email": "pat@contoso.example",
                                            "at": "2026-11-24T10:00:00+00:00", "sha256": "ab" * 32}))
    saved = inputstream.characters_until_regex
    try:
        inputstream.characters_until_regex = {}
        plain = ElementTree.tostring(parse(html, namespace_html_elements=False))
        assert inputstream.characters_until_regex
        assert all(isinstance(characters, re.Pattern) for characters, _ in inputstream.characters_until_regex)
        inputstream.characters_until_regex = documents.RegexCache()
        assert ElementTree.tostring(parse(html, namespace_html_elements=False)) == plain
        assert not any(isinstance(characters, re.Pattern) for characters, _ in inputstream.characters_until_regex)
    finally:
        inputstream.characters_until_regex = saved


def _same_bytes_cases() -> list[tuple[dict, str]]:
    """The documents whose bytes a rendering shortcut must not change: a quote (draft,
    configurations, notes), a signed quote and an invoice."""
    from bench.documents import sample_invoice
    from billing.invoices import TEMPLATE as INVOICE

    signed = small_doc(signature={"name": "Pat", "email": "pat@contoso.example",
                                  "at": "2026-11-24T10:00:00+00:00", "sha256": "ab" * 32})
    return [(sample_doc(12, draft=True), documents.TEMPLATE), (signed, documents.TEMPLATE),
            (sample_invoice(2), INVOICE)]


def test_lean_user_agent_sheet_gives_the_same_bytes(monkeypatch):
    """sales/pdf_ua.py drops the stock sheet's footnote and note rules and scopes ::marker to
    list items: exactly those lines change, and a quote (draft, configurations, notes), a
    signed quote and an invoice render to the bytes the stock sheet gives."""
    from weasyprint import HTML
    from weasyprint.html import UA

    from sales import pdf_ua

    stock, lean = UA.splitlines(), pdf_ua.lean_source().splitlines()
    assert sorted(set(stock) - set(lean)) == sorted(
        line for line in stock if line.startswith((*pdf_ua.DROPPED, "::marker")))
    assert len(stock) - len(lean) == len(pdf_ua.DROPPED)
    assert [line for line in lean if line not in stock] == [
        line for line in lean if line.startswith(pdf_ua.LIST_ITEMS + " {")]

    cases = _same_bytes_cases()
    lean_pdfs = [render_pdf(doc, template) for doc, template in cases]
    monkeypatch.setattr(pdf_ua, "LeanHTML", HTML)
    assert [render_pdf(doc, template) for doc, template in cases] == lean_pdfs


def test_documents_float_nothing_to_footnotes_or_notes():
    """The lean user agent sheet (sales/pdf_ua.py) has no footnote or note rules."""
    sources = [documents.STYLESHEET, *(PROJECT_ROOT / "web" / "templates" / "documents").glob("*.html")]
    for path in sources:
        assert not re.search(r"float\s*:\s*(footnote|note)|::(footnote|note)-", path.read_text()), path



def test_kept_pango_layouts_give_the_same_bytes(monkeypatch):
    """sales/pdf_layouts.py keeps each text's Pango layout from layout to drawing: a quote
    (draft, configurations, notes, justified terms), a signed quote and an invoice render to
    the bytes WeasyPrint's layouts made again give. On another WeasyPrint version it
    installs nothing."""
    from weasyprint.text.line_break import Layout

    from sales import pdf_layouts

    cases = _same_bytes_cases()
    kept_pdfs = [render_pdf(doc, template) for doc, template in cases]
    assert (Layout.deactivate, Layout.reactivate) == (pdf_layouts.keep, pdf_layouts.reuse)
    monkeypatch.setattr(Layout, "deactivate", pdf_layouts.STOCK[0])
    monkeypatch.setattr(Layout, "reactivate", pdf_layouts.STOCK[1])
    assert [render_pdf(doc, template) for doc, template in cases] == kept_pdfs
    assert not pdf_layouts.install("71.0")
    assert (Layout.deactivate, Layout.reactivate) == pdf_layouts.STOCK
