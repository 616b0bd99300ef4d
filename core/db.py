"""Engine creation, transactional sessions and schema migration.

Both SQLite (the default, zero setup) and PostgreSQL (psycopg 3) are first-class; the
differences are confined to :func:`create_engine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from datetime import datetime, timezone
from decimal import Decimal
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg.pq import ExecStatus
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, select
from sqlmodel._compat import finish_init

from core.errors import ImmutableRecord
from core.money import trim
from core.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

#: Seconds a SQLite writer waits for another's write lock (Python's default is 5: too short
#: for 20 clients writing quotes through two web workers).
SQLITE_BUSY_TIMEOUT = 30

# Deterministic constraint names: Alembic's batch mode (how SQLite alters tables) can only
# drop or alter constraints that have a name. migrations/env.py imports this module before
# the table modules, so every table it sees is named by this convention.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Table(SQLModel):
    """The base of every table model, for what a new row costs to build (about a dozen a quote
    on the request path). SQLModel's constructor of a table model validates nothing: it takes
    the fields given and the others' defaults, and sets each through SQLModel's __setattr__,
    that is SQLAlchemy's instrumentation (its events fire) and then pydantic's, whose only effect
    for a field is writing the same value into the instance's dict again, after checks that
    cost more than the write. This one does the same with one lookup per field, each default
    made as `_fields` found, once per class, that pydantic makes it; the rest of what SQLModel's
    does (fields set, extras, private attributes) is done as it does it, and a model using what
    this does not (extra fields, post-init, a root model) keeps SQLModel's."""

    def __init__(__pydantic_self__, **values: Any) -> None:
        self = __pydantic_self__                       # SQLModel's spelling: "self" may be a field
        cls = type(self)
        if not _plain(cls):
            super().__init__(**values)
            return
        if not finish_init.get():                      # model_validate builds the row itself
            return
        given, defaults = [], []
        for name, alias, required, default, make in _fields(cls):
            if alias and alias in values:
                given.append((name, values.pop(alias)))
            elif name in values:
                given.append((name, values.pop(name)))
            elif not required:
                defaults.append((name, make() if make else default))
        state = self._sa_instance_state
        manager, dict_ = state.manager, self.__dict__
        for name, value in (*given, *defaults):
            attribute = manager.get(name)
            if attribute is not None:
                attribute.impl.set(state, dict_, value, None)
            dict_[name] = value                         # pydantic's write of a field
        object.__setattr__(self, "__pydantic_fields_set__", {name for name, _ in given})
        object.__setattr__(self, "__pydantic_extra__", None)
        object.__setattr__(self, "__pydantic_private__", None)
        for key in cls.__sqlmodel_relationships__:
            if key in values:
                setattr(self, key, values[key])


@cache
def _plain(cls) -> bool:
    """Whether `Table.__init__` builds rows of `cls` as SQLModel would."""
    return (cls.model_config.get("table", False) and cls.model_config.get("extra") != "allow"
            and not cls.model_config.get("validate_assignment") and not cls.model_config.get("frozen")
            and not cls.__pydantic_post_init__ and not cls.__pydantic_root_model__)


@cache
def _fields(table) -> tuple[tuple[str, str | None, bool, Any, Any], ...]:
    """The fields of `table`, once per class: (name, alias, whether it must be given, default,
    what makes a default per row: its factory, or a copy of a mutable default, as pydantic's
    `get_default` gives; else None)."""
    fields = []
    for name, field in table.model_fields.items():
        make = field.default_factory
        if make is None and field.get_default() is not field.default:
            make = field.get_default
        fields.append((name, field.alias, field.is_required(), field.default, make))
    return tuple(fields)


