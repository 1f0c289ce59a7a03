"""The fleet database: PostgreSQL (psycopg 3) for a chain, an SQLite file for a store or a trial.

Queries are written once, with `?` placeholders and SQL both engines accept (ON CONFLICT
upserts, row values, RETURNING); `Tx` adapts the placeholders for psycopg, and is the only
place SQL of one engine lives (bulk inserts through arrays, lookups by many keys, COPY). Every write runs
in one transaction that also holds the writers' lock, so several hub processes sharing one
PostgreSQL never interleave their read-compare-write of the same interval.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgeemo.errors import EdgeemoError
from edgeemo.hub.storage.migrations import MIGRATIONS, latest_version

WRITERS_LOCK = 0x6564676565  # pg_advisory_xact_lock key shared by all hub writers ("edgee")
READ_WAIT_S = 1.5  # a read (a page, the API) waits this long for a connection: a page says "down" within 2 s
WRITE_WAIT_S = 10.0  # a write (the ingest: it retries) waits longer
CONNECT_TIMEOUT_S = 2  # libpq's connect_timeout: an unreachable server fails fast, not after the OS's minutes


def _database_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the hub extra brings it
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


DATABASE_ERRORS = _database_errors()  # what either engine raises when it fails (down, full, locked, refused)


def _numbers_as_python(connection: Any) -> None:
    """PostgreSQL's sum() of a BIGINT is a NUMERIC, which psycopg reads as a Decimal (that neither JSON nor a
    float adds to): read a whole one as an int and any other as a float, as SQLite's sum() returns them."""
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data).decode()
            try:
                return int(text)
            except ValueError:
                return float(text)

    connection.adapters.register_loader("numeric", NumberLoader)


def _cause(exc: BaseException) -> str:
    """libpq's reason on one line ('connection to server at "…" failed: FATAL: database "x" does not exist'; a
    hint on a line of its own, and a line per address tried, joined)."""
    lines = [" ".join(line.split()).removeprefix("connection failed: ") for line in str(exc).splitlines()]
    return "; ".join(dict.fromkeys(line for line in lines if line)) or type(exc).__name__


class DatabaseError(EdgeemoError):
    """The fleet database cannot be opened or is of a version this hub cannot use."""


