"""consolidated invoicing

An account's invoice consolidation (per_document, as before, or per_billing_day) and its
billing day; on each invoice line the order it bills (so a consolidated invoice's lines keep
their source; filled in from the invoice for the lines there are) and the part of the invoice
it came from (tax is computed per part, as on the separate document it replaces; 0 for all
lines there are, each of which is on an invoice of one part).

Revision ID: b7c3e1f0a9d2
Revises: b7e2c4a91f03
Create Date: 2026-12-09 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = 'b7c3e1f0a9d2'
down_revision: Union[str, Sequence[str], None] = 'b7e2c4a91f03'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('account') as batch:
        batch.add_column(sa.Column('invoice_consolidation', sqlmodel.sql.sqltypes.AutoString(length=16),
                                   nullable=False, server_default='per_document'))
        batch.add_column(sa.Column('billing_day', sa.Integer(), nullable=False, server_default='1'))
    with op.batch_alter_table('invoice_line') as batch:
        batch.add_column(sa.Column('order_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('part', sa.Integer(), nullable=False, server_default='0'))
        batch.create_index(batch.f('ix_invoice_line_order_id'), ['order_id'], unique=False)
        batch.create_foreign_key(batch.f('fk_invoice_line_order_id_sales_order'), 'sales_order', ['order_id'], ['id'])
    op.execute("UPDATE invoice_line SET order_id = (SELECT invoice.order_id FROM invoice "
               "WHERE invoice.id = invoice_line.invoice_id)")


def downgrade() -> None:
    with op.batch_alter_table('invoice_line') as batch:
        batch.drop_constraint(batch.f('fk_invoice_line_order_id_sales_order'), type_='foreignkey')
        batch.drop_index(batch.f('ix_invoice_line_order_id'))
        batch.drop_column('part')
        batch.drop_column('order_id')
    with op.batch_alter_table('account') as batch:
        batch.drop_column('billing_day')
        batch.drop_column('invoice_consolidation')
