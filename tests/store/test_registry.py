"""The model registry: version 0 is registered once, however many workers try at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

import xsell
from xsell.errors import InputError
from xsell.store import ModelRegistry, make_engine, migrate
from xsell.store.tables import ModelVersion


def test_concurrent_registrations_store_one_base_version(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url, pool_size=10)
    agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=1)
    agent.fit_features(xsell.make_customers(50, seed=1))
    n = 8
    barrier = threading.Barrier(n)
    outcomes: list[object] = []

    def register() -> None:
        barrier.wait()
        try:
            outcomes.append(ModelRegistry(engine).register(agent))
        except Exception as exc:  # collected: the assertions below name it
            outcomes.append(exc)

    threads = [threading.Thread(target=register) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert outcomes.count(0) == 1
        assert all(isinstance(o, InputError) for o in outcomes if o != 0), outcomes
        assert len(outcomes) == n
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(ModelVersion)).scalar() == 1
    finally:
        engine.dispose()


def test_registering_when_a_version_exists_is_refused(db_url: str) -> None:
    migrate(db_url)
    agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=1)
    agent.fit_features(xsell.make_customers(50, seed=1))
    registry = ModelRegistry(db_url)
    assert registry.register(agent) == 0
    with pytest.raises(InputError, match="holds model versions already"):
        registry.register(agent)
    registry.engine.dispose()
