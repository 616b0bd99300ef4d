"""The sign-in page (the form posts to /api/v1/session)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import request, url_for

from api.auth import requires
from core.permissions import PUBLIC
from web.shell import blp, page

#: what a browser drops from an address (tabs and newlines anywhere, C0 controls and spaces at its
#: ends; WHATWG URL standard) before it reads it
_DROPPED = re.compile(r"[\t\n\r]|^[\x00-\x20]+|[\x00-\x20]+$")


def _same_site(target: str | None) -> str:
    """`target` if a browser reads it as a path on this site, else the quotes list. The
    browser's reading is the one that counts: "/\\evil.test" and "/\\t/evil.test" are
    "//evil.test" to it (a backslash is a slash), another site."""
    read = _DROPPED.sub("", target or "").replace("\\", "/")
    parts = urlsplit(read)
    if not read.startswith("/") or read.startswith("//") or parts.scheme or parts.netloc \
            or any(ord(c) < 0x20 or c == "\x7f" for c in read):
        return url_for("pages.quotes")
    return read


@blp.get("/login")
@requires(PUBLIC)
def login():
    return page("pages/login.html", next=_same_site(request.args.get("next")))
