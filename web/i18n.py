"""The language of a page (Flask-Babel): the account's, on a page that shows one of its
documents (quote, contract, billing portal: `use_language`), otherwise on a customer's page
the language the visitor picked (`?lang=fr`, kept for the visit in a session cookie) or the best
of the browser's Accept-Language among the languages spoken (core.locales), and English on
staff pages, whose text is English. Amounts, numbers and dates on pages format
through core.locales, as the PDFs do, in the page's language.
"""

from __future__ import annotations

from functools import partial

from flask import Flask, Response, g, request
from flask_babel import Babel, Domain, get_locale, gettext, refresh

from core import locales
from sales import documents

#: blueprints (web/share.py) and endpoints (web/storefront.py) of the pages a customer reads,
#: which follow the visitor's language
CUSTOMER_PAGES = {"share", "pages.home", "pages.configure"}
#: the language a visitor picked with `?lang=`, for the rest of their visit
CHOICE_COOKIE = "cpq_lang"


def _on_customer_page() -> bool:
    return request.blueprint in CUSTOMER_PAGES or request.endpoint in CUSTOMER_PAGES


def _chosen() -> str | None:
    for value in (request.args.get("lang"), request.cookies.get(CHOICE_COOKIE)):
        if value in locales.LANGUAGES:
            return value
    return None


def _language() -> str:
    if getattr(g, "cpq_language", None):
        return g.cpq_language
    if _on_customer_page():
        return _chosen() or request.accept_languages.best_match(locales.LANGUAGES, locales.DEFAULT)
    return locales.DEFAULT


def _keep_choice(response: Response) -> Response:
    """A `?lang=` choice on a customer's page holds for the visit (a cookie without expiry)."""
    if _on_customer_page() and request.args.get("lang") in locales.LANGUAGES:
        response.set_cookie(CHOICE_COOKIE, request.args["lang"], samesite="Lax", httponly=True)
    return response


def language() -> str:
    """The language of the page being rendered."""
    return str(get_locale() or locales.DEFAULT)


def use_language(value: str | None) -> None:
    """Render this request's page in `value` (an account's language)."""
    g.cpq_language = locales.language_of(value)
    refresh()


class _Catalogs(Domain):
    """Flask-Babel's message domain, reading the catalogs core.locales compiles (no .mo files)."""

    def get_translations(self):
        return locales.translations(language())


def init_app(app: Flask) -> None:
    babel = Babel(app, locale_selector=_language, default_locale=locales.DEFAULT)
    babel.domain_instance = _Catalogs()          # overrides Babel's cached Domain of .mo files
    app.jinja_env.filters.update(money=_in_page_language(locales.money), amount=_in_page_language(locales.amount),
                                 number=_in_page_language(locales.number), day=_in_page_language(locales.day),
                                 month=_in_page_language(locales.month), timestamp=_in_page_language(locales.timestamp),
                                 charge=partial(documents.charge, gettext=gettext), by_period=documents.by_period)
    app.jinja_env.globals["page_language"] = language
    app.jinja_env.globals["language_names"] = locales.names
    app.after_request(_keep_choice)


def _in_page_language(format_):
    def in_page_language(*args):
        return format_(*args, language=language())
    return in_page_language
