"""Load benchmark of the HTTP API as served in production (gunicorn, api/gunicorn_config.py):
N concurrent clients for a bounded time per scenario, on SQLite and on PostgreSQL.

Scenarios (each client sends its next request as soon as the last one is answered):
  browse     GET the product list, a product, and its model version (anonymous)
  configure  POST configure with partial selections drawn from 300 made beforehand by random
             walks through the domains (anonymous, varied, never one cached selection)
  price      POST pricing/quote: a configured server with varied selections and quantity, and support
  create     POST quotes: a draft of two lines, priced and numbered (a rep)
  approval   create a quote whose discount needs a sales manager, submit it, approve it as the
             manager (three requests; the figures are per request, and flows per second)

Printed per scenario: requests, requests/s, p50/p95/p99 latency, errors (non-2xx or no answer),
and the CPU time of the client and of the server (master and workers) beside the wall time,
and the server's CPU per request (the figure a shared machine's load does not skew much).

    .venv/bin/python bench/load.py                                   # SQLite, then PostgreSQL if --postgres
    .venv/bin/python bench/load.py --seconds 20 --clients 20 --only configure create
    .venv/bin/python bench/load.py --postgres postgresql://postgres@127.0.0.1:5432/cpq_bench
    .venv/bin/python bench/load.py --workers 2 --redis redis://127.0.0.1:6379/14
    .venv/bin/python bench/load.py --url http://127.0.0.1:5000 --token "$REP" --manager "$MGR"

Without --url it starts gunicorn itself on a fresh database (a temporary SQLite file; the
PostgreSQL database is emptied first, so its name must contain "bench") with the demo catalog,
a rep and a manager, and rate limits high enough not to count. With --url it drives that server
(`make run`): give it tokens of a rep and of a sales manager (`cpq users add`), and raise its
rate limits (CPQ_RATE_LIMIT, CPQ_RATE_LIMIT_ANONYMOUS) or the 429s count as errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.server import Server, gunicorn  # noqa: E402
from core.db import create_engine  # noqa: E402

API = "/api/v1"
PRODUCT = "rack-server"
SCENARIOS = ("browse", "configure", "price", "create", "approval")
CPUS = ("e9354", "xg6430", "e9124", "xs4410y")


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int | str, int] = field(default_factory=dict)

    def note(self, status: int | str, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if not (isinstance(status, int) and 200 <= status < 300):
            self.errors += 1


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


# ---- set-up -------------------------------------------------------------------------------------

def prepare_database(url: str) -> tuple[str, str]:
    """Migrate, load the demo, add a rep and a sales manager through `cpq`, as `make run` does;
    returns their tokens."""
    cpq = str(Path(sys.executable).with_name("cpq"))
    env = os.environ | {"DATABASE_URL": url}
    for command in (["db", "upgrade"], ["models", "load-demo"]):
        subprocess.run([cpq, *command], env=env, check=True, capture_output=True)

    def user(email: str, *args: str) -> str:
        out = subprocess.run([cpq, "users", "add", email, "--name", email.split("@")[0], *args],
                             env=env, check=True, capture_output=True, text=True).stdout
        return re.search(r"^token: (\S+)", out, re.M).group(1)

    return user("rep@bench.example", "--role", "rep"), \
        user("mgr@bench.example", "--role", "approver", "--level", "sales_manager")


def empty_postgres(url: str) -> None:
    if "bench" not in (make_url(url).database or ""):
        sys.exit(f"refusing to empty {url}: its database name must contain 'bench'")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


async def latest_version(http: httpx.AsyncClient) -> int:
    """The product's newest model version (the demo's version changes as the demo grows)."""
    return (await http.get(f"{API}/products/{PRODUCT}")).raise_for_status().json()["version"]


async def selection_pool(http: httpx.AsyncClient, rng: random.Random, size: int = 300) -> list[dict]:
    """Partial selections made by random walks: each pick is a value still in its attribute's
    domain given the picks before it, so every selection is valid and most are different."""
    first = (await http.post(f"{API}/products/{PRODUCT}/configure", json={"selections": {}})).json()
    attributes = [a["id"] for a in first["attributes"]]
    pool = []
    while len(pool) < size:
        selections: dict = {}
        state = first
        for attribute in rng.sample(attributes, rng.randint(1, 5)):
            domain = next(a["domain"] for a in state["attributes"] if a["id"] == attribute)
            if not domain:
                break
            selections[attribute] = rng.choice(domain)
            state = (await http.post(f"{API}/products/{PRODUCT}/configure", json={"selections": selections})).json()
        pool.append(dict(selections))
    return pool


# ---- scenarios ----------------------------------------------------------------------------------

class Scenarios:
    def __init__(self, rep: str, manager: str, version: int, pool: list[dict]):
        self.rep = {"Authorization": f"Bearer {rep}"}
        self.version = version
        self.manager = {"Authorization": f"Bearer {manager}"}
        self.pool = pool

    async def browse(self, http, rng, tally):
        path = rng.choice([f"{API}/products", f"{API}/products/{PRODUCT}", f"{API}/products/{PRODUCT}/versions/{self.version}"])
        await timed(tally, http.get(path))

    async def configure(self, http, rng, tally):
        await timed(tally, http.post(f"{API}/products/{PRODUCT}/configure",
                                     json={"selections": rng.choice(self.pool)}))

    async def price(self, http, rng, tally):
        body = {"price_book": "list-usd", "customer": {"id": "ACME", "tier": rng.choice(["gold", "silver"])},
                "lines": [{"product": PRODUCT, "quantity": rng.randint(1, 20), "selections": {"cpu": rng.choice(CPUS)}},
                          {"product": "SUP-MC-Y", "quantity": rng.randint(1, 20), "term_months": 36}]}
        await timed(tally, http.post(f"{API}/pricing/quote", json=body, headers=self.rep))

    async def create(self, http, rng, tally, discount: str | None = None):
        line = {"product": "SUP-MC-Y", "quantity": rng.randint(1, 10)}
        if discount:
            line["discount_percent"] = discount
        body = {"account": "ACME", "title": "load", "lines": [
            {"product": PRODUCT, "quantity": rng.randint(1, 8), "selections": {"cpu": rng.choice(CPUS)}}, line]}
        answer = await timed(tally, http.post(f"{API}/quotes", json=body, headers=self.rep))
        return answer.json().get("number") if answer is not None and answer.status_code == 201 else None

    async def approval(self, http, rng, tally):
        number = await self.create(http, rng, tally, discount="20")             # needs a sales manager
        if number is None:
            return
        submitted = await timed(tally, http.post(f"{API}/quotes/{number}/submit", json={}, headers=self.rep))
        if submitted is None or submitted.status_code != 200:
            return
        await timed(tally, http.post(f"{API}/quotes/{number}/approve", json={"level": "sales_manager"},
                                     headers=self.manager))


async def timed(tally: Tally, request) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        answer = await request
    except httpx.HTTPError as exc:
        tally.note(type(exc).__name__, time.perf_counter() - started)
        return None
    tally.note(answer.status_code, time.perf_counter() - started)
    return answer


async def drive(url: str, scenario, clients: int, seconds: float, seed: int) -> tuple[Tally, float]:
    """Each client has an HTTP client and a connection of its own, as separate users would.
    Sharing one httpx pool among them made the pool the bottleneck: measured on configure, its
    hand-out of connections added most of the p99 (client p99 370-460 ms while the server
    answered within 10-20 ms) and doubled the client's CPU per request."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def client(n: int):
        rng = random.Random(seed * 1000 + n)
        async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=1), timeout=30) as http:
            while time.perf_counter() < deadline:
                await scenario(http, rng, tally)

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return tally, time.perf_counter() - started


