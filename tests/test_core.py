"""Settings and database plumbing in core."""

import importlib
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from sqlmodel import Session, SQLModel, select
from sqlmodel._compat import partial_init, sqlmodel_init

from billing.models import LedgerEntry
from core.db import Table, append, create_engine, lock_row, normalise_url, session_scope
from core.docstore import Document
from core.settings import DEFAULT_DATABASE_URL, PROJECT_ROOT, Settings
from sales.accounts import create_account
from tests.test_migrations import table_modules


def test_settings_defaults_are_absolute():
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert Path(settings.database_url.removeprefix("sqlite:///")).is_absolute()
    assert settings.database_url.endswith("/var/cpq.db")
    assert settings.demo_dir == PROJECT_ROOT / "catalog" / "demo"
    assert settings.secret_key == ""     # no known default: the web app refuses to start without one


def test_settings_from_env():
    env = {"DATABASE_URL": "postgresql://u@h/db", "SECRET_KEY": "s", "CPQ_DEMO_DIR": "/tmp/d"}
    settings = Settings.from_env(env)
    assert (settings.database_url, settings.secret_key) == ("postgresql://u@h/db", "s")
    assert settings.demo_dir == Path("/tmp/d")
    with pytest.raises(AttributeError):
        settings.secret_key = "x"  # frozen


