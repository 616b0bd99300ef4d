"""Quote documents: the `doc` dict (built by `sales.quotes.document_data`) → HTML → PDF.

Plain functions with no Flask, so the API, the CLI, tests and bench/documents.py render the
same way. The HTML, the shared stylesheet (web/static/documents/quote.css) and the brand colour
fully determine the PDF. Nothing in the output depends on the clock or on randomness: the PDF dates come
from the quote's own date and its identifier from its number and revision, so the same `doc`
gives the same bytes (with the same WeasyPrint, fonts and Pango), whatever was rendered
before it in the process (tests/test_documents.py checks both).

The stylesheet is parsed once per thread, with one WeasyPrint font configuration, rather
than once per document: parsing it, loading Fontconfig's configuration and measuring the
fonts again cost an invoice about half its render. Per thread, because a font configuration
(a Pango font map and its caches) is not documented as safe to share between threads: a
worker renders one document at a time, but web threads may render drafts side by side. The
company's brand colour comes as a second small stylesheet, parsed once per colour
(`brand_rules`), not as a <style> in the HTML that WeasyPrint would parse and compile
again for every document; both are user stylesheets, and the brand rules set only colours
and backgrounds that quote.css leaves alone.

A document is rendered in `doc["language"]` (its account's, or for an issued invoice the one
it recorded; English when absent): its catalog's texts and its locale's amounts and dates
(core/locales.py, docs/i18n.md).

Templates use StrictUndefined: a key missing from `doc` is a bug in the code that built it,
and should fail loudly rather than print a blank on a customer-facing document.
"""

from __future__ import annotations

import gc
import hashlib
import re
import threading
import zlib
from decimal import Decimal
from functools import lru_cache, partial

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core import framestack, gcpause, locales
from core.locales import N_
from core.settings import PROJECT_ROOT

WEB_DIR = PROJECT_ROOT / "web"
TEMPLATE = "documents/quote.html"
STYLESHEET = WEB_DIR / "static" / "documents" / "quote.css"


# ---- formatting (Jinja filters) ----------------------------------------------------------
# Amounts, numbers and dates come from core.locales, bound to the document's language by its
# environment (_environment); the labels below are translated there too.

CHARGES = {"one_time": N_("one-time"), "monthly": N_("monthly"), "quarterly": N_("quarterly"),
           "semiannual": N_("semi-annual"), "annual": N_("annual")}


def charge(line_or_code: dict | str, gettext=str) -> str:
    """A line's (or a charge code's) label: 'one_time' → 'one-time'; the term of a recurring
    line goes on its own line in the template."""
    code = line_or_code["charge"] if isinstance(line_or_code, dict) else line_or_code
    return gettext(CHARGES[code]) if code in CHARGES else str(code).replace("_", " ")


def state(code: str) -> str:
    """A state or status as people read it: 'partially_paid' → 'Partially paid'."""
    return str(code).replace("_", " ").capitalize()


def payment_terms(code: str | None, gettext=str) -> str:
    """'net30' → 'Net 30 days'; anything else is shown readably as given."""
    if not code:
        return ""
    m = re.fullmatch(r"net[ _-]?(\d+)", code.strip(), re.IGNORECASE)
    if m:
        return gettext(N_("Net %(days)s days")) % {"days": int(m.group(1))}
    return code.replace("_", " ").capitalize()


def paragraphs(text: str | None) -> list[str]:
    """Split on blank lines; single line breaks stay inside a paragraph (CSS pre-line)."""
    if not text:
        return []
    return [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]


def address_lines(address: dict | None) -> list[str]:
    """Any subset of street / city / region / postal_code / country, as printable lines."""
    a = address or {}
    lines = [s for s in str(a.get("street") or "").splitlines() if s.strip()]
    locality = ", ".join(x for x in (a.get("city"), " ".join(
        x for x in (a.get("region"), a.get("postal_code")) if x)) if x)
    if locality:
        lines.append(locality)
    if a.get("country"):
        lines.append(a["country"])
    return lines


def config_summary(pairs) -> str:
    """[["Memory", "512 GB"], ...] → "Memory: 512 GB · ...": one text run rather than a list
    element per pair, which keeps a long quote's layout fast."""
    return " · ".join(f"{label}: {value}" for label, value in pairs)


def by_period(recurring: dict | None) -> list[tuple[str, str]]:
    """Recurring totals in period order (monthly, quarterly, ... annual), whatever the dict order."""
    order = list(CHARGES)
    return sorted((recurring or {}).items(),
                  key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))


def grouped(lines: list[dict]) -> list[tuple[str | None, list[dict]]]:
    """Lines by group in order of first appearance; ungrouped lines first, under no heading,
    so they never look as if they belonged to the group printed above them."""
    groups: dict[str | None, list[dict]] = {None: []}
    for line in lines:
        groups.setdefault(line.get("group") or None, []).append(line)
    return [(g, ls) for g, ls in groups.items() if ls]


def colour(value: str | None, default: str = "#1f4e79") -> str:
    """A CSS hex colour, or the default: the value lands in a stylesheet, where escaping
    would not stop CSS injection."""
    return value if value and re.fullmatch(r"#[0-9A-Fa-f]{3,8}", value) else default


BRAND_RULES = """.brand-bar, .lines thead th {{ background: {0}; }}
.company-name, h1, h2, .lines tr.group th {{ color: {0}; }}"""


def brand_rules(value: str | None) -> str:
    """The rules that give a document the company's colour (or the default's)."""
    return BRAND_RULES.format(colour(value))


