"""Quote-to-cash pipeline benchmark: quotes taken through accept -> contract -> order ->
invoice -> payment, with the documents rendered by real task queue workers (or in-process),
on SQLite and on PostgreSQL: throughput per stage, CPU beside wall, SQL statements per stage.

Set-up (not timed): the demo catalog, price books, rule set, tax rates and accounts; a rep
and `--quotes` quotes of two plain lines (a rail kit and a support contract), each
submitted (no approval needed) and sent; their PDFs rendered.

The request path, timed, one transaction per step as the API runs them, each quote through
every stage:
  accept    the customer's e-signature through the share link (promo redemptions, audit)
  contract  the contract made and sent for signature (its PDF asked for)
  order     the order with its credit check (the ledger read) and lines, from the accepted
            quote (CPQ_ORDERS_FROM=quote, the default: the contract is signed later)
  invoice   the invoice drafted from the order, taxed, numbered, the ledger posted (its PDF
            and EN 16931 XML asked for)
  payment   the payment recorded, allocated, the invoice paid, the ledger posted
  sign      the contract signed through its link (it waits for its PDF, so it comes last)
Rendering, timed on its own: `--workers N` real `cpq worker` processes (one task at a time
each) on a Redis queue render the contract PDFs, invoice PDFs and XML the request path asked
for; the request path sends its tasks to a queue nobody reads, and they are sent to the
workers' queue only once every worker answers, so the figure is rendering alone. With
`--workers 0` every document is rendered in the process that commits it, inside its stage
(how tests and the CLI run, and how every request ran before the queue).
Every step does the real work; nothing is stubbed. CPU is the clients' for the request path
and the worker processes' for rendering; the database server's, for the request path, is that
of the PostgreSQL processes serving the clients where the server runs on this machine.

    .venv/bin/python bench/pipeline.py --workers 1 --quotes 200          # SQLite, then PostgreSQL
    .venv/bin/python bench/pipeline.py --workers 2 --quotes 200 --postgres-only
    .venv/bin/python bench/pipeline.py --workers 0 --quotes 50 --sqlite-only   # in-process

The PostgreSQL database is emptied first (its name must contain "bench"), and so are the two
Redis databases it uses (`--redis`, default db 12, and the next one).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.postgres import fresh_postgres  # noqa: E402
from bench.server import cpu_seconds, process  # noqa: E402
from billing import credit, invoices, order_billing, payments  # noqa: E402
from billing.tax import load_demo_tax_rates  # noqa: E402
from catalog.store import load_demo_catalog, load_demo_price_books  # noqa: E402
from core import docstore, queue  # noqa: E402
from core.db import create_engine, session_scope, upgrade_database  # noqa: E402
from core.settings import DEFAULT_COMPANY, DEFAULT_DEMO_DIR, Settings  # noqa: E402
from core.users import User, create_user  # noqa: E402
from rules.store import load_demo_rule_sets  # noqa: E402
from sales import acceptance, contracts, orders, quotes, workflow  # noqa: E402
from sales.accounts import Account, load_demo_accounts  # noqa: E402
from sales.quotes import LineSpec  # noqa: E402

STAGES = ("accept", "contract", "order", "invoice", "payment", "sign")
LINES = (LineSpec("RAIL-KIT-2U", quantity=2), LineSpec("SUP-PRO-M", quantity=1))
COMPANY = dict(DEFAULT_COMPANY)
SECRET = "pipeline-bench"


class Stages:
    """Wall and CPU time and SQL statements of each step, by stage (one client's, or every
    client's once merged)."""

    def __init__(self, engine=None):
        self.wall = {s: [] for s in STAGES}
        self.cpu = {s: 0.0 for s in STAGES}
        self.statements = {s: 0 for s in STAGES}
        self._current: str | None = None
        if engine is not None:
            sa.event.listen(engine, "before_cursor_execute", self._count)

    def merge(self, other: Stages) -> None:
        for s in STAGES:
            self.wall[s] += other.wall[s]
            self.cpu[s] += other.cpu[s]
            self.statements[s] += other.statements[s]

    def __getstate__(self):                 # sent back from a client process
        return {"wall": self.wall, "cpu": self.cpu, "statements": self.statements, "_current": None}

    def _count(self, *_args) -> None:
        if self._current is not None:
            self.statements[self._current] += 1

    def step(self, engine, stage: str, action):
        self._current = stage
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            with session_scope(engine) as session:
                return action(session)
        finally:
            self.wall[stage].append(time.perf_counter() - wall)
            self.cpu[stage] += time.process_time() - cpu
            self._current = None


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


def request_path(engine, stages: Stages, rep_id: str, sent: list[tuple[str, str]], today: date) -> list[str]:
    """Every quote through accept .. payment; returns the contracts' signing links."""
    links = []
    for number, token in sent:
        stages.step(engine, "accept", lambda s: acceptance.accept(
            s, token, "Jo Buyer", "jo@acme.example", "127.0.0.1", "bench", today))

        def contract(s):
            rep = s.get(User, rep_id)
            made, _ = contracts.create_from_quote(s, rep, number, today)
            return contracts.send_for_signature(s, rep, made.number)[1]
        links.append(stages.step(engine, "contract", contract))
        order_number = stages.step(engine, "order", lambda s: credit.place_order(
            s, s.get(User, rep_id), number, today, require_contract=False)[0].number)

        def invoice(s):
            draft = order_billing.invoice_order(s, orders.get_order(s, order_number, lock=True), today)  # as the API
            return invoices.issue(s, draft, today, company=COMPANY).gross_total
        gross = stages.step(engine, "invoice", invoice)
        stages.step(engine, "payment", lambda s: payments.record_payment(
            s, s.exec(sa.select(Account).where(Account.code == "ACME")).scalar_one(), Decimal(gross), "USD",
            "bank_transfer", f"BANK-{number}", today))     # one bank reference per quote, across clients
    return links


# ---- the clients: processes driving the request path, as a server's workers would ----------

_client: dict = {}
#: what the clients' PostgreSQL sessions are named, so that their server processes are found
CLIENT_APP = "cpq-pipeline-client"


def _start_client(url: str, settings: Settings) -> None:
    named = make_url(url).get_backend_name() == "postgresql"
    engine = create_engine(url, **({"connect_args": {"application_name": CLIENT_APP}} if named else {}))
    queue.bind(settings, engine)
    _client.update(engine=engine, stages=Stages(engine))


def _accept_to_payment(rep_id: str, sent: list[tuple[str, str]], today: date) -> tuple[Stages, list[str]]:
    _client["stages"] = Stages(_client["engine"])
    links = request_path(_client["engine"], _client["stages"], rep_id, sent, today)
    return _client["stages"], links


def _sign(links: list[str], today: date) -> Stages:
    stages = Stages(_client["engine"])
    for link in links:
        stages.step(_client["engine"], "sign", lambda s: contracts.sign(
            s, link, "Jo Buyer", "jo@acme.example", "127.0.0.1", "bench", today))
    return stages


def server_cpu(engine, url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL server process serving the clients, by pid, when
    the server runs on this machine (else none: its processes cannot be read from here)."""
    if engine.dialect.name != "postgresql" or make_url(url).host not in (None, "localhost", "127.0.0.1", "::1"):
        return {}
    with engine.connect() as conn:
        pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                            {"name": CLIENT_APP}).scalars().all()
    return {pid: cpu_seconds(pid) for pid in pids if _is_postgres(pid)}


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def _ready(_index: int) -> int:
    return os.getpid()


# ---- the workers -------------------------------------------------------------------------------

@contextmanager
def workers(count: int, url: str, queue_url: str, log: Path):
    """`count` `cpq worker` processes (one task at a time each), running once each answers."""
    env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "CPQ_QUEUE_URL": queue_url}
    with ExitStack() as stack:
        pids = [stack.enter_context(process([sys.executable, "-m", "cli.main", "worker", "--concurrency", "1"],
                                            env, log)).pid for _ in range(count)]
        app = queue.celery_app(Settings(database_url=url, secret_key=SECRET, queue_url=queue_url))
        deadline = time.monotonic() + 120
        while len(app.control.ping(timeout=1.0)) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"the workers did not answer within 120 s; see {log}")
        yield pids


def render_waiting(engine, pids: list[int], settings: Settings) -> dict:
    """Send every waiting document to the workers' queue (`settings`); wall and worker CPU
    until all are stored."""
    cpu = sum(cpu_seconds(pid) for pid in pids)
    wall = time.perf_counter()
    with queue.bound(engine, settings), session_scope(engine) as session:
        waiting = docstore.waiting(session)
        for document_id in waiting:
            queue.enqueue(session, docstore.RENDER, document_id)
    while True:
        with session_scope(engine) as session:
            left = docstore.pending_count(session)
        if not left:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - wall
    with session_scope(engine) as session:
        failed = session.exec(sa.select(sa.func.count()).select_from(docstore.Document)
                              .where(docstore.Document.status == docstore.FAILED)).scalar_one()
    return {"documents": len(waiting), "wall_s": wall, "cpu_s": sum(cpu_seconds(pid) for pid in pids) - cpu,
            "failed": failed}


# ---- one database ------------------------------------------------------------------------------

def measure(url: str, n: int, worker_count: int, clients: int, redis_url: str, log: Path,
            profile: str | None = None) -> dict:
    today = date.today()
    upgrade_database(url)
    engine = create_engine(url)
    live = redis_url
    held = redis_url.rsplit("/", 1)[0] + f"/{int(redis_url.rsplit('/', 1)[1]) + 1}"   # nobody reads it
    for db in (live, held):
        redis.Redis.from_url(db).flushdb()
    in_process = Settings(database_url=url, secret_key=SECRET)
    to_workers = Settings(database_url=url, secret_key=SECRET, queue_url=live)
    clients_settings = Settings(database_url=url, secret_key=SECRET, queue_url=held) if worker_count else in_process
    stages = Stages()
    try:
        with ExitStack() as stack:
            pids = stack.enter_context(workers(worker_count, url, live, log)) if worker_count else []
            queue.bind(clients_settings, engine)
            t = time.perf_counter()
            rep_id, sent = prepare(engine, n, today)
            quotes_rendered = render_waiting(engine, pids, to_workers) if pids else None
            setup = time.perf_counter() - t

            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(
                clients, initializer=_start_client, initargs=(url, clients_settings)))
            pool.map(_ready, range(clients))                        # imports done before the clock starts
            server = server_cpu(engine, url)
            chunks = [sent[i::clients] for i in range(clients)]
            wall = time.perf_counter()
            if profile:                                             # one client, here, profiled
                _start_client(url, clients_settings)
                profiler = cProfile.Profile(time.process_time)     # CPU: the machine is shared
                done = [profiler.runcall(_accept_to_payment, rep_id, sent, today)]
                profiler.dump_stats(profile)
            else:
                done = pool.starmap(_accept_to_payment, [(rep_id, chunk, today) for chunk in chunks])
            links = [link for _, chunk_links in done for link in chunk_links]
            request_s = time.perf_counter() - wall
            for client_stages, _ in done:
                stages.merge(client_stages)

            rendering = render_waiting(engine, pids, to_workers) if pids else None

            wall = time.perf_counter()
            for signed in pool.starmap(_sign, [(links[i::clients], today) for i in range(clients)]):
                stages.merge(signed)
            request_s += time.perf_counter() - wall
            after = server_cpu(engine, url)
            server_s = sum(cpu - server.get(pid, 0.0) for pid, cpu in after.items()) if after else None
        with session_scope(engine) as session:
            acme = session.exec(sa.select(Account).where(Account.code == "ACME")).scalar_one()
            errors = payments.check_account(session, acme.id)
    finally:
        queue.bind(in_process)
        engine.dispose()
    total_s = request_s + (rendering["wall_s"] if rendering else 0)
    return {"quotes": n, "workers": worker_count, "clients": clients, "setup_s": setup,
            "quote_documents": quotes_rendered, "request_s": request_s, "request_cpu_s": sum(stages.cpu.values()),
            "request_quotes_per_s": n / request_s, "server_cpu_s": server_s, "rendering": rendering,
            "total_s": total_s, "quotes_per_s": n / total_s,
            "stages": {s: {"median_ms": statistics.median(v) * 1000,
                           "p95_ms": sorted(v)[max(0, int(len(v) * 0.95) - 1)] * 1000,
                           "cpu_ms": stages.cpu[s] / len(v) * 1000, "statements": stages.statements[s] / len(v)}
                       for s, v in stages.wall.items()},
            "ledger_errors": errors}


def report(name: str, r: dict) -> None:
    how = f"{r['workers']} worker process(es)" if r["workers"] else "in-process rendering"
    print(f"\n== {name}, {r['clients']} client process(es), {how}: {r['quotes']} quotes "
          f"(set-up, not timed: {r['setup_s']:.1f} s)")
    print(f"  {'stage':<9} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>8} {'SQL':>6}")
    for stage, s in r["stages"].items():
        print(f"  {stage:<9} {s['median_ms']:>10.1f} {s['p95_ms']:>8.1f} {s['cpu_ms']:>8.1f} {s['statements']:>6.1f}")
    statements = sum(s["statements"] for s in r["stages"].values())
    print(f"  request path: {r['request_quotes_per_s']:.1f} quotes/s ({r['request_s']:.1f} s wall, "
          f"{r['request_cpu_s']:.1f} s CPU), {statements:.0f} SQL statements per quote")
    if r["server_cpu_s"] is not None:
        print(f"  database server: {r['server_cpu_s']:.1f} s CPU = {r['server_cpu_s'] / r['quotes'] * 1000:.1f} ms per quote "
              "(its processes serving the clients)")
    if r["rendering"]:
        g = r["rendering"]
        print(f"  rendering: {g['documents']} documents in {g['wall_s']:.1f} s wall = "
              f"{g['documents'] / g['wall_s']:.1f} documents/s, {r['quotes'] / g['wall_s']:.1f} quotes/s "
              f"(workers' CPU {g['cpu_s']:.1f} s; {g['failed']} failed)")
    print(f"  end to end: {r['quotes_per_s']:.1f} quotes/s ({r['total_s']:.1f} s)")
    print(f"  ledger invariant: {'holds' if not r['ledger_errors'] else r['ledger_errors']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quotes", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1, help="task queue worker processes; 0 renders in-process")
    ap.add_argument("--clients", type=int, default=1, help="processes driving the request path at once")
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/cpq_bench")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/12", help="the workers' queue (and the next db)")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--sqlite-only", action="store_true")
    which.add_argument("--postgres-only", action="store_true")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--profile", help="cProfile the request path (accept .. payment, one client; CPU time) into this file")
    args = ap.parse_args(argv)
    os.environ.pop("CPQ_QUEUE_URL", None)
    results = {}
    with tempfile.TemporaryDirectory(prefix="cpq-pipeline-") as tmp:
        log = Path(tmp) / "workers.log"
        if not args.postgres_only:
            results["sqlite"] = measure(f"sqlite:///{tmp}/pipeline.db", args.quotes, args.workers, args.clients,
                                        args.redis, log, args.profile)
            report("SQLite (file)", results["sqlite"])
        if not args.sqlite_only:
            fresh_postgres(args.postgres)
            results["postgresql"] = measure(args.postgres, args.quotes, args.workers, args.clients, args.redis, log,
                                            args.profile)
            report(f"PostgreSQL ({make_url(args.postgres).render_as_string(hide_password=True)})",
                   results["postgresql"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
