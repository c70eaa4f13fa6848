"""Database engines: an embedded SQLite file by default, PostgreSQL (psycopg 3) by URL.

SQLite connections run with foreign keys on, write-ahead logging and a busy timeout, and
SQLAlchemy emits ``BEGIN`` itself so a writer can take the database's single write lock up
front (``BEGIN IMMEDIATE``): that lock is what makes a cap check and its contact record
atomic on SQLite. PostgreSQL uses row locks and advisory locks instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.types import TypeDecorator

from xsell.errors import InputError

__all__ = [
    "DEFAULT_URL",
    "ENV_VAR",
    "UTCDateTime",
    "database_url",
    "hold_advisory_lock",
    "is_postgres",
    "make_engine",
    "one_statement",
    "read_transaction",
    "write_transaction",
]

#: environment variable holding the database URL
ENV_VAR = "XSELL_DATABASE_URL"
#: the embedded database used when no URL is given
DEFAULT_URL = "sqlite:///xsell.db"
_BUSY_TIMEOUT_S = 30.0
_PING_AFTER_IDLE_S = 1.0  # PostgreSQL: a pooled connection idle longer is pinged before use


def database_url(url: str | None = None) -> str:
    """The database URL: ``url``, else ``$XSELL_DATABASE_URL``, else :data:`DEFAULT_URL`.

    ``postgresql://`` URLs are routed to the psycopg 3 driver.

    Examples
    --------
    >>> database_url("postgresql://postgres@127.0.0.1:5432/xsell")
    'postgresql+psycopg://postgres@127.0.0.1:5432/xsell'
    """
    raw = url or os.environ.get(ENV_VAR) or DEFAULT_URL
    try:
        parsed = make_url(raw)
    except Exception as exc:  # SQLAlchemy raises ArgumentError for anything unparsable
        raise InputError(f"`url` is not a database URL: {raw!r} ({exc})") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InputError(
            f"`url` must be a sqlite:// or postgresql:// URL, got backend {parsed.get_backend_name()!r}"
        )
    return parsed.render_as_string(hide_password=False)


def make_engine(
    url: str | None = None, *, ping_after_idle_s: float = _PING_AFTER_IDLE_S, **kwargs: Any
) -> Engine:
    """An engine for the decision log (see :func:`database_url` for which database).

    On PostgreSQL a pooled connection that sat idle for ``ping_after_idle_s`` seconds is
    checked before use (and replaced if the server dropped it); other keyword arguments go
    to :func:`sqlalchemy.create_engine`.

    Examples
    --------
    >>> engine = make_engine("sqlite://")
    >>> with read_transaction(engine) as conn:
    ...     conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
    1
    """
    resolved = database_url(url)
    if make_url(resolved).get_backend_name() == "sqlite":
        connect_args = {"timeout": _BUSY_TIMEOUT_S, **kwargs.pop("connect_args", {})}
        engine = create_engine(resolved, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(resolved, **kwargs)
    _ping_when_idle(engine, ping_after_idle_s)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Check a pooled connection before use when it sat idle, as ``pool_pre_ping`` does for
    every use: under load a connection is back in use within milliseconds, and a ping (a
    round trip per transaction) would cost more than the work. A dead connection is
    replaced (the pool retries on :class:`~sqlalchemy.exc.DisconnectionError`).
    """

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["xsell_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("xsell_idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # just connected, or just used
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"idle connection failed its ping: {exc}") from exc


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("xsell_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it holds the write lock from its start."""
    with engine.connect() as conn:
        conn.execution_options(xsell_write=True)
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads (rolled back at the end)."""
    with engine.connect() as conn, conn.begin() as tx:
        yield conn
        tx.rollback()


def hold_advisory_lock(conn: Connection, key: int) -> None:
    """Wait for PostgreSQL's advisory lock ``key``, held until this transaction ends.

    Serializes start-up steps that several worker processes may run at once (migrating,
    registering version 0). SQLite needs nothing: a write transaction already holds the
    database's only write lock.
    """
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


@contextmanager
def one_statement(engine: Engine, *, write: bool = True) -> Iterator[Connection]:
    """A connection for a single statement, atomic by itself: in autocommit mode on
    PostgreSQL (no BEGIN and COMMIT round trips), else in a write (or read) transaction."""
    if not is_postgres(engine):
        with (write_transaction if write else read_transaction)(engine) as conn:
            yield conn
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


def is_postgres(conn: Connection | Engine) -> bool:
    """Whether this connection or engine talks to PostgreSQL."""
    return conn.dialect.name == "postgresql"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC time on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time (so text comparison
    orders times correctly) and it is read back as aware UTC. Naive times are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; naive on SQLite."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise InputError(f"times must be timezone-aware (UTC), got the naive time {value}")
        utc = value.astimezone(UTC)
        if hasattr(utc, "to_pydatetime"):  # a pandas Timestamp
            utc = utc.to_pydatetime()
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
