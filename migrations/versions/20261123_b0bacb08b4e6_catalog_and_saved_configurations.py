"""catalog and saved configurations

Product codes, immutable model versions (the model source as JSON) and saved
configurations pinned to a model version.

Revision ID: b0bacb08b4e6
Revises:
Create Date: 2026-11-23 11:37:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b0bacb08b4e6'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'product',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=100), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_product')),
        sa.UniqueConstraint('code', name=op.f('uq_product_code')),
    )
    op.create_table(
        'model_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('product', sa.String(length=100), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('source', sa.JSON(), nullable=False),
        sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['product'], ['product.code'],
                                name=op.f('fk_model_version_product_product')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_model_version')),
        # also serves lookups by product (leading column)
        sa.UniqueConstraint('product', 'version', name=op.f('uq_model_version_product_version')),
    )
    op.create_table(
        'configuration',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('product', sa.String(length=100), nullable=False),
        sa.Column('model_version', sa.Integer(), nullable=False),
        sa.Column('selections', sa.JSON(), nullable=False),
        sa.Column('assignment', sa.JSON(), nullable=True),
        sa.Column('complete', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['product', 'model_version'],
                                ['model_version.product', 'model_version.version'],
                                name=op.f('fk_configuration_product_model_version')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_configuration')),
    )
    op.create_index(op.f('ix_configuration_product'), 'configuration', ['product'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_configuration_product'), table_name='configuration')
    op.drop_table('configuration')
    op.drop_table('model_version')
    op.drop_table('product')
