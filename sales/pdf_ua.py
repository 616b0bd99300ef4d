"""WeasyPrint's default (user agent) stylesheet without the pseudo-element rules that cost our
documents time and style nothing in them, and the HTML class that renders with it.

The stock sheet styles six pseudo-elements of *every* element (`::marker`, `::footnote-call`,
`::footnote-marker`, `::note-call`, `::note-marker`, `::note-callback`), so WeasyPrint
computes six styles per element that no box ever uses: 12,000 of a 200-line quote's 15,000
computed styles, about 8% of its render. Here `::marker` is kept for the elements that
are list items by default (li, summary), and the footnote and note rules are dropped: our
documents float nothing to a footnote or note (tests/test_documents.py checks), and a
document that does must style those itself. The PDF bytes are the same as with the stock
sheet (tested).

Imported only when a document is rendered (WeasyPrint and Pango are heavy imports).
`_ua_stylesheets` is WeasyPrint's own hook for its user agent sheets (not public API): the
test comparing bytes with the stock sheet fails if an upgrade changes it.
"""

from __future__ import annotations

from functools import lru_cache

from weasyprint import CSS, HTML
from weasyprint.html import UA, UA_COUNTER_STYLE

DROPPED = ("::footnote-call", "::footnote-marker", "::note-call", "::note-marker",
           "::note-callback")
LIST_ITEMS = "li::marker, summary::marker"


def lean_source(ua: str = UA) -> str:
    """The user agent stylesheet's text, `::marker` scoped to list items, footnote and note
    rules dropped. Each of those rules is one line in WeasyPrint's html5_ua.css."""
    lines = []
    for line in ua.splitlines():
        if line.startswith(DROPPED):
            continue
        lines.append(LIST_ITEMS + line[len("::marker"):] if line.startswith("::marker") else line)
    return "\n".join(lines)


@lru_cache(maxsize=1)
def lean_stylesheet() -> CSS:
    """Parsed once per process, like WeasyPrint's own user agent sheet (also shared between
    threads)."""
    return CSS(string=lean_source(), counter_style=UA_COUNTER_STYLE)


class LeanHTML(HTML):
    """An HTML document rendered with the lean user agent stylesheet (forms keep theirs)."""

    def _ua_stylesheets(self, forms=False):
        return [lean_stylesheet(), *super()._ua_stylesheets(forms)[1:]]
