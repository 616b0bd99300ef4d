"""Dashboard figures benchmark: `sales.analytics.figures` over many quotes, on SQLite and,
if given one, on PostgreSQL.

Set-up (not timed): 40 reps in 4 teams, 500 accounts and `--quotes` quotes (50,000 by
default), a third of them with one or two older revisions besides the latest, in every
state and in USD, EUR and JPY, each revision with a stored price (`priced`) of two to six
lines the way pricing stores it, a few KB each, so that reading the prices would show.
The rows go in with bulk inserts, a batch at a time.

Timed: `figures()` for everyone (a manager's dashboard) and for one rep's team (the
visibility filter), each in a fresh session: the first call, then the median and minimum
of `--runs` more. The figures are printed so they are seen to come from the data.

    .venv/bin/python -m bench.analytics                     # 50,000 quotes, SQLite
    .venv/bin/python -m bench.analytics --quotes 5000 --runs 3
    .venv/bin/python -m bench.analytics --postgres postgresql://postgres@127.0.0.1:5432/cpq_bench

The PostgreSQL database is created if missing and its public schema emptied first, so its
name must contain "bench".
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.postgres import fresh_postgres  # noqa: E402
from core.db import create_engine, upgrade_database  # noqa: E402
from core.users import User  # noqa: E402
from sales import access, analytics  # noqa: E402
from sales.accounts import Account  # noqa: E402
from sales.models import Quote  # noqa: E402

REPS, TEAMS, ACCOUNTS, BATCH = 40, 4, 500, 2000
STATES = {"draft": 18, "pending_approval": 5, "approved": 5, "rejected": 3, "sent": 20, "accepted": 25,
          "declined": 14, "expired": 10}
CURRENCIES = {"USD": (60, Decimal("0.01")), "EUR": (30, Decimal("0.01")), "JPY": (10, Decimal(1))}
START = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)
PRODUCTS = [("SUP-MC-Y", "Mission-critical support contract", "annual", 36),
            ("SUP-PRO-M", "ProSupport, monthly", "monthly", 12),
            ("RAIL-KIT-2U", "2U sliding rail kit (spare)", "one_time", None),
            ("rack-server", "Rack server, configured", "one_time", None),
            ("LIC-OS-Y", "Operating system licence", "annual", 24)]


# ---- the data ------------------------------------------------------------------------------

def _money(value: Decimal, quantum: Decimal) -> str:
    return str(value.quantize(quantum))


def priced(rng: random.Random, code: str, quantum: Decimal) -> tuple[dict, Decimal, Decimal]:
    """A stored price the way pricing writes it: (priced, contract value, list contract value)."""
    scale = Decimal(150) if code == "JPY" else Decimal(1)
    lines, list_cv, cv = [], Decimal(0), Decimal(0)
    for n in range(rng.randint(2, 6)):
        product, name, charge, term = rng.choice(PRODUCTS)
        quantity = rng.randint(1, 8)
        unit = (Decimal(rng.randint(4_000, 900_000)) / 100 * scale).quantize(quantum)
        periods = Decimal(term // (12 if charge == "annual" else 1)) if term else Decimal(1)
        percent = Decimal(rng.choice((0, 0, 5, 10, 15, 20, 30)))
        list_total = unit * quantity
        discount = (list_total * percent / 100).quantize(quantum)
        net = list_total - discount
        list_cv += list_total * periods
        cv += net * periods
        lines.append({
            "id": str(n + 1), "product": product, "name": name, "quantity": str(quantity), "charge": charge,
            "term_months": term, "periods": str(periods), "complete": True, "free_of": None,
            "elements": [{"kind": "product", "code": product, "label": name, "quantity": "1",
                          "unit_price": str(unit), "amount": str(unit)}],
            "list_unit_price": str(unit), "list_total": str(list_total),
            "steps": [{"kind": "manual", "rule": None, "label": f"manual discount {percent}%",
                       "amount": str(discount)}] if discount else [],
            "discount_total": str(discount), "net_total": str(net), "contract_value": str(net * periods),
            "unit_cost": str((unit * Decimal("0.4")).quantize(quantum)),
            "considered": [{"rule": "tier-gold", "applied": False, "reason": "no customer tier given (needs gold)"},
                           {"rule": "tier-platinum", "applied": False,
                            "reason": "no customer tier given (needs platinum)"},
                           {"rule": "volume-10", "applied": False, "reason": "quantity below 10"}]})
    totals = {"one_time_list": _money(list_cv, quantum), "one_time_net": _money(cv, quantum),
              "recurring": {}, "list_contract_value": _money(list_cv, quantum), "contract_value": _money(cv, quantum),
              "cost": None, "discount_percent": str(((list_cv - cv) * 100 / list_cv).quantize(Decimal("0.01"))),
              "margin": None, "margin_percent": None}
    return ({"currency": code, "date": "2026-11-01", "price_book": f"list-{code.lower()}", "price_book_version": 3,
             "rule_set": "standard", "rule_set_version": 2, "lines": lines, "totals": totals,
             "quote_steps": [], "promotions": [], "approvals": [], "warnings": []},
            Decimal(totals["contract_value"]), Decimal(totals["list_contract_value"]))


def fill(engine, quotes: int, seed: int = 1) -> int:
    """Reps, accounts and `quotes` quotes (latest revisions) with their history; the rows written."""
    rng = random.Random(seed)
    states, state_weights = list(STATES), list(STATES.values())
    codes, code_weights = list(CURRENCIES), [w for w, _q in CURRENCIES.values()]
    with Session(engine) as session:
        session.execute(sa.insert(User), [
            {"id": f"rep{i:03d}", "email": f"rep{i}@bench.example", "name": f"Rep {i:03d}", "role": "rep",
             "approval_levels": [], "team": f"team-{i % TEAMS}", "active": True, "created_at": START}
            for i in range(REPS)])
        session.execute(sa.insert(Account), [
            {"id": i + 1, "code": f"ACC{i:04d}", "name": f"Account {i}", "currency": "USD", "payment_terms": "NET30",
             "billing_address": {}, "shipping_address": {}, "created_at": START, "updated_at": START}
            for i in range(ACCOUNTS)])
        rows, written = [], 0
        for n in range(quotes):
            code = rng.choices(codes, code_weights)[0]
            owner, account = f"rep{rng.randrange(REPS):03d}", rng.randint(1, ACCOUNTS)
            created = START + timedelta(minutes=rng.randrange(0, 600 * 24 * 60), microseconds=rng.randrange(10**6))
            revisions = rng.choices((1, 2, 3), (67, 23, 10))[0]
            for revision in range(1, revisions + 1):
                latest = revision == revisions
                state = rng.choices(states, state_weights)[0] if latest else rng.choice(("sent", "rejected"))
                price, contract, listed = priced(rng, code, CURRENCIES[code][1])
                decided = (created + timedelta(minutes=rng.randrange(60, 90 * 24 * 60))
                           if state in ("accepted", "declined", "expired") else None)
                rows.append({
                    "number": f"Q-2026-{n:06d}", "revision": revision, "latest": latest, "state": state,
                    "account_id": account, "owner_id": owner, "title": f"Bench quote {n}", "currency": code,
                    "price_book": f"list-{code.lower()}", "rule_set": "standard", "payment_terms": "NET30",
                    "promo_codes": [], "expires_on": date(2027, 6, 30), "terms": "", "notes": "",
                    "priced": price, "priced_on": date(2026, 11, 1), "price_book_version": 3, "rule_set_version": 2,
                    "fingerprint": f"{n:064x}", "one_time_net": contract, "contract_value": contract,
                    "list_contract_value": listed,
                    "discount_given_percent": Decimal(price["totals"]["discount_percent"]),
                    "lock_version": 1, "created_at": created, "updated_at": created, "decided_at": decided})
                created += timedelta(days=rng.randint(1, 20), microseconds=rng.randrange(10**6))
            if len(rows) >= BATCH:
                session.execute(sa.insert(Quote), rows)
                written += len(rows)
                rows = []
        if rows:
            session.execute(sa.insert(Quote), rows)
            written += len(rows)
        session.commit()
    return written


# ---- timing --------------------------------------------------------------------------------

def time_figures(engine, runs: int, team_rep: str | None = None) -> dict:
    """The first call and `runs` more of figures() (for everyone, or as `team_rep` sees it)."""
    times, result = [], None
    for _ in range(runs + 1):
        with Session(engine) as session:
            visible = None if team_rep is None else access.quote_filter(session, session.get(User, team_rep))
            t = time.perf_counter()
            result = analytics.figures(session, visible)
            times.append(time.perf_counter() - t)
    return {"first_ms": times[0] * 1000, "median_ms": statistics.median(times[1:]) * 1000,
            "min_ms": min(times[1:]) * 1000, "figures": result}


def measure(url: str, quotes: int, runs: int) -> dict:
    upgrade_database(url)
    engine = create_engine(url)
    try:
        t = time.perf_counter()
        rows = fill(engine, quotes)
        setup = time.perf_counter() - t
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE quote"))
        with engine.connect() as conn:
            size = (conn.execute(sa.text("SELECT pg_total_relation_size('quote')")).scalar()
                    if engine.dialect.name == "postgresql" else
                    conn.execute(sa.text("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"))
                    .scalar())
        return {"quotes": quotes, "rows": rows, "setup_s": setup, "bytes": size,
                "everyone": time_figures(engine, runs), "team": time_figures(engine, runs, "rep000")}
    finally:
        engine.dispose()


def report(name: str, r: dict) -> None:
    print(f"\n== {name}: {r['quotes']:,} quotes ({r['rows']:,} revisions, {r['bytes'] / 2**20:,.0f} MB; "
          f"set-up, not timed: {r['setup_s']:.1f} s)")
    for who in ("everyone", "team"):
        t = r[who]
        print(f"  figures() for {who:<8}  first {t['first_ms']:8.1f} ms   median {t['median_ms']:8.1f} ms   "
              f"min {t['min_ms']:8.1f} ms")
    f = r["everyone"]["figures"]
    print(f"  won {f.won:,}, lost {f.lost:,}, win rate {f.win_rate} %, quote-to-close {f.cycle_days} days")
    print(f"  average deal: {', '.join(f'{v:,} {c}' for c, v in f.deal_size.items())}")
    print("  pipeline: " + ", ".join(f"{s} {n:,}" for s, (n, _v) in f.pipeline.items()))
    given = {}
    for by in f.discount_by_rep.values():
        for code, value in by.items():
            given[code] = given.get(code, 0) + value
    print(f"  discount given by {len(f.discount_by_rep)} reps: "
          + ", ".join(f"{v:,} {c}" for c, v in sorted(given.items())))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quotes", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=7, help="timed calls after the first (median, min)")
    ap.add_argument("--postgres", help="also run against this PostgreSQL database (emptied first)")
    ap.add_argument("--json", help="also write the timings to this file")
    args = ap.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="cpq-analytics-") as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/analytics.db", args.quotes, args.runs)
        report("SQLite (file)", results["sqlite"])
    if args.postgres:
        fresh_postgres(args.postgres)
        results["postgresql"] = measure(args.postgres, args.quotes, args.runs)
        report(f"PostgreSQL ({make_url(args.postgres).render_as_string(hide_password=True)})", results["postgresql"])
    if args.json:
        Path(args.json).write_text(json.dumps(
            {db: {k: v for k, v in r.items() if k not in ("everyone", "team")} |
             {who: {k: v for k, v in r[who].items() if k != "figures"} for who in ("everyone", "team")}
             for db, r in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
