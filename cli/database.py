"""`cpq db`: the database's schema."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from core.db import upgrade_database
from core.settings import Settings


@click.group()
def db():
    """The database named by $DATABASE_URL (default: var/cpq.db)."""


@db.command("upgrade")
def db_upgrade():
    """Create or migrate the schema to the latest revision."""
    url = Settings.from_env().database_url
    upgrade_database(url)
    click.echo(f"database is up to date: {make_url(url).render_as_string(hide_password=True)}")
