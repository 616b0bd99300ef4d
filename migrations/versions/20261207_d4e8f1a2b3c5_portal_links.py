"""portal links: a billing contact's link to the account's billing portal

Revision ID: d4e8f1a2b3c5
Revises: b7e2a4c9d1f0
Create Date: 2026-12-07
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'd4e8f1a2b3c5'
down_revision: Union[str, Sequence[str], None] = 'b7e2a4c9d1f0'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "portal_link",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
    )
    op.create_index("ix_portal_link_account_id", "portal_link", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_portal_link_account_id", table_name="portal_link")
    op.drop_table("portal_link")
