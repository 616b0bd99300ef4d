"""Document numbers without gaps: one counter row per series, advanced in one statement.

The counter is advanced in the caller's transaction, so a rolled-back document gives its
number back. `UPDATE ... SET last = last + 1 RETURNING last` reads and writes at once: on
PostgreSQL concurrent transactions queue on the row lock, and on SQLite the statement takes
the write lock (Python's driver runs a SELECT outside the transaction, so a counter read
first and written later could be handed out twice).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel

from core.db import insert_ignoring


class Sequence(SQLModel, table=True):
    __tablename__ = "sequence"

    series: str = Field(primary_key=True, max_length=64)
    last: int = 0


#: built once (with the series as a parameter): building a statement and its cache key costs
#: more than running it
_ADVANCE = (sa.update(Sequence).where(Sequence.series == sa.bindparam("of_series")).values(last=Sequence.last + 1)
            .returning(Sequence.last).execution_options(synchronize_session=False))


def next_number(session: Session, series: str) -> int:
    """The next number of `series` (1, 2, 3...), reserved in the current transaction."""
    number = session.execute(_ADVANCE, {"of_series": series}).scalar()
    if number is None:
        # First use: insert the row, or lose the race to a concurrent first use and take theirs.
        session.execute(insert_ignoring(session, Sequence, "series").values(series=series, last=0))
        number = session.execute(_ADVANCE, {"of_series": series}).scalar_one()
    return number
