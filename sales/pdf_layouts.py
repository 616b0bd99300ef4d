"""WeasyPrint's Pango layouts kept from layout to drawing instead of made twice per text.

WeasyPrint 70.0 frees each text box's Pango layout once the text is laid out
(`Layout.deactivate`) and builds it again to draw the text (`Layout.reactivate`: a Pango
context, font description, features and the text set again), to save memory. A 200-line quote
draws about 2,400 texts, so every one of them pays the setup twice. Here the layout stays:
`deactivate` keeps it and `reactivate` only lifts the wrapping width, as a new layout has none.
A text that drawing justifies (its word spacing changes) or that is drawn with another style
gets a new layout, as before. The same bytes (tests/test_documents.py); the layouts live as
long as the document's boxes, which the render keeps to the end anyway: about 17 MiB more at
the peak of a 1,000-line quote (194 against 177 MiB).

Written for WeasyPrint 70.0 only: `install` does nothing on another version. Installed once
per process, before the first render (sales/documents.py).
"""

from __future__ import annotations

import weasyprint
from weasyprint.text import line_break
from weasyprint.text.ffi import pango

WEASYPRINT_VERSION = "70.0"
Layout = line_break.Layout
STOCK = (Layout.deactivate, Layout.reactivate)


def keep(layout) -> None:
    """Keep the Pango layout for drawing."""


def reuse(layout, style) -> None:
    """The kept layout, unwrapped, if it still fits what is drawn; else WeasyPrint's new one."""
    if layout.justification_spacing or style is not layout.style or not hasattr(layout, "layout"):
        STOCK[1](layout, style)
    else:
        pango.pango_layout_set_width(layout.layout, -1)


def install(version: str = weasyprint.__version__) -> bool:
    """Keep layouts if WeasyPrint is the version this was written for."""
    if version != WEASYPRINT_VERSION:
        return False
    Layout.deactivate, Layout.reactivate = keep, reuse
    return True
