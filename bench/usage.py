"""Usage benchmark: ingest `--records` usage records (1,000,000 by default) for `--accounts`
accounts (10,000), then rate the period, on SQLite and, if given one, on PostgreSQL.

Set-up (not timed): the demo tax rates, a price book with one metered product (graduated
tiers with flat fees, an allowance and a minimum commitment), and the accounts, each with a
taxable address; each account uses that one metered product.

Timed:
- ingestion through `billing.usage.ingest`, the function POST /api/v1/usage calls, in
  batches of `--batch` records (10,000), each batch its own transaction as a request would be.
  The records are plain data as a JSON body gives them (text times, numbers), made before
  each batch's clock starts. Records per second, wall and CPU: this process's, and on a
  PostgreSQL server on this machine its backends' too (read from /proc), since a busy
  machine stretches the wall time. Then one batch again: every record a duplicate.
- rating the period with `billing.rating.rate_period` (one GROUP BY for the sums, a draft
  invoice per account), wall and CPU, and the figures checked: the quantities rated sum to
  the quantities sent, and each account's invoice is its price of its usage.

    .venv/bin/python -m bench.usage                                   # SQLite, 1,000,000 records
    .venv/bin/python -m bench.usage --records 100000 --accounts 1000
    .venv/bin/python -m bench.usage --postgres postgresql://postgres@127.0.0.1:5432/cpq_usage_bench

The PostgreSQL database is created if missing and its public schema emptied first, so its
name must contain "bench". `--skip-sqlite` measures PostgreSQL alone.
"""
from __future__ import annotations

import argparse
import os
import random
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

from bench.postgres import fresh_postgres  # noqa: E402
from billing import rating, usage  # noqa: E402
from billing.models import Invoice  # noqa: E402
from billing.tax import load_demo_tax_rates  # noqa: E402
from billing.usage_models import UsageCharge  # noqa: E402
from catalog.metered import rate  # noqa: E402
from catalog.pricebook import load_price_book_dict  # noqa: E402
from catalog.store import save_price_book  # noqa: E402
from core.db import create_engine, session_scope, upgrade_database  # noqa: E402
from core.money import currency  # noqa: E402
from core.settings import DEFAULT_DEMO_DIR  # noqa: E402
from sales.accounts import Account  # noqa: E402

PERIOD = date(2026, 3, 1)
RECEIVED = datetime(2026, 3, 31, 23, 0, tzinfo=timezone.utc)       # ingestion's "now": within the period
RATED = datetime(2026, 4, 5, 2, 15, tzinfo=timezone.utc)           # rating's: its grace has ended
ADDRESS = {"street": "500 Industrial Way", "city": "Austin", "region": "TX", "country": "US"}
BOOK = {"pricebook": "usage-usd", "name": "Usage (USD)", "version": 1, "currency": "USD", "products": {
    "API-CALLS": {"name": "API calls", "metered": {
        "meter": "api_calls", "unit": "call", "model": "graduated", "included": 1000, "minimum": "25.00",
        "tiers": [{"up_to": 10000, "unit_price": "0.002", "flat_fee": "5.00"},
                  {"up_to": 100000, "unit_price": "0.0015"},
                  {"unit_price": "0.001", "flat_fee": "20.00"}]}}}}


