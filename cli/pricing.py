"""`cpq pricebooks|rulesets check|load|list|activate`, `cpq pricebooks derive` and `cpq price`:
pricing in a terminal.

Text output is for people; `--json` prints exactly what the API returns.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Callable

import click

from api.pricing_schemas import DocumentVersionSchema
from catalog.derive import MODES, derive_price_book, parse_rounding
from catalog.pricebook import KIND as PRICE_BOOK
from catalog.pricebook import load_price_book_file
from cli.common import database, emit_json, json_option
from cli.output import quote_text
from core import versioned
from rules.loader import load_rule_set_file
from rules.model import KIND as RULE_SET
from rules.pricing import LineRequest, PricingRequest, price_draft
from rules.results import ManualDiscount
from rules.schemas import QuotePriceSchema


def _document_group(name: str, kind: str, label: str, load_file: Callable) -> click.Group:
    group = click.Group(name, help=f"Check, load, list and activate {label}s.")

    @group.command("check")
    @click.argument("file", type=click.Path(dir_okay=False))
    def check(file):
        """Validate FILE and print what it holds."""
        document = load_file(file)
        click.echo(f"{file}: {label} {document.name} version {document.version} is valid")

    @group.command("load")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--activate", is_flag=True, help="Make this version the active one.")
    def load(file, activate):
        """Load FILE as a new version (the first version of a name becomes active)."""
        document = load_file(file)
        with database() as session:
            versioned.save_document(session, kind, document.name, document.version, document.digest,
                                    document.source, activate)
            active = versioned.get_document(session, kind, document.name).version
        state = "active" if active == document.version else f"loaded; version {active} stays active"
        click.echo(f"{label} {document.name} version {document.version}: {state}")

    @group.command("list")
    @json_option
    def listing(as_json):
        """Names, versions and the active version of each."""
        with database() as session:
            documents = versioned.list_documents(session, kind)
        if as_json:
            return emit_json([{"name": d.name, "versions": list(d.versions), "active": d.active}
                              for d in documents])
        if not documents:
            click.echo(f"no {label}s loaded (try: cpq models load-demo)")
        for d in documents:
            click.echo(f"{d.name:<24} active v{d.active}  (versions: {', '.join(map(str, d.versions))})")

    @group.command("activate")
    @click.argument("document_name", metavar="NAME")
    @click.argument("version", type=click.IntRange(min=1))
    def activate(document_name, version):
        """Make VERSION of NAME the one pricing uses."""
        with database() as session:
            versioned.activate_document(session, kind, document_name, version)
        click.echo(f"{label} {document_name} version {version}: active")

    return group


pricebooks = _document_group("pricebooks", PRICE_BOOK, "price book", load_price_book_file)
rulesets = _document_group("rulesets", RULE_SET, "rule set", load_rule_set_file)


@pricebooks.command("derive")
@click.argument("source")
@click.option("--currency", "target", required=True, help="The new book's currency, e.g. EUR.")
@click.option("--name", required=True, help="The new book's name, e.g. list-eur-derived.")
@click.option("--on", "day", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The day whose exchange rate converts the prices (default: today).")
@click.option("--rounding", default="minor", show_default=True,
              help="minor (the currency's minor unit), step:0.05 (a multiple) or charm:.99 (an ending).")
@click.option("--rounding-mode", type=click.Choice(list(MODES)), default="nearest", show_default=True)
@click.option("--version", "source_version", type=click.IntRange(min=1), help="SOURCE's version (default: active).")
@click.option("--title", help="The new book's title (default: SOURCE's, in CURRENCY).")
@click.option("--activate", is_flag=True, help="Make the derived version the active one.")
@json_option
def derive(source, target, name, day, rounding, rounding_mode, source_version, title, activate, as_json):
    """A new version of price book NAME: SOURCE's prices converted at the day's exchange rate
    and rounded (the rate, its day and source and the rule are recorded in it)."""
    rule = parse_rounding(rounding, rounding_mode)
    with database() as session:
        row, created = derive_price_book(session, source, target.upper(), name, day.date() if day else date.today(),
                                         rule, source_version=source_version, title=title, activate=activate)
        active = versioned.get_document(session, PRICE_BOOK, name).version == row.version
        shown = DocumentVersionSchema().dump({"kind": row.kind, "name": row.name, "version": row.version,
                                              "digest": row.digest, "loaded_at": row.loaded_at, "active": active,
                                              "source": row.source})
    if as_json:
        return emit_json(shown)
    record = shown["source"]["derived_from"]
    state = ("active" if active else "not active") if created else "already derived with these inputs"
    click.echo(f"price book {name} version {shown['version']} ({target.upper()}): {state}")
    click.echo(f"from {record['pricebook']} version {record['version']} ({record['currency']}) at "
               f"{record['rate']} ({record['rate_source']}, effective {record['rate_on']})")


def parse_discount(text: str | None, where: str) -> ManualDiscount | None:
    """`5%` is a percentage, `100` an amount."""
    if text is None:
        return None
    try:
        if text.endswith("%"):
            return ManualDiscount(percent=Decimal(text[:-1]))
        return ManualDiscount(amount=Decimal(text))
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not a discount like 5% or 100", param_hint=where)


def parse_line(_ctx, _param, items: tuple[str, ...]) -> tuple[LineRequest, ...]:
    """`PRODUCT[:QTY] [ATTR=VALUE ...] [discount=5%] [term=36] [config=ID]`."""
    lines = []
    for index, item in enumerate(items):
        head, *rest = item.split()
        product, _, qty = head.partition(":")
        if not qty.isdigit() and qty:
            raise click.BadParameter(f"{head!r}: the quantity after ':' must be a whole number",
                                     param_hint="--line")
        options, selections = {}, {}
        for token in rest:
            key, sep, value = token.partition("=")
            if not sep:
                raise click.BadParameter(f"{token!r} is not ATTR=VALUE", param_hint="--line")
            (options if key in ("discount", "term", "config") else selections)[key] = value
        if options.get("term") is not None and not options["term"].isdigit():
            raise click.BadParameter("term= takes a number of months", param_hint="--line")
        lines.append(LineRequest(product=None if "config" in options and not product else product,
                                 quantity=int(qty or 1), selections=selections,
                                 configuration=options.get("config"), id=str(index + 1),
                                 term_months=int(options["term"]) if "term" in options else None,
                                 discount=parse_discount(options.get("discount"), "--line")))
    return tuple(lines)


@click.command()
@click.option("--book", "price_book", required=True, help="Price book name, e.g. list-usd.")
@click.option("--rule-set", default="standard", show_default=True)
@click.option("--line", "lines", multiple=True, required=True, callback=parse_line,
              metavar="'PRODUCT[:QTY] [ATTR=VALUE ...] [discount=5%] [term=36]'",
              help="A quote line; repeat for more.")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), help="Pricing date (default: today).")
@click.option("--customer", help="Customer id (for promo limits).")
@click.option("--segment")
@click.option("--tier")
@click.option("--channel")
@click.option("--promo", "promo_codes", multiple=True, help="A promo code; repeat for more.")
@click.option("--terms", "payment_terms", help="Payment terms, e.g. net30.")
@click.option("--discount", help="Header discount: 5% or an amount.")
@json_option
def price(price_book, rule_set, lines, day, customer, segment, tier, channel, promo_codes,
          payment_terms, discount, as_json):
    """Price a quote draft: the waterfall of every line, totals and approvals needed."""
    request = PricingRequest(price_book, lines, rule_set, day=day.date() if day else None,
                             customer=customer, segment=segment, tier=tier, channel=channel,
                             promo_codes=promo_codes, payment_terms=payment_terms,
                             discount=parse_discount(discount, "--discount"))
    with database() as session:
        result = price_draft(session, request)
    if as_json:
        return emit_json(QuotePriceSchema().dump(result))
    click.echo(quote_text(result))
