"""/api/v1/exchange-rates: the rates table on a day, one pair's rate, and the import of the
ECB's reference rates (core/fxrates.py, core/ecb.py)."""

from __future__ import annotations

from datetime import date

from flask import request

from api import fx_schemas as fx
from api.blueprint import Blueprint, db_session, declared, empty_body
from api.errors import ApiError
from core import ecb, fxrates

blp = Blueprint("exchange_rates", __name__, url_prefix="/api/v1", description="Exchange rates")

CSV_BODY = {"required": True, "content": {"text/csv": {"schema": {"type": "string", "minLength": 1}}}}


@blp.get("/exchange-rates")
@blp.requires("rates:read")
@blp.arguments(fx.RatesQuery, location="query")
@blp.response(200, fx.StoredRateSchema(many=True))
def rates_on(query):
    """Each stored pair's rate on a day: the latest on or before it."""
    with db_session() as session:
        return fxrates.rates_on(session, query["on"] or date.today())


@blp.get("/exchange-rates/<from_>/<to>")
@blp.requires("rates:read")
@blp.arguments(fx.RatesQuery, location="query")
@blp.response(200, fx.RateSchema)
def pair(query, from_, to):
    """The rate from one currency to another on a day: stored, inverted or across a common
    base (USD to GBP from the ECB's EUR rates); 422 when no rate connects them."""
    with db_session() as session:
        return fxrates.rate(session, from_, to, query["on"] or date.today(), "to")


@blp.post("/exchange-rates/import")
@blp.requires("rates:write")
@blp.response(200, fx.EcbImportSchema)
@blp.doc(requestBody=CSV_BODY)
def import_ecb():
    """Store the rates of an ECB reference-rate file (the day's eurofxref.csv or the history
    eurofxref-hist.csv) sent as text/csv; rates stored already are left alone, so sending a
    file again changes nothing. A file with any problem stores nothing (422 naming each
    problem's line and column)."""
    declared(("text/csv",))
    try:
        text = request.get_data().decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_body", "the file is not UTF-8 text", {"body": ["not UTF-8"]})
    if not text:
        raise empty_body("send the ECB's CSV file")
    with db_session() as session:
        return ecb.import_rates(session, text, "request body")
