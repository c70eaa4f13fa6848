"""One PostgreSQL connection held for the decision path's two statements.

Every real-time decision runs two statements: it reads the customers' recent contacts and
then writes its rows (one statement, :mod:`xsell.store.pg_rows`). Through SQLAlchemy each
costs a pool check-out and check-in, a ``Connection`` with its events and the
statement's cache look-up: about 0.3 ms of CPU, more than the database spends. Here they
run on one DBAPI connection taken from the engine once and kept (autocommit: each
statement is atomic by itself), as statements compiled once by the engine's own dialect
and prepared by the server.

The connection serves one thread at a time: a caller that finds it in use gets ``None``
and takes the pool's way. A connection that broke is dropped and replaced at the next use,
and one that sat idle for a while is checked first (as the engine's pooled connections
are: the server may have dropped it).
It is closed by :meth:`DirectConnection.close`, when the engine is disposed, or when the
object is garbage-collected. A process forked from the one that opened it opens its own
(the parent's is left alone: closing it in the child would end the parent's session).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import ClauseElement, Engine, event
from sqlalchemy.pool import PoolProxiedConnection

__all__ = ["DirectConnection"]


class DirectConnection:
    """A DBAPI connection of ``engine`` (PostgreSQL with psycopg) kept for hot statements."""

    def __init__(self, engine: Engine, *, ping_after_idle_s: float = 1.0) -> None:
        self.engine = engine
        self.ping_after_idle_s = ping_after_idle_s
        self._used = 0.0
        self._lock = threading.Lock()
        # the held connection, if any, with the process that opened it
        self._holder: list[tuple[int, PoolProxiedConnection]] = []
        self._sql: dict[int, str] = {}
        weakref.finalize(self, _close, self._holder)
        holder = self._holder  # (the listener must not keep this object alive)
        event.listen(engine, "engine_disposed", lambda _engine: _close(holder))

    def compile(self, statement: ClauseElement) -> str:
        """``statement`` as the driver's SQL text with named parameters (compiled once)."""
        key = id(statement)
        if key not in self._sql:
            self._sql[key] = str(statement.compile(dialect=self.engine.dialect))
        return self._sql[key]

    def _connection(self) -> psycopg.Connection[Any]:
        if self._holder and self._holder[0][0] != os.getpid():  # forked: the parent's
            self._holder.clear()
        now = time.monotonic()
        idle, self._used = now - self._used, now
        if self._holder and idle > self.ping_after_idle_s:
            try:
                _dbapi(self._holder[0][1]).execute("SELECT 1")
            except psycopg.Error:
                _close(self._holder)
        if not self._holder or _dbapi(self._holder[0][1]).closed:
            _close(self._holder)
            held = self.engine.raw_connection()
            held.detach()  # ours from now on: the pool neither resets nor recycles it
            _dbapi(held).autocommit = True
            self._holder.append((os.getpid(), held))
        return _dbapi(self._holder[0][1])

    @contextmanager
    def cursor(self) -> Iterator[Any | None]:
        """A cursor of the held connection, or ``None`` while another thread uses it."""
        if not self._lock.acquire(blocking=False):
            yield None
            return
        try:
            with self._connection().cursor() as cur:
                yield cur
        except psycopg.OperationalError:
            self.close()  # broken: the next use connects again
            raise
        finally:
            self._lock.release()

    def execute(
        self, statement: ClauseElement, params: Mapping[str, Any], *, rows: bool
    ) -> list[tuple[Any, ...]] | None:
        """Run ``statement`` (prepared by the server) and return its rows (``rows``), or an
        empty list for a statement without them; ``None`` when the connection is in use."""
        with self.cursor() as cur:
            if cur is None:
                return None
            cur.execute(self.compile(statement), dict(params), prepare=True)
            return [tuple(r) for r in cur.fetchall()] if rows else []

    def close(self) -> None:
        """Close the held connection (a later use opens another)."""
        _close(self._holder)


def _close(holder: list[tuple[int, PoolProxiedConnection]]) -> None:
    while holder:
        pid, held = holder.pop()
        if pid == os.getpid():  # (a forked child leaves its parent's connection alone)
            with contextlib.suppress(psycopg.Error):  # (already broken)
                held.close()


def _dbapi(held: PoolProxiedConnection) -> psycopg.Connection[Any]:
    conn = held.dbapi_connection
    if not isinstance(conn, psycopg.Connection):
        raise TypeError(f"DirectConnection needs psycopg, the engine gives {type(conn)}")
    return conn