def run_all(label: str, server: Server, rep: str, manager: str, args) -> None:
    print(f"\n{label}: {server.url}, {args.clients} clients, {args.seconds:g} s per scenario")
    print(f"{'scenario':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'wall s':>7} {'client cpu s':>12} {'server cpu s':>12} {'server ms/req':>13}")
    rng = random.Random(args.seed)

    async def model():
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            return await latest_version(http), await selection_pool(http, rng)

    scenarios = Scenarios(rep, manager, *asyncio.run(model()))
    for name in args.only or SCENARIOS:
        clients = args.clients
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        tally, wall = asyncio.run(drive(server.url, getattr(scenarios, name), clients, args.seconds, args.seed))
        client_cpu, server_cpu = time.process_time() - client_cpu, server.cpu_seconds() - server_cpu
        ordered = sorted(tally.latencies)
        extra = f"  ({len(ordered) / 3 / wall:.1f} flows/s)" if name == "approval" else ""
        odd = {k: v for k, v in tally.statuses.items() if not (isinstance(k, int) and 200 <= k < 300)}
        print(f"{name:<10} {len(ordered):>8} {len(ordered) / wall:>8.1f} {percentile(ordered, 50) * 1000:>8.1f} "
              f"{percentile(ordered, 95) * 1000:>8.1f} {percentile(ordered, 99) * 1000:>8.1f} {tally.errors:>6} "
              f"{wall:>7.1f} {client_cpu:>12.1f} {server_cpu:>12.1f} {server_cpu * 1000 / max(1, len(ordered)):>13.2f}{extra}" + (f"  {odd}" if odd else ""))


class Remote:
    """A server this benchmark did not start: its CPU time is not visible here."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def cpu_seconds(self) -> float:
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="per scenario (default 10)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="these scenarios only")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--postgres", help="also run on this PostgreSQL database (emptied; name contains 'bench')")
    parser.add_argument("--sqlite-only", action="store_true", help="ignore --postgres")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (more than 1 needs --redis)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    parser.add_argument("--redis", help="rate-limit store for several workers, e.g. redis://127.0.0.1:6379/14")
    parser.add_argument("--url", help="drive this running server instead of starting one")
    parser.add_argument("--token", help="with --url: a rep's token")
    parser.add_argument("--manager", help="with --url: a sales manager's token")
    args = parser.parse_args()

    if args.url:
        if not (args.token and args.manager):
            parser.error("--url needs --token (a rep) and --manager (a sales manager)")
        run_all("given server", Remote(args.url), args.token, args.manager, args)
        return
    databases = [("SQLite", None)]
    if args.postgres and not args.sqlite_only:
        databases.append(("PostgreSQL", args.postgres))
    with tempfile.TemporaryDirectory(prefix="cpq-load-") as tmp:
        for label, url in databases:
            if url is None:
                url = f"sqlite:///{tmp}/load.db"
            else:
                empty_postgres(url)
            rep, manager = prepare_database(url)
            env = {"DATABASE_URL": url, "SECRET_KEY": "bench", "CPQ_RATE_LIMIT": "10000000/minute",
                   "CPQ_RATE_LIMIT_ANONYMOUS": "10000000/minute"}
            if args.redis:
                env["CPQ_RATE_LIMIT_STORAGE"] = args.redis
            log = Path(tmp) / f"{label}.log"
            with gunicorn(env, workers=args.workers, threads=args.threads, log=log) as server:
                run_all(f"{label}, gunicorn {args.workers} worker(s) x {args.threads} threads", server, rep, manager, args)


if __name__ == "__main__":
    main()
