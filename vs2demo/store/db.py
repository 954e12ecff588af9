"""The connection: one SQLite file by default (WAL, created and migrated on first use) or a PostgreSQL URL that
several app replicas share, through SQLAlchemy; the same code either way.

SQLite's settings are chosen for a server that may be killed at any moment: every transaction commits with a full
sync of the write-ahead log (a committed edit survives the process), writers take the lock when they begin (BEGIN
IMMEDIATE: two writers never deadlock upgrading a read lock) and wait up to BUSY_TIMEOUT_MS for each other; a
transaction that only reads begins deferred and, in WAL, never waits for a writer.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from vs2demo.core.errors import StoreError
from vs2demo.store.schema import LATEST, migrate

log = logging.getLogger(__name__)
DEFAULT_DB = "vs2demo.db"  # in the working directory, unless --db or $VS2_DB says otherwise
BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "vs2_read_only"  # a connection's execution option: its transaction only reads


def db_from_env(flag: str | None = None) -> str:
    """Where the library lives: an explicit flag wins, then $VS2_DB, then vs2demo.db here."""
    return flag or os.environ.get("VS2_DB") or DEFAULT_DB


def database_url(target: str) -> str:
    """A SQLAlchemy URL from a file path or a URL (postgresql://… is taken as postgresql+psycopg://…)."""
    if "://" not in target:
        return f"sqlite:///{Path(target).expanduser().resolve()}"
    if target.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    return target


class Database:
    """An engine with the schema at the latest version; ``write()`` and ``read()`` give transactions."""

    def __init__(self, target: str) -> None:
        self.target = target
        try:
            url = make_url(database_url(target))
            self.engine = _engine(url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:  # a typo'd scheme, a missing driver
            raise StoreError(f"not a database path or URL this app can use: {target!r} ({_first_line(exc)}); "
                             "give a file path or postgresql://user@host/db") from exc
        self.dialect = url.get_backend_name()
        self.url = url
        self._migrated = threading.Lock()
        self.version = 0

    def ready(self) -> Database:
        """Create or migrate the schema (once per process; cheap when already at the latest version)."""
        with self._migrated:
            if self.version != LATEST:
                if self.dialect == "sqlite" and self.url.database not in (None, "", ":memory:"):
                    folder = Path(self.url.database).parent
                    if not folder.is_dir():  # SQLite would say only "unable to open database file"
                        raise StoreError(f"the results library's folder does not exist: {folder}")
                try:
                    with self.engine.begin() as conn:
                        before, self.version = migrate(conn)
                except SQLAlchemyError as exc:
                    raise StoreError(f"cannot open the results library at {self.describe()}: "
                                     f"{_first_line(exc)}") from exc
                if before != self.version:
                    log.info("results library %s: schema %d -> %d", self.describe(), before, self.version)
        return self

    def describe(self) -> str:
        """Where the library is, without a password."""
        return make_url(database_url(self.target)).render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits when the block ends (and is on disk once it has)."""
        with self._transaction(read_only=False) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads: one consistent snapshot, which on SQLite takes no write lock (WAL readers
        never wait for a writer, nor make one wait)."""
        with self._transaction(read_only=True) as conn:
            yield conn

    @contextmanager
    def _transaction(self, read_only: bool) -> Iterator[Connection]:
        self.ready()
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{READ_ONLY: read_only})  # read by the begin hook below
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StoreError(f"the results library is unavailable: {_first_line(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()


def _engine(url) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _settings(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below issues BEGIN itself
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", f"busy_timeout={BUSY_TIMEOUT_MS}",
                       "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:  # a writer takes the lock as it begins; a reader takes none
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
