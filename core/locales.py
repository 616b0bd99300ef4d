"""The customer's languages: their message catalogs, and how amounts, numbers and dates read
in each (Babel's CLDR data). Pages, PDFs, letters and e-mails all format through here, so a French
customer reads "1 234,50 €" on the page and in the PDF alike.

The catalogs are the `.po` files under web/translations (docs/i18n.md); they are compiled in
memory the first time a language is used, so no compiled `.mo` file is built or committed,
and none can be stale. English documents keep the ISO code before the amount
("USD 1,234.50", the same words and figures as before there were languages): English goes
to customers in many currency areas, where "$" alone names a dozen currencies. The other
languages follow their locale ("1 234,50 €", "1.234,50 €", "1 234,50 kr").
"""

from __future__ import annotations

import io
import threading
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, parse_pattern
from babel.support import Translations

from core.money import CurrencyError, currency
from core.settings import PROJECT_ROOT

LANGUAGES = ("en", "fr", "sv", "nl", "de")
DEFAULT = "en"
CATALOGS = PROJECT_ROOT / "web" / "translations"
DOMAIN = "messages"

_ENGLISH_MONEY = "¤¤ #,##0.00;¤¤ -#,##0.00"
#: how a date reads: ISO 8601 in English (as the documents always showed it), else the locale's
_DATE_FORMAT = {"en": "yyyy-MM-dd"}
_lock = threading.Lock()


def N_(text: str) -> str:
    """Marks `text` for the message catalogs (pybabel extract); it is translated where shown."""
    return text


class Text(str):
    """A text written in several languages, such as a product model's label or rule message
    (docs/product-model.md). It is a `str`, the text in one language (English as loaded), so
    staff pages, the CLI and logs read it as it always was; `translations` holds every language
    it is written in (English among them), empty when it was written in English only, and
    `in_language` gives it in another, English where it has none in that one."""

    translations: dict[str, str]

    def __new__(cls, text: str, translations: dict[str, str] | None = None):
        self = super().__new__(cls, text)
        self.translations = dict(translations or {})
        return self

    def in_language(self, language: str) -> "Text":
        if not self.translations:
            return self
        return Text(self.translations.get(language) or self.translations.get(DEFAULT, str(self)),
                    self.translations)


def names() -> list[tuple[str, str]]:
    """Each language with its name in itself: ('fr', 'français'), for a picker."""
    return [(code, Locale.parse(code).get_display_name(code)) for code in LANGUAGES]


def language_of(value: str | None) -> str:
    """A language this service speaks: `value` if it is one, else the default."""
    return value if value in LANGUAGES else DEFAULT


# ---- catalogs --------------------------------------------------------------------------------

def catalog_path(language: str):
    return CATALOGS / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def _compiled(language: str) -> Translations:
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog)                        # fuzzy entries stay untranslated, as pybabel compile does
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


def translations(language: str) -> Translations:
    """The compiled catalog of `language` (English, the source language, has none to apply)."""
    language = language_of(language)
    if language == DEFAULT:
        return Translations()                    # NullTranslations with Babel's extra methods
    with _lock:                                  # compiled once per process, even with threads
        return _compiled(language)


def install(env, language: str):
    """Make a Jinja environment (with the `jinja2.ext.i18n` extension) speak `language`: its
    catalog for {% trans %} and _(), and the filters `money(currency)`, `amount(currency)`,
    `number`, `day`, `month` and `timestamp` formatting for its locale. Documents, letters and e-mails
    all get their language this one way. Returns the catalog, for filters of the caller's own."""
    language = language_of(language)
    catalog = translations(language)
    env.install_gettext_translations(catalog, newstyle=True)
    env.filters.update({f.__name__: partial(f, language=language) for f in (money, amount, number, day, month, timestamp)})
    return catalog


# ---- numbers, amounts and dates -----------------------------------------------------------------

def _decimal(value) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return number


@lru_cache(maxsize=None)
def _pattern(language: str, minor_units: int, with_currency: bool):
    """The locale's currency (or plain decimal) pattern with exactly `minor_units` decimals:
    the currency's ISO 4217 minor units (CLDR's own digits for a currency sometimes differ),
    or a number's own."""
    locale = Locale.parse(language)
    if with_currency:
        source = _ENGLISH_MONEY if language == "en" else locale.currency_formats["standard"].pattern
    else:
        source = locale.decimal_formats[None].pattern
    pattern = parse_pattern(source)
    pattern.frac_prec = (minor_units, minor_units)
    return pattern


def _in_minor_units(value, currency_code: str) -> tuple[Decimal, int]:
    """An amount already in the currency's minor units gets exactly that many decimals; one
    that is not (a bug upstream) keeps all its digits rather than being silently rounded on
    a legal document. An unknown code gets two decimals."""
    number = _decimal(value)
    try:
        cur = currency(currency_code)
    except CurrencyError:
        return number, 2
    if cur.is_exact(number):
        number = number.quantize(cur.quantum)
    return number, cur.minor_units


def money(value, currency_code: str, language: str = DEFAULT) -> str:
    """'1234.5', 'EUR' → 'EUR 1,234.50' (en), '1 234,50 €' (fr), '1.234,50 €' (de); JPY with
    no decimals, KWD with three. Decimal only, never float."""
    number, minor = _in_minor_units(value, currency_code)
    language = language_of(language)
    return format_currency(number, currency_code, format=_pattern(language, minor, True), locale=language,
                           currency_digits=False, decimal_quantization=False)


def amount(value, currency_code: str, language: str = DEFAULT) -> str:
    """The amount alone, in the currency's minor units: '1234.5' USD → '1,234.50' (en), '1 234,50' (fr)."""
    number, minor = _in_minor_units(value, currency_code)
    language = language_of(language)
    return format_decimal(number, format=_pattern(language, minor, False), locale=language,
                          decimal_quantization=False)


def number(value, language: str = DEFAULT) -> str:
    """A quantity or a percentage as given, its decimals included, with the locale's
    separators: '1500' → '1,500', '16.50' → '16.50' (en), '16,50' (fr)."""
    given = _decimal(value)
    language = language_of(language)
    return format_decimal(given, format=_pattern(language, max(0, -given.as_tuple().exponent), False),
                          locale=language, decimal_quantization=False)


def day(value: date | str, language: str = DEFAULT) -> str:
    """A date: '2026-06-30' (en), '30 juin 2026' (fr), '30.06.2026' (de)."""
    if not isinstance(value, date):
        value = date.fromisoformat(str(value))
    language = language_of(language)
    return format_date(value, _DATE_FORMAT.get(language, "medium"), locale=language)


def month(value: date, language: str = DEFAULT) -> str:
    """A month standing alone: 'December 2026' (en), 'décembre 2026' (fr), 'Dezember 2026' (de)."""
    return format_date(value, "LLLL y", locale=language_of(language))


def timestamp(value: datetime | str, language: str = DEFAULT) -> str:
    """A moment: '2026-11-24 10:00 UTC' in English, the locale's date elsewhere; one without an
    offset is UTC (what the database keeps: SQLite gives it back naive); one with another
    offset says it ('UTC+0100'); text that is no ISO 8601 moment is shown as given."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    text = f"{day(value.date(), language)} {value:%H:%M}"
    if value.tzinfo is None or value.utcoffset() == timezone.utc.utcoffset(None):
        return f"{text} UTC"
    return f"{text} UTC{value:%z}"
