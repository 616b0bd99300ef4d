"""The page shell every staff and customer page shares: the `pages` blueprint (which also
serves web/static), a page rendered with the signed-in user, their CSRF token and the framing
headers, and error pages.

Views only gather what a page starts with; the pages then work through the JSON API with the
session cookie (web/static/*.js). Pages need the same permissions as the API behind them: a
page that needs a signed-in user sends anyone else to the sign-in page. Any page can be
framed by the origins in CPQ_EMBED_ORIGINS (`?embed=1` drops the navigation; docs/web.md has
the postMessage protocol); the customer's pages (web/share.py) by nobody.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from api.auth import caller
from api.blueprint import app_settings, db_session
from api.errors import ApiError
from core.errors import NotFound
from core.users import User
from core.websessions import WebSession

blp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
                static_url_path="/static")


def page(template: str, **context):
    settings = app_settings()
    who = caller()
    with db_session() as session:
        user = session.get(User, who.user_id) if who.user_id else None
        web = session.get(WebSession, who.session_id) if who.session_id else None
        context.setdefault("user", user)
    embedded = request.args.get("embed") == "1"
    html = render_template(template, company=settings.company, csrf=web.csrf_token if web else "",
                           permissions=who.permissions, embedded=embedded,
                           embed_origins=list(settings.embed_origins), **context)
    return html, 200, page_headers("'self'", *settings.embed_origins) | {"Referrer-Policy": "same-origin"}


def page_headers(*ancestors: str) -> dict[str, str]:
    """What every page answers with: who may frame it (`ancestors`, CSP frame-ancestors;
    nobody when none are named) and no MIME sniffing."""
    framers = " ".join(ancestors) or "'none'"
    return {"Content-Security-Policy": f"frame-ancestors {framers}", "X-Content-Type-Options": "nosniff"}


@blp.errorhandler(ApiError)
def _refused(exc: ApiError):
    if exc.status == 401:
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    return _error_page(exc.status, exc.message)


@blp.errorhandler(NotFound)
def _not_found(exc: NotFound):
    return _error_page(404, exc.message)


def _error_page(status: int, message: str):
    html, _status, headers = page("pages/error.html", status=status, message=message)
    return html, status, headers
