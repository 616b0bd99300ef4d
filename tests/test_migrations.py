"""The Alembic revisions build exactly the tables the models describe, and the revision that
added quote.list_contract_value filled it in from each quote's stored price."""

from __future__ import annotations

import ast
import importlib
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlmodel import SQLModel

from core.crypto import SecretBox
from core.db import MIGRATIONS_DIR, Amount, create_engine, upgrade_database

pytestmark = pytest.mark.postgres

BEFORE_LIST_CONTRACT_VALUE = "258b4ed51d69"     # the revision before ffb9441dd405 added it
BEFORE_ENCRYPTED_SECRETS = "5e1c7a9b2d40"       # the revision before 7c3d9e1f4a52 encrypted them


def downgrade_database(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    command.downgrade(config, revision)


def table_modules() -> list[str]:
    """TABLE_MODULES of migrations/env.py, which cannot be imported outside an Alembic run."""
    tree = ast.parse((MIGRATIONS_DIR / "env.py").read_text())
    return next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(target, "id", None) == "TABLE_MODULES" for target in node.targets))


def test_the_migrated_schema_is_the_models_schema(engine):
    for name in table_modules():
        importlib.import_module(name)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def _empty(url: str):
    engine = create_engine(url, sqlite_foreign_keys=False)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    return engine


def test_the_list_contract_value_is_filled_in_from_the_stored_price(database_url):
    engine = _empty(database_url)
    try:
        upgrade_database(database_url, BEFORE_LIST_CONTRACT_VALUE)
        meta = sa.MetaData()
        meta.reflect(engine, only=("app_user", "account", "quote"))
        user, account, quote = meta.tables["app_user"], meta.tables["account"], meta.tables["quote"]
        now = datetime(2026, 11, 1, tzinfo=timezone.utc)
        priced = lambda listed: {"lines": [], "totals": {"list_contract_value": listed,      # noqa: E731
                                                         "contract_value": "90.00"}}
        with engine.begin() as conn:
            conn.execute(user.insert().values(id="u1", email="u1@example.com", name="Ann", role="rep",
                                              approval_levels=[], active=True, created_at=now))
            conn.execute(account.insert().values(id=1, code="ACME", name="Acme", currency="USD",
                                                 payment_terms="NET30", billing_address={}, shipping_address={},
                                                 created_at=now, updated_at=now))
            base = dict(latest=True, state="sent", account_id=1, owner_id="u1", title="", currency="USD",
                        price_book="list-usd", rule_set="standard", payment_terms="NET30", promo_codes=[],
                        expires_on=date(2027, 1, 1), terms="", notes="", fingerprint="", lock_version=1,
                        created_at=now, updated_at=now)
            conn.execute(quote.insert(), [
                base | dict(id=1, number="Q-1", revision=1, priced=priced("100.00")),
                base | dict(id=2, number="Q-2", revision=1, priced=priced("1234567.891")),
                base | dict(id=3, number="Q-3", revision=1, priced={"lines": [], "totals": {}}),
                base | dict(id=4, number="Q-4", revision=1, priced=None)])
        upgrade_database(database_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.column("id"), sa.column("list_contract_value", Amount()))
                                .select_from(sa.table("quote")).order_by(sa.column("id"))).all()
        assert [tuple(row) for row in rows] == [(1, Decimal(100)), (2, Decimal("1234567.891")), (3, None), (4, None)]
    finally:
        engine.dispose()


def test_existing_webhook_secrets_are_encrypted_and_decrypted_on_the_way_back(database_url, monkeypatch):
    """Issue 16: secrets were stored in clear; the revision that encrypts them leaves none."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("CPQ_ENCRYPTION_KEYS", key)
    engine = _empty(database_url)
    try:
        upgrade_database(database_url, BEFORE_ENCRYPTED_SECRETS)
        meta = sa.MetaData()
        meta.reflect(engine, only=("webhook_subscription",))
        table = meta.tables["webhook_subscription"]
        clear, previous = "whsec_" + "A" * 43 + "=", "whsec_" + "B" * 43 + "="
        with engine.begin() as conn:
            conn.execute(table.insert(), [
                dict(id=1, url="https://erp.example.com/", events=["*"], description="", secret=clear,
                     previous_secret=previous, active=True, created_by="ops", created_at=datetime.now(timezone.utc)),
                dict(id=2, url="https://crm.example.com/", events=["*"], description="", secret=previous,
                     previous_secret=None, active=True, created_by="ops", created_at=datetime.now(timezone.utc))])
        upgrade_database(database_url)
        def stored():
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT secret, previous_secret FROM webhook_subscription ORDER BY id")).all()

        rows = stored()
        assert not any("whsec_" in (value or "") for row in rows for value in row)
        box = SecretBox([key])
        assert [(box.open(s), p and box.open(p)) for s, p in rows] == [(clear, previous), (previous, None)]
        downgrade_database(database_url, BEFORE_ENCRYPTED_SECRETS)
        assert [tuple(row) for row in stored()] == [(clear, previous), (previous, None)]
    finally:
        engine.dispose()
