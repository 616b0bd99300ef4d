"""exchange rates

Rates between currencies with the day each took effect and where it came from (the ECB's
reference rates: core/fxrates.py, core/ecb.py), written once and never changed, for derived
price books and reports in a reporting currency.

Revision ID: 84760ea266e9
Revises: d4e8f1a2b3c5
Create Date: 2026-12-08 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

import core.db  # exact decimal columns (text on SQLite, NUMERIC on PostgreSQL)


# revision identifiers, used by Alembic.
revision: str = '84760ea266e9'
down_revision: Union[str, Sequence[str], None] = 'd4e8f1a2b3c5'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table('exchange_rate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('base', text(length=3), nullable=False),
    sa.Column('quote', text(length=3), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('rate', core.db.Amount(), nullable=False),
    sa.Column('source', text(length=32), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_rate')),
    sa.UniqueConstraint('base', 'quote', 'effective_on', name=op.f('uq_exchange_rate_base_quote_effective_on'))
    )
    with op.batch_alter_table('exchange_rate', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_rate_quote_base', ['quote', 'base'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('exchange_rate', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_rate_quote_base')
    op.drop_table('exchange_rate')
