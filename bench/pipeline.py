"""Quote-to-cash pipeline benchmark: quotes taken through accept -> contract -> order ->
invoice -> payment, on SQLite and on PostgreSQL, with throughput per stage.

Set-up (not timed): the demo catalog, price books, rule set, tax rates and accounts; a rep
and `--quotes` quotes of two plain lines (a rail kit and a support contract), each
submitted (no approval needed) and sent, which renders and stores its PDF.

Timed, one transaction per step as the API runs them, each quote through every stage:
  accept    the customer's e-signature through the share link (promo redemptions, audit)
  contract  the contract made, its PDF rendered and stored, signed through its link
  order     the order with its credit check (the ledger read) and lines
  invoice   the invoice drafted from the order, taxed, numbered, its PDF and EN 16931 XML
            made and validated, the ledger posted
  payment   the payment recorded, allocated, the invoice paid, the ledger posted
Every step does the real work, PDFs included; nothing is stubbed.

    .venv/bin/python bench/pipeline.py                        # 1,000 quotes, SQLite then PostgreSQL
    .venv/bin/python bench/pipeline.py --quotes 50 --sqlite-only
    .venv/bin/python bench/pipeline.py --postgres postgresql://postgres@127.0.0.1:5432/cpq_bench

The PostgreSQL database is emptied first (its name must contain "bench").
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from billing import credit, invoices, order_billing, payments  # noqa: E402
from billing.tax import load_demo_tax_rates  # noqa: E402
from catalog.store import load_demo_catalog, load_demo_price_books  # noqa: E402
from bench.postgres import fresh_postgres  # noqa: E402
from core.db import create_engine, session_scope, upgrade_database  # noqa: E402
from core.settings import DEFAULT_COMPANY, DEFAULT_DEMO_DIR  # noqa: E402
from core.users import User, create_user  # noqa: E402
from rules.store import load_demo_rule_sets  # noqa: E402
from sales import acceptance, contracts, orders, quotes, workflow  # noqa: E402
from sales.accounts import Account, load_demo_accounts  # noqa: E402
from sales.quotes import LineSpec  # noqa: E402

STAGES = ("accept", "contract", "order", "invoice", "payment")
LINES = (LineSpec("RAIL-KIT-2U", quantity=2), LineSpec("SUP-PRO-M", quantity=1))
COMPANY = dict(DEFAULT_COMPANY)


def prepare(engine, n: int, today: date) -> tuple[str, list[tuple[str, str]]]:
    """The catalog, a rep, and `n` sent quotes: (rep id, [(quote number, share token)])."""
    with session_scope(engine) as session:
        for load in (load_demo_catalog, load_demo_price_books, load_demo_rule_sets, load_demo_tax_rates,
                     load_demo_accounts):
            load(session, DEFAULT_DEMO_DIR)
        acme = session.exec(sa.select(Account).where(Account.code == "ACME")).scalar_one()
        acme.credit_limit = None                     # the credit check still reads the ledger
        rep, _ = create_user(session, "rep@bench.example", "Bench Rep", "rep")
        rep_id = rep.id
    sent = []
    for _ in range(n):
        with session_scope(engine) as session:
            rep = session.get(User, rep_id)
            quote = quotes.create_quote(session, rep, "ACME", {"title": "Pipeline"}, LINES, today)
            workflow.submit(session, rep, quote.number, today)
            _, token = workflow.send(session, rep, quote.number, today)
            sent.append((quote.number, token))
    return rep_id, sent


def run(engine, rep_id: str, sent: list[tuple[str, str]], today: date) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}

    def step(stage, action):
        t = time.perf_counter()
        with session_scope(engine) as session:
            result = action(session)
        times[stage].append(time.perf_counter() - t)
        return result

    for i, (number, token) in enumerate(sent):
        step("accept", lambda s: acceptance.accept(s, token, "Jo Buyer", "jo@acme.example", "127.0.0.1",
                                                   "bench", today))

        def contract(s):
            rep = s.get(User, rep_id)
            c, _ = contracts.create_from_quote(s, rep, number, today)
            _, link = contracts.send_for_signature(s, rep, c.number)
            contracts.sign(s, link, "Jo Buyer", "jo@acme.example", "127.0.0.1", "bench", today)
        step("contract", contract)
        order_number = step("order", lambda s: credit.place_order(
            s, s.get(User, rep_id), number, today, require_contract=True)[0].number)

        def invoice(s):
            draft = order_billing.invoice_order(s, orders.get_order(s, order_number), today)
            issued = invoices.issue(s, draft, today, company=COMPANY)
            return issued.gross_total
        gross = step("invoice", invoice)
        step("payment", lambda s: payments.record_payment(
            s, s.exec(sa.select(Account).where(Account.code == "ACME")).scalar_one(), Decimal(gross), "USD",
            "bank_transfer", f"BANK-{i:06d}", today))
    return times


def measure(url: str, n: int) -> dict:
    today = date.today()
    upgrade_database(url)
    engine = create_engine(url)
    try:
        t = time.perf_counter()
        rep_id, sent = prepare(engine, n, today)
        setup = time.perf_counter() - t
        t = time.perf_counter()
        times = run(engine, rep_id, sent, today)
        total = time.perf_counter() - t
        with session_scope(engine) as session:
            acme = session.exec(sa.select(Account).where(Account.code == "ACME")).scalar_one()
            errors = payments.check_account(session, acme.id)
    finally:
        engine.dispose()
    return {"quotes": n, "setup_s": setup, "total_s": total, "quotes_per_s": n / total,
            "stages": {s: {"total_s": sum(v), "per_s": len(v) / sum(v), "median_ms": statistics.median(v) * 1000,
                           "p95_ms": sorted(v)[int(len(v) * 0.95) - 1] * 1000 if len(v) >= 20 else max(v) * 1000}
                       for s, v in times.items()},
            "ledger_errors": errors}


def report(name: str, r: dict) -> None:
    print(f"\n== {name}: {r['quotes']} quotes in {r['total_s']:.1f} s = {r['quotes_per_s']:.1f} quotes/s "
          f"end to end (set-up, not timed: {r['setup_s']:.1f} s)")
    print(f"  {'stage':<9} {'per s':>8} {'median ms':>10} {'p95 ms':>8} {'total s':>8}")
    for stage, s in r["stages"].items():
        print(f"  {stage:<9} {s['per_s']:>8.1f} {s['median_ms']:>10.1f} {s['p95_ms']:>8.1f} {s['total_s']:>8.1f}")
    print(f"  ledger invariant: {'holds' if not r['ledger_errors'] else r['ledger_errors']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quotes", type=int, default=1000)
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/cpq_bench")
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="cpq-pipeline-") as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/pipeline.db", args.quotes)
        report("SQLite (file)", results["sqlite"])
    if not args.sqlite_only:
        fresh_postgres(args.postgres)
        results["postgresql"] = measure(args.postgres, args.quotes)
        report(f"PostgreSQL ({make_url(args.postgres).render_as_string(hide_password=True)})", results["postgresql"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
