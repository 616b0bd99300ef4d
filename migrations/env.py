"""Alembic environment: migrates whatever database it is given to the SQLModel schema.

The URL comes from ``upgrade_database()`` (config attribute ``database_url``), else from
``sqlalchemy.url`` if someone sets it, else from the environment via ``Settings``.
"""

from __future__ import annotations

import importlib
from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

from core.db import create_engine, normalise_url  # also sets the naming convention
from core.settings import Settings

# Modules that define tables. Missing ones are skipped, so this file works before the
# tables are written; an ImportError *inside* an existing module is still raised.
TABLE_MODULES = ("core.versioned", "core.users", "core.sequences", "catalog.store", "configurator.store",
                 "rules.promotions", "sales.accounts", "sales.models", "sales.order_models", "sales.inbound",
                 "core.apikeys", "core.websessions", "core.webhooks", "core.mail",
                 "billing.models", "billing.portal", "core.idempotency", "core.docstore", "core.fxrates",
                 "billing.usage_models")

for _name in TABLE_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (_name, _name.rpartition(".")[0]):
            raise

config = context.config
# Only the `alembic` command line has an ini file; programmatic runs keep the caller's logging.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _database_url() -> str:
    url = (
        config.attributes.get("database_url")
        or config.get_main_option("sqlalchemy.url")
        or Settings.from_env().database_url
    )
    return normalise_url(url)


def _configure_args(url: str) -> dict:
    return {
        "target_metadata": target_metadata,
        "render_as_batch": url.startswith("sqlite"),  # SQLite can't ALTER most things
        "compare_type": True,
    }


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) without connecting."""
    url = _database_url()
    context.configure(url=url, literal_binds=True, **_configure_args(url))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _database_url()
    engine = create_engine(url, sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **_configure_args(url))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
