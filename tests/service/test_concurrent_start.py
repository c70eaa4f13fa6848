"""Workers starting together on an empty database: one migration, one version 0, all serve.

Real worker processes (Alembic's context is process-global, so threads would not show it),
on PostgreSQL: SQLite's write lock serializes start-ups by itself, PostgreSQL needs the
advisory locks of ``migrate`` and ``ModelRegistry.register``.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.service.conftest import KEY
from xsell.service import Settings
from xsell.service.state import open_state
from xsell.store import make_engine
from xsell.store.tables import ModelVersion

N_WORKERS = 2


def _start_worker(url: str, barrier: Any, out: Any) -> None:
    """One worker's start-up, reported as ``("ok", version)`` or ``("error", message)``."""
    settings = Settings(database_url=url, api_keys=KEY, reference_size=50, model_poll_seconds=0)
    barrier.wait(timeout=60)
    try:
        state = open_state(settings)
    except Exception as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        return
    out.put(("ok", state.model_version))
    state.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_workers_starting_at_once_on_an_empty_database_all_come_up(db_url: str) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N_WORKERS)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_start_worker, args=(db_url, barrier, out)) for _ in range(N_WORKERS)
    ]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=120))
    except queue.Empty:
        pass
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():  # hung: end it, the assertion below says so
                p.kill()
                p.join()
    assert results == [("ok", 0)] * N_WORKERS
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(ModelVersion)).scalar() == 1
    finally:
        engine.dispose()
