"""The dashboard: sales, collections and revenue figures as server-drawn SVG charts."""

from __future__ import annotations

from datetime import date

from flask import current_app

from api.auth import caller, requires
from billing import collections, revenue
from core.db import session_scope
from core.users import User
from sales import access, analytics
from web.shell import blp, page


@blp.get("/app/dashboard")
@requires("quotes:read")
def dashboard():
    today = date.today()
    permissions = caller().permissions
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        user = session.get(User, caller().user_id)
        sales = analytics.figures(session, access.quote_filter(session, user))
        dso = collections.dso(session, today) if "collections:read" in permissions else {}
        months = revenue.report(session, None, f"{today:%Y-%m}")[-12:] if "revenue:read" in permissions else []
    charts = [_chart("outcomes", "Decided quotes", [("won", sales.won), ("lost", sales.lost)] if sales.won + sales.lost else []),
              _chart("pipeline", "Pipeline: quotes by status", [(s, n) for s, (n, _v) in sales.pipeline.items()])]
    currencies = sorted({c for _n, values in sales.pipeline.values() for c in values})
    for code in currencies:
        charts.append(_chart(f"pipeline-{code}", f"Pipeline value by status ({code})",
                             [(s, values.get(code, 0)) for s, (_n, values) in sales.pipeline.items() if values.get(code)]))
        if code in sales.deal_size:
            charts.append(_chart(f"deal-{code}", f"Average deal size ({code})", [("won quotes", sales.deal_size[code])]))
        charts.append(_chart(f"discount-{code}", f"Discount given per rep ({code})",
                             [(rep, by[code]) for rep, by in sales.discount_by_rep.items() if code in by]))
    if dso:
        charts.append(_chart("dso", "Days sales outstanding (90 days)",
                             [(code, d.value) for code, d in dso.items() if d.value is not None], " d"))
    for code in sorted({row.currency for row in months}):
        rows = [row for row in months if row.currency == code]
        charts.append(_chart(f"recognised-{code}", f"Revenue recognised per month ({code})", [(r.period, r.recognised) for r in rows]))
        charts.append(_chart(f"deferred-{code}", f"Revenue deferred at month end ({code})", [(r.period, r.deferred) for r in rows]))
    return page("pages/dashboard.html", sales=sales, charts=charts)


def _chart(chart_id: str, title: str, rows, unit: str = "") -> dict:
    return {"id": chart_id, "title": title, "rows": list(rows), "unit": unit}
