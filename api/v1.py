"""Mounts the JSON API (flask-smorest, so each view's schemas also document it)."""

from __future__ import annotations

import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask_smorest import Api

from api.auth import requires
from api.schemas import ErrorSchema
from core.permissions import PUBLIC

from api import (accounts, banking, billing, configurator, errors, exchange_rates, identity, mail, orders, portal, pricing,
                 quotes, share, storefront, subscriptions, transfer, usage, webhooks)


class CpqApi(Api):
    ERROR_SCHEMA = ErrorSchema          # documents our error body as every operation's default


def _swagger_ui_asset(filename: str):
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)


def register_api(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "CPQ")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    # the document at /api/openapi.json, and Swagger UI reading it at /api/docs, its scripts served
    # from the swagger-ui-bundle package (no CDN: the page works without the internet)
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "/docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/docs/assets/")
    app.add_url_rule("/api/docs/assets/<path:filename>", "swagger_ui_assets", requires(PUBLIC)(_swagger_ui_asset))
    api = CpqApi(app)
    api.spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer",
        "description": "a user token (cpq_…, from `cpq users add`) or an API key (cpqk_…, from `cpq keys create` "
                       "or POST /api/v1/api-keys), which acts within its scopes"})
    api.spec.components.security_scheme("session", {
        "type": "apiKey", "in": "cookie", "name": "cpq_session",
        "description": "the cookie set by POST /api/v1/session; unsafe methods also need X-CSRF-Token"})
    api.register_blueprint(configurator.blp)
    api.register_blueprint(pricing.blp)
    api.register_blueprint(accounts.blp)
    api.register_blueprint(quotes.blp)
    api.register_blueprint(share.blp)
    api.register_blueprint(orders.blp)
    api.register_blueprint(orders.signing)
    api.register_blueprint(billing.blp)
    api.register_blueprint(banking.blp)
    api.register_blueprint(portal.blp)
    api.register_blueprint(exchange_rates.blp)
    api.register_blueprint(usage.blp)
    api.register_blueprint(subscriptions.blp)
    api.register_blueprint(identity.blp)
    api.register_blueprint(webhooks.blp)
    api.register_blueprint(mail.blp)
    api.register_blueprint(transfer.blp)
    api.register_blueprint(storefront.blp)
    app.register_blueprint(errors.blp)  # error handlers for every API blueprint
    return api
