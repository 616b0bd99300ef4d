"""Document numbers without gaps: one counter row per series, locked while it is advanced.

The counter is advanced in the caller's transaction, so a rolled-back document gives its
number back, and two concurrent transactions on PostgreSQL queue on the row lock (SELECT ...
FOR UPDATE) instead of handing out the same number. SQLite serialises writers anyway.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select


class Sequence(SQLModel, table=True):
    __tablename__ = "sequence"

    series: str = Field(primary_key=True, max_length=64)
    last: int = 0


def next_number(session: Session, series: str) -> int:
    """The next number of `series` (1, 2, 3...), reserved in the current transaction."""
    row = session.exec(select(Sequence).where(Sequence.series == series).with_for_update()).first()
    if row is None:
        # First use: insert the row, or lose the race to a concurrent first use and lock theirs.
        try:
            with session.begin_nested():
                session.add(Sequence(series=series, last=0))
        except sa.exc.IntegrityError:
            pass
        row = session.exec(select(Sequence).where(Sequence.series == series).with_for_update()).one()
    row.last += 1
    session.add(row)
    session.flush()
    return row.last
