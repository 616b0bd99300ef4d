"""Mounts the JSON API (flask-smorest, so each view's schemas also document it)."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from api import accounts, billing, configurator, errors, orders, pricing, quotes, share


def register_api(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "CPQ")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    api = Api(app)
    api.register_blueprint(configurator.blp)
    api.register_blueprint(pricing.blp)
    api.register_blueprint(accounts.blp)
    api.register_blueprint(quotes.blp)
    api.register_blueprint(share.blp)
    api.register_blueprint(orders.blp)
    api.register_blueprint(orders.signing)
    api.register_blueprint(billing.blp)
    app.register_blueprint(share.page_blp)     # the customer's web page (HTML, not /api)
    app.register_blueprint(errors.blp)  # error handlers for every API blueprint
    return api
