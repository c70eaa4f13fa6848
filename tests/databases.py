"""Fresh, empty databases for tests: a SQLite file, or a PostgreSQL database made and dropped.

PostgreSQL must be running at 127.0.0.1:5432 (user ``postgres``, trust auth, database
``test``); each database is created there under a random name and dropped with ``FORCE``
afterwards. When the server cannot be reached the PostgreSQL tests fail, saying so: they
are never skipped. Store and service tests build their fixtures on :func:`fresh_database`
(per test or per module).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

__all__ = ["BACKENDS", "PG_ADMIN", "fresh_database", "pg_admin"]

#: the backends every store and service test runs on
BACKENDS = ("sqlite", "postgresql")
#: where test databases are created (and dropped)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the test server; fails the test if there is none."""
    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            "this test needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth, "
            f"database 'test'); it could not be reached: {exc}",
            pytrace=False,
        )


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database on ``backend``, dropped (PostgreSQL) when done.

    ``folder`` holds the SQLite file (it is left to pytest's temporary folders).
    """
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'xsell.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}")
    name = f"xsell_test_{uuid.uuid4().hex[:12]}"
    with pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
