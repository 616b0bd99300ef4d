"""quote requests

Requests for a quote from the online configurator are kept for a rep to match to an account
or convert into a new one (sales/inbound.py), instead of becoming a draft at once on whatever
account had the email the anonymous requester typed. Nothing existing changes: requests made
before were already drafts, and stay so.

Revision ID: 9a4b6c8d0e13
Revises: 7c3d9e1f4a52
Create Date: 2026-12-07 11:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = '9a4b6c8d0e13'
down_revision: Union[str, Sequence[str], None] = '7c3d9e1f4a52'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table('quote_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', text(length=20), nullable=False),
    sa.Column('state', text(length=16), nullable=False),
    sa.Column('company', text(length=200), nullable=False),
    sa.Column('name', text(length=200), nullable=False),
    sa.Column('email', text(length=254), nullable=False),
    sa.Column('country', text(length=2), nullable=False),
    sa.Column('message', text(length=2000), nullable=False),
    sa.Column('product', text(length=100), nullable=False),
    sa.Column('selections', sa.JSON(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price_book', text(length=100), nullable=False),
    sa.Column('account_code', text(length=40), nullable=True),
    sa.Column('quote_number', text(length=32), nullable=True),
    sa.Column('handled_by', text(length=32), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', text(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['handled_by'], ['app_user.id'], name=op.f('fk_quote_request_handled_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quote_request')),
    sa.UniqueConstraint('reference', name=op.f('uq_quote_request_reference'))
    )
    with op.batch_alter_table('quote_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quote_request_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('quote_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quote_request_state'))
    op.drop_table('quote_request')
