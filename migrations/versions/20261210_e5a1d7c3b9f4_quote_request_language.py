"""quote request language

The language the customer asked in (the configurator page's), so the account a rep converts
the request into speaks it; requests made before are English.

Revision ID: e5a1d7c3b9f4
Revises: c4f18a2e6b70
Create Date: 2026-12-10 06:40:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = 'e5a1d7c3b9f4'
down_revision: Union[str, Sequence[str], None] = 'c4f18a2e6b70'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('quote_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='en'))


def downgrade() -> None:
    with op.batch_alter_table('quote_request', schema=None) as batch_op:
        batch_op.drop_column('language')