class Tx:
    """One transaction: `rows`, `one`, `run` and `many` with `?` placeholders on either engine."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection, self.dialect = connection, dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s") if self.dialect == "postgresql" else sql

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        cursor = self.connection.execute(self._sql(sql), tuple(params))
        return cursor.fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple:
        """The one row of a query that always has one (an aggregate: count, min, max)."""
        found = self.rows(sql, params)
        if not found:
            raise LookupError(f"no row from {sql[:80]!r}")
        return found[0]

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.connection.execute(self._sql(sql), tuple(params)).rowcount

    def insert(self, table: str, columns: dict[str, str], rows: Iterable[Sequence[Any]], conflict: str = "") -> None:
        """Insert many rows in one statement on PostgreSQL (arrays through `unnest`: one round trip,
        not one per row), with executemany on SQLite. `columns` maps names to PostgreSQL types;
        `conflict` is the ON CONFLICT clause. Keys must be unique within `rows`."""
        rows = [tuple(row) for row in rows]
        if not rows:
            return
        names = ", ".join(columns)
        if self.dialect == "postgresql":
            arrays = ", ".join(f"%b::{kind}[]" for kind in columns.values())  # binary: no quoting
            self.connection.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {conflict}",
                                    [list(column) for column in zip(*rows)])
        else:
            marks = ",".join("?" * len(columns))
            self.connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", rows)

    def rows_by_keys(self, table: str, columns: str, key: dict[str, str], keys: Sequence[Sequence[Any]]) -> list[tuple]:
        """`columns` of the rows of `table` whose `key` columns (names to PostgreSQL types) equal one
        of `keys`: one query through arrays on PostgreSQL; one indexed lookup per key on SQLite (it
        scans the table for a row-value IN list, and a lookup in-process is cheap)."""
        if not keys:
            return []
        if self.dialect == "postgresql":
            arrays = ", ".join(f"%b::{kind}[]" for kind in key.values())
            return self.connection.execute(
                f"SELECT {columns} FROM {table} WHERE ({', '.join(key)}) IN (SELECT * FROM unnest({arrays}))",
                [list(column) for column in zip(*keys)]).fetchall()
        where = " AND ".join(f"{name} = ?" for name in key)
        rows: list[tuple] = []
        for values in keys:
            rows += self.connection.execute(f"SELECT {columns} FROM {table} WHERE {where}", tuple(values)).fetchall()
        return rows

    def rows_and_neighbours(self, table: str, columns: str, key: dict[str, str], keys: Sequence[Sequence[Any]],
                            extent: str) -> list[tuple]:
        """For each of `keys` (the last key column orders the rows, e.g. `start`): its index in `keys`,
        the stored row's `columns` (NULLs when there is none), `extent` of the row just before it
        (e.g. `start + length_s`) and the ordering column of the row just after it, among the rows
        that share the other key columns. Two index probes a key: what an overlap check needs."""
        if not keys:
            return []
        *group, order = key
        same = " AND ".join(f"n.{name} = k.{name}" for name in group)
        exact = " AND ".join(f"e.{name} = k.{name}" for name in key)
        picked = ", ".join(f"e.{name.strip()}" for name in columns.split(","))
        if self.dialect == "postgresql":
            arrays = ", ".join(f"%b::{kind}[]" for kind in key.values())
            return self.connection.execute(
                f"SELECT k.i - 1, {picked}, "
                f"(SELECT {extent} FROM {table} n WHERE {same} AND n.{order} < k.{order} "
                f"ORDER BY n.{order} DESC LIMIT 1), "
                f"(SELECT n.{order} FROM {table} n WHERE {same} AND n.{order} > k.{order} ORDER BY n.{order} LIMIT 1) "
                f"FROM unnest({arrays}) WITH ORDINALITY AS k({', '.join(key)}, i) "
                f"LEFT JOIN {table} e ON {exact}", [list(column) for column in zip(*keys)]).fetchall()
        rows: list[tuple] = []
        values = ", ".join(f"? AS {name}" for name in key)
        sql = (f"SELECT {picked}, (SELECT {extent} FROM {table} n WHERE {same} AND n.{order} < k.{order} "
               f"ORDER BY n.{order} DESC LIMIT 1), (SELECT n.{order} FROM {table} n WHERE {same} "
               f"AND n.{order} > k.{order} ORDER BY n.{order} LIMIT 1) FROM (SELECT {values}) k "
               f"LEFT JOIN {table} e ON {exact}")
        for index, values_of_key in enumerate(keys):
            rows += [(index, *row) for row in self.connection.execute(sql, tuple(values_of_key)).fetchall()]
        return rows

    def widen(self, table: str, columns: Sequence[str]) -> None:
        """Make INTEGER columns BIGINT: PostgreSQL rewrites the table; SQLite's INTEGER already holds 64 bits."""
        if self.dialect == "postgresql" and columns:
            self.connection.execute(f"ALTER TABLE {table} " + ", ".join(
                f"ALTER COLUMN {name} TYPE BIGINT" for name in columns))

    def copy(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-load rows (PostgreSQL COPY, SQLite executemany): for generated load data, no conflicts."""
        if self.dialect == "postgresql":
            with self.connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ",".join("?" * len(columns.split(",")))
            self.connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "postgresql" if re.match(r"^postgres(ql)?://", url) else "sqlite"
        self.path = None if self.dialect == "postgresql" else Path(url.removeprefix("sqlite://"))
        self._pool = None
        self._local = threading.local()
        if self.dialect == "postgresql":
            import psycopg
            from psycopg_pool import ConnectionPool, PoolTimeout

            try:  # one plain connection first: the server's own reason at once, not a pool's timeout 10 s later
                psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S).close()
                self._pool = ConnectionPool(url, min_size=1, max_size=8, open=False, timeout=WRITE_WAIT_S,
                                            kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
                                            configure=_numbers_as_python)
                self._pool.open(wait=True, timeout=10)
            except (PoolTimeout, psycopg.Error) as exc:  # PoolTimeout carries the cause in its message
                raise DatabaseError(f"cannot connect to {self.describe()} ({_cause(exc)}): is PostgreSQL "
                                    "running and the URL's user, password and database right?") from None

    def describe(self) -> str:
        """The URL without its password, for messages and logs."""
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)

    def _sqlite(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                connection = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise DatabaseError(f"cannot open {self.path} ({exc}): is it an SQLite file in a writable "
                                    "folder?") from None
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self, write: bool = False, exclusive: bool | None = None) -> Iterator[Tx]:
        """A transaction; `write=True` also takes the writers' lock (one writer at a time) unless
        `exclusive=False` (on PostgreSQL: a write that cannot interleave with the ingest's, such as a
        login's session, need not wait for a long one, such as re-deriving a store's roll-ups)."""
        if self.dialect == "postgresql":
            assert self._pool is not None, "a PostgreSQL database has its pool"
            wait_s = WRITE_WAIT_S if write else READ_WAIT_S
            with self._pool.connection(timeout=wait_s) as connection, connection.transaction():
                if write if exclusive is None else exclusive:
                    connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))
                yield Tx(connection, self.dialect)
            return
        lite = self._sqlite()
        lite.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Tx(lite, self.dialect)
        except BaseException:
            lite.execute("ROLLBACK")
            raise
        lite.execute("COMMIT")

    def analyze(self) -> None:
        """Planner statistics after a bulk load (PostgreSQL: VACUUM ANALYZE and a checkpoint)."""
        if self.dialect == "postgresql":
            assert self._pool is not None, "a PostgreSQL database has its pool"
            with self._pool.connection() as connection:
                connection.autocommit = True
                connection.execute("VACUUM ANALYZE")
                connection.execute("CHECKPOINT")
        else:
            self._sqlite().execute("ANALYZE")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- versions ------------------------------------------------------------------------------
    def schema_version(self, tx: Tx) -> int:
        if self.dialect == "postgresql":
            exists = tx.row("SELECT to_regclass('hub_meta') IS NOT NULL")[0]
        else:
            exists = tx.row("SELECT count(*) FROM sqlite_master WHERE name = 'hub_meta'")[0]
        if not exists:
            return 0
        row = tx.one("SELECT value FROM hub_meta WHERE key = 'schema_version'")
        return int(row[0]) if row else 0

    def migrate(self) -> int:
        """Bring the database to this hub's schema version; refuse one from a newer hub."""
        try:
            with self.transaction(write=True) as tx:
                version = self.schema_version(tx)
                if version > latest_version():
                    raise DatabaseError(f"{self.describe()} has schema version {version}, newer than this edgeemo's "
                                        f"{latest_version()}: upgrade edgeemo on this host (the database is unchanged)")
                for step in MIGRATIONS[version:]:
                    for statement in step:
                        tx.run(statement) if isinstance(statement, str) else statement(tx)
                if version < latest_version():
                    tx.run("INSERT INTO hub_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) "
                           "DO UPDATE SET value = excluded.value", (str(latest_version()),))
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.describe()}: not a usable SQLite database ({exc})") from None
        return version


class NoSuchDatabase(DatabaseError):
    """An SQLite hub database that does not exist, opened by a command that must not create one."""


def open_database(url: str, migrate: bool = True, create: bool = True) -> Database:
    """Connect and bring the schema up to date (the one line to call). With `create=False` a missing SQLite
    file is refused instead of created, so a mistyped --db never starts an empty hub (a PostgreSQL
    database is never created here: the server itself refuses one that does not exist)."""
    database = Database(url)
    if not create and database.path is not None and not database.path.exists():
        raise NoSuchDatabase(f"{database.path}: no hub database there (check --db, or db in --config); "
                             "`edgeemo hub import` or `edgeemo hub serve --create` makes a new one")
    if migrate:
        try:
            database.migrate()
        except BaseException:
            database.close()
            raise
    return database
