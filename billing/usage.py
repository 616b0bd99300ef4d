"""Usage ingestion: records that meters report, checked and stored in bulk, each once.

A record says that an account used `quantity` of a meter at `event_time`; its
`idempotency_key` is unique per account, so a record sent again (a retried request, a file
imported twice) is a harmless duplicate: reported as such and never counted twice. It is
billed in the usage period its event time falls in (billing.usage_models.period_of), and a
period takes records until its grace period ends (`grace_days` after its last day) or rating
begins for it, whichever comes first; a record for a closed period is refused, naming the
period and why, unless it is a duplicate.

A batch is all or nothing: every row is checked, every bad row reported with where it is
(`records[3].quantity`, `line 4.quantity`) and why, and nothing is stored unless all are good.
Rows are checked and written `BATCH` at a time, each batch in a few statements (its accounts,
its periods, one INSERT ... ON CONFLICT DO NOTHING: on PostgreSQL from a temporary table the
batch is COPYed into), so ingestion streams any number of rows in the caller's transaction. Format and rules:
docs/usage.md.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from billing.usage_models import DEFAULT_GRACE_DAYS, UsagePeriod, UsageRecord, closes_at, period_label, period_of
from billing.usage_prices import UsagePrices
from catalog.metered import METER_RE, QUANTITY_DECIMALS, QUANTUM
from core import gcpause
from core.db import insert_ignoring
from core.validation import (MAX_INTEGER, DocumentError, DocumentValidationError, join, parse_json, text_problem,
                             to_decimal)
from sales.accounts import CODE_RE, Account

FIELDS = ("account", "meter", "quantity", "event_time", "idempotency_key", "subscription_id")
FIELD_SET = frozenset(FIELDS)
KIND = "usage"
BATCH = 10_000                          # rows checked and written together
MAX_QUANTITY = 10 ** 12                 # per record
UNIT = 10 ** QUANTITY_DECIMALS          # millionths in one
QUANTITY_REASON = f"expected a number of at least 0 and below {MAX_QUANTITY:,}, such as 12.5"
CLOCK_SKEW = timedelta(minutes=5)       # how far a meter's clock may be ahead of ours


class Unreadable(NamedTuple):
    """A row that could not be read at all (a line that is not JSON...)."""
    reason: str


class _Record(NamedTuple):
    where: str
    account: str
    meter: str
    units: int                  # the quantity in millionths, as stored (usage_models.Quantity)
    event_time: datetime
    period: date
    key: str
    subscription_id: int | None


@dataclass(frozen=True)
class Ingested:
    received: int
    accepted: int
    duplicates: tuple[tuple[str, str], ...]         # (account code, idempotency key), as sent


def ingest(session: Session, rows: Iterable[tuple[str, Any]], now: datetime, *,
           grace_days: int = DEFAULT_GRACE_DAYS, file: str = "request") -> Ingested:
    """Store the usage records of `rows`, (where, plain data) pairs, received at `now`.
    Raises DocumentValidationError naming every bad row; the caller's transaction must then
    roll back, as rows of earlier batches may have been written."""
    errors: list[DocumentError] = []
    prices = UsagePrices(session)
    received = accepted = 0
    duplicates: list[tuple[str, str]] = []
    iterator = iter(rows)
    while chunk := list(islice(iterator, BATCH)):
        with gcpause.paused():                      # tens of thousands of objects a batch keeps, no cycles
            received += len(chunk)
            reported = len(errors)
            checked = [_check(where, raw, now, errors, file) for where, raw in chunk]
            records, known = _admit(session, [r for r in checked if r is not None], now, grace_days, prices,
                                    errors, file)
            if len(errors) > reported:              # in the order of the rows (wheres and fields have no dots)
                position = {where: i for i, (where, _raw) in enumerate(chunk)}
                errors[reported:] = sorted(errors[reported:], key=lambda e: position.get(e.path.split(".")[0], 0))
            if errors:
                continue                            # nothing more is written; the rest is still checked
            added, again = _insert(session, records, now)
            accepted += added
            duplicates += again + known
    if errors:
        raise DocumentValidationError(errors, KIND)
    return Ingested(received, accepted, tuple(duplicates))


# one row ------------------------------------------------------------------------------------------

def _check(where: str, raw: Any, now: datetime, errors: list[DocumentError], file: str) -> _Record | None:
    if not isinstance(raw, dict):
        errors.append(DocumentError(file, where, raw.reason if isinstance(raw, Unreadable) else
                                    "expected an object with " + ", ".join(FIELDS)))
        return None
    problems = [] if raw.keys() <= FIELD_SET else [(key, f"unknown field; expected one of {', '.join(FIELDS)}")
                                                   for key in raw if key not in FIELDS]
    account, meter, key = raw.get("account"), raw.get("meter"), raw.get("idempotency_key")
    if not isinstance(account, str) or not CODE_RE.match(account):
        problems.append(("account", "is required" if account in (None, "") else "expected an account code"))
    if not isinstance(meter, str) or not METER_RE.match(meter):
        problems.append(("meter", "is required" if meter in (None, "") else f"must match {METER_RE.pattern}"))
    if key in (None, ""):
        problems.append(("idempotency_key", "is required"))
    elif not isinstance(key, str) or len(key) > 100:
        problems.append(("idempotency_key", "expected a text of 1 to 100 characters"))
    elif reason := text_problem(key):
        problems.append(("idempotency_key", reason))
    units, reason = _units(raw.get("quantity"))
    if reason:
        problems.append(("quantity", reason))
    moment, reason = _moment(raw.get("event_time"), now)
    if reason:
        problems.append(("event_time", reason))
    subscription, reason = _subscription(raw.get("subscription_id"))
    if reason:
        problems.append(("subscription_id", reason))
    if problems:
        errors.extend(DocumentError(file, join(where, name), why) for name, why in problems)
        return None
    return _Record(where, account, meter, units, moment, period_of(moment), key, subscription)


def _units(raw: Any) -> tuple[int | None, str | None]:
    """The quantity in millionths."""
    if type(raw) is int and 0 <= raw < MAX_QUANTITY:    # the common case, read at once
        return raw * UNIT, None
    if raw in (None, ""):
        return None, "is required"
    value = to_decimal(raw)
    if value is None or not 0 <= value < MAX_QUANTITY:
        return None, QUANTITY_REASON
    if value != value.quantize(QUANTUM):
        return None, f"at most {QUANTITY_DECIMALS} decimals"
    return int(value.scaleb(QUANTITY_DECIMALS)), None


def _moment(raw: Any, now: datetime) -> tuple[datetime | None, str | None]:
    if raw in (None, ""):
        return None, "is required"
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) and len(raw) <= 40 else None
        moment = moment.astimezone(timezone.utc) if moment is not None and moment.tzinfo is not None else None
    except (ValueError, OverflowError):             # 0001-01-01T00:00:00+01:00 is before the year 1 in UTC
        moment = None
    if moment is None:
        return None, "expected an ISO 8601 time with its UTC offset, such as 2026-03-14T09:30:00Z"
    if moment > now + CLOCK_SKEW:
        return None, f"is later than the time it was received ({now.isoformat(timespec='seconds')})"
    return moment, None


def _subscription(raw: Any) -> tuple[int | None, str | None]:
    if raw in (None, ""):
        return None, None
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10:
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_INTEGER:
        return None, f"expected an integer from 1 to {MAX_INTEGER}"
    return raw, None


# a batch ------------------------------------------------------------------------------------------

def _admit(session: Session, records: list[_Record], now: datetime, grace_days: int, prices: UsagePrices,
           errors: list[DocumentError], file: str) -> tuple[list[tuple[_Record, Any, date]], list[tuple[str, str]]]:
    """The records of known accounts, priced meters and open periods, each with its account
    and period; and the duplicates among records sent for a closed period."""
    accounts = _accounts(session, {r.account for r in records})
    periods = {r.period for r in records}
    rated = hold_periods(session, sorted(p for p in periods if now < closes_at(p, grace_days)))
    closed_periods = {p: _closed(p, rated.get(p), grace_days, now) for p in periods}
    admitted, closed = [], []
    for record in records:
        account = accounts.get(record.account)
        if account is None:
            errors.append(DocumentError(file, join(record.where, "account"), f"unknown account {record.account!r}"))
            continue
        period = record.period
        if closed_periods[period]:
            closed.append((record, account, closed_periods[period]))
        elif prices.find(account, record.meter, period) is None:
            errors.append(DocumentError(file, join(record.where, "meter"),
                                        f"no price book of account {account.code} prices meter {record.meter!r}"))
        else:
            admitted.append((record, account, period))
    return admitted, _known(session, closed, errors, file)


class _Account(NamedTuple):
    """What ingestion needs of an account (billing.usage_prices reads the last three)."""
    id: int
    code: str
    currency: str
    channel: str | None
    price_books: tuple[str, ...]


def _accounts(session: Session, codes: set[str]) -> dict[str, _Account]:
    """The accounts with these codes, given as one JSON parameter (a batch may name ten
    thousand accounts: as many parameters would cost more than the query), locked FOR KEY
    SHARE as a foreign key would lock them, once per batch rather than once per record (so
    none is deleted under the batch); their price book lists come as text, read once per
    distinct list."""
    table = Account.__table__
    listed = json.dumps(list(codes))
    if session.get_bind().dialect.name == "postgresql":
        wanted = sa.select(sa.func.json_array_elements_text(sa.bindparam("codes", listed, sa.Text()).cast(postgresql.JSON)))
    else:
        wanted = sa.select(sa.column("value")).select_from(sa.func.json_each(sa.bindparam("codes", listed, sa.Text())))
    query = sa.select(table.c.id, table.c.code, table.c.currency, table.c.channel, sa.cast(table.c.price_books, sa.Text)) \
        .where(table.c.code.in_(wanted)).with_for_update(read=True, key_share=True)
    books: dict[str | None, tuple[str, ...]] = {}
    found = {}
    for account_id, code, cur, channel, listed in session.execute(query).all():
        if listed not in books:
            books[listed] = tuple(json.loads(listed)) if listed else ()
        found[code] = _Account(account_id, code, cur, channel, books[listed])
    return found


def _closed(period: date, rated_at: datetime | None, grace_days: int, now: datetime) -> str | None:
    if rated_at is not None:
        return f"usage period {period_label(period)} is closed: it was rated on {rated_at:%Y-%m-%d}"
    end = closes_at(period, grace_days)
    if now >= end:
        return (f"usage period {period_label(period)} is closed: it took late records until "
                f"{end:%Y-%m-%d %H:%M} UTC ({grace_days} days after its end)")
    return None


def _known(session: Session, closed: list, errors: list[DocumentError], file: str) -> list[tuple[str, str]]:
    """Records for a closed period that were stored before are duplicates; others are refused."""
    if not closed:
        return []
    record_table = UsageRecord.__table__
    stored = set(map(tuple, session.execute(sa.select(record_table.c.account_id, record_table.c.idempotency_key).where(
        record_table.c.account_id.in_(sorted({account.id for _r, account, _w in closed})),
        record_table.c.idempotency_key.in_(sorted({r.key for r, _a, _w in closed}))))))
    known = []
    for record, account, reason in closed:
        if (account.id, record.key) in stored:
            known.append((record.account, record.key))
        else:
            errors.append(DocumentError(file, join(record.where, "event_time"), reason))
    return known


def hold_periods(session: Session, periods: list[date]) -> dict[date, datetime | None]:
    """The periods' rows, made if missing and locked shared (PostgreSQL; SQLite serialises
    writers anyway): rating locks its period's row exclusively, so a batch waits for a rating
    in progress and then sees the period rated. Returns when rating began for each (None: not
    yet); from then on a period takes no more records."""
    if not periods:
        return {}
    table = UsagePeriod.__table__
    session.execute(insert_ignoring(session, table, "period"), [{"period": p} for p in periods])
    return dict(session.execute(sa.select(table.c.period, table.c.rated_at).where(table.c.period.in_(periods))
                                .order_by(table.c.period).with_for_update(read=True)).all())


COLUMNS = ("account_id", "subscription_id", "meter", "quantity", "event_time", "period", "idempotency_key")
STAGING = "usage_staging"
_STAGING_TYPES = ("int4", "int4", "text", "int8", "timestamptz", "date", "text")     # of COLUMNS
_STAGING_TABLE = ", ".join(f"{name} {type_}" for name, type_ in zip(COLUMNS, _STAGING_TYPES))


def _insert(session: Session, records: list[tuple[_Record, Any, date]],
            now: datetime) -> tuple[int, list[tuple[str, str]]]:
    """One INSERT ... ON CONFLICT DO NOTHING per batch; the keys it returns are the records
    stored, the rest were there already (or twice in the batch)."""
    if not records:
        return 0, []
    rows = [(a.id, r.subscription_id, r.meter, r.units, r.event_time, p, r.key) for r, a, p in records]
    if session.get_bind().dialect.name == "postgresql":
        _stage(session, rows)
        stored = session.execute(_FROM_STAGING, {"received_at": now}).fetchall()
    else:
        stored = session.execute(_VALUES, [dict(zip(COLUMNS, row), received_at=now) for row in rows]).fetchall()
    if len(stored) == len(records):
        return len(stored), []                      # no duplicate: the common case
    inserted, duplicates, seen = set(map(tuple, stored)), [], set()
    for record, account, _period in records:
        pair = (account.id, record.key)
        if pair in inserted and pair not in seen:
            seen.add(pair)
        else:
            duplicates.append((record.account, record.key))
    return len(seen), duplicates


def _stage(session: Session, rows: list[tuple]) -> None:
    """PostgreSQL: the batch's rows COPYed (binary: no text to format or parse) into a
    temporary table of this connection, made once and emptied at every commit and batch.
    COPY then INSERT ... SELECT from it took a third of the client's CPU and two thirds of
    the server's of INSERT ... SELECT FROM json_array_elements() of one JSON parameter."""
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} ({_STAGING_TABLE}) "
                       f"ON COMMIT DELETE ROWS; TRUNCATE {STAGING}")
        with cursor.copy(f"COPY {STAGING} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_STAGING_TYPES)
            for row in rows:
                copy.write_row(row)


def _statements():
    """The INSERT of a batch, ON CONFLICT DO NOTHING, returning what it stored. PostgreSQL:
    INSERT ... SELECT from the staging table (_stage). SQLite: INSERT ... VALUES of many rows
    (SQLAlchemy's insertmanyvalues)."""
    table = UsageRecord.__table__
    types = {c.name: sa.BigInteger() if c.name == "quantity" else c.type for c in table.c}
    plain = sa.table(table.name, *(sa.column(name, types[name]) for name in (*COLUMNS, "received_at")))
    staged = sa.table(STAGING, *(sa.column(name, types[name]) for name in COLUMNS))
    from_staging = (postgresql.insert(plain)
                    .from_select((*COLUMNS, "received_at"),
                                 sa.select(*staged.c, sa.bindparam("received_at", type_=sa.DateTime(timezone=True))))
                    .on_conflict_do_nothing(index_elements=["account_id", "idempotency_key"])
                    .returning(plain.c.account_id, plain.c.idempotency_key))
    values = (sqlite.insert(plain).on_conflict_do_nothing(index_elements=["account_id", "idempotency_key"])
              .returning(plain.c.account_id, plain.c.idempotency_key))
    return from_staging, values


_FROM_STAGING, _VALUES = _statements()


# reading bodies and files -------------------------------------------------------------------------

def json_rows(data: Any) -> Iterator[tuple[str, Any]]:
    """A JSON body: one record, or {"records": [...]}."""
    if isinstance(data, Mapping) and "records" in data:
        extra = [key for key in data if key != "records"]
        if extra:
            yield extra[0], Unreadable("unknown field; a bulk body has only records")
        if not isinstance(data["records"], list) or not data["records"]:
            yield "records", Unreadable("expected a list of records, at least one")
            return
        yield from ((f"records[{i}]", raw) for i, raw in enumerate(data["records"]))
    else:
        yield "", data


def ndjson_rows(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """Newline-delimited JSON: one record per line; blank lines are skipped."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", parse_json(line, f"line {number}", KIND)
        except json.JSONDecodeError as exc:
            yield f"line {number}", Unreadable(f"not valid JSON: {exc.msg}")
        except DocumentValidationError as exc:
            yield f"line {number}", Unreadable(str(exc.errors[0].reason))


def csv_rows(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """CSV with a header line naming the fields (empty cells are left out)."""
    reader = csv.reader(lines)
    try:
        header = [name.removeprefix("\ufeff").strip() for name in next(reader, [])]
        unknown = [name for name in header if name not in FIELDS]
        if not header or unknown:
            yield "line 1", Unreadable(f"the header names the fields ({', '.join(FIELDS)}); "
                                       + (f"unknown: {', '.join(unknown)}" if unknown else "it is missing"))
            return
        for cells in reader:
            where = f"line {reader.line_num}"
            if not any(cells):
                continue
            if len(cells) > len(header):
                yield where, Unreadable(f"{len(cells)} values for {len(header)} columns")
                continue
            yield where, {name: value for name, value in zip(header, cells) if value != ""}
    except csv.Error as exc:
        yield f"line {reader.line_num}", Unreadable(f"invalid CSV: {exc}")


def file_rows(text: str | Iterable[str], kind: str) -> Iterator[tuple[str, Any]]:
    """The rows of an upload: `csv` or `ndjson`."""
    lines = io.StringIO(text) if isinstance(text, str) else text
    return csv_rows(lines) if kind == "csv" else ndjson_rows(lines)
