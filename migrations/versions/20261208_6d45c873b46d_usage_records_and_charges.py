"""usage records and charges

Metered usage (billing/usage_models.py): the records meters report, keyed by account and
idempotency key, quantities as integers of millionths; the periods that took records (the
row rating locks); and the usage charges rating makes, one per account, period and meter,
each on a draft invoice. `subscription_id` has no foreign
key until subscriptions exist.

Revision ID: 6d45c873b46d
Revises: 84760ea266e9
Create Date: 2026-12-08 00:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # autogenerate renders SQLModel string columns as sqlmodel.sql.sqltypes.AutoString

import core.db  # exact decimal columns (text on SQLite, NUMERIC on PostgreSQL)


# revision identifiers, used by Alembic.
revision: str = '6d45c873b46d'
down_revision: Union[str, Sequence[str], None] = '84760ea266e9'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'usage_record',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=True),
        sa.Column('meter', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('quantity', sa.BigInteger(), nullable=False),         # millionths
        sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('period', sa.Date(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_usage_record_account_id_account')),
        sa.PrimaryKeyConstraint('account_id', 'idempotency_key', name=op.f('pk_usage_record')))
    with op.batch_alter_table('usage_record', schema=None) as batch_op:
        batch_op.create_index('ix_usage_record_period_account', ['period', 'account_id'], unique=False)

    op.create_table(
        'usage_period',
        sa.Column('period', sa.Date(), nullable=False),
        sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('complete', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('period', name=op.f('pk_usage_period')))

    op.create_table(
        'usage_charge',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.Date(), nullable=False),
        sa.Column('meter', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('product', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('price_book', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('price_book_version', sa.Integer(), nullable=False),
        sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.BigInteger(), nullable=False),         # millionths, as the next two
        sa.Column('allowance_used', sa.BigInteger(), nullable=False),
        sa.Column('billable', sa.BigInteger(), nullable=False),
        sa.Column('steps', sa.JSON(), nullable=False),
        sa.Column('amount', core.db.Amount(), nullable=False),
        sa.Column('minimum', core.db.Amount(), nullable=True),
        sa.Column('true_up', core.db.Amount(), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=False),
        sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_usage_charge_account_id_account')),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_usage_charge_invoice_id_invoice')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_charge')),
        sa.UniqueConstraint('account_id', 'period', 'meter', name=op.f('uq_usage_charge_account_id_period_meter')))
    with op.batch_alter_table('usage_charge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_charge_invoice_id'), ['invoice_id'], unique=False)


def downgrade() -> None:
    op.drop_table('usage_charge')
    op.drop_table('usage_period')
    op.drop_table('usage_record')
