"""The schema: built by migrating, equal to the tables, UTC times, append-only decisions."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.store.conftest import T0, World
from xsell.errors import InputError
from xsell.store import make_engine, migrate, schema_diff
from xsell.store.tables import Contact, Decision, ProtectedAttributes


def test_migrate_twice_and_autogenerate_finds_no_difference(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)  # at head already: nothing to do
    engine = make_engine(db_url)
    try:
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_decisions_are_recorded_with_inputs_versions_and_utc_times(world: World) -> None:
    with Session(world.log.engine) as s:
        rows = s.scalars(select(Decision)).all()
        protected = s.scalars(select(ProtectedAttributes)).all()
    assert len(rows) == len(world.decisions)
    offered = [d for d in rows if d.product is not None]
    assert offered and all(d.input_x and d.arm is not None for d in offered)
    d = offered[0]
    assert d.at == T0 and d.at.tzinfo is not None and d.at.utcoffset() == timedelta(0)
    assert abs(sum(d.probabilities.values()) - 1) < 1e-9
    assert d.catalog_version == world.agent.catalog.version
    assert d.reward_rules_version.startswith("1-")
    assert set(d.eligible).isdisjoint(d.blocked)
    assert len(protected) == len(rows)  # the sample spec has protected attributes
    assert set(protected[0].attributes) == set(world.agent.spec.protected)


def test_decisions_are_append_only(world: World) -> None:
    with pytest.raises(InputError, match="append-only"):
        world.log.record_decisions(world.decisions, world.agent)
    with pytest.raises(DBAPIError, match="append-only"), world.log.engine.begin() as conn:
        conn.execute(text("UPDATE decisions SET probability = 0"))


def test_times_are_read_back_as_utc(world: World) -> None:
    offer = world.offered[0]
    at = T0.astimezone(UTC).replace(microsecond=123456) + timedelta(hours=1)
    world.log.record_delivery(offer, at=at.isoformat().replace("+00:00", "+02:00"))
    with Session(world.log.engine) as s:
        c = s.scalars(select(Contact).where(Contact.decision_id == offer)).one()
    assert c.at == at - timedelta(hours=2)
    assert c.at.tzinfo is not None
