"""Concurrent writers through a real server: many clients creating quotes at once all get their
quote, on SQLite (the default database) as on PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from auth_helpers import sign_as
from core.db import create_engine, session_scope
from live_server import load_demo, serve

pytestmark = pytest.mark.postgres

CLIENTS = 20
QUOTES_EACH = 8
LINES = [{"product": "rack-server", "quantity": 2, "selections": {"cpu": "e9354"}}, {"product": "SUP-MC-Y"}]


def test_twenty_clients_creating_quotes_at_once_all_succeed(app, client):
    with session_scope(app.extensions["cpq_engine"]) as session:
        load_demo(session)
    token = sign_as(app, client, "rep")
    app.extensions["cpq_rate_limits"].default = "1000000/minute"

    def creator(n: int) -> list[int]:
        statuses = []
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            for i in range(QUOTES_EACH):
                answer = http.post(f"{url}/api/v1/quotes",
                                   json={"account": "ACME", "title": f"client {n} quote {i}", "lines": LINES})
                statuses.append(answer.status_code)
        return statuses

    with serve(app) as url, ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [s for batch in pool.map(creator, range(CLIENTS)) for s in batch]
    assert statuses.count(201) == CLIENTS * QUOTES_EACH, sorted(set(statuses))
    quotes = client.get("/api/v1/quotes?limit=500").get_json()
    assert len({q["number"] for q in quotes}) == CLIENTS * QUOTES_EACH


def test_a_long_read_does_not_hold_up_a_writer_on_sqlite(tmp_path):
    """WAL: readers see a snapshot and never block a writer's commit (with a rollback journal the
    commit waits for every reader, and a writer that waits too long answers "database is locked")."""
    engine = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1), (2)")
    with engine.connect() as reader:
        reader.exec_driver_sql("BEGIN")
        assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2   # holds its read
        started = time.perf_counter()
        with engine.begin() as writer:
            writer.exec_driver_sql("INSERT INTO t VALUES (3)")
        assert time.perf_counter() - started < 1
        assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2   # its snapshot
        reader.rollback()
    engine.dispose()
