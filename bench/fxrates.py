"""Exchange-rate benchmark: importing a full-size ECB history and looking rates up, on SQLite
and, if given one, on PostgreSQL.

Set-up (not timed): a file in the ECB's eurofxref-hist.csv format as large as the real one
(`--days` working days, 6,600 by default: 1999 to 2026, the real 41 columns with the legacy
ones N/A after their euro adoption), random rates, written to a temporary folder.

Timed, CPU (process time) beside wall time: parsing it; importing it into an empty table;
importing it again (every rate found, nothing written); `--lookups` cross-rate lookups
(USD->GBP across the euro on random days) in one session.

    .venv/bin/python -m bench.fxrates
    .venv/bin/python -m bench.fxrates --days 1000 --lookups 200
    .venv/bin/python -m bench.fxrates --postgres postgresql://postgres@127.0.0.1:5432/cpq_fx_bench

The PostgreSQL database is created if missing and its public schema emptied first, so its
name must contain "bench".
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.postgres import fresh_postgres  # noqa: E402
from core import ecb  # noqa: E402
from core.db import create_engine, session_scope, upgrade_database  # noqa: E402
from core.fxrates import rate  # noqa: E402

HEADER = ("USD,JPY,BGN,CYP,CZK,DKK,EEK,GBP,HUF,LTL,LVL,MTL,PLN,ROL,RON,SEK,SIT,SKK,CHF,ISK,NOK,HRK,RUB,TRL,"
          "TRY,AUD,BRL,CAD,CNY,HKD,IDR,ILS,INR,KRW,MXN,MYR,NZD,PHP,SGD,THB,ZAR").split(",")
LEGACY = {"CYP", "EEK", "LTL", "LVL", "MTL", "ROL", "SIT", "SKK", "TRL", "HRK", "RUB"}
LAST = date(2026, 12, 4)


def history(days: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    lines, day = ["Date," + ",".join(HEADER) + ","], LAST
    while len(lines) <= days:
        if day.weekday() < 5:
            cells = ["N/A" if code in LEGACY and rng.random() < 0.8 else f"{rng.uniform(0.5, 2000):.4f}"
                     for code in HEADER]
            lines.append(f"{day.isoformat()}," + ",".join(cells) + ",")
        day -= timedelta(days=1)
    return "\n".join(lines) + "\n"


@contextmanager
def timed(label: str):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    print(f"  {label:<34} wall {time.perf_counter() - wall:7.2f} s   cpu {time.process_time() - cpu:7.2f} s")


def run(url: str, text: str, lookups: int) -> None:
    upgrade_database(url)
    engine = create_engine(url)
    with timed("parse"):
        parsed = ecb.parse(text, "eurofxref-hist.csv")
    print(f"  {len(parsed.rates):,} rates, {len(parsed.skipped)} columns skipped")
    with timed("import into an empty table"), session_scope(engine) as session:
        done = ecb.import_rates(session, text)
    print(f"  {done.created:,} stored")
    with timed("import again (no-op)"), session_scope(engine) as session:
        again = ecb.import_rates(session, text)
    print(f"  {again.created:,} stored, {again.unchanged:,} unchanged")
    rng = random.Random(2)
    days = [LAST - timedelta(days=rng.randrange(9000)) for _ in range(lookups)]
    with timed(f"{lookups} USD->GBP lookups"), session_scope(engine) as session:
        for day in days:
            rate(session, "USD", "GBP", day)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=6600)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--postgres", help="also run on this PostgreSQL database (its name must contain 'bench')")
    args = parser.parse_args()
    text = history(args.days)
    print(f"history: {args.days} days, {len(text) / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite")
        run(f"sqlite:///{Path(folder) / 'fx.db'}", text, args.lookups)
    if args.postgres:
        fresh_postgres(args.postgres)
        print("PostgreSQL")
        run(args.postgres, text, args.lookups)


if __name__ == "__main__":
    main()