@lru_cache(maxsize=64)
def _brand_stylesheet(rules: str):
    """Parsed once per colour. Shared between threads, like WeasyPrint's own user agent
    sheet: it holds no font."""
    from weasyprint import CSS

    return CSS(string=rules)


def is_zero(value) -> bool:
    return value is None or Decimal(str(value)) == 0


def _difference(a: str, b: str) -> str:
    return str(Decimal(str(a)) - Decimal(str(b)))


# ---- rendering ---------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _environment(language: str) -> Environment:
    """The templates in one language: its catalog for {% trans %} and _(), and filters that
    format for its locale. One environment per language, made once, so documents in several
    languages can render side by side in threads."""
    env = Environment(
        loader=FileSystemLoader(PROJECT_ROOT / "web" / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    catalog = locales.install(env, language)
    env.filters.update(charge=partial(charge, gettext=catalog.gettext),
                       payment_terms=partial(payment_terms, gettext=catalog.gettext),
                       paragraphs=paragraphs, address_lines=address_lines, grouped=grouped,
                       config_summary=config_summary, by_period=by_period)
    env.tests["zero"] = is_zero
    return env


_per_thread = threading.local()


class RegexCache(dict):
    """The cache of tinyhtml5's `chars_until` (WeasyPrint's HTML parser), made to hit.

    tinyhtml5 2.1.0 stores each regex under the compiled regex instead of the characters
    it was built for (`characters = cache[(characters, opposite)] = regex` rebinds
    `characters` first), so every call builds and compiles its regex again: half the time
    parsing a long quote's HTML. Building the same regex here on a miss makes every later
    lookup hit. tests/test_documents.py fails once tinyhtml5 caches right by itself."""

    def __missing__(self, key):
        characters, opposite = key
        chars = "".join(f"\\x{ord(c):02x}" for c in characters)
        regex = self[key] = re.compile(f"[{chars}]+" if opposite else f"[^{chars}]+")
        return regex


def _weasyprint_state():
    """This thread's (font configuration, parsed stylesheet), made on its first render."""
    state = getattr(_per_thread, "weasyprint", None)
    if state is None:  # the heavy imports (Pango, fonts) are only paid when rendering
        from tinyhtml5 import inputstream
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        from sales import pdf_layouts

        pdf_layouts.install()
        if type(inputstream.characters_until_regex) is dict:
            inputstream.characters_until_regex = RegexCache()
        fonts = FontConfiguration()
        state = _per_thread.weasyprint = (fonts, CSS(filename=str(STYLESHEET), font_config=fonts))
    return state


def render_html(doc: dict, template: str = TEMPLATE) -> str:
    """The document (a quote unless `template` names another, such as an invoice) as one
    HTML page, which render_pdf styles with the shared stylesheet and the brand rules."""
    totals = doc["totals"]
    one_time_discount = totals.get("one_time_discount")
    if one_time_discount is None and "one_time_list" in totals:     # quotes
        one_time_discount = _difference(totals["one_time_list"], totals["one_time_net"])
    language = locales.language_of(doc.get("language"))
    return _environment(language).get_template(template).render(
        doc=doc, language=language, one_time_discount=one_time_discount)


def render_pdf(doc: dict, template: str = TEMPLATE) -> bytes:
    """The document as PDF. Deterministic: the only dates in it are the document's own (from
    the dcterms meta tags), and the file identifier is derived from its number (and revision).

    The cyclic garbage collector is paused while WeasyPrint works: its boxes and styles are
    reference cycles (about 700 objects a quote line) that stay alive until the PDF is
    written, so every collection during a render scans them for nothing, and more of them
    each time (a third of a 200-line quote's time, half of a 1,000-line one's). One
    collection of the youngest generation afterwards frees them all, in this call.

    WeasyPrint recurses deeply, and on CPython 3.11 a loop of calls across the end of a frame
    stack chunk maps and unmaps a chunk every time: it runs with room (core/framestack.py).
    The user agent stylesheet is WeasyPrint's less the pseudo-element rules that would give
    every element six unused styles (sales/pdf_ua.py), and each text's Pango layout is kept from
    layout to drawing rather than made again (sales/pdf_layouts.py)."""
    from sales.pdf_ua import LeanHTML

    fonts, stylesheet = _weasyprint_state()
    brand = _brand_stylesheet(brand_rules(doc["company"]["colour"]))
    identifier = (f"{doc['number']}/r{doc['revision']}" if "revision" in doc else doc["number"]).encode()
    html = render_html(doc, template)
    with gcpause.paused():
        pdf = framestack.call_with_room(lambda: LeanHTML(string=html, base_url=str(WEB_DIR)).write_pdf(
            stylesheets=[stylesheet, brand], font_config=fonts, pdf_identifier=identifier))
    gc.collect(0)
    return pdf


def sha256(content: bytes) -> str:
    """Hex SHA-256 of a document's bytes, recorded so an accepted PDF can be verified later."""
    return hashlib.sha256(content).hexdigest()


_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.DOTALL)
_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


def page_count(pdf: bytes) -> int:
    """Pages in a PDF, with pypdf when installed; otherwise by counting page objects, also
    inside compressed object streams (WeasyPrint puts them there)."""
    try:
        from pypdf import PdfReader
    except ImportError:
        pass
    else:
        import io
        return len(PdfReader(io.BytesIO(pdf)).pages)
    chunks = [pdf]
    for m in _STREAM.finditer(pdf):
        try:
            chunks.append(zlib.decompress(m.group(1)))
        except zlib.error:
            pass
    return sum(len(_PAGE.findall(c)) for c in chunks)