def setup(engine, accounts: int) -> None:
    with session_scope(engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        save_price_book(session, load_price_book_dict(BOOK))
        now = datetime.now(timezone.utc)
        session.execute(sa.insert(Account), [
            {"code": f"ACC{i:05d}", "name": f"Account {i}", "currency": "USD", "payment_terms": "net30",
             "price_books": [], "billing_address": ADDRESS, "shipping_address": ADDRESS, "created_at": now,
             "updated_at": now} for i in range(accounts)])


def batches(records: int, accounts: int, size: int, seed: int = 7):
    """Lists of (where, record) as a bulk JSON body gives them; and the quantity sent per account."""
    rng = random.Random(seed)
    seconds = int((RECEIVED - datetime(2026, 3, 1, tzinfo=timezone.utc)).total_seconds())
    sent = [0] * accounts
    for start in range(0, records, size):
        rows = []
        for n in range(start, min(start + size, records)):
            account = n % accounts                               # every account gets its share
            quantity = rng.randint(1, 400)
            sent[account] += quantity
            moment = datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(seconds))
            rows.append((f"records[{n - start}]", {
                "account": f"ACC{account:05d}", "meter": "api_calls", "quantity": quantity,
                "event_time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "idempotency_key": f"evt-{n:09d}"}))
        yield rows, sent


def server_cpu(engine) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends of this database, when the server
    runs on this machine (their /proc entries are readable); None otherwise."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        total = 0.0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


class Clock:
    """Wall, this process's CPU and the database backends' CPU of the blocks it times."""

    def __init__(self, engine):
        self.engine, self.wall, self.cpu, self.server = engine, 0.0, 0.0, 0.0

    def __enter__(self):
        self._start = (time.perf_counter(), time.process_time(), server_cpu(self.engine))
        return self

    def __exit__(self, *exc):
        wall, cpu, server = self._start
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        after = server_cpu(self.engine)
        self.server = None if server is None or after is None or self.server is None else \
            self.server + after - server


def ingest(engine, records: int, accounts: int, size: int) -> dict:
    clock = Clock(engine)
    accepted = 0
    first = sent = None
    for rows, sent in batches(records, accounts, size):
        first = first or rows
        with clock, session_scope(engine) as session:
            accepted += usage.ingest(session, rows, RECEIVED).accepted
    w = time.perf_counter()
    with session_scope(engine) as session:
        again = usage.ingest(session, first, RECEIVED)
    return {"clock": clock, "accepted": accepted, "sent": sent, "again": again, "again_wall": time.perf_counter() - w}


def rate_period(engine) -> dict:
    with Clock(engine) as clock, session_scope(engine) as session:
        run = rating.rate_period(session, PERIOD, RATED)
    w = time.perf_counter()
    with session_scope(engine) as session:
        again = rating.rate_period(session, PERIOD, RATED)
    return {"clock": clock, "run": run, "again": again, "again_wall": time.perf_counter() - w}


def check(engine, sent: list[int]) -> tuple[Decimal, int]:
    """The rated quantities are the quantities sent, and each invoice nets its price: the
    billed total and the number of accounts checked."""
    price = load_price_book_dict(BOOK).metered["API-CALLS"].price
    usd = currency("USD")
    with session_scope(engine) as session:
        charges = {row.account_id: row for row in session.execute(sa.select(UsageCharge.__table__))}
        nets = dict(session.execute(sa.select(Invoice.id, Invoice.net_total)).all())
        codes = dict(session.execute(sa.select(Account.id, Account.code)).all())
    total = Decimal(0)
    for account_id, charge in charges.items():
        expected = rate(price, Decimal(sent[int(codes[account_id][3:])]), usd)
        assert charge.quantity == expected.quantity, (codes[account_id], charge.quantity, expected.quantity)
        assert nets[charge.invoice_id] == expected.total, (codes[account_id], nets[charge.invoice_id], expected)
        total += expected.total
    assert len(charges) == sum(1 for q in sent if q), (len(charges), len(sent))
    return total, len(charges)


def measure(url: str, records: int, accounts: int, size: int) -> dict:
    upgrade_database(url)
    engine = create_engine(url)
    try:
        setup(engine, accounts)
        ingested = ingest(engine, records, accounts, size)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE usage_record"))
        rated = rate_period(engine)
        total, checked = check(engine, ingested["sent"])
        return {"ingest": ingested, "rate": rated, "total": total, "checked": checked}
    finally:
        engine.dispose()


def timing(clock: Clock, count: int | None = None) -> str:
    rate = (lambda s: f" ({count / s:,.0f} records/s)" if count and s else "")
    text = f"{clock.wall:.1f} s wall{rate(clock.wall)}, {clock.cpu:.1f} s CPU{rate(clock.cpu)}"
    if clock.server is not None:
        both = clock.cpu + clock.server
        text += f", database {clock.server:.1f} s CPU; both {both:.1f} s{rate(both)}"
    return text


def report(name: str, records: int, accounts: int, size: int, r: dict) -> None:
    i, t = r["ingest"], r["rate"]
    print(f"\n== {name}: {records:,} records for {accounts:,} accounts (one metered product each), "
          f"batches of {size:,}")
    print(f"  ingestion  {i['accepted']:,} stored: {timing(i['clock'], records)}")
    print(f"  again      one batch of {i['again'].received:,}: {len(i['again'].duplicates):,} duplicates, "
          f"{i['again'].accepted} stored, {i['again_wall']:.2f} s")
    print(f"  rating     {len(t['run'].invoices):,} draft invoices, {t['run'].charges:,} charges: {timing(t['clock'])}; "
          f"failed: {len(t['run'].failed)}")
    print(f"  again      {len(t['again'].invoices)} invoices, {t['again_wall']:.2f} s")
    print(f"  checked    {r['checked']:,} invoices against the price of the quantities sent: "
          f"{r['total']:,} USD net")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL database (name with 'bench')")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    shape = (args.records, args.accounts, args.batch)
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            report("SQLite", *shape, measure(f"sqlite:///{folder}/bench.db", *shape))
    if args.postgres:
        fresh_postgres(args.postgres)
        report("PostgreSQL", *shape, measure(args.postgres, *shape))


if __name__ == "__main__":
    main()
