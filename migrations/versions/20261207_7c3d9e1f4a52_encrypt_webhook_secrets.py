"""encrypt webhook secrets

Webhook signing secrets were stored in clear; they are now Fernet tokens (core/crypto.py),
which need longer columns. Existing secrets are encrypted here, in the same transaction, so
no clear secret is left once the schema is up to date. The keys are the running settings'
(CPQ_ENCRYPTION_KEYS, else the key derived from SECRET_KEY): run `cpq db upgrade` with the
same environment as the app and the worker. The downgrade decrypts them again.

Revision ID: 7c3d9e1f4a52
Revises: 5e1c7a9b2d40
Create Date: 2026-12-07 10:00:00.000000

"""
from typing import Callable, Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

from core.crypto import SecretBox
from core.settings import Settings


# revision identifiers, used by Alembic.
revision: str = '7c3d9e1f4a52'
down_revision: Union[str, Sequence[str], None] = '5e1c7a9b2d40'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_subscription = sa.table('webhook_subscription', sa.column('id', sa.Integer), sa.column('secret', sa.String),
                         sa.column('previous_secret', sa.String))


def _rewrite(change: Callable[[SecretBox], Callable[[str], str]]) -> None:
    """Each stored secret through `change` of the keys (asked for only when there is one:
    an empty database needs no SECRET_KEY to migrate)."""
    conn = op.get_bind()
    rows = conn.execute(sa.select(_subscription)).all()
    if rows:
        change = change(SecretBox.from_settings(Settings.from_env()))
    for row in rows:
        conn.execute(_subscription.update().where(_subscription.c.id == row.id).values(
            secret=change(row.secret), previous_secret=change(row.previous_secret) if row.previous_secret else None))


def _resize(length: int) -> None:
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        for column, nullable in (('secret', False), ('previous_secret', True)):
            batch_op.alter_column(column, type_=sqlmodel.sql.sqltypes.AutoString(length=length),
                                  existing_nullable=nullable)


def upgrade() -> None:
    _resize(300)
    _rewrite(lambda box: box.seal)


def downgrade() -> None:
    _rewrite(lambda box: box.open)
    _resize(100)
