"""Quote document benchmark: a 200-line quote must render to PDF in <= 3 s.

The quote is a `doc` dict as `sales.quotes.document_data` produces it, generated here with a
seeded generator (no database): several groups plus ungrouped lines, one-time and recurring
charges (monthly / quarterly / annual with terms), configuration summaries of 5-12
attributes on a third of the lines, notes on some, USD amounts that add up. One render warms
up (font loading, template compilation; shown as "first"), then `render_pdf` is timed over
several repetitions; `render_html` alone is timed the same way.

    .venv/bin/python bench/documents.py                  # 200 lines, 5 repetitions
    .venv/bin/python bench/documents.py --quick          # 2 repetitions
    .venv/bin/python bench/documents.py --lines 500 --json out.json
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sales import documents  # noqa: E402

TARGET_S = 3.0
CENT = Decimal("0.01")
PERIODS = {"monthly": 1, "quarterly": 3, "annual": 12}
GROUPS = ["Compute", "Storage", "Networking", "Software subscriptions", "Professional services",
          "Support"]
ATTRIBUTES = [
    ("Chassis", ["1U 10 SFF", "2U 24 SFF", "2U 12 LFF", "4U GPU"]),
    ("Processor", ["Xeon Gold 6430 (32C, 2.1 GHz)", "Xeon Silver 4410Y", "EPYC 9354P"]),
    ("Memory", ["256 GB DDR5-4800 (8 × 32 GB)", "512 GB DDR5-4800", "1 TB DDR5-5600"]),
    ("Boot drive", ["2 × 480 GB M.2 RAID 1", "2 × 960 GB M.2 RAID 1"]),
    ("Data drives", ["8 × 3.84 TB NVMe", "12 × 7.68 TB NVMe", "24 × 1.92 TB SAS SSD"]),
    ("RAID controller", ["PERC H965i", "HBA 465e", "None"]),
    ("Network", ["2 × 25 GbE SFP28", "4 × 10 GbE BASE-T", "2 × 100 GbE QSFP28"]),
    ("GPU", ["None", "NVIDIA L4 × 2", "NVIDIA L40S × 4"]),
    ("Power supplies", ["2 × 1400 W Titanium", "2 × 2400 W Platinum"]),
    ("Rails", ["Sliding rails with cable arm", "Static rails"]),
    ("Management", ["iDRAC Enterprise", "iDRAC Datacenter"]),
    ("Warranty", ["3 years ProSupport NBD", "5 years ProSupport Plus 4h"]),
    ("Operating system", ["None", "RHEL 9 (customer supplied)", "Ubuntu 24.04 LTS"]),
    ("Country kit", ["US", "EU", "UK"]),
]
NAMES = ["Rack server", "Storage array", "Top-of-rack switch", "Backup appliance", "Edge node",
         "Observability platform", "Database licence", "Implementation workshop",
         "Premium support", "Training day", "Load balancer", "Object storage tier"]


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def sample_doc(lines: int = 200, seed: int = 1, draft: bool = False) -> dict:
    """A realistic quote `doc` with `lines` lines; totals reconcile with the lines."""
    rng = random.Random(seed)
    out = []
    one_time_list = one_time_net = Decimal(0)
    recurring: dict[str, Decimal] = {}
    contract = list_contract = Decimal(0)
    for i in range(1, lines + 1):
        group = None if rng.random() < 0.15 else rng.choice(GROUPS)
        charge = rng.choices(["one_time", "monthly", "quarterly", "annual"], [5, 3, 1, 2])[0]
        term = None if charge == "one_time" else rng.choice([12, 24, 36, 60])
        qty = Decimal(rng.choice([1, 1, 1, 2, 2, 4, 5, 10, 20, 50]))
        unit = (Decimal(rng.randint(1_500, 1_500_000)) / 100).quantize(CENT)
        list_total = unit * qty
        discount = (list_total * Decimal(rng.choice([0, 0, 5, 10, 12.5, 20])) / 100).quantize(CENT)
        net = list_total - discount
        periods = 1 if term is None else term // PERIODS[charge]
        configuration = []
        if i % 3 == 0:
            configuration = [[label, rng.choice(values)]
                             for label, values in rng.sample(ATTRIBUTES, rng.randint(5, 12))]
        name = rng.choice(NAMES)
        out.append({
            "key": str(i), "group": group, "name": name,
            "product": f"{name.lower().replace(' ', '')[:10]}-{rng.randint(100, 999)}",
            "quantity": str(qty), "charge": charge, "term_months": term,
            "configuration": configuration,
            "list_unit_price": _money(unit), "list_total": _money(list_total),
            "discount_total": _money(discount), "net_total": _money(net),
            "contract_value": _money(net * periods),
            "notes": "Delivery in two batches; second batch after site survey." if i % 17 == 0 else "",
        })
        if charge == "one_time":
            one_time_list += list_total
            one_time_net += net
        else:
            recurring[charge] = recurring.get(charge, Decimal(0)) + net
        contract += net * periods
        list_contract += list_total * periods
    step = (contract * Decimal("0.02")).quantize(CENT)
    contract -= step
    return {
        "company": {"name": "Northwind Systems Inc.",
                    "address": ["500 Market Street, Suite 1200", "San Francisco, CA 94105",
                                "United States"],
                    "email": "sales@northwind.example", "website": "northwind.example",
                    "colour": "#1f4e79"},
        "number": "Q-2026-00042", "revision": 3, "title": "Data centre refresh, phase 1",
        "date": "2026-11-23", "expires_on": "2026-12-23", "currency": "USD",
        "payment_terms": "net30", "draft": draft,
        "account": {"name": "Contoso Manufacturing LLC", "code": "ACC-00017", "tax_id": "US-98-7654321",
                    "billing_address": {"street": "1 Industrial Way", "city": "Columbus",
                                        "region": "OH", "postal_code": "43004", "country": "US"}},
        "owner": {"name": "Dana Whitfield", "email": "dana.whitfield@northwind.example"},
        "lines": out,
        "totals": {"one_time_list": _money(one_time_list), "one_time_net": _money(one_time_net),
                   "recurring": {k: _money(v) for k, v in sorted(recurring.items())},
                   "contract_value": _money(contract), "list_contract_value": _money(list_contract),
                   "discount_percent": _money((1 - contract / list_contract) * 100) if list_contract else "0.00"},
        "quote_steps": [{"label": "header manual discount 2%", "amount": _money(step)}],
        "terms": "\n\n".join([
            "1. Prices are in US dollars and exclude sales tax, which is added where applicable.",
            "2. Hardware ships within 30 days of order acceptance. Title passes on delivery.\n"
            "Risk passes on delivery to the address above.",
            "3. Subscriptions start on the activation date and renew for the same term unless "
            "cancelled in writing 60 days before the end of the term.",
            "4. This quote is governed by the Master Purchase Agreement between the parties.",
        ]),
        "notes": "Pricing assumes a single delivery site.\n\nInstallation is scheduled with the customer's facilities team.",
        "signature": None,
    }


def _timed(fn, reps: int) -> tuple[float, list[float], object]:
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, times, result


def service_bench(lines: int, seed: int) -> dict:
    """The real path on a temporary SQLite database with the demo catalog: create a quote of
    `lines` lines (a third configured rack servers and solar installations, the rest plain
    products), then `workflow.send`, which builds the document data from the stored revision
    (configuration summaries included), renders the PDF and stores it with its SHA-256."""
    import tempfile
    from datetime import date

    from catalog.store import load_demo_catalog, load_demo_price_books
    from core.db import create_engine, session_scope, upgrade_database
    from core.settings import DEFAULT_COMPANY, DEFAULT_DEMO_DIR
    from core.users import User, create_user
    from rules.store import load_demo_rule_sets
    from sales import quote_data, workflow
    from sales.accounts import load_demo_accounts
    from sales.quotes import LineSpec, create_quote, get_quote
    from sales.terms import load_demo_templates

    rng = random.Random(seed)
    plain = ["RAIL-KIT-2U", "SVC-DEPLOY", "SUP-PRO-M", "SUP-MC-Y", "TRAINING-DAY", "SOLAR-MON-M"]
    configured = [("rack-server", {"cpu": "xg6430", "gpu": "l4"}), ("rack-server", {"chassis": "c2u24sff"}),
                  ("rack-server", {"cpu": "e9354"}), ("solar-installation", {})]
    specs = []
    for i in range(lines):
        if i % 3 == 0:
            product, selections = configured[rng.randrange(len(configured))]
        else:
            product, selections = rng.choice(plain), {}
        specs.append(LineSpec(product, selections=selections, quantity=rng.randint(1, 20),
                              group=GROUPS[i % len(GROUPS)]))
    today = date.today()
    with tempfile.TemporaryDirectory(prefix="cpq-doc-bench-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade_database(url)
        engine = create_engine(url)
        with session_scope(engine) as session:
            for load in (load_demo_catalog, load_demo_price_books, load_demo_rule_sets,
                         load_demo_templates, load_demo_accounts):
                load(session, DEFAULT_DEMO_DIR)
            rep, _ = create_user(session, "rep@bench.example", "Bench Rep", "rep")
            rep_id = rep.id
            t = time.perf_counter()
            quote = create_quote(session, rep, "ACME", {"title": "Benchmark quote"}, specs, today)
            created = time.perf_counter() - t
            number = quote.number
            admin, _ = create_user(session, "admin@bench.example", "Bench Admin", "admin")
            workflow.submit(session, rep, number, today)     # the workflow is not what is measured
            for step in workflow.steps_of(session, quote):
                workflow.decide(session, admin, number, step.level, True, "bench")
        with session_scope(engine) as session:
            quote = get_quote(session, number)
            t = time.perf_counter()
            quote_data.document_data(session, quote, dict(DEFAULT_COMPANY), draft=False)
            data = time.perf_counter() - t
        with session_scope(engine) as session:
            rep = session.get(User, rep_id)
            t = time.perf_counter()
            workflow.send(session, rep, number, today)
            sent = time.perf_counter() - t
        engine.dispose()
    return {"lines": lines, "create_and_price_s": created, "document_data_s": data, "send_s": sent}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions (default 5)")
    ap.add_argument("--quick", action="store_true", help="2 repetitions")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--no-service", action="store_true",
                    help="skip the real path (a quote in a temporary database, then send)")
    args = ap.parse_args(argv)
    reps = args.reps or (2 if args.quick else 5)

    doc = sample_doc(args.lines, args.seed)
    configured = sum(1 for line in doc["lines"] if line["configuration"])
    print(f"quote: {args.lines} lines, {configured} with configuration summaries, "
          f"{len({line['group'] for line in doc['lines']})} groups (incl. ungrouped), seed {args.seed}")

    h_first, h_times, html = _timed(lambda: documents.render_html(doc), reps)
    p_first, p_times, pdf = _timed(lambda: documents.render_pdf(doc), reps)
    pages = documents.page_count(pdf)
    deterministic = documents.render_pdf(doc) == pdf
    pdf_min, pdf_median = min(p_times), statistics.median(p_times)
    met = pdf_median <= TARGET_S

    print(f"render_html: first {h_first * 1000:.1f} ms, min {min(h_times) * 1000:.1f} ms, "
          f"median {statistics.median(h_times) * 1000:.1f} ms ({len(html):,} chars)")
    print(f"render_pdf:  first {p_first:.3f} s, min {pdf_min:.3f} s, median {pdf_median:.3f} s "
          f"over {reps} reps")
    print(f"pdf: {pages} pages, {len(pdf):,} bytes, identical bytes on re-render: {deterministic}")
    print(f"target <= {TARGET_S:g} s: {'MET' if met else 'MISSED'} (median {pdf_median:.3f} s)")

    service = None
    if not args.no_service:
        service = service_bench(args.lines, args.seed)
        print(f"service path ({service['lines']} lines, temporary SQLite, demo catalog): create and price "
              f"{service['create_and_price_s']:.3f} s; document data {service['document_data_s']:.3f} s; "
              f"send (data + PDF + store) {service['send_s']:.3f} s  target <= {TARGET_S:g} s: "
              f"{'MET' if service['send_s'] <= TARGET_S else 'MISSED'}")

    if args.json:
        Path(args.json).write_text(json.dumps({"service": service,
            "lines": args.lines, "seed": args.seed, "reps": reps,
            "html_s": {"first": h_first, "min": min(h_times), "median": statistics.median(h_times)},
            "pdf_s": {"first": p_first, "min": pdf_min, "median": pdf_median},
            "pages": pages, "pdf_bytes": len(pdf), "deterministic": deterministic,
            "target_s": TARGET_S, "met": met,
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
