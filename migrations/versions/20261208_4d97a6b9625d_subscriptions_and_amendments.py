"""subscriptions and amendments

Subscriptions (a recurring order line as a running service) with their versions, written
once; quotes that amend or renew a contract (kind, contract, effective date) and lines that
change a subscription; the adjustments an amendment bills on periods already invoiced; and
the transaction price a contract's revenue schedule last worked out (None until scheduled).
Orders made before have no subscriptions yet: they are made from their lines when first
needed (sales/subscriptions.py), so nothing is filled in here.

Revision ID: 4d97a6b9625d
Revises: 6d45c873b46d
Create Date: 2026-12-08 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

import core.db  # exact decimal columns (text on SQLite, NUMERIC on PostgreSQL)


# revision identifiers, used by Alembic.
revision: str = '4d97a6b9625d'
down_revision: Union[str, Sequence[str], None] = '6d45c873b46d'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table('subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('line_key', text(length=40), nullable=False),
    sa.Column('product', text(length=100), nullable=False),
    sa.Column('name', text(length=300), nullable=False),
    sa.Column('currency', text(length=3), nullable=False),
    sa.Column('charge', text(length=16), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('anchor_day', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('state', text(length=16), nullable=False),
    sa.Column('cancelled_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_subscription_account_id_account')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_subscription_contract_id_contract')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_subscription_order_id_sales_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription')),
    sa.UniqueConstraint('order_id', 'line_key', name=op.f('uq_subscription_order_id_line_key'))
    )
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transaction_price', core.db.Amount(), nullable=True))

    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', text(length=16), nullable=False, server_default='sale'))
        batch_op.add_column(sa.Column('contract_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('effective_date', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_quote_contract_id'), ['contract_id'], unique=False)

    with op.batch_alter_table('quote_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscription_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reprice', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_foreign_key(batch_op.f('fk_quote_line_subscription_id_subscription'), 'subscription',
                                    ['subscription_id'], ['id'])

    op.create_table('subscription_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('quantity', core.db.Amount(), nullable=False),
    sa.Column('amount', core.db.Amount(), nullable=False),
    sa.Column('unit_price', core.db.Amount(), nullable=False),
    sa.Column('configuration', sa.JSON(), nullable=False),
    sa.Column('model_version', sa.Integer(), nullable=True),
    sa.Column('quote_id', sa.Integer(), nullable=True),
    sa.Column('reason', text(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['quote_id'], ['quote.id'], name=op.f('fk_subscription_version_quote_id_quote')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'],
                            name=op.f('fk_subscription_version_subscription_id_subscription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_version')),
    sa.UniqueConstraint('subscription_id', 'version', name=op.f('uq_subscription_version_subscription_id_version'))
    )
    with op.batch_alter_table('subscription_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_version_quote_id'), ['quote_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_version_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('billing_adjustment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('amount', core.db.Amount(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_billing_adjustment_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['period_id'], ['billing_period.id'],
                            name=op.f('fk_billing_adjustment_period_id_billing_period')),
    sa.ForeignKeyConstraint(['version_id'], ['subscription_version.id'],
                            name=op.f('fk_billing_adjustment_version_id_subscription_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_adjustment'))
    )
    with op.batch_alter_table('billing_adjustment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_adjustment_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_adjustment_period_id'), ['period_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_adjustment_version_id'), ['version_id'], unique=False)


def downgrade() -> None:
    op.drop_table('billing_adjustment')
    op.drop_table('subscription_version')
    with op.batch_alter_table('quote_line', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_quote_line_subscription_id_subscription'), type_='foreignkey')
        batch_op.drop_column('reprice')
        batch_op.drop_column('subscription_id')
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quote_contract_id'))
        batch_op.drop_column('effective_date')
        batch_op.drop_column('contract_id')
        batch_op.drop_column('kind')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_column('transaction_price')
    op.drop_table('subscription')
