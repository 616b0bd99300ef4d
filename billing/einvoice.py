"""EN 16931 e-invoices: Factur-X / ZUGFeRD CII XML (profile EN 16931) and the hybrid PDF.

The XML is built with drafthorse from the facts an issued invoice stored (never from the
order or the account, which may have changed since) and validated against the Factur-X
EN 16931 XSD shipped with drafthorse before it is returned. On top of the schema, the sums
EN 16931 relies on are checked (BR-CO-10, -14, -15), because no XSD can see them.

What the issuing code stores (billing/invoices.py); optional keys may be missing or empty:

- ``Invoice.seller``: ``{"name", "address": [street lines], "country": ISO 3166 alpha-2,
  "tax_id", "email"}``, optionally ``"city"``, ``"postal_code"``, ``"region"``.
- ``Invoice.buyer``: ``{"name", "code", "tax_id", "billing_address": {"street", "city",
  "postal_code", "region", "country"}}``, optionally ``"email"``. A street may hold several
  lines separated by newlines.
- ``Invoice.tax_breakdown``: ``[{"category": S | Z | E | AE, "rate", "base", "tax"}]``, one
  entry per VAT category and rate (billing/tax.py), amounts as decimal text or numbers.
- ``InvoiceLine.tax_category``: the product's tax category (standard, reduced, exempt...),
  whose VAT category code billing/tax.py derives from it, the rate and the reverse charge.
- Amounts non-negative, in the invoice's currency, with at most 2 decimals: EN 16931 allows
  no more, so KWD cannot be sent this way. A credit note states what it credits as positive
  amounts; the type code 381 says that they are a credit.

An EU-style VAT number (two capital letters, then letters or digits: DE123456789) is the
party's VAT identifier (scheme VA, BT-31/48). Any other tax id (US-36-4321987, a Japanese
T-number) is the seller's tax registration (FC, BT-32) and, as EN 16931 wants the seller
identified (BR-CO-26), its identifier (BT-29); or the buyer's legal registration (BT-47), as a
buyer has no tax registration but a VAT number. An email is the electronic address
(BT-34/49).
"""

from __future__ import annotations

import re
from decimal import Decimal

from drafthorse.models.accounting import ApplicableTradeTax
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import LineItem
from facturx import generate_from_binary
from lxml import etree

from billing.models import Invoice, InvoiceLine
from billing.tax import VAT_CODES, vat_code
from core.errors import DomainError, InvalidInput
from core.money import ONE, ZERO, Currency, currency

MAX_DECIMALS = 2                          # EN 16931 amounts: KWD, BHD... cannot be sent
GUIDELINE = "urn:cen.eu:en16931:2017"     # BT-24 of the Factur-X EN 16931 profile
SCHEMA = "FACTUR-X_EN16931"
TYPE_CODES = {"invoice": "380", "credit_note": "381"}     # UNTDID 1001
VAT_ID_RE = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")
# BR-E-10, BR-AE-10: exempt and reverse-charged amounts must say why
EXEMPTION = {"E": (None, "Exempt from VAT"), "AE": ("VATEX-EU-AE", "Reverse charge")}
SEPA_CREDIT_TRANSFER = "58"                # UNTDID 4461, BT-81
UNIT = "C62"                               # UN/ECE rec. 20 "one": a piece, a licence, a day


class InvalidEInvoice(DomainError):
    """The invoice's facts do not make a valid EN 16931 document; `message` says which rule."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def cii_xml(invoice: Invoice, lines: list[InvoiceLine], original_number: str | None = None) -> bytes:
    """The invoice as Factur-X EN 16931 CII XML, validated against the XSD.

    `original_number` is the number of the invoice a credit note corrects (BT-25)."""
    cur = currency(invoice.currency)
    if cur.minor_units > MAX_DECIMALS:
        raise InvalidInput("currency", f"EN 16931 amounts have at most {MAX_DECIMALS} decimals; "
                                       f"{cur.code} has {cur.minor_units}")

    doc = Document()
    doc.context.guideline_parameter.id = GUIDELINE
    _header(doc, invoice)
    _parties(doc, invoice)
    for line in sorted(lines, key=lambda ln: ln.position):
        doc.trade.items.add(_line(invoice, line, cur))
    _settlement(doc, invoice, lines, cur, original_number)
    try:
        return doc.serialize(schema=SCHEMA)
    except etree.XMLSyntaxError as exc:
        raise InvalidEInvoice(f"invoice {invoice.number}: not valid against the {SCHEMA} XSD: {exc}") from exc


def facturx_pdf(pdf: bytes, xml: bytes) -> bytes:
    """`pdf` with `xml` embedded as factur-x.xml (relationship Data) and the Factur-X XMP
    metadata, profile EN 16931. Full PDF/A-3 conformity also needs a PDF/A-3 input, e.g.
    WeasyPrint's ``write_pdf(pdf_variant="pdf/a-3b")``."""
    return generate_from_binary(pdf, xml, flavor="factur-x", level="en16931", check_xsd=True)


