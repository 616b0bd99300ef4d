"""/api/v1 usage: meters report usage (one record, a JSON batch, NDJSON or CSV), an account's
usage so far with its price, and rating closed periods into draft invoices.

Ingestion reads the body by its Content-Type and hands the rows to billing.usage.ingest,
which checks every row (the same rules for every format and for `cpq usage import`) and
stores all of them or none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Iterator

from flask import request

from api import usage_schemas as us
from api.blueprint import JSON_TYPES, Blueprint, app_settings, db_session, declared, empty_body, invalid, read_json
from api.errors import ApiError
from billing import rating, usage
from billing.usage_models import parse_period, period_of
from core.db import utcnow
from sales.accounts import get_account

blp = Blueprint("usage", __name__, url_prefix="/api/v1",
                description="Metered usage: ingestion, usage so far, rating closed periods")

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson")
CSV_TYPES = ("text/csv",)
MAX_RECORDS = 100_000                   # per request; `cpq usage import` streams files of any size


def _grace_days() -> int:
    return app_settings().usage_grace_days


def _period(text: str | None, now: datetime):
    return period_of(now) if text is None else parse_period(text)


def _at_most(rows: Iterable[tuple[str, Any]], limit: int) -> Iterator[tuple[str, Any]]:
    for n, row in enumerate(rows):
        if n == limit:
            raise invalid({"body": [f"at most {limit:,} records per request; send the rest in another"]})
        yield row


@blp.post("/usage")
@blp.requires("usage:write")
@blp.response(201, us.IngestedSchema)
@blp.alt_response(200, schema=us.IngestedSchema, description="every record was stored before: nothing new")
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": {"oneOf": [us.UsageRecordInSchema, us.UsageBatchInSchema]}},
    "application/x-ndjson": {"schema": {"type": "string", "minLength": 1,
                                        "description": "one usage record (JSON) per line"}},
    "text/csv": {"schema": {"type": "string", "minLength": 1,
                            "description": "a header line naming the fields, then one record per line"}}}})
def ingest():
    """Usage records: one, a batch ({"records": [...]}), or a file as NDJSON or CSV. All or
    nothing: a 422 names every bad record (`records[3].quantity`, `line 4.event_time`) and
    why. A record sent again (same account and idempotency key) is a duplicate: answered as
    such, stored once. A record for a closed period (rated, or past its grace) is refused."""
    declared(JSON_TYPES + NDJSON_TYPES + CSV_TYPES)
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise empty_body("send the usage as JSON, NDJSON or CSV")
    if request.mimetype in JSON_TYPES or request.mimetype not in NDJSON_TYPES + CSV_TYPES:
        rows = usage.json_rows(read_json(raw))
    else:
        try:
            text = raw.decode("utf-8")            # strict: a Latin-1 file is refused, not garbled
        except UnicodeDecodeError:
            raise ApiError(400, "malformed_body", "the file is not UTF-8 text", {"body": ["not UTF-8"]})
        rows = usage.file_rows(text, "csv" if request.mimetype in CSV_TYPES else "ndjson")
    with db_session() as session:
        result = usage.ingest(session, _at_most(rows, MAX_RECORDS), utcnow(), grace_days=_grace_days())
    body = {"received": result.received, "accepted": result.accepted, "duplicates": len(result.duplicates),
            "duplicate_records": [{"account": a, "idempotency_key": k} for a, k in result.duplicates]}
    return body, 201 if result.accepted else 200


@blp.get("/accounts/<code>/usage")
@blp.requires("usage:read")
@blp.arguments(us.UsageQuery, location="query")
@blp.response(200, us.RunningUsageSchema)
def account_usage(query, code):
    """The account's usage of a period per meter, priced as it stands (the current period by
    default); once rated, what rating charged and the draft invoice."""
    now = utcnow()
    with db_session() as session:
        found = rating.running_usage(session, get_account(session, code), _period(query["period"], now), now,
                                     grace_days=_grace_days())
        return {"account": found.account, "currency": found.currency, "period": found.period,
                "state": found.state, "closes_at": found.closes_at, "invoice_id": found.invoice_id,
                "total": found.total, "meters": [_meter(m) for m in found.meters]}


def _meter(m: rating.MeterUsage) -> dict:
    rated = m.rated
    priced = {} if rated is None else {
        "allowance_used": rated.allowance_used, "billable": rated.billable, "tiers": rated.steps,
        "amount": rated.amount, "minimum": rated.minimum, "true_up": rated.true_up, "total": rated.total}
    return {"meter": m.meter, "product": m.product, "name": m.name, "unit": m.unit, "records": m.records,
            "quantity": m.quantity, "price_book": m.price_book, "price_book_version": m.price_book_version,
            "problem": m.problem, "allowance_used": None, "billable": None, "tiers": None, "amount": None,
            "minimum": None, "true_up": None, "total": None} | priced


@blp.post("/usage/rate")
@blp.requires("invoices:write")
@blp.arguments(us.RateQuery, location="query")
@blp.response(200, us.RatingRunSchema(many=True))
def rate(query):
    """Rate a closed period (its grace has ended), or every period due: a draft invoice per
    account with usage. Safe to rerun: an account is rated once per period."""
    now = utcnow()
    with db_session() as session:
        if query["period"] is None:
            return rating.close_due_periods(session, now, grace_days=_grace_days())
        return [rating.rate_period(session, parse_period(query["period"]), now, grace_days=_grace_days())]