def test_storefront_books_and_the_cookie_are_configurable():
    assert Settings.from_env({}).storefront_price_books[0] == "list-usd"
    settings = Settings.from_env({"CPQ_STOREFRONT_PRICE_BOOKS": "list-eur list-usd", "CPQ_COOKIE_SAMESITE": "none"})
    assert (settings.storefront_price_books, settings.cookie_samesite) == (("list-eur", "list-usd"), "None")
    with pytest.raises(ValueError, match="CPQ_COOKIE_SAMESITE"):
        Settings.from_env({"CPQ_COOKIE_SAMESITE": "sometimes"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_normalise_url(url, expected):
    assert normalise_url(url) == expected


def test_sqlite_engine_enforces_foreign_keys(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # creates sub/
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_postgres_url_uses_psycopg3():
    engine = create_engine("postgresql://u@127.0.0.1:1/db")  # never connects
    assert engine.dialect.driver == "psycopg"


@pytest.mark.postgres
def test_session_scope_commits_or_rolls_back(engine):
    with session_scope(engine) as session:
        session.execute(sa.text("CREATE TABLE scope_probe (n INTEGER)"))
        session.execute(sa.text("INSERT INTO scope_probe VALUES (1)"))

    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            session.execute(sa.text("INSERT INTO scope_probe VALUES (2)"))
            raise RuntimeError("abort the unit of work")

    with session_scope(engine) as session:
        assert session.execute(sa.text("SELECT n FROM scope_probe")).scalars().all() == [1]


@pytest.mark.postgres
def test_a_released_savepoint_goes_with_its_transactions_rollback(engine):
    """A savepoint is part of its transaction: releasing it commits nothing. (pysqlite's own
    transaction handling began the transaction only at the first INSERT, inside the
    SAVEPOINT, so releasing the savepoint committed that first write for good.)"""
    with session_scope(engine) as session:
        session.execute(sa.text("CREATE TABLE savepoint_probe (n INTEGER)"))

    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            session.execute(sa.text("SELECT count(*) FROM savepoint_probe"))
            with session.begin_nested():
                session.execute(sa.text("INSERT INTO savepoint_probe VALUES (1)"))
            raise RuntimeError("abort the unit of work")

    with session_scope(engine) as session:
        assert session.execute(sa.text("SELECT n FROM savepoint_probe")).scalars().all() == []


@pytest.mark.postgres
def test_rows_locked_for_update_are_read_under_the_lock(engine):
    """Two transactions each read a counter for update (lock_rows, session.get), wait, and
    write it plus one: the second must read after the first commits (on SQLite the read used
    to run before the write lock, and both wrote 1)."""
    with session_scope(engine) as session:
        session.add(Document(kind="invoice", ref=1, format="pdf"))
    both_started = threading.Barrier(2)

    def increment(read):
        both_started.wait()
        with session_scope(engine) as session:
            document = read(session)
            time.sleep(0.2)
            document.attempts += 1
            session.add(document)

    readers = (lambda session: lock_row(session, Document, 1),
               lambda session: session.get(Document, 1, with_for_update=True))
    workers = [threading.Thread(target=increment, args=(read,)) for read in readers]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with session_scope(engine) as session:
        assert session.get(Document, 1).attempts == 2


def test_a_table_row_is_built_as_sqlmodel_builds_it():
    """`Table.__init__` leaves every table model's new row as SQLModel's constructor does: the
    same values (a default factory's of the same type), fields set and SQLAlchemy history."""
    for name in table_modules():
        importlib.import_module(name)

    def state(row):
        values = {k: type(v) if k in factories else v for k, v in row.__dict__.items() if k != "_sa_instance_state"}
        history = {k: sa.inspect(row).attrs[k].history for k in sa.inspect(row).attrs.keys()}
        return (values, list(row.__dict__), row.__pydantic_fields_set__, row.__pydantic_extra__,
                row.__pydantic_private__, {k: type(v) if k in factories else v for k, v in history.items()})

    tables = [mapper.class_ for mapper in SQLModel._sa_registry.mappers]
    assert len(tables) > 40 and all(issubclass(table, Table) for table in tables)
    for table in tables:
        factories = {name for name, field in table.model_fields.items() if field.default_factory}
        given = {name: f"given {name}" for i, name in enumerate(table.model_fields) if i % 2}
        with partial_init():
            theirs = table()
        sqlmodel_init(self=theirs, data=dict(given))
        assert state(table(**given)) == state(theirs), table


@pytest.mark.postgres
def test_a_description_is_psycopgs_read_later(engine):
    """The cursor's description, its columns made when read, is psycopg's, even read after the
    cursor ran another statement; a statement without rows has none."""
    if engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgresql://...): psycopg's cursor")
    statement = "SELECT 1 AS one, 'a'::varchar(5) AS two, now() AS three, NULL::numeric(24, 6) AS four"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(statement)
        described = cursor.description
        plain = psycopg.Cursor(raw.driver_connection)       # psycopg's own
        plain.execute(statement)
        cursor.execute("SELECT 2 AS other")
        assert type(cursor).description is not psycopg.Cursor.description and len(described) == 4
        assert [(c.name, c.type_display, *c) for c in described] == [(c.name, c.type_display, *c)
                                                                      for c in plain.description]
        assert [c.name for c in described[1:3]] == ["two", "three"]
        cursor.execute("SET TIME ZONE 'UTC'")
        assert cursor.description is None and plain.execute("SET TIME ZONE 'UTC'").description is None
        with engine.connect() as conn:
            assert list(conn.execute(sa.text(statement)).keys()) == ["one", "two", "three", "four"]
    finally:
        raw.close()


@pytest.mark.postgres
def test_append_writes_the_rows_objects_would(engine):
    """Fields left out of an appended row take their defaults (a value, or a factory's), as
    they do on an object added to the session, on the first call for a table and later ones."""
    with Session(engine) as session:
        account = create_account(session, {"code": "APP", "name": "App", "currency": "USD"})
        given = dict(account_id=account.id, on=date(2026, 1, 2), kind="payment", amount=Decimal("-5.5"), currency="USD")
        session.add(LedgerEntry(**given))
        session.flush()
        append(session, LedgerEntry, given, dict(given, memo="second"))
        append(session, LedgerEntry, dict(given, kind="refund"))
        rows = session.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
        written = [{k: v for k, v in row.model_dump().items() if k not in ("id", "at")} for row in rows]
        added = {k: v for k, v in LedgerEntry(**given).model_dump().items() if k not in ("id", "at")}
        assert written == [added, added, dict(added, memo="second"), dict(added, kind="refund")]
        assert all(row.at is not None for row in rows)
        session.rollback()


def test_a_skip_locked_claim_on_sqlite_takes_no_write_lock(tmp_path):
    """An outbox claims its row with SKIP LOCKED and then talks to an SMTP or HTTP server: on
    SQLite that claim must not hold the database's write lock, which every writer waits for."""
    engine = create_engine(f"sqlite:///{tmp_path / 'claim.db'}")
    Document.__table__.create(engine)
    with Session(engine) as session:
        session.exec(select(Document).with_for_update(skip_locked=True)).all()
        assert not session.connection().connection.dbapi_connection.in_transaction
        session.exec(select(Document).with_for_update()).all()
        assert session.connection().connection.dbapi_connection.in_transaction
    engine.dispose()


@pytest.mark.postgres
def test_database_is_at_head_and_upgrade_is_idempotent(engine, database_url):
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from core.db import MIGRATIONS_DIR, upgrade_database

    upgrade_database(database_url)  # the fixture already ran it once
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == heads