def _header(doc: Document, invoice: Invoice) -> None:
    if invoice.number is None or invoice.issue_date is None:
        raise InvalidInput("invoice", "only an issued invoice (number and issue date) has an e-invoice")
    doc.header.id = invoice.number
    doc.header.type_code = TYPE_CODES[invoice.kind]
    doc.header.issue_date_time = invoice.issue_date
    if invoice.reason:
        note = IncludedNote()
        note.content = invoice.reason
        doc.header.notes.add(note)


def _parties(doc: Document, invoice: Invoice) -> None:
    seller, buyer = invoice.seller or {}, invoice.buyer or {}
    _party(doc.trade.agreement.seller, "seller", seller,
           {**seller, "lines": seller.get("address") or []}, "seller")
    address = buyer.get("billing_address") or {}
    _party(doc.trade.agreement.buyer, "buyer", buyer,
           {**address, "lines": (address.get("street") or "").splitlines()}, "buyer.billing_address")
    if buyer.get("code"):
        doc.trade.agreement.buyer.id = buyer["code"]


def _party(party, role: str, facts: dict, address: dict, address_path: str) -> None:
    if not facts.get("name"):
        raise InvalidInput(f"{role}.name", "required by EN 16931")
    if not address.get("country"):
        raise InvalidInput(f"{address_path}.country", "required by EN 16931 (ISO 3166 alpha-2 code)")
    party.name = facts["name"]
    lines = [ln for ln in address["lines"] if ln]
    for attr, text in zip(("line_one", "line_two"), lines):
        setattr(party.address, attr, text)
    if len(lines) > 2:
        party.address.line_three = ", ".join(lines[2:])
    for attr, key in (("postcode", "postal_code"), ("city_name", "city"), ("country_subdivision", "region")):
        if address.get(key):
            setattr(party.address, attr, address[key])
    party.address.country_id = address["country"].upper()
    if facts.get("email"):
        party.electronic_address.uri_ID = ("EM", facts["email"])
    tax_id = facts.get("tax_id")
    if tax_id and VAT_ID_RE.match(tax_id):
        party.tax_registrations.add(TaxRegistration(id=("VA", tax_id)))
    elif tax_id and role == "seller":
        party.tax_registrations.add(TaxRegistration(id=("FC", tax_id)))
        party.id = tax_id                     # BR-CO-26: BT-29, -30 or -31 identifies the seller
    elif tax_id:
        party.legal_organization.id = tax_id


def _line(invoice: Invoice, line: InvoiceLine, cur: Currency) -> LineItem:
    item = LineItem()
    item.document.line_id = str(line.position)
    if line.product:
        item.product.seller_assigned_id = line.product
    item.product.name = line.description
    quantity = line.quantity or ONE                  # a price adjustment (no units) is one adjustment
    net = _amount(cur, line.net_amount)
    # BT-146/149: the unit price, or the net amount for the whole quantity when the unit
    # price includes tax or does not multiply out to the net amount exactly
    if not invoice.tax_inclusive and line.unit_price * quantity == net:
        item.agreement.net.amount, base = line.unit_price, ONE
    else:
        item.agreement.net.amount, base = net, quantity
    item.agreement.net.basis_quantity = (base, UNIT)
    item.delivery.billed_quantity = (quantity, UNIT)
    item.settlement.trade_tax.type_code = "VAT"
    item.settlement.trade_tax.category_code = vat_code(line.tax_category, line.tax_rate, invoice.reverse_charge)
    item.settlement.trade_tax.rate_applicable_percent = line.tax_rate
    if line.period_start and line.period_end:
        item.settlement.period.start = line.period_start
        item.settlement.period.end = line.period_end
    item.settlement.monetary_summation.total_amount = net
    return item


