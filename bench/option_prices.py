"""Option prices benchmark: what `POST /products/<p>/option-prices` costs per click.

Seeded click sessions on a demo product (each click picks a random value still offered for an
attribute not yet chosen), on a fresh SQLite database with the demo catalog. Each click is
first configured, as the page's click is (its propagation is then cached), and then
`rules.option_prices.option_prices` is timed: "cold", the first time that configuration is
asked for, and "repeat", the same clicks again (the next visitor, the back button). Figures
are per click, CPU (not inflated by other processes on the cores) and wall, median and p90.
The digest of every answer lets two runs (before and after a change) show the same answers.

    .venv/bin/python bench/option_prices.py                     # 6 sessions of 8 clicks
    .venv/bin/python bench/option_prices.py --sessions 12 --seed 3 --price-book list-eur --json out.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))       # first: bench/configurator.py must not stand for the package

from bench.measure import pct  # noqa: E402


def sessions(configurator, count: int, clicks: int, seed: int) -> list[list[dict]]:
    """`count` sessions, each the selections after every click (the empty one first)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        selections: dict = {}
        steps = [dict(selections)]
        for _ in range(clicks):
            open_ = [s for s in configurator.configure(selections).attributes
                     if s.id not in selections and len(s.domain) > 1]
            if not open_:
                break
            state = rng.choice(open_)
            selections[state.id] = rng.choice(state.domain)
            steps.append(dict(selections))
        out.append(steps)
    return out


def run(args) -> dict:
    from catalog.store import get_model, load_demo_catalog, load_demo_price_books
    from configurator.engine import get_configurator
    from core.db import create_engine, session_scope, upgrade_database
    from rules.option_prices import option_prices

    with tempfile.TemporaryDirectory(prefix="cpq-option-prices-bench-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade_database(url)
        engine = create_engine(url)
        with session_scope(engine) as session:
            load_demo_catalog(session)
            load_demo_price_books(session)
        with session_scope(engine) as session:
            model = get_model(session, args.product)
            configurator = get_configurator(model)
            plan = sessions(configurator, args.sessions, args.clicks, args.seed)
            answers = hashlib.sha256()
            figures: dict[str, list[tuple[float, float]]] = {"cold": [], "repeat": []}
            offered = 0
            for phase in ("cold", "repeat"):
                for steps in plan:
                    for selections in steps:
                        configurator.configure(selections)
                        c, t = time.process_time(), time.perf_counter()
                        result = option_prices(session, args.price_book, args.product, selections, args.quantity)
                        figures[phase].append((time.process_time() - c, time.perf_counter() - t))
                        if phase == "cold":
                            offered += len(result.values)
                            answers.update(repr((selections, result)).encode())
        engine.dispose()
    out = {"product": args.product, "price_book": args.price_book, "sessions": args.sessions,
           "clicks": len(figures["cold"]), "values_priced_per_click": offered / len(figures["cold"]),
           "answers_sha256": answers.hexdigest()}
    for phase, runs in figures.items():
        cpu, wall = [r[0] * 1000 for r in runs], [r[1] * 1000 for r in runs]
        out[phase] = {"cpu_median_ms": statistics.median(cpu), "cpu_p90_ms": pct(cpu, 0.9),
                      "wall_median_ms": statistics.median(wall), "wall_p90_ms": pct(wall, 0.9)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--product", default="rack-server")
    ap.add_argument("--price-book", default="list-usd")
    ap.add_argument("--quantity", type=int, default=1)
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--clicks", type=int, default=8, help="clicks per session")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    out = run(args)
    print(f"option prices of {out['product']} in {out['price_book']}: {out['clicks']} clicks, "
          f"{out['values_priced_per_click']:.1f} values priced per click")
    for phase in ("cold", "repeat"):
        f = out[phase]
        print(f"  {phase:<7} cpu median {f['cpu_median_ms']:7.1f} ms  p90 {f['cpu_p90_ms']:7.1f} ms   "
              f"wall median {f['wall_median_ms']:7.1f} ms  p90 {f['wall_p90_ms']:7.1f} ms")
    print(f"  answers sha256 {out['answers_sha256']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
