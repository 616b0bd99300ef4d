"""quote list contract value

A quote's list contract value (before any discount) as a column beside its contract value,
so the dashboard can sum the discount given in SQL instead of reading every quote's stored
price. Existing quotes get it from that stored price (`priced.totals.list_contract_value`),
read and written in Python so the backfill runs the same on SQLite and PostgreSQL.

Revision ID: ffb9441dd405
Revises: 258b4ed51d69
Create Date: 2026-11-23 21:59:16.470082

"""
from decimal import Decimal
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import core.db  # exact decimal columns (text on SQLite, NUMERIC on PostgreSQL)


# revision identifiers, used by Alembic.
revision: str = 'ffb9441dd405'
down_revision: Union[str, Sequence[str], None] = '258b4ed51d69'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.add_column(sa.Column('list_contract_value', core.db.Amount(), nullable=True))

    # the table as this revision knows it, whatever the model says later
    quote = sa.table('quote', sa.column('id', sa.Integer()), sa.column('priced', sa.JSON()),
                     sa.column('list_contract_value', core.db.Amount()))
    update = (sa.update(quote).where(quote.c.id == sa.bindparam('quote_id'))
              .values(list_contract_value=sa.bindparam('value', type_=core.db.Amount())))
    conn = op.get_bind()
    last = 0
    while True:   # in id order, a batch at a time: the stored prices can be large
        rows = conn.execute(sa.select(quote.c.id, quote.c.priced).where(quote.c.id > last)
                            .order_by(quote.c.id).limit(BATCH)).all()
        if not rows:
            break
        last = rows[-1].id
        values = [{'quote_id': row.id, 'value': Decimal(str(value))} for row in rows
                  if (value := ((row.priced or {}).get('totals') or {}).get('list_contract_value')) is not None]
        if values:
            conn.execute(update, values)


def downgrade() -> None:
    with op.batch_alter_table('quote', schema=None) as batch_op:
        batch_op.drop_column('list_contract_value')
