"""documents table

Rendered documents move out of the rows they belong to into one table, loaded only when
asked for: a quote revision's sent PDF (quote_document), a contract's PDF and an invoice's
PDF and EN 16931 XML (columns that every load of an invoice used to carry). Each keeps its
bytes and SHA-256; existing ones are ready, as they were rendered already.

Revision ID: c1d2e3f4a5b6
Revises: 9a4b6c8d0e13
Create Date: 2026-12-07 00:10:00.000000

"""
import hashlib
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = 'c1d2e3f4a5b6'
down_revision: Union[str, Sequence[str], None] = '9a4b6c8d0e13'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BATCH = 200


def upgrade() -> None:
    document = op.create_table(
        'document',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('ref', sa.Integer(), nullable=False),
        sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'ref', 'format'))
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_ref'), ['ref'], unique=False)

    conn = op.get_bind()
    sources = [("quote", "pdf", "SELECT quote_id, content, created_at FROM quote_document"),
               ("contract", "pdf", "SELECT id, document, updated_at FROM contract WHERE document IS NOT NULL"),
               ("invoice", "pdf", "SELECT id, document, issued_at FROM invoice WHERE document IS NOT NULL"),
               ("invoice", "cii", "SELECT id, einvoice_xml, issued_at FROM invoice WHERE einvoice_xml IS NOT NULL")]
    for kind, fmt, query in sources:
        rows = conn.execute(sa.text(query)).all()
        for start in range(0, len(rows), BATCH):
            conn.execute(document.insert(), [
                {"kind": kind, "ref": ref, "format": fmt, "status": "ready", "source": "",
                 "sha256": hashlib.sha256(content).hexdigest(), "size": len(content), "content": content,
                 "attempts": 0, "error": "", "requested_at": at, "ready_at": at}
                for ref, content, at in rows[start:start + BATCH]])

    op.drop_table('quote_document')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_column('document')
        batch_op.drop_column('document_sha256')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('document')
        batch_op.drop_column('document_sha256')
        batch_op.drop_column('einvoice_xml')


def downgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('einvoice_xml', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('document_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('document', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('document', sa.LargeBinary(), nullable=True))
    quote_document = op.create_table(
        'quote_document',
        sa.Column('quote_id', sa.Integer(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['quote_id'], ['quote.id']),
        sa.PrimaryKeyConstraint('quote_id'))
    conn = op.get_bind()
    ready = "SELECT ref, sha256, content, ready_at FROM document WHERE status = 'ready' AND "
    rows = conn.execute(sa.text(ready + "kind = 'quote'")).all()
    if rows:
        conn.execute(quote_document.insert(), [{"quote_id": r, "sha256": s, "content": c, "created_at": at}
                                               for r, s, c, at in rows])
    for table, fmt, content_column, sha_column in (("contract", "pdf", "document", "document_sha256"),
                                                   ("invoice", "pdf", "document", "document_sha256"),
                                                   ("invoice", "cii", "einvoice_xml", None)):
        kind = table
        for ref, sha, content, _at in conn.execute(sa.text(ready + f"kind = '{kind}' AND format = '{fmt}'")).all():
            values = {content_column: content} | ({sha_column: sha} if sha_column else {})
            conn.execute(sa.table(table, sa.column('id'), *(sa.column(k) for k in values)).update()
                         .where(sa.column('id') == ref).values(**values))
    op.drop_table('document')
