"""Pricing engine benchmark: quotes of 10 / 100 / 1,000 / 10,000 lines against 500 rules.

Targets (the pricing issue): a 1,000-line quote against 500 rules priced in <= 100 ms;
10,000 lines in <= 1 s; scaling shown for 10/100/1k/10k lines.

The rule set, price book and quotes come from bench/pricing_generate.py (seeded): 500 rules
of every kind (product, tier, segment, customer, channel, volume tiers in all three modes,
contract prices, USD/EUR amounts, surcharges, promo codes, bundles, free items, floors,
attribute and quantity conditions, date windows, quote-level rules; all four stacking modes),
10 promotions, an approval policy, and a USD price book of 200 products (one-time, annual
and monthly charges), all loaded through the real loaders.

"Pricing" is `rules.engine.price_quote` alone, on LineInputs built beforehand with
`book.list_price(product, values)`: each size is priced once to warm up (the first call also
fills the rule set's per-product rule cache; it is shown as "first"), then a new quote of that
size (other lines, so other bundles and totals) is priced in each of several repetitions:
process CPU time (the target) and wall time, median of at least 5, with lines/s. Repricing the
first quote, which finds everything the rule set kept for it, is shown apart. One priced
1,000-line quote is then
checked (waterfalls and totals reconcile to the cent) and described, so the figures are seen
to come from real work. The service path `rules.pricing.price_draft` (price book and rule
set from the database, every line resolved, promo usage read) is timed separately for
1,000-line plain-product requests (a new draft each time) against a temporary SQLite database.

    .venv/bin/python bench/pricing.py                 # full run, about a minute
    .venv/bin/python bench/pricing.py --quick         # fewer repetitions, no 10,000-line quote
    .venv/bin/python bench/pricing.py --profile       # also cProfile price_quote at 1k and 10k lines
    .venv/bin/python bench/pricing.py --seed 7 --json out.json
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):     # first even when PYTHONPATH names it: bench/configurator.py would
    sys.path.insert(0, str(ROOT))  # shadow the configurator package that the service path imports

from bench import pricing_catalog as pc  # noqa: E402
from bench import pricing_generate as pg  # noqa: E402

TARGETS_MS = {1_000: 100.0, 10_000: 1_000.0}
SIZES = (10, 100, 1_000, 10_000)
REPS = {10: 200, 100: 50, 1_000: 15, 10_000: 5}
QUICK_REPS = {10: 30, 100: 10, 1_000: 7}
SERVICE_LINES = 1_000


# ---- inputs -------------------------------------------------------------------------------

def build_lines(book, qlines):
    from rules.results import LineInput, ManualDiscount
    prices = {}
    out = []
    for q in qlines:
        key = (q.product, tuple(sorted(q.values.items())))
        lp = prices.get(key)
        if lp is None:
            lp = prices[key] = book.list_price(q.product, q.values)
        discount = None
        if q.discount_percent is not None:
            discount = ManualDiscount(percent=q.discount_percent)
        elif q.discount_amount is not None:
            discount = ManualDiscount(amount=q.discount_amount)
        out.append(LineInput(q.id, q.product, Decimal(q.quantity), lp, q.values, q.term_months, discount))
    return out


def quote_input(book):
    from rules.results import ManualDiscount, QuoteInput
    f = pc.QUOTE_FACTS
    return QuoteInput(book.currency.code, pc.DAY, f["customer"], f["segment"], f["tier"], f["channel"],
                      pg.PROMO_CODES, f["payment_terms"], ManualDiscount(percent=Decimal("2.5")),
                      {"SUMMER26": (12, 0), "HWLAUNCH": (40, 1)})


# ---- measurement --------------------------------------------------------------------------

def timed(fn, reps: int, cpu: list | None = None) -> list[float]:
    """Wall-clock seconds of `reps` calls; the process CPU seconds go to `cpu` when given
    (CPU time is not inflated by other processes taking the cores)."""
    out = []
    for _ in range(reps):
        c, t = time.process_time(), time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return out


def check_and_describe(result, lines_in) -> dict:
    """Reconcile the priced quote to the cent and count what the engine did."""
    from core.money import ZERO
    errors = []
    for ln in result.lines:
        if ln.list_total - sum((s.amount for s in ln.steps), ZERO) != ln.net_total:
            errors.append(f"line {ln.id}: list - steps != net")
        if ln.net_total != ln.net_total.quantize(Decimal("0.01")):
            errors.append(f"line {ln.id}: net {ln.net_total} is not in cents")
    t = result.totals
    one_time = [ln for ln in result.lines if ln.charge == "one_time"]
    if sum((ln.net_total for ln in one_time), ZERO) != t.one_time_net:
        errors.append("sum of one-time line nets != totals.one_time_net")
    if sum((ln.list_total for ln in one_time), ZERO) != t.one_time_list:
        errors.append("sum of one-time line lists != totals.one_time_list")
    for charge, amount in t.recurring.items():
        if sum((ln.net_total for ln in result.lines if ln.charge == charge), ZERO) != amount:
            errors.append(f"sum of {charge} nets != totals.recurring[{charge}]")
    if sum((ln.contract_value for ln in result.lines), ZERO) != t.contract_value:
        errors.append("sum of line contract values != totals.contract_value")
    for step in result.quote_steps:
        spread = sum((s.amount for ln in result.lines for s in ln.steps
                      if s.kind == step.kind and s.rule == step.rule), ZERO)
        if spread != step.amount:
            errors.append(f"quote step {step.rule or step.kind}: line shares {spread} != {step.amount}")
    outcomes = [o for ln in result.lines for o in ln.considered]
    applied = [o for o in outcomes if o.applied]
    kinds = Counter(s.kind for ln in result.lines for s in ln.steps)
    return {
        "input_lines": len(lines_in), "priced_lines": len(result.lines),
        "free_lines": sum(1 for ln in result.lines if ln.free_of is not None),
        "outcomes": len(outcomes), "applied": len(applied),
        "distinct_applied": len({o.rule for o in applied}),
        "lines_with_rule": sum(1 for ln in result.lines if any(o.applied for o in ln.considered)),
        "steps": dict(kinds), "quote_steps": [(s.rule or s.kind, str(s.amount)) for s in result.quote_steps],
        "quote_rules_applied": sum(1 for o in result.quote_considered if o.applied),
        "promotions": [(o.rule, o.applied) for o in result.promotions],
        "one_time_list": str(t.one_time_list), "one_time_net": str(t.one_time_net),
        "recurring": {k: str(v) for k, v in t.recurring.items()},
        "contract_value": str(t.contract_value), "list_contract_value": str(t.list_contract_value),
        "discount_percent": str(t.discount_percent), "margin_percent": str(t.margin_percent),
        "approvals": [a.level for a in result.approvals], "errors": errors,
    }


def fresh_quotes(book, catalog, n: int, seed: int, count: int) -> list[list]:
    """`count` quotes of `n` lines that no quote before them shares: a rule set keeps what it
    decided for quotes with the same quote-level verdicts (RuleSet.quote_plans), and a quote
    priced again would find all of it, where a new quote (its lines and so its bundles and
    totals differ) finds only some plans (RuleSet.plans) and few of its stackings."""
    return [build_lines(book, pg.quote_lines(catalog, n, seed + 7 * k)) for k in range(1, count + 1)]


def engine_bench(rs, book, catalog, args) -> tuple[list[dict], dict]:
    from rules.engine import price_quote
    quote = quote_input(book)
    sizes = [n for n in SIZES if not (args.quick and n == 10_000)]
    reps = QUICK_REPS if args.quick else REPS
    rows, facts = [], {}
    for n in sizes:
        lines = build_lines(book, pg.quote_lines(catalog, n, args.seed))
        t = time.perf_counter()
        price_quote(rs, book, quote, lines)                   # warm-up (fills the rule cache once)
        first = time.perf_counter() - t
        no_gc_reps = max(2, reps[n] // 3) if n >= 1_000 else 0
        quotes = iter(fresh_quotes(book, catalog, n, args.seed, reps[n] + no_gc_reps))
        cpu: list[float] = []
        times = timed(lambda: price_quote(rs, book, quote, next(quotes)), reps[n], cpu)
        mn, med = min(times), statistics.median(times)
        again_cpu: list[float] = []                           # diagnostic: the first quote priced again
        timed(lambda: price_quote(rs, book, quote, lines), max(3, reps[n] // 3), again_cpu)
        no_gc = None
        if no_gc_reps:                                        # diagnostic: the garbage collector's share
            gc.collect()
            gc.disable()
            try:
                no_gc = statistics.median(timed(lambda: price_quote(rs, book, quote, next(quotes)), no_gc_reps))
            finally:
                gc.enable()
        target = TARGETS_MS.get(n)
        cpu_med = statistics.median(cpu) * 1000
        row = {"lines": n, "reps": len(times), "first_ms": first * 1000, "min_ms": mn * 1000,
               "median_ms": med * 1000, "max_ms": max(times) * 1000, "lines_per_s": n / med,
               "cpu_median_ms": cpu_med, "again_cpu_median_ms": statistics.median(again_cpu) * 1000,
               "no_gc_median_ms": None if no_gc is None else no_gc * 1000,
               "target_ms": target, "met": None if target is None else cpu_med <= target}
        rows.append(row)
        if n == 1_000:
            facts = check_and_describe(price_quote(rs, book, quote, lines), lines)
        del lines, quotes                                     # nothing of this size stays alive
        print(f"  {n:>6,} lines: first {fmt(row['first_ms'])} ms; {len(times)} new quotes: "
              f"CPU median {fmt(cpu_med)} ms, wall min {fmt(row['min_ms'])} ms, median {fmt(row['median_ms'])} ms, "
              f"{row['lines_per_s']:,.0f} lines/s; the first quote again: CPU median "
              f"{fmt(row['again_cpu_median_ms'])} ms"
              + ("" if no_gc is None else f" (wall median with the GC off: {fmt(no_gc * 1000)} ms)")
              + ("" if target is None else f"  target CPU <= {target:.0f} ms: {'MET' if row['met'] else 'MISSED'}"),
              flush=True)
    return rows, facts


def service_bench(generated, args) -> dict:
    """price_draft for a 1,000-line plain-product request on a fresh SQLite file."""
    import sqlalchemy as sa
    import rules.pricing as rp
    from catalog.pricebook import load_price_book_dict
    from catalog.store import save_price_book
    from core.db import create_engine, session_scope, upgrade_database
    from rules.loader import load_rule_set_dict
    from rules.pricing import LineRequest, PricingRequest, price_draft
    from rules.results import ManualDiscount
    from rules.store import save_rule_set

    reps = 5 if args.quick else 10
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="cpq-pricing-bench-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        t = time.perf_counter()
        upgrade_database(url)
        out["migrate_s"] = time.perf_counter() - t
        engine = create_engine(url)
        statements = [0]

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _count(*_a, **_k):
            statements[0] += 1

        with session_scope(engine) as session:
            save_price_book(session, load_price_book_dict(generated.price_book), activate=True)
            save_rule_set(session, load_rule_set_dict(generated.rule_set), activate=True)
        f = pc.QUOTE_FACTS

        def request_for(seed: int) -> PricingRequest:
            qlines = pg.quote_lines(generated.catalog, SERVICE_LINES, seed, configured=False)
            return PricingRequest(
                "bench-usd", tuple(LineRequest(q.product, q.quantity, id=q.id, term_months=q.term_months,
                                               discount=(ManualDiscount(percent=q.discount_percent)
                                                         if q.discount_percent is not None else
                                                         ManualDiscount(amount=q.discount_amount)
                                                         if q.discount_amount is not None else None))
                                   for q in qlines),
                rule_set="bench", day=pc.DAY, customer=f["customer"], segment=f["segment"], tier=f["tier"],
                channel=f["channel"], promo_codes=pg.PROMO_CODES, payment_terms=f["payment_terms"],
                discount=ManualDiscount(percent=Decimal("2.5")))

        # the first request, then a new draft in each repetition (one request repeated would
        # find all that the rule set kept for it: see fresh_quotes)
        requests = iter([request_for(args.seed)] + [request_for(args.seed + 7 * k) for k in range(1, reps + 1)])

        engine_time = [0.0]
        real_price_quote = rp.price_quote

        def probe(*a, **k):                      # time the engine inside the service call
            t0 = time.perf_counter()
            try:
                return real_price_quote(*a, **k)
            finally:
                engine_time[0] += time.perf_counter() - t0

        rp.price_quote = probe
        try:
            def once():
                engine_time[0], statements[0] = 0.0, 0
                request = next(requests)
                c0, t0 = time.process_time(), time.perf_counter()
                with session_scope(engine) as session:
                    result = price_draft(session, request)
                return (time.perf_counter() - t0, engine_time[0], statements[0], result,
                        time.process_time() - c0)

            first, first_engine, first_sql, result, _ = once()  # cold: builds documents, resolves lines
            runs = []
            for _ in range(reps):                              # keep no result alive between requests
                wall, eng, sql, _, cpu = once()
                runs.append((wall, eng, sql, None, cpu))
        finally:
            rp.price_quote = real_price_quote
        engine.dispose()
    totals = [r[0] for r in runs]
    med = statistics.median(totals)
    med_engine = statistics.median(r[1] for r in runs)
    out.update({
        "lines": SERVICE_LINES, "reps": reps, "first_ms": first * 1000, "first_engine_ms": first_engine * 1000,
        "first_sql": first_sql, "min_ms": min(totals) * 1000, "median_ms": med * 1000,
        "median_engine_ms": med_engine * 1000, "cpu_median_ms": statistics.median(r[4] for r in runs) * 1000,
        "median_outside_ms": (med - med_engine) * 1000,
        "sql_per_request": runs[-1][2], "priced_lines": len(result.lines),
        "one_time_net": str(result.totals.one_time_net),
    })
    return out


def _code_names() -> dict:
    """Code object -> "Class.__init__" for dataclass-generated methods: they all live in
    "<string>" at line 2, so pstats would merge them into one row (and drop the others)."""
    names = {}
    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.split(".")[0] in ("rules", "catalog", "core"):
            continue
        for obj in vars(mod).values():
            if isinstance(obj, type) and hasattr(obj, "__dataclass_fields__"):
                for attr in ("__init__", "__eq__", "__hash__", "__repr__", "__setattr__"):
                    fn = obj.__dict__.get(attr)
                    code = getattr(fn, "__code__", None)
                    if code is not None and code.co_filename == "<string>":
                        names[code] = f"{obj.__qualname__}.{attr} (dataclass)"
    return names


def profile(rs, book, lines, top: int) -> tuple[str, float]:
    """cProfile one price_quote; the top functions by cumulative and by own time. Rows are
    keyed by code object (not pstats' file:line:name), so dataclass __init__s stay apart."""
    from rules.engine import price_quote
    quote = quote_input(book)
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    price_quote(rs, book, quote, lines)
    prof.disable()
    wall = time.perf_counter() - t
    names = _code_names()
    rows: dict[str, list] = {}
    for e in prof.getstats():
        code = e.code
        if isinstance(code, str):
            label = code
        else:
            label = (f"{Path(code.co_filename).name}:{code.co_firstlineno}"
                     f"({names.get(code, code.co_qualname)})")
        row = rows.setdefault(label, [0, 0, 0.0, 0.0])
        row[0] += e.callcount
        row[1] += e.reccallcount
        row[2] += e.totaltime
        row[3] += e.inlinetime
    own_total = sum(r[3] for r in rows.values())
    out = [f"profiled run {wall * 1000:.0f} ms (cProfile overhead included); own time of all rows "
           f"{own_total * 1000:.0f} ms"]
    for title, key in (("cumulative", 2), ("own time (tottime)", 3)):
        out.append(f"  by {title}:")
        out.append(f"    {'calls':>9} {'tottime ms':>10} {'cumtime ms':>10} {'own %':>6}  function")
        for label, (n, rec, cum, own) in sorted(rows.items(), key=lambda kv: -kv[1][key])[:top]:
            calls = f"{n}/{n - rec}" if rec else str(n)
            out.append(f"    {calls:>9} {own * 1000:>10.1f} {cum * 1000:>10.1f} {own / own_total * 100:>5.1f}%  {label}")
    return "\n".join(out), wall


# ---- output -------------------------------------------------------------------------------

def fmt(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.2f}"


def table(rows: list[dict]) -> str:
    head = ["lines", "reps", "first ms", "min ms", "median ms", "CPU ms", "again CPU", "GC off ms", "lines/s",
            "CPU ms/1k lines", "CPU target", "met"]
    body = []
    for r in rows:
        body.append([f"{r['lines']:,}", str(r["reps"]), fmt(r["first_ms"]), fmt(r["min_ms"]),
                     fmt(r["median_ms"]), fmt(r["cpu_median_ms"]), fmt(r["again_cpu_median_ms"]),
                     "-" if r["no_gc_median_ms"] is None else fmt(r["no_gc_median_ms"]),
                     f"{r['lines_per_s']:,.0f}", fmt(r["cpu_median_ms"] * 1000 / r["lines"]),
                     "-" if r["target_ms"] is None else f"<= {r['target_ms']:.0f} ms",
                     "-" if r["met"] is None else ("MET" if r["met"] else "MISSED")])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, no 10,000-line quote")
    ap.add_argument("--seed", type=int, default=pg.SEED, help="seed of the rule set, price book and quotes")
    ap.add_argument("--rules", type=int, default=500, help="rules in the generated rule set (500; try 5000)")
    ap.add_argument("--no-service", action="store_true", help="skip the price_draft (database) measurement")
    ap.add_argument("--profile", action="store_true", help="cProfile price_quote at 1,000 and 10,000 lines")
    ap.add_argument("--profile-top", type=int, default=15, help="rows per profile listing")
    ap.add_argument("--json", help="also write all figures to this JSON file")
    args = ap.parse_args(argv)

    from catalog.pricebook import load_price_book_dict
    from rules.loader import load_rule_set_dict

    t_all = time.perf_counter()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"pricing benchmark: seed {args.seed}, {args.rules} rules{' (quick)' if args.quick else ''}; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {load} "
          "(other processes skew the timings: compare min and median)", flush=True)
    t = time.perf_counter()
    g = pg.generate(args.seed, args.rules)
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    rs = load_rule_set_dict(g.rule_set)
    load_rs = time.perf_counter() - t
    t = time.perf_counter()
    book = load_price_book_dict(g.price_book)
    load_book = time.perf_counter() - t
    stats_copy = load_rule_set_dict(g.rule_set)           # a copy, so the first priced quote fills rs's caches
    per = [len(stats_copy.line_rules(p)) for p in g.catalog.products]
    print(f"\n== rule set: {g.summary()}")
    print(f"  generated in {gen_s * 1000:.0f} ms; load_rule_set_dict {load_rs * 1000:.0f} ms "
          f"({len(rs.rules)} rules, {len(rs.quote_rules)} quote-level); load_price_book_dict "
          f"{load_book * 1000:.0f} ms ({len(book.products)} products)")
    print(f"  candidate line rules per product (RuleSet.line_rules): min {min(per)}, "
          f"mean {statistics.fmean(per):.1f}, max {max(per)}")

    print("\n== rules.engine.price_quote (engine only; LineInputs built beforehand)", flush=True)
    rows, facts = engine_bench(rs, book, g.catalog, args)

    print("\n== sanity: one priced 1,000-line quote")
    print(f"  {facts['input_lines']} input lines -> {facts['priced_lines']} priced lines "
          f"({facts['free_lines']} free-item lines)")
    print(f"  {facts['outcomes']:,} rule outcomes recorded on lines, {facts['applied']:,} applied "
          f"({facts['distinct_applied']} distinct rules; {facts['lines_with_rule']} lines with an applied rule); "
          f"waterfall steps by kind: {facts['steps']}")
    promos = ", ".join(f"{c} {'accepted' if ok else 'refused'}" for c, ok in facts["promotions"])
    print(f"  promo codes: {promos}; "
          f"quote-level rules applied: {facts['quote_rules_applied']}; quote steps: {facts['quote_steps']}")
    print(f"  totals: one-time list {facts['one_time_list']}, net {facts['one_time_net']}; recurring "
          f"{facts['recurring']}; contract value {facts['contract_value']} of list {facts['list_contract_value']} "
          f"({facts['discount_percent']}% off); margin {facts['margin_percent']}%")
    print(f"  approvals required: {', '.join(facts['approvals']) or 'none'}")
    if facts["errors"]:
        print(f"  RECONCILIATION ERRORS: {facts['errors'][:5]}")
    else:
        print("  reconciled: every line's list - steps = net (in cents); line nets sum to the one-time, "
              "recurring and contract-value totals; quote-level steps equal their line shares")

    service = None
    if not args.no_service:
        print(f"\n== rules.pricing.price_draft (service path, {SERVICE_LINES:,} plain-product lines, "
              "temporary SQLite)", flush=True)
        service = service_bench(g, args)
        s = service
        print(f"  migrate {s['migrate_s']:.1f}s (not timed below)")
        print(f"  first request {fmt(s['first_ms'])} ms ({fmt(s['first_engine_ms'])} ms in price_quote, "
              f"{s['first_sql']} SQL statements; builds the rule set and price book from their stored JSON "
              "and resolves every line)")
        print(f"  then over {s['reps']} requests: min {fmt(s['min_ms'])} ms, median {fmt(s['median_ms'])} ms "
              f"(CPU {fmt(s['cpu_median_ms'])} ms) = "
              f"price_quote {fmt(s['median_engine_ms'])} ms + lookups/resolution {fmt(s['median_outside_ms'])} ms "
              f"({s['sql_per_request']} SQL statements per request); {s['priced_lines']} priced lines, "
              f"one-time net {s['one_time_net']}")

    print(f"\n== summary ({time.perf_counter() - t_all:.0f}s in all)")
    print(table(rows))
    for n, target in TARGETS_MS.items():
        row = next((r for r in rows if r["lines"] == n), None)
        if row is None:
            print(f"  {n:,} lines <= {target:.0f} ms CPU: not measured (--quick)")
        else:
            print(f"  {n:,} new-quote lines <= {target:.0f} ms CPU: {'MET' if row['met'] else 'MISSED'} "
                  f"(CPU median {fmt(row['cpu_median_ms'])} ms, {row['cpu_median_ms'] / target:.1f}x the target; "
                  f"wall median {fmt(row['median_ms'])} ms)")
    if service:
        print(f"  service path, {SERVICE_LINES:,} lines: median {fmt(service['median_ms'])} ms "
              f"(engine {fmt(service['median_engine_ms'])} ms)")

    profiles = {}
    if args.profile:
        for n in (1_000, 10_000):
            lines = build_lines(book, pg.quote_lines(g.catalog, n, args.seed))
            print(f"\n== cProfile: price_quote, {n:,} lines")
            profiles[n], _ = profile(rs, book, lines, args.profile_top)
            print(profiles[n])
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": args.seed, "engine": rows, "sanity": facts,
                                               "service": service, "load_rule_set_ms": load_rs * 1000,
                                               "profiles": profiles}, indent=2, default=str))
    return 1 if facts["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
