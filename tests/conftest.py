"""Shared fixtures. Every database test gets a freshly migrated, isolated database.

Without ``DATABASE_URL`` that is a new SQLite file per test. With it (``make
test-postgres``, .ci/run) the ``public`` schema of that database is dropped and recreated
per test, so point it only at a throwaway database: its name must contain "test".
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url

from api.app import create_app
from core.db import create_engine, upgrade_database
from core.settings import Settings

# No test result may depend on the machine's speed: a busy laptop or CI machine runs an example
# slower, never differently, so Hypothesis has no deadline anywhere.
hypothesis_settings.register_profile("cpq", deadline=None, print_blob=True)
hypothesis_settings.load_profile("cpq")


@pytest.fixture
def database_url(tmp_path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'cpq.db'}"
    if make_url(url).get_backend_name() == "postgresql":
        if "test" not in (make_url(url).database or ""):
            pytest.exit(f"refusing to wipe {url!r}: its database name must contain 'test'", 2)
    return url


@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    upgrade_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine, database_url):
    app = create_app(Settings(database_url=database_url), TESTING=True)
    yield app
    app.extensions["cpq_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()



@pytest.fixture
def redis_url() -> str:
    """A Redis database for the tests that run several worker processes (rate limits shared
    through it): CPQ_TEST_REDIS_URL, else database 13 on 127.0.0.1:6379; skipped without one.
    Tests count under fresh users, so they delete only their own keys (forget_redis_keys)."""
    import redis

    url = os.environ.get("CPQ_TEST_REDIS_URL") or "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {url} (set CPQ_TEST_REDIS_URL)")
    return url