def _settlement(doc: Document, invoice: Invoice, lines: list[InvoiceLine], cur: Currency,
                original_number: str | None) -> None:
    settlement = doc.trade.settlement
    settlement.currency_code = invoice.currency
    tax_total = ZERO
    for i, entry in enumerate(invoice.tax_breakdown):
        if entry["category"] not in VAT_CODES:
            raise InvalidInput(f"tax_breakdown[{i}].category", f"{entry['category']!r} is not one of {', '.join(VAT_CODES)}")
        tax = ApplicableTradeTax()
        tax.type_code, tax.category_code = "VAT", entry["category"]
        amount = _amount(cur, entry["tax"])
        tax.basis_amount, tax.calculated_amount = _amount(cur, entry["base"]), amount
        tax.rate_applicable_percent = Decimal(str(entry["rate"]))
        reason_code, reason = EXEMPTION.get(entry["category"], (None, None))
        if reason:
            tax.exemption_reason = reason
        if reason_code:
            tax.exemption_reason_code = reason_code
        settlement.trade_tax.add(tax)
        tax_total += amount
    if original_number:
        settlement.invoice_referenced_document.issuer_assigned_id = original_number
    if invoice.payment_reference:
        settlement.payment_reference = invoice.payment_reference             # BT-83
    if (invoice.seller or {}).get("iban") and invoice.kind == "invoice":
        means = PaymentMeans()
        means.type_code = SEPA_CREDIT_TRANSFER
        means.payee_account.iban = invoice.seller["iban"]                      # BT-84
        if invoice.seller.get("bic"):
            means.payee_institution.bic = invoice.seller["bic"]                # BT-86
        settlement.payment_means.add(means)
    if invoice.payment_terms or invoice.due_date:
        terms = PaymentTerms()
        terms.description = _terms_text(invoice)
        if invoice.due_date:
            terms.due = invoice.due_date
        settlement.terms.add(terms)
    _totals(settlement.monetary_summation, invoice, lines, cur, tax_total)


def _terms_text(invoice: Invoice) -> str:
    text = invoice.payment_terms
    if invoice.discount_percent and invoice.discount_date:
        text += f"; {invoice.discount_percent.normalize():f}% discount if paid by {invoice.discount_date.isoformat()}"
    return text


def _totals(summation, invoice: Invoice, lines: list[InvoiceLine], cur: Currency, tax_total: Decimal) -> None:
    """BG-22, after checking the sums EN 16931 requires and no XSD checks."""
    net, tax, gross, paid = (_amount(cur, x) for x in (invoice.net_total, invoice.tax_total,
                                                        invoice.gross_total, invoice.amount_paid))
    line_sum = sum((_amount(cur, ln.net_amount) for ln in lines), ZERO)
    for rule, ok, what in (("BR-CO-10", line_sum == net, f"lines sum to {line_sum}, net total is {net}"),
                           ("BR-CO-14", tax_total == tax, f"VAT breakdown sums to {tax_total}, tax total is {tax}"),
                           ("BR-CO-15", net + tax == gross, f"{net} + {tax} is not the gross total {gross}")):
        if not ok:
            raise InvalidEInvoice(f"invoice {invoice.number}: {rule}: {what}")
    summation.line_total, summation.charge_total, summation.allowance_total = net, _amount(cur, 0), _amount(cur, 0)
    summation.tax_basis_total, summation.grand_total = net, gross
    summation.tax_total = (tax, invoice.currency)             # BT-110 names its currency
    summation.prepaid_total = paid
    summation.due_amount = gross - paid                       # BR-CO-16


def _amount(cur: Currency, value) -> Decimal:
    """A stored amount (Decimal, or text in the JSON columns) with the currency's decimals."""
    return cur.round(Decimal(str(value)))
