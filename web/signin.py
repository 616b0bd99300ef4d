"""The sign-in page (the form posts to /api/v1/session)."""

from __future__ import annotations

from flask import request, url_for

from api.auth import requires
from core.permissions import PUBLIC
from web.shell import blp, page


@blp.get("/login")
@requires(PUBLIC)
def login():
    target = request.args.get("next") or url_for("pages.quotes")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("pages.quotes")                   # never redirect off the site
    return page("pages/login.html", next=target)
