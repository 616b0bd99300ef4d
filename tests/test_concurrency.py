"""Concurrent writers: many clients creating quotes at once through two gunicorn workers all get
their quote, on SQLite (the default database) as on PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from sqlmodel import select

from bench.server import gunicorn
from core.db import create_engine, session_scope
from core.users import create_user
from live_server import forget_redis_keys, load_demo
from sales.models import Quote

pytestmark = pytest.mark.postgres

CLIENTS = 20
QUOTES_EACH = 8
LINES = [{"product": "rack-server", "quantity": 2, "selections": {"cpu": "e9354"}}, {"product": "SUP-MC-Y"}]


def test_twenty_clients_creating_quotes_at_once_through_two_workers_all_succeed(
        database_url, engine, redis_url, tmp_path):
    with session_scope(engine) as session:
        load_demo(session)
        user, token = create_user(session, "rep@example.com", "Rep", "rep")
        scope = f"user:{user.id}"
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "s", "CPQ_RATE_LIMIT": "100000/minute",
           "CPQ_RATE_LIMIT_STORAGE": redis_url}

    def creator(n: int) -> list[int]:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            return [http.post(f"{served.url}/api/v1/quotes", json={"account": "ACME", "title": f"{n}.{i}", "lines": LINES})
                    .status_code for i in range(QUOTES_EACH)]

    try:
        with gunicorn(env, workers=2, log=tmp_path / "gunicorn.log") as served, ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for batch in pool.map(creator, range(CLIENTS)) for s in batch]
    finally:
        forget_redis_keys(redis_url, scope)
    assert statuses.count(201) == CLIENTS * QUOTES_EACH, (sorted(set(statuses)), tmp_path / "gunicorn.log")
    with session_scope(engine) as session:
        assert len(set(session.exec(select(Quote.number)))) == CLIENTS * QUOTES_EACH


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