def normalise_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg 3; SQLAlchemy would otherwise pick psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(url: str, *, sqlite_foreign_keys: bool = True, **kwargs) -> Engine:
    """Create an engine with the per-backend settings this project relies on.

    SQLite: foreign keys are off by default in SQLite, so they are switched on for every
    connection; ``check_same_thread=False`` because Flask may serve a request on another
    thread than the one that opened the pooled connection; the file's folder is created.
    Migrations pass ``sqlite_foreign_keys=False``: batch mode recreates tables, and with
    enforcement on, dropping the old table would cascade deletes into child tables.
    A file database is put in WAL mode, so readers never block a writer's commit (nor the
    other way round), and a writer waits up to ``SQLITE_BUSY_TIMEOUT`` seconds for the write
    lock instead of failing with "database is locked" when several web workers write at once.

    Python's driver opens a SQLite transaction only at the first INSERT, UPDATE or DELETE;
    reads before it run outside any transaction. Two things SQLAlchemy relies on would break:
    a savepoint opened first would itself begin (and on release commit) the transaction, and
    rows read "for update" would be read before the write lock is held. So a savepoint and a
    SELECT ... FOR UPDATE (which SQLite does not know: the clause is left out) first begin the
    transaction with the write lock (:func:`hold_write_lock`).
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT)
        pragmas = ["PRAGMA foreign_keys=ON" if sqlite_foreign_keys else "PRAGMA foreign_keys=OFF"]
        if parsed.database in (None, "", ":memory:"):
            kwargs.setdefault("poolclass", StaticPool)  # one shared in-memory database
        else:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            pragmas.append("PRAGMA journal_mode=WAL")  # stored in the file; cheap once set
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _set_pragmas(dbapi_connection, _record):  # foreign_keys is per connection
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        @sa.event.listens_for(engine, "savepoint")
        def _begin_before_savepoint(connection, _name):
            hold_write_lock(connection)

        @sa.event.listens_for(engine, "before_execute")
        def _lock_before_reading_for_update(connection, statement, *_args):
            # with_for_update(); but not SKIP LOCKED, a claim that must never wait: an outbox
            # attempt (core/outbox.py) holds its row through an SMTP or HTTP call, and the
            # database's write lock held that long would stall every web request's write
            for_update = getattr(statement, "_for_update_arg", None)
            if for_update is not None and not for_update.skip_locked:
                hold_write_lock(connection)

        return engine
    kwargs.setdefault("pool_pre_ping", True)  # survive server restarts between requests
    kwargs.setdefault("connect_args", {}).setdefault("cursor_factory", DescribedWhenRead)
    return sa.create_engine(url, **kwargs)


class DescribedWhenRead(psycopg.Cursor):
    """psycopg's cursor, whose `description` makes its `Column` objects when they are read.
    SQLAlchemy takes the description of every result, but reads it only the first time it runs
    a statement (it keeps the result's columns with the compiled statement); after, it only
    asks whether there is one. psycopg builds a `Column` per column on every call: about 500 a
    quote on the request path, 7% of its client instructions, for nothing."""

    @property
    def description(self) -> Sequence[psycopg.Column] | None:
        result = self.pgresult                      # psycopg's test of whether there are rows
        if result and (result.nfields or result.status in _ROWS):
            return _Description(_Described(result, self._encoding, self.adapters))
        return None


_ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class _Described:
    """What psycopg's `Column` reads of its cursor, as it was when the description was asked
    for (the cursor may have run another statement when the columns are read)."""

    __slots__ = ("pgresult", "_encoding", "adapters")

    def __init__(self, pgresult, encoding: str, adapters) -> None:
        self.pgresult, self._encoding, self.adapters = pgresult, encoding, adapters


class _Description(Sequence):
    """A result's description: psycopg's list of `Column`s, made on first read."""

    __slots__ = ("_of", "_columns")

    def __init__(self, of: _Described) -> None:
        self._of, self._columns = of, None

    def __len__(self) -> int:
        return self._of.pgresult.nfields

    def __getitem__(self, index):
        if self._columns is None:
            self._columns = [psycopg.Column(self._of, i) for i in range(len(self))]
        return self._columns[index]


def hold_write_lock(connection: sa.Connection) -> None:
    """On SQLite, begin the database transaction holding the write lock unless one is open.

    Python's driver has then already begun it at a write, which took the lock. BEGIN
    IMMEDIATE waits (up to the busy timeout) for another writer to finish; reading first and
    taking the lock at the first write could not wait, and would fail once another writer had
    committed since the read. PostgreSQL needs none of this.
    """
    if connection.dialect.name != "sqlite":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit if the block succeeds, roll back if it raises."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def upgrade_database(url: str, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` without needing alembic.ini.

    Used by ``cpq db upgrade``, ``make run`` and the test fixtures, so all of them build
    the schema the same way the production database gets it.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute rather than an ini option: ini values treat '%' specially,
    # and passwords in URLs may contain it.
    config.attributes["database_url"] = url
    command.upgrade(config, revision)


def migrated_to_head(engine: Engine) -> bool:
    """Whether the database's schema is at the newest Alembic revision (readiness checks)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == _head_revisions()


@cache
def _head_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


class Amount(sa.types.TypeDecorator):
    """An exact Decimal column: NUMERIC(24, 6) on PostgreSQL, text on SQLite (whose NUMERIC
    goes through binary floats). Amounts are stored as the domain rounded them; the currency
    lives in a column beside each one."""

    impl = sa.Numeric(24, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(24, 6, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return None if value is None else trim(Decimal(value))


def compared(column):
    """An Amount column as SQL can compare it with a number: SQLite stores amounts as text,
    and text never compares with numbers as they should. Fit for signs and ordering only;
    SQLite's cast goes through binary floats, so sum amounts in Python, never with this."""
    return sa.cast(column, sa.Numeric(24, 6))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def timestamp():
    """A timezone-aware column that defaults to now (created_at, updated_at...)."""
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


#: session.info key: the identity keys of the rows the transaction inserted or locked, by
#: class: nobody else changes them before it ends, so what the session loaded or wrote of them
#: is what is stored (only keys: no inserted row is kept alive for this)
_OWNED = "cpq.owned_rows"
#: session.info key: the rows the transaction locked, kept alive until it ends: the session
#: holds rows weakly, and a locked row dropped by the code that read it (a quote locked to make
#: its contract) would be read again by the next step of the transaction that needs it
_LOCKED = "cpq.locked_rows"
#: session.info key: what a step of the transaction hands to a later step of it (`kept`)
_KEPT = "cpq.kept"


def lock_rows(session: Session, table, *conditions) -> list:
    """Lock the rows in primary key order (concurrent lockers queue instead of deadlocking) and
    re-read them, so a row already in the session shows its committed values. The locks last
    until the transaction ends: row locks on PostgreSQL, the database's write lock on SQLite."""
    return locked(session, locking(table, *conditions))


def locking(table, *conditions):
    """What `lock_rows` runs: for a statement run often, built once with bound parameters
    (`sa.bindparam`) and run by `locked` (building a statement costs more than running it)."""
    return locking_of(select(table).where(*conditions).order_by(*table.__table__.primary_key))


def locking_of(statement, table=None):
    """`statement` reading its rows for writing, as `locking` does; of a statement that reads
    other rows beside `table`'s (a share link and the quote it opens), only `table`'s are locked,
    so the reading and the lock take one statement where a read and then `lock_row` take two."""
    return statement.with_for_update(of=table).execution_options(populate_existing=True)


def locked(session: Session, statement, params: dict | None = None, *, of=None) -> list:
    """`lock_rows` of a statement made by `locking`, with these parameters; of one made by
    `locking_of(statement, of)`, whose rows are tuples, each row's part of table `of` is owned."""
    rows = list(session.exec(statement, params=params))
    own(session, rows if of is None else [part for row in rows for part in row if isinstance(part, of)])
    return rows


def lock_row(session: Session, table, row_id: int):
    """`lock_rows` of one row (None if there is none); one the transaction owns already
    (`owned`: it inserted or locked it) is not read again, since what the session holds of it
    is what is stored."""
    row = owned(session, table, row_id)
    return row if row is not None else find_row(session, table, table.id == row_id, lock=True)


def get_row(session: Session, table, row_id, *, lock: bool = False):
    """The row of `table` with this id, or None; `lock` takes its lock for writing (`lock_row`)."""
    return lock_row(session, table, row_id) if lock else session.get(table, row_id)


def find_row(session: Session, table, *conditions, lock: bool = False):
    """The row of `table` meeting `conditions` (a unique key's values), or None; `lock` takes
    its lock for writing (`lock_rows`: read afresh and owned by the transaction)."""
    if lock:
        return next(iter(lock_rows(session, table, *conditions)), None)
    return session.exec(select(table).where(*conditions)).first()


class Finder:
    """`find_row` with its two statements (read, and lock for writing) built once with bound
    parameters (`sa.bindparam`), for a getter on the request path: building a statement and
    its cache key costs more than running it."""

    def __init__(self, table, *conditions):
        self.reading = select(table).where(*conditions)
        self.locking = locking(table, *conditions)

    def find(self, session: Session, params: dict, *, lock: bool = False):
        """The row the parameters name, or None; `lock` as in `find_row`."""
        found = locked(session, self.locking, params) if lock else session.exec(self.reading, params=params)
        return next(iter(found), None)


def append(session: Session, table, *rows: dict) -> None:
    """Write new rows of `table` (events, ledger entries, a new order's lines) with one Core
    INSERT now, their other fields at their defaults: no object is built or flushed for rows
    nothing in the transaction reads back as objects (queries see them), and their ids are not
    read back. What they point to must be stored."""
    if rows:
        session.connection().execute(_inline_insert(table), [with_defaults(table, row) for row in rows])


def insert_row(session: Session, row):
    """Insert a new ORM object (not added) with one Core INSERT ... RETURNING its id, now: for
    a row nothing later in the transaction uses as a session object (queries see it), which
    skips flushing one. The object keeps its values and gets its id (a table keyed by another
    column, e.g. one row per quote, has none to get: its key is among the values); it stays out
    of the session. What it points to must be stored. Returns it."""
    table = type(row)
    if "id" in table.model_fields:
        row.id = session.connection().execute(_returning_insert(table), _values(row)).scalar_one()
    else:
        session.connection().execute(_inline_insert(table), _values(row))
    return row


def insert_stored(session: Session, rows: list) -> list:
    """Insert new ORM objects of one table (not added) with one Core INSERT ... RETURNING their
    ids, now, and add them to the session as stored rows, clean, owned by the transaction
    (`owned`): for rows the transaction goes on using as session objects, which skips flushing
    them (flush-time guards of their table see no insert). What they point to must be stored.
    Returns them."""
    if rows:
        ids = session.connection().execute(_returning_insert(type(rows[0])), list(map(_values, rows)))
        for row, row_id in zip(rows, ids.scalars(), strict=True):
            row.id = row_id
            sa.orm.make_transient_to_detached(row)      # keyed by its id now: stored, not new
            _note(session, sa.inspect(row).identity_key)
        session.add_all(rows)
    return rows


def _values(row) -> dict[str, Any]:
    """What an INSERT of `row` (a new ORM object) writes: every field but the id."""
    return {name: getattr(row, name) for name, _d, _m in _filled(type(row))}


@cache
def _returning_insert(table) -> sa.Insert:
    return table.__table__.insert().returning(table.__table__.c.id, sort_by_parameter_order=True)


def with_defaults(table, row: dict) -> dict:
    """`row` with every other field of `table` but the id at its default, as a new object of
    it would have."""
    return {name: row[name] if name in row else make() if make else default
            for name, default, make in _filled(table)}


@cache
def _filled(table) -> tuple[tuple[str, Any, Any], ...]:
    """The fields of `table` but its id (`_fields`): (name, default, what makes one per row)."""
    return tuple((name, default, make) for name, _alias, _required, default, make in _fields(table) if name != "id")


@cache
def _inline_insert(table) -> sa.Insert:
    return table.__table__.insert().inline()


def insert_ignoring(session: Session, table, *conflict: str, returning: tuple = ()):
    """INSERT INTO `table` ... ON CONFLICT (`conflict` columns) DO NOTHING [RETURNING
    `returning`] on the session's database (PostgreSQL or SQLite: both have it, each in its
    own dialect's insert); built once per database and table."""
    return _insert_ignoring(session.get_bind().dialect.name, table, conflict, returning)


@cache
def _insert_ignoring(dialect_name: str, table, conflict: tuple[str, ...], returning: tuple):
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return insert.returning(*returning) if returning else insert


def insert_new(session: Session, row, *conflict: str):
    """Insert `row` (a new ORM object, not added) unless a row with its values of the unique
    columns `conflict` exists: the stored row, owned by the transaction (`owned`), or None.
    One statement where a savepoint around a plain INSERT takes three, and a concurrent
    insert of the same key is waited for (PostgreSQL), not raised."""
    table = type(row)
    values = {c.key: getattr(row, c.key) for c in table.__table__.c if getattr(row, c.key) is not None}
    stored = session.scalars(insert_ignoring(session, table, *conflict).values(**values).returning(table)).first()
    return own(session, [stored])[0] if stored is not None else None


def own(session: Session, rows: list) -> list:
    """Note rows just read with a row lock (on SQLite: under the write lock) as the
    transaction's (`owned`). Returns them."""
    locked = session.info.setdefault(_LOCKED, {})
    for row in rows:
        key = sa.inspect(row).identity_key
        _note(session, key)
        locked[key] = row
    return rows


def _note(session: Session, key: tuple) -> None:
    session.info.setdefault(_OWNED, {}).setdefault(key[0], set()).add(key)


def owned(session: Session, table, row_id: int | None):
    """The row as the session holds it if this transaction inserted it or holds its lock
    (what it loaded or flushed of it is then what is stored), else None."""
    key = sa.orm.util.identity_key(table, row_id)
    return session.identity_map.get(key) if key in session.info.get(_OWNED, {}).get(table, ()) else None


def owned_where(session: Session, table, **values):
    """The row of `table` the transaction owns (`owned`) with these values of a unique key, if
    the session holds it, else None: the very object a query by them would return."""
    for key in session.info.get(_OWNED, {}).get(table, ()):
        row = session.identity_map.get(key)
        if row is not None and all(getattr(row, k) == v for k, v in values.items()):
            return row
    return None


@sa.event.listens_for(sa.orm.Session, "pending_to_persistent")
def _inserted(session, instance) -> None:
    _note(session, sa.inspect(instance).identity_key)


@sa.event.listens_for(sa.orm.Session, "after_soft_rollback")
def _rolled_back(session, _previous) -> None:       # a savepoint too: what it wrote is gone
    _forget(session)


@sa.event.listens_for(sa.orm.Session, "after_transaction_end")
def _ended(session, transaction) -> None:
    if transaction.parent is None:
        _forget(session)


def _forget(session) -> None:
    session.info.pop(_OWNED, None)
    session.info.pop(_LOCKED, None)
    session.info.pop(_KEPT, None)


def kept(session: Session) -> dict:
    """A dict for what one step of the transaction hands to a later one (rows it wrote, kept
    alive, so the later step neither queries nor reads them again), forgotten, as the rows it
    owns are, when the transaction ends or a savepoint rolls back."""
    return session.info.setdefault(_KEPT, {})


def by_id(session: Session, table, ids: Iterable[int | None]) -> dict[int, Any]:
    """The rows of `table` with these ids, by id, in one statement: a page of views loads
    what its rows point to once, not once per row."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {row.id: row for row in session.exec(select(table).where(table.id.in_(wanted)))}


def children(session: Session, column, ids: Iterable[int], *order_by) -> dict[int, list]:
    """The rows whose foreign key `column` is one of `ids`, grouped by it (every id has a
    list, maybe empty), in one statement."""
    found: dict[int, list] = {i: [] for i in ids}
    if found:
        table = column.class_
        for row in session.exec(select(table).where(column.in_(list(found))).order_by(*order_by)):
            found[getattr(row, column.key)].append(row)
    return found


def forbid_updates(table_class: type) -> None:
    """Make flushing a change to a row of `table_class` fail: its rows are immutable."""

    @sa.event.listens_for(table_class, "before_update")
    def _refuse(_mapper, _connection, target):
        raise ImmutableRecord(f"{type(target).__name__} rows are immutable")
