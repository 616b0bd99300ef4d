"""Document numbers without gaps: one counter row per series, advanced in one statement.

The counter is advanced in the caller's transaction, so a rolled-back document gives its
number back. `UPDATE ... SET last = last + 1 RETURNING last` reads and writes at once: on
PostgreSQL concurrent transactions queue on the row lock, and on SQLite the statement takes
the write lock (Python's driver runs a SELECT outside the transaction, so a counter read
first and written later could be handed out twice).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, Session

from core.db import Table, insert_ignoring


class Sequence(Table, table=True):
    __tablename__ = "sequence"

    series: str = Field(primary_key=True, max_length=64)
    last: int = 0


_TABLE = Sequence.__table__
#: built once (with the series as a parameter): building a statement and its cache key costs
#: more than running it. A Core statement on the table, run on the session's connection: the
#: ORM's bulk UPDATE path annotated a copy of it, and made its cache key again, on every call
_ADVANCE = (sa.update(_TABLE).where(_TABLE.c.series == sa.bindparam("of_series")).values(last=_TABLE.c.last + 1)
            .returning(_TABLE.c.last))


def next_number(session: Session, series: str) -> int:
    """The next number of `series` (1, 2, 3...), reserved in the current transaction."""
    connection = session.connection()
    number = connection.execute(_ADVANCE, {"of_series": series}).scalar()
    if number is None:
        # First use: insert the row, or lose the race to a concurrent first use and take theirs.
        connection.execute(insert_ignoring(session, Sequence, "series").values(series=series, last=0))
        number = connection.execute(_ADVANCE, {"of_series": series}).scalar_one()
    return number


#: next_numbers' statement: the rows are locked in the series' order (the subquery's ORDER BY ...
#: FOR UPDATE locks as it sorts them out), then advanced. Not a CTE: a statement that starts
#: with WITH gets no BEGIN from Python's SQLite driver, which would commit the advance at once
_ADVANCE_MANY = (sa.update(_TABLE).where(_TABLE.c.series.in_(
    sa.select(_TABLE.c.series).where(_TABLE.c.series.in_(sa.bindparam("of_series", expanding=True)))
    .order_by(_TABLE.c.series).with_for_update())).values(last=_TABLE.c.last + 1)
    .returning(_TABLE.c.series, _TABLE.c.last))


def next_numbers(session: Session, *series: str) -> list[int]:
    """The next number of each of `series`, in one statement (a transaction that takes several
    counters, as making an order does, saves a round trip each). Every caller takes their rows
    in one order, the series' sorted one, so two such transactions never wait on each other."""
    taken = dict(session.connection().execute(_ADVANCE_MANY, {"of_series": list(series)}).all())
    return [taken[name] if name in taken else next_number(session, name) for name in series]
