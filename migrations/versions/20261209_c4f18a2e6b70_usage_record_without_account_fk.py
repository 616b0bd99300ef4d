"""usage record without its account foreign key

The foreign key's trigger looked up and locked the account of every usage record inserted,
half of the database's work of ingestion; a batch now locks its accounts once (FOR KEY
SHARE, billing/usage.py), which keeps them from being deleted while it writes.

Revision ID: c4f18a2e6b70
Revises: a7e3c1f05b92
Create Date: 2026-12-09 05:15:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'c4f18a2e6b70'
down_revision: Union[str, Sequence[str], None] = 'a7e3c1f05b92'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('usage_record', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_usage_record_account_id_account'), type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('usage_record', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_usage_record_account_id_account'), 'account', ['account_id'], ['id'])
