"""What a request reads of the running app, for the modules below `api.blueprint` too
(`api.auth` is imported by it, so it cannot import it back)."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import Engine

from core.settings import Settings


def app_settings(app: Flask | None = None) -> Settings:
    """The settings of `app` (default: the running one) as `create_app` was given them (the
    company, the SMTP server...): the one place that knows where the app keeps them."""
    return (app or current_app).extensions["cpq_settings"]


def app_engine(app: Flask | None = None) -> Engine:
    """The database engine `create_app` made for `app` (default: the running one): the one
    place that knows where the app keeps it."""
    return (app or current_app).extensions["cpq_engine"]
