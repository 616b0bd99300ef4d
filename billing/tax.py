"""Sales tax and VAT without an external service: declarative rates, who is taxed how, and
the tax of an invoice.

The rates are a YAML document (format: docs/billing.md) stored as immutable versions like
price books (core/versioned.py, kind `tax_rates`); invoices use the active version of
`standard`. A buyer's jurisdiction comes from their billing address: the country, and for
countries whose rates are set per region (US states, Canadian provinces) the region.

Tax is computed the EN 16931 way: per group of lines with the same VAT category and rate, on
the sum of the lines' amounts, rounded once per group. Each group's tax is then allocated to
its lines (largest remainder), so line taxes, group taxes and the invoice's total reconcile
exactly. Inclusive prices extract the tax from each group's gross instead of adding it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlmodel import Session

from catalog.pricebook import TAX_CATEGORIES
from core.cache import LruCache
from core.errors import InvalidInput
from core.money import HUNDRED, ZERO, Currency, allocate
from core.settings import DEFAULT_DEMO_DIR
from core.validation import (MAX_INTEGER, Reader, digest, join, parse_yaml, read_file)
from core.versioned import DocumentVersion, built, save_document
from sales.accounts import COUNTRY_RE, SEGMENTS

KIND = "tax_rates"
STANDARD = "standard"                                   # the rates document invoices use
CATEGORIES = TAX_CATEGORIES
RATED = CATEGORIES[:-1]                                 # exempt supplies carry no tax anywhere
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
JURISDICTION_RE = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")
# EN 16931 VAT category codes (UNCL 5305) a line's tax falls under
VAT_CODES = {"S": "Standard rate", "Z": "Zero rated", "E": "Exempt", "AE": "Reverse charge"}


@dataclass(frozen=True)
class Jurisdiction:
    code: str                                  # "DE", "US-TX"; "*" for the default
    name: str
    rates: Mapping[str, Decimal]               # category -> percent
    note: str = ""                             # printed on invoices taxed here
    inclusive_segments: frozenset[str] = frozenset()   # whose prices include tax (B2C price lists)


@dataclass(frozen=True)
class Taxation:
    """How one buyer is taxed: where, whether their prices include tax, reverse charge."""
    jurisdiction: Jurisdiction
    reverse_charge: bool
    inclusive: bool
    note: str

    def rate(self, category: str, field_name: str = "tax_category") -> Decimal:
        if category not in CATEGORIES:
            raise InvalidInput(field_name, f"unknown tax category {category!r}; expected one of "
                                           f"{', '.join(CATEGORIES)}")
        if category == "exempt" or self.reverse_charge:
            return ZERO
        return self.jurisdiction.rates[category]


@dataclass(frozen=True)
class TaxRates:
    name: str
    version: int
    seller: Mapping[str, str]                  # country, region, tax_id: where the seller is established
    reverse_charge_countries: frozenset[str]
    reverse_charge_note: str
    jurisdictions: Mapping[str, Jurisdiction]
    default: Jurisdiction | None               # countries not listed; None: they are an error
    digest: str
    source: dict = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.name} version {self.version}"

    def jurisdiction(self, address: Mapping[str, str]) -> Jurisdiction:
        """The jurisdiction of a billing address: `CC-REGION` when the rates are set per region
        in that country (the country's own entry, if any, covering the other regions), else `CC`."""
        country = (address or {}).get("country")
        if not country:
            raise InvalidInput("billing_address.country", "is needed to find the tax jurisdiction")
        if any(code.startswith(country + "-") for code in self.jurisdictions):
            region = (address.get("region") or "").upper()
            if not region:
                raise InvalidInput("billing_address.region", f"is needed to find the tax jurisdiction in {country}")
            found = self.jurisdictions.get(f"{country}-{region}") or self.jurisdictions.get(country)
            if found is None:
                raise InvalidInput("billing_address.region",
                                   f"tax rates {self.label} have no rates for {country}-{region}")
            return found
        found = self.jurisdictions.get(country) or self.default
        if found is None:
            raise InvalidInput("billing_address.country", f"tax rates {self.label} have no rates for {country}")
        return found

    def taxation(self, address: Mapping[str, str], tax_id: str | None, segment: str | None) -> Taxation:
        """Reverse charge applies to a business buyer (one with a tax id) in a reverse-charge
        country other than the seller's, when the seller is in such a country too (EU
        intra-community B2B supplies); the buyer then accounts for the tax."""
        where = self.jurisdiction(address)
        country = address["country"]
        seller = self.seller["country"]
        reverse = bool(tax_id) and country != seller and {country, seller} <= self.reverse_charge_countries
        if reverse:
            return Taxation(where, True, False, self.reverse_charge_note)
        return Taxation(where, False, segment in where.inclusive_segments, where.note)


# ---- computing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaxedLine:
    category: str
    rate: Decimal
    net: Decimal
    tax: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


@dataclass(frozen=True)
class TaxGroup:
    code: str                                  # VAT category code: S, Z, E, AE
    rate: Decimal
    base: Decimal
    tax: Decimal

    def as_dict(self, cur: Currency) -> dict:
        """As stored in `invoice.tax_breakdown`: amounts as text in the currency's minor units."""
        return {"category": self.code, "label": VAT_CODES[self.code], "rate": str(self.rate),
                "base": str(cur.round(self.base)), "tax": str(cur.round(self.tax))}


@dataclass(frozen=True)
class TaxResult:
    lines: tuple[TaxedLine, ...]
    groups: tuple[TaxGroup, ...]
    net: Decimal
    tax: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


def vat_code(category: str, rate: Decimal, reverse_charge: bool) -> str:
    if category == "exempt":
        return "E"
    if reverse_charge:
        return "AE"
    return "S" if rate else "Z"


def compute(lines: Sequence[tuple[Decimal, str, Decimal]], cur: Currency, inclusive: bool,
            reverse_charge: bool) -> TaxResult:
    """Tax of lines given as (amount, category, rate %): amounts are net, or gross when
    `inclusive`, non-negative and already in the currency's minor units. Each group's tax is
    rounded once: round(base x rate) exclusive, round(gross x rate / (100 + rate)) inclusive."""
    groups: dict[tuple[str, Decimal], list[int]] = {}
    for i, (amount, category, rate) in enumerate(lines):
        if amount < 0 or not cur.is_exact(amount):
            raise ValueError(f"line amounts must be non-negative {cur.code} amounts, not {amount}")
        groups.setdefault((vat_code(category, rate, reverse_charge), rate), []).append(i)
    taxes = [ZERO] * len(lines)
    for (_code, rate), members in groups.items():
        amounts = [lines[i][0] for i in members]
        total = sum(amounts, ZERO)
        if not rate or not total:
            continue
        factor = rate / (HUNDRED + rate) if inclusive else rate / HUNDRED
        for i, part in zip(members, allocate(cur.round(total * factor), amounts, cur.quantum)):
            taxes[i] = part
    return summarise([TaxedLine(category, rate, amount - tax if inclusive else amount, tax)
                      for (amount, category, rate), tax in zip(lines, taxes)], reverse_charge)


def summarise(lines: Sequence[TaxedLine], reverse_charge: bool) -> TaxResult:
    """Group already taxed lines by VAT category and rate (the invoice's tax breakdown)."""
    groups: dict[tuple[str, Decimal], list[Decimal]] = {}
    for line in lines:
        sums = groups.setdefault((vat_code(line.category, line.rate, reverse_charge), line.rate), [ZERO, ZERO])
        sums[0] += line.net
        sums[1] += line.tax
    return TaxResult(tuple(lines), tuple(TaxGroup(code, rate, base, tax) for (code, rate), (base, tax) in groups.items()),
                     sum((ln.net for ln in lines), ZERO), sum((ln.tax for ln in lines), ZERO))


# ---- the rates file --------------------------------------------------------------------------

def load_tax_rates_file(path: str | Path) -> TaxRates:
    return load_tax_rates_dict(parse_yaml(read_file(path, KIND), str(path), KIND), file=str(path))


def load_tax_rates_dict(data: Any, file: str = "<tax rates>") -> TaxRates:
    return _Builder(file).build(data)


class _Builder(Reader):
    kind = "tax rates"

    def build(self, data: Any) -> TaxRates:
        top = self.mapping(data, "", ("tax_rates", "version", "seller", "reverse_charge", "jurisdictions", "default"))
        if top is None:
            self.check()
        name = self.text(top, "tax_rates", "", required=True, pattern=NAME_RE)
        version = self.integer(top, "version", "", required=True, minimum=1, maximum=MAX_INTEGER)
        seller = self.seller(top.get("seller"))
        countries, note = self.reverse_charge(top.get("reverse_charge"))
        jurisdictions = self.jurisdictions(top.get("jurisdictions"))
        default = self.jurisdiction("*", top["default"], "default") if "default" in top else None
        self.check()
        return TaxRates(name, version, seller, countries, note, jurisdictions, default, digest(top), top)

    def country(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not COUNTRY_RE.match(value):
            self.error(path, "expected an ISO 3166 two-letter country code in capitals")
            return ""
        return value

    def seller(self, raw: Any) -> dict[str, str]:
        if raw is None:
            self.error("seller", "is required")
            return {}
        m = self.mapping(raw, "seller", ("country", "region", "tax_id"))
        if m is None:
            return {}
        out = {"country": self.country(m.get("country"), "seller.country") if "country" in m else ""}
        if "country" not in m:
            self.error("seller.country", "is required")
        for key in ("region", "tax_id"):
            if key in m:
                out[key] = self.text(m, key, "seller")
        return out

    def reverse_charge(self, raw: Any) -> tuple[frozenset[str], str]:
        if raw is None:
            return frozenset(), ""
        m = self.mapping(raw, "reverse_charge", ("countries", "note"))
        if m is None:
            return frozenset(), ""
        countries = self.listing(m, "countries", "reverse_charge", required=True)
        note = self.text(m, "note", "reverse_charge", required=True)
        return frozenset(self.country(c, join("reverse_charge.countries", i)) for i, c in enumerate(countries)), note

    def jurisdictions(self, raw: Any) -> dict[str, Jurisdiction]:
        if not isinstance(raw, dict) or not raw:
            self.error("jurisdictions", "expected a mapping of jurisdiction codes (DE, US-TX...) to rates")
            return {}
        out = {}
        for code, body in raw.items():
            path = join("jurisdictions", code)
            if not isinstance(code, str) or not JURISDICTION_RE.match(code):
                self.error(path, f"jurisdiction codes must match {JURISDICTION_RE.pattern} (country, or country-region)")
                continue
            found = self.jurisdiction(code, body, path)
            if found is not None:
                out[code] = found
        return out

    def jurisdiction(self, code: str, raw: Any, path: str) -> Jurisdiction | None:
        m = self.mapping(raw, path, ("name", "rates", "note", "inclusive_segments"))
        if m is None:
            return None
        name = self.text(m, "name", path, required=True)
        rates = self.rates(m.get("rates"), join(path, "rates"))
        segments = self.listing(m, "inclusive_segments", path)
        for i, segment in enumerate(segments):
            if segment not in SEGMENTS:
                self.error(join(join(path, "inclusive_segments"), i), f"expected one of {', '.join(SEGMENTS)}")
        return Jurisdiction(code, name, rates, self.text(m, "note", path), frozenset(segments))

    def rates(self, raw: Any, path: str) -> dict[str, Decimal]:
        if not isinstance(raw, dict):
            self.error(path, f"expected a mapping of tax categories ({', '.join(RATED)}) to percentages")
            return {}
        out = {}
        for category, value in raw.items():
            where = join(path, category)
            if category not in RATED:
                reason = "exempt supplies are never taxed" if category == "exempt" else "unknown tax category"
                self.error(where, f"{reason}; expected one of {', '.join(RATED)}")
                continue
            rate = self.number(value, where, minimum=ZERO, maximum=HUNDRED)
            if rate is not None and rate.as_tuple().exponent < -4:
                self.error(where, "at most 4 decimals")
            elif rate is not None:
                out[category] = rate
        for category in RATED:
            if category not in raw:
                self.error(join(path, category), "is required (0 for a zero-rated category)")
        return out


# ---- stored versions -------------------------------------------------------------------------

_BUILT: LruCache[TaxRates] = LruCache()


def save_tax_rates(session: Session, rates: TaxRates, activate: bool = False) -> DocumentVersion:
    return save_document(session, KIND, rates.name, rates.version, rates.digest, rates.source, activate)


def get_tax_rates(session: Session, name: str = STANDARD, version: int | None = None) -> TaxRates:
    """Stored tax rates (the active version when `version` is None); raises NotFound."""
    return built(session, _BUILT, KIND, name, version, load_tax_rates_dict)


def load_demo_tax_rates(session: Session, directory: str | Path = DEFAULT_DEMO_DIR) -> list[DocumentVersion]:
    return [save_tax_rates(session, load_tax_rates_file(path))
            for path in sorted(Path(directory, "tax").glob("*.yaml"))]
