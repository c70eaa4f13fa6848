"""The decision path's held PostgreSQL connection (needs the machine's PostgreSQL).

The log's contact reads give the same rows through it as through SQLAlchemy's pool; it
recovers when the server drops it; it steps aside (``None``) while another thread uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.databases import fresh_database, pg_admin
from tests.store.conftest import T0, World, build_world
from xsell.store.direct import DirectConnection

BACKEND_PID = select(func.pg_backend_pid())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with fresh_database("postgresql", tmp_path) as url:
        w = build_world(url)
        yield w
        w.log.engine.dispose()


def _pid(direct: DirectConnection) -> int:
    rows = direct.execute(BACKEND_PID, {}, rows=True)
    assert rows is not None
    return int(rows[0][0])


def test_contacts_read_through_it_equal_those_read_through_the_pool(world: World) -> None:
    ids = np.asarray(world.decisions["customer_id"].astype(str).unique())
    world.deliver_all()
    direct = world.log.contact_rows(ids, T0)
    busy = world.log._direct
    assert busy is not None
    with busy.cursor():  # held by this thread: the log reads through the pool
        pooled = world.log.contact_rows(ids, T0)
    assert len(direct) == len(world.offered) > 0
    assert sorted(direct) == sorted(pooled)


def test_a_connection_the_server_dropped_is_replaced(world: World) -> None:
    direct = DirectConnection(world.log.engine, ping_after_idle_s=0.0)
    first = _pid(direct)
    with pg_admin() as admin:  # returns once the server process is gone
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (first,))
    assert _pid(direct) != first  # pinged before use: replaced, no error
    direct.close()


def test_it_steps_aside_while_another_thread_uses_it(world: World) -> None:
    direct = DirectConnection(world.log.engine)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with direct.cursor() as cur:
            assert cur is not None
            inside.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    assert inside.wait(30)
    assert direct.execute(BACKEND_PID, {}, rows=True) is None  # the caller takes the pool
    release.set()
    t.join(30)
    assert direct.execute(BACKEND_PID, {}, rows=True) is not None
    direct.close()
