"""A digest of every priced result, to show that a speed change to pricing changes no price.

Prices a run of quotes (10 to 1,000 lines, three sets of quote facts, some priced twice and
some through the plain path) one after another on one rule set each, for generated rule sets
of 120 to 5,000 rules and several seeds, so that whatever the rule set keeps between quotes
is exercised too, and hashes the repr of every result (Decimal exponents included). Run it
on the code before and after a change: the last line must be the same.

    .venv/bin/python bench/pricing_digest.py          # about 20 s of CPU
"""
from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):     # this tree's code, even when PYTHONPATH names another
    sys.path.insert(0, str(ROOT))

from bench import pricing as bp  # noqa: E402
from bench import pricing_generate as pg  # noqa: E402

RUNS = ((1, 120), (2, 500), (3, 2000), (pg.SEED, 5000), (5, 5000))   # (seed, rules)
SIZES = (10, 1000, 100, 1000, 1000, 10, 1000, 300, 1000)           # the quotes of a run, in order


def main() -> int:
    from catalog.pricebook import load_price_book_dict
    from rules.engine import price_quote
    from rules.loader import load_rule_set_dict
    total = hashlib.sha256()
    for seed, n_rules in RUNS:
        g = pg.generate(seed, n_rules)
        rule_set, book = load_rule_set_dict(g.rule_set), load_price_book_dict(g.price_book)
        quote = bp.quote_input(book)
        quotes = [quote, replace(quote, tier="silver", segment="smb", discount=None), replace(quote, promo_codes=())]
        digest, count, cpu = hashlib.sha256(), 0, time.process_time()
        for k, n in enumerate(SIZES):
            lines = bp.build_lines(book, pg.quote_lines(g.catalog, n, seed * 100 + k))
            for facts in quotes if k % 3 == 0 else quotes[:1]:
                for _ in range(2 if k == 1 else 1):              # the second quote priced again
                    digest.update(repr(price_quote(rule_set, book, facts, lines)).encode())
                    count += 1
            if k in (0, 2, 7):
                digest.update(repr(price_quote(rule_set, book, quote, lines, plain=True)).encode())
        print(f"seed {seed}, {n_rules} rules: {count} quotes, {digest.hexdigest()[:16]} "
              f"({time.process_time() - cpu:.1f} s CPU)", flush=True)
        total.update(digest.digest())
    print(f"all: {total.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
