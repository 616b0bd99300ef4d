"""Flask application factory.

``flask --app api.app:create_app run`` (``make dev``) and api/wsgi.py (gunicorn, ``make run``)
call :func:`create_app` with no arguments, so everything it needs comes from the environment
(:meth:`core.settings.Settings.from_env`), and it refuses to start without SECRET_KEY.
"""

from __future__ import annotations

import dataclasses
import re

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.middleware.proxy_fix import ProxyFix

from api import auth, ops
from api.blueprint import check_request_text
from api.converters import IdConverter, KeyConverter
from core import queue
from core.db import create_engine
from core.settings import Settings

_SETTINGS_FIELDS = {f.name for f in dataclasses.fields(Settings)}


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    """Build an app.

    ``overrides`` named after a Settings field replace it (``database_url=...``); any
    other keyword goes into ``app.config`` (``TESTING=True``).
    """
    settings = settings or Settings.from_env()
    settings = dataclasses.replace(
        settings, **{k: v for k, v in overrides.items() if k in _SETTINGS_FIELDS}
    )
    settings.require_secret_key()

    app = Flask(__name__, static_folder=None)    # static files are the pages blueprint's (web/static)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config.update({k: v for k, v in overrides.items() if k not in _SETTINGS_FIELDS})
    app.extensions["cpq_settings"] = settings
    app.extensions["cpq_engine"] = engine = create_engine(settings.database_url)
    queue.bind(settings, engine)  # for tasks run in this process (CPQ_QUEUE_URL unset)

    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["key"] = KeyConverter
    ops.init_app(app)                           # first: the request id and clock start before auth
    auth.init_app(app)
    app.before_request(check_request_text)
    register_blueprints(app)
    from billing.remittance import printed
    # the customer's pages write payment references as the PDFs do (amounts: web/i18n.py)
    app.jinja_env.filters.update(printed_reference=printed)
    # Last, on purpose: extensions such as flask-smorest's Api install their own
    # HTTPException handler; registering ours afterwards keeps one error format.
    register_error_handlers(app)
    return app


def register_blueprints(app: Flask) -> None:
    """Mount the JSON API (api/v1.py, under /api/v1) and the web pages (web/)."""
    from api.v1 import register_api
    from web import register_pages

    register_api(app)
    register_pages(app)


def _error(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _code_for(exc: HTTPException) -> str:
    """'Method Not Allowed' -> 'method_not_allowed': stable and machine-readable."""
    return re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")


def register_error_handlers(app: Flask) -> None:
    """Every error leaves as ``{"error": {"code", "message"}}`` JSON, never HTML.

    These are the fallbacks; api/errors.py maps domain and validation errors more precisely.
    """

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        response = _error(exc.code or 500, _code_for(exc), exc.description or "")
        for name, value in exc.get_headers():  # e.g. Allow on 405
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        # The traceback goes to the log only: it may contain data the client must not see.
        app.logger.exception("Unhandled exception on %s %s", request.method, request.path)
        return _error(500, "internal_server_error", InternalServerError.description)
