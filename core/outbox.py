"""The mechanics every outbox shares (e-mail: core/mail_delivery.py, webhooks: core/webhook_delivery.py).

A row waits `pending` until its `next_attempt_at`; a worker locks it while it is attempted
(SKIP LOCKED on PostgreSQL) and settles it in the same transaction, so a task that runs twice,
or two workers, never send it twice. A failed attempt is retried after an exponential backoff
with jitter, until the outbox's last attempt or a permanent failure leaves it `failed`.
What is sent and how (SMTP, signed HTTP) stays in each outbox's own module: its `Attempt`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import session_scope

PENDING, FAILED = "pending", "failed"
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)


def backoff(attempts: int, jitter: float | None = None) -> timedelta:
    """The wait after the `attempts`-th failure: 30 s doubling each time, at most 6 h, ±10%
    (the jitter keeps the retries of one outage from arriving together)."""
    wait = min(FIRST_RETRY * 2 ** min(attempts - 1, 20), LONGEST_WAIT)     # 2**20 * 30 s > 6 h; no overflow
    return wait * (jitter if jitter is not None else random.uniform(0.9, 1.1))


@dataclass
class DeliveryRun:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    ids: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: no `error` means it went out; `note` is kept as the last error
    even then (e.g. the recipients a server refused while the others got it)."""
    error: str = ""
    permanent: bool = False            # no retry can help: fail now
    note: str = ""


#: (session, the locked row, the attempt's moment) -> its Outcome, or None when it was no
#: attempt (the row waits for something else, without using up an attempt)
Attempt = Callable[[Session, Any, datetime], Outcome | None]


@dataclass(frozen=True)
class Outbox:
    """One outbox table: rows with `id`, `status`, `attempts`, `next_attempt_at` and `last_error`."""
    table: Any
    key: str                           # the column of the id receivers see (the same on every attempt)
    sent: str                          # the status of a row that went out
    sent_at: str                       # the column of when it went out
    narrow: Callable[[Any], Any] = lambda query: query      # e.g. only active subscriptions' rows

    def due(self, query, moment: datetime):
        """`query` limited to the rows pending and due at `moment`."""
        return self.narrow(query).where(self.table.status == PENDING, self.table.next_attempt_at <= moment)

    def due_count(self, session: Session, moment: datetime) -> int:
        """How many rows are due and waiting for a worker: the outbox's queue depth."""
        return session.exec(self.due(select(sa.func.count(self.table.id)), moment)).one()

    def deliver_due(self, engine: Engine, attempt: Attempt, *, max_attempts: int, limit: int,
                    now: Callable[[], datetime]) -> DeliveryRun:
        """Attempt every row that is due (up to `limit`, oldest first), each in its own transaction."""
        run = DeliveryRun()
        with session_scope(engine) as session:
            due = list(session.exec(self.due(select(self.table.id), now())
                                    .order_by(self.table.next_attempt_at, self.table.id).limit(limit)))
        for row_id in due:
            with session_scope(engine) as session:
                row = session.exec(select(self.table).where(self.table.id == row_id)
                                   .with_for_update(skip_locked=True)).first()
                if row is None or row.status != PENDING:
                    continue                                  # another worker has it, or had it
                moment = now()
                outcome = attempt(session, row, moment)
                if outcome is not None:
                    self._settle(session, row, outcome, moment, max_attempts, run)
        return run

    def _settle(self, session: Session, row, outcome: Outcome, moment: datetime, max_attempts: int,
                run: DeliveryRun) -> None:
        row.attempts += 1
        row.last_error = (outcome.error or outcome.note)[:500]
        if not outcome.error:
            row.status, row.next_attempt_at = self.sent, None
            setattr(row, self.sent_at, moment)
            run.delivered += 1
        elif outcome.permanent or row.attempts >= max_attempts:
            row.status, row.next_attempt_at = FAILED, None
            run.failed += 1
        else:
            row.next_attempt_at = moment + backoff(row.attempts)
            run.retrying += 1
        run.ids.append(getattr(row, self.key))
        session.add(row)
