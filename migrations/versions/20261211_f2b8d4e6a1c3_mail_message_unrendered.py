"""mail message unrendered

A message composed to be rendered by the task that sends it (an issued invoice's e-mail, off
the request path) keeps its template's values and language until then (core/mail.py).

Revision ID: f2b8d4e6a1c3
Revises: e5a1d7c3b9f4
Create Date: 2026-12-11 06:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'f2b8d4e6a1c3'
down_revision: Union[str, Sequence[str], None] = 'e5a1d7c3b9f4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('mail_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unrendered', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mail_message', schema=None) as batch_op:
        batch_op.drop_column('unrendered')
