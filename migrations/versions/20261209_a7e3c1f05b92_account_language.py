"""account language

The language of an account's documents, letters and customer pages (en, fr, sv, nl, de);
accounts made before are English, as everything they were sent was.

Revision ID: a7e3c1f05b92
Revises: b7c3e1f0a9d2
Create Date: 2026-12-09 04:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = 'a7e3c1f05b92'
down_revision: Union[str, Sequence[str], None] = 'b7c3e1f0a9d2'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='en'))


def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('language')
