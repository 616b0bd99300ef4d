"""A quote revision as the plain data its documents show (the PDF and the share page).

Built from what the revision stored, as the customer may see it (its price through the
customer's projection: no cost, margin, rule or approval), and the model versions its lines
were configured on, so a document shows the revision as it was priced; amounts stay
decimal strings in the currency's minor units. A line's configuration reads in the account's
language (the model's labels in it), as the rest of the document; its name is the price
book's, stored with the price.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from catalog.store import get_model
from configurator.engine import get_configurator
from configurator.store import get_configuration
from core.locales import DEFAULT
from core.users import User
from sales import documents
from sales.accounts import Account
from sales.models import Decision, Quote, QuoteLine
from sales.quotes import customer_price, lines_of


def document_data(session: Session, quote: Quote, company: dict, draft: bool,
                  decision: Decision | None = None) -> dict[str, Any]:
    account = session.get(Account, quote.account_id)
    owner = session.get(User, quote.owner_id)
    priced = customer_price(quote)
    stored = {ln.key: ln for ln in lines_of(session, quote)}
    summaries: dict = {}               # lines with the same configuration share one summary
    lines = []
    for line in priced["lines"]:
        source = stored.get(line["id"])
        lines.append({
            "key": line["id"], "group": source.group if source else None, "name": line["name"],
            "product": line["product"], "quantity": line["quantity"], "charge": line["charge"],
            "term_months": line["term_months"],
            "configuration": _summary(session, source, account.language, summaries) if source else [],
            "list_unit_price": line["list_unit_price"], "list_total": line["list_total"],
            "discount_total": line["discount_total"], "net_total": line["net_total"],
            "contract_value": line["contract_value"],
            "notes": source.notes if source else "",
            "free_of": line["free_of"],                   # a bundle's gift: the templates say so in the language
        })
    signature = None
    if decision is not None and decision.accepted:
        signature = {"name": decision.name, "email": decision.email, "at": decision.at.isoformat(),
                     "sha256": decision.document_sha256}
    return {
        "company": company, "language": account.language, "number": quote.number, "revision": quote.revision,
        "title": quote.title,
        "date": (quote.priced_on or quote.created_at.date()).isoformat(),
        "expires_on": quote.expires_on.isoformat(), "currency": quote.currency,
        "payment_terms": quote.payment_terms, "draft": draft,
        "account": {"name": account.name, "code": account.code, "tax_id": account.tax_id,
                    "billing_address": dict(account.billing_address)},
        "owner": {"name": owner.name, "email": owner.email},
        "lines": lines, "totals": priced["totals"],
        "quote_steps": [{"label": s["label"], "amount": s["amount"]} for s in priced["quote_steps"]],
        "terms": quote.terms, "notes": quote.notes, "signature": signature,
    }


def render(session: Session, quote_id: int, company: dict, *, draft: bool) -> tuple[bytes, dict]:
    """The revision's PDF (a DRAFT preview before it is sent) and what identifies it."""
    quote = session.get(Quote, quote_id)
    content = documents.render_pdf(document_data(session, quote, company, draft=draft))
    return content, {"quote": quote.number, "revision": quote.revision}


def _summary(session: Session, line: QuoteLine, language: str, seen: dict) -> list[list[str]]:
    key = (line.product, line.configuration_id, line.model_version, repr(sorted(line.selections.items())))
    if key not in seen:
        seen[key] = configuration_summary(session, line, language)
    return seen[key]


def chosen_labels(session: Session, lines: list[QuoteLine]) -> dict[str, list[str]]:
    """What was chosen on each configured line, by line key, as people read it: an option's
    own label ("Xeon Gold 6430"), or an attribute's with its value ("DIMM count: 8"). Only
    the choices made, not the defaults a price fills in."""
    models: dict = {}
    labels = {}
    for line in lines:
        selections, version = line.selections, line.model_version
        if line.configuration_id:
            saved = get_configuration(session, line.configuration_id)
            selections, version = saved.selections, saved.model_version
        if not selections:
            labels[line.key] = []
            continue
        if (line.product, version) not in models:
            models[line.product, version] = get_model(session, line.product, version)
        model = models[line.product, version]
        labels[line.key] = [_chosen(model.attribute(a), v) for a, v in selections.items()]
    return labels


def _chosen(attribute, value) -> str:
    info = attribute.value_info(value)
    return info.label if info is not None else f"{attribute.label}: {attribute.label_of(value)}"


def configuration_summary(session: Session, line: QuoteLine, language: str = DEFAULT) -> list[list[str]]:
    """[label, value label] of every attribute of a configured line, as it was priced (a
    partial configuration is completed with the model's defaults, like its price), in `language`."""
    selections, version = line.selections, line.model_version
    if line.configuration_id:
        saved = get_configuration(session, line.configuration_id)
        selections, version = saved.assignment or saved.selections, saved.model_version
    if not selections and version is None:
        return []
    model = get_model(session, line.product, version)
    completion = get_configurator(model).complete(selections)
    values = completion.assignment if completion.valid else selections
    worded = model.in_language(language)
    return [[worded.attribute(a).label, worded.attribute(a).label_of(v)] for a, v in values.items()]
