"""The PostgreSQL database a benchmark runs on, created if missing and emptied first."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.db import create_engine


def fresh_postgres(url: str) -> None:
    """Refuses a database whose name does not say it is for benchmarks."""
    parsed = make_url(url)
    if "bench" not in (parsed.database or ""):
        raise SystemExit(f"refusing to empty {url!r}: its database name must contain 'bench'")
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}).first():
            conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
