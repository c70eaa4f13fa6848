"""PostgreSQL connections that sat idle are checked before use, and replaced if dead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tests.databases import PG_ADMIN, pg_admin
from xsell.store import make_engine


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_admin():  # fails clearly when PostgreSQL is not there
        pass
    yield PG_ADMIN


def _kill_pooled_backend(engine_url: str, ping_after_idle_s: float) -> int:
    """Use a connection, return it to the pool, kill its server process, use the pool again."""
    engine = make_engine(
        engine_url, pool_size=1, max_overflow=0, ping_after_idle_s=ping_after_idle_s
    )
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with pg_admin() as admin:
            # with a timeout, it returns once the server process is gone (PostgreSQL 14+)
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        with engine.connect() as conn:
            new_pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert new_pid != pid
        return new_pid
    finally:
        engine.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced(pg_url: str) -> None:
    _kill_pooled_backend(pg_url, ping_after_idle_s=0.0)  # every checkout counts as idle


def test_a_connection_just_used_is_not_pinged(pg_url: str) -> None:
    # within the idle time no ping is spent: the dead connection surfaces on use
    with pytest.raises(OperationalError):
        _kill_pooled_backend(pg_url, ping_after_idle_s=3600.0)
