"""A real HTTP server of the test's app, in a thread, for tests that drive it from outside the
process (schemathesis, the browser), the demo data they run on, and cleaning up after tests
that count rate limits in Redis (bench/server.py serves the app with gunicorn instead)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from werkzeug.serving import make_server

from billing.tax import load_demo_tax_rates
from catalog.store import load_demo_catalog, load_demo_price_books
from core.settings import DEFAULT_DEMO_DIR
from rules.store import load_demo_rule_sets
from sales.accounts import load_demo_accounts


def load_demo(session) -> None:
    """Models, price books, rule sets, tax rates and accounts of catalog/demo."""
    load_demo_catalog(session)
    load_demo_price_books(session)
    load_demo_rule_sets(session)
    load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
    load_demo_accounts(session, DEFAULT_DEMO_DIR)


@contextmanager
def serve(app) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 until the block ends; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join()


def forget_redis_keys(url: str, *scopes: str) -> None:
    """Delete the rate-limit counters of these callers (`user:<id>`)."""
    import redis

    client = redis.Redis.from_url(url)
    for scope in scopes:
        for key in client.scan_iter(f"*{scope}*"):
            client.delete(key)
    client.close()
