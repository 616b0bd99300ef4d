"""The dashboard: sales, collections and revenue figures as server-drawn SVG charts, each
amount in its own currency or all in one reporting currency (`?currency=`, default
CPQ_REPORTING_CURRENCY) with the rates used printed under the charts (billing/reporting.py)."""

from __future__ import annotations

from datetime import date

from flask import request
from marshmallow import ValidationError

from api.auth import caller, requires
from api.blueprint import app_settings, db_session, invalid
from api.errors import flatten_messages
from api.fx_schemas import ReportingQuery, reporting_currency
from billing import collections, reporting, revenue
from core.fxrates import NoRate, rates_on
from core.users import User
from sales import access, analytics
from sales.documents import state
from web.shell import blp, page


@blp.get("/app/dashboard")
@requires("quotes:read")
def dashboard():
    today = date.today()
    permissions = caller().permissions
    settings = app_settings()
    try:
        query = ReportingQuery().load({"currency": request.args["currency"]} if request.args.get("currency") else {})
    except ValidationError as exc:
        raise invalid(flatten_messages(exc.messages)) from None
    to = reporting_currency(query, settings.reporting_currency)
    converted, problem = None, None
    with db_session() as session:
        user = session.get(User, caller().user_id)
        sales = analytics.figures(session, access.quote_filter(session, user))
        dso = collections.dso(session, today) if "collections:read" in permissions else {}
        months = revenue.report(session, None, f"{today:%Y-%m}")[-12:] if "revenue:read" in permissions else []
        offered = sorted({code for r in rates_on(session, today) for code in (r.base, r.quote)}
                         | {code for code in (to, settings.reporting_currency) if code})
        if to:
            try:
                converted = _converted(session, to, sales, dso, months, today)
            except NoRate as exc:
                problem = exc.reason
    charts = [_chart("outcomes", "Decided quotes", [("Won", sales.won), ("Lost", sales.lost)] if sales.won + sales.lost else []),
              _chart("pipeline", "Pipeline: quotes by status", [(state(s), n) for s, (n, _v) in sales.pipeline.items()])]
    charts += _charts_in(converted, dso) if converted else _charts(sales, dso, months)
    return page("pages/dashboard.html", sales=sales, charts=charts, currencies=offered, chosen=to or "",
                converted=converted, problem=problem)


def _converted(session, to, sales, dso, months, today) -> dict:
    """The figures in `to`, and every rate used (NoRate when one is missing)."""
    figures = {"sales": reporting.sales_in(session, sales, today, to),
               "dso": reporting.dso_in(session, dso, today, 90, to) if dso else None,
               "months": reporting.revenue_in(session, months, to)}
    conversions = [*(figures["dso"].conversions if figures["dso"] else []),
                   *(c for row in figures["months"] for c in row.conversions)]
    used = {*figures["sales"].rates, *(c.rate for c in conversions)}
    figures["rates"] = sorted((r for r in used if r.base != r.quote), key=lambda r: (r.base, r.requested))
    return figures


def _charts(sales, dso, months) -> list[dict]:
    """Each currency's own charts."""
    charts = []
    for code in sorted({c for _n, values in sales.pipeline.values() for c in values}):
        charts.append(_chart(f"pipeline-{code}", f"Pipeline value by status ({code})",
                             [(state(s), values.get(code, 0)) for s, (_n, values) in sales.pipeline.items() if values.get(code)]))
        if code in sales.deal_size:
            charts.append(_chart(f"deal-{code}", f"Average deal size ({code})", [("Won quotes", sales.deal_size[code])]))
        charts.append(_chart(f"discount-{code}", f"Discount given per rep ({code})",
                             [(rep, by[code]) for rep, by in sales.discount_by_rep.items() if code in by]))
    if dso:
        charts.append(_chart("dso", "Days sales outstanding (90 days)",
                             [(code, d.value) for code, d in dso.items() if d.value is not None], " d"))
    for code in sorted({row.currency for row in months}):
        rows = [row for row in months if row.currency == code]
        charts.append(_chart(f"recognised-{code}", f"Revenue recognised per month ({code})", [(r.period, r.recognised) for r in rows]))
        charts.append(_chart(f"deferred-{code}", f"Revenue deferred at month end ({code})", [(r.period, r.deferred) for r in rows]))
    return charts


def _charts_in(converted: dict, dso) -> list[dict]:
    """The charts with every currency's amounts together in the reporting currency."""
    sales, to = converted["sales"], converted["sales"].currency
    charts = [_chart(f"pipeline-{to}", f"Pipeline value by status (in {to})", [(state(s), v) for s, v in sales.pipeline.items() if v]),
              _chart(f"deal-{to}", f"Average deal size (in {to})", [("Won quotes", sales.deal_size)] if sales.deal_size else []),
              _chart(f"discount-{to}", f"Discount given per rep (in {to})", list(sales.discount_by_rep.items()))]
    if converted["dso"]:
        together = [(f"all, in {to}", converted["dso"].value)] if converted["dso"].value is not None else []
        charts.append(_chart("dso", "Days sales outstanding (90 days)",
                             [(code, d.value) for code, d in dso.items() if d.value is not None] + together, " d"))
    if converted["months"]:
        charts.append(_chart(f"recognised-{to}", f"Revenue recognised per month (in {to})",
                             [(r.period, r.recognised) for r in converted["months"]]))
        charts.append(_chart(f"deferred-{to}", f"Revenue deferred at month end (in {to})",
                             [(r.period, r.deferred) for r in converted["months"]]))
    return charts


def _chart(chart_id: str, title: str, rows, unit: str = "") -> dict:
    return {"id": chart_id, "title": title, "rows": list(rows), "unit": unit}
