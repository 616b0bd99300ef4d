"""The Alembic revisions build exactly the tables the models describe, and the revision that
added quote.list_contract_value filled it in from each quote's stored price."""

from __future__ import annotations

import ast
import importlib
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from core.db import MIGRATIONS_DIR, Amount, create_engine, upgrade_database

pytestmark = pytest.mark.postgres

BEFORE_LIST_CONTRACT_VALUE = "258b4ed51d69"     # the revision before ffb9441dd405 added it


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
