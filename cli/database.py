"""`cpq db`: the database's schema, and re-encrypting its secrets after a key rotation."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from cli.common import database
from core.crypto import SecretBox
from core.db import upgrade_database
from core.settings import Settings
from core.webhooks import reencrypt_secrets


@click.group()
def db():
    """The database named by $DATABASE_URL (default: var/cpq.db)."""


@db.command("upgrade")
def db_upgrade():
    """Create or migrate the schema to the latest revision."""
    url = Settings.from_env().database_url
    upgrade_database(url)
    click.echo(f"database is up to date: {make_url(url).render_as_string(hide_password=True)}")


@db.command("reencrypt")
def db_reencrypt():
    """Encrypt every stored secret with the first key of CPQ_ENCRYPTION_KEYS (after a rotation)."""
    with database() as session:
        count = reencrypt_secrets(session, SecretBox.from_settings(Settings.from_env()))
    click.echo(f"{count} webhook subscriptions re-encrypted with the first key")
