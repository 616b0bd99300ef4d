"""account channel and price books

An account's sales channel and the price books it is entitled to by name, so a quote is
priced only on books the account may be sold at (sales/quotes.py: _check_entitled).
Existing accounts get no channel and no extra books: the list books stay open to them.

Revision ID: 5e1c7a9b2d40
Revises: ffb9441dd405
Create Date: 2026-12-06 21:20:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5e1c7a9b2d40'
down_revision: Union[str, Sequence[str], None] = 'ffb9441dd405'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('price_books', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('price_books')
        batch_op.drop_column('channel')
