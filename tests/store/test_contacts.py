"""Contacts from the log: caps read from it, the atomic cap check, erasure and retention."""

from __future__ import annotations

import threading
from datetime import timedelta

import pandas as pd
from sqlalchemy import func, select

import xsell
from tests.store.conftest import T0, World, build_world
from xsell.catalog.product import ContactPolicy
from xsell.store.tables import Contact, Decision, LearnedOutcome, OutcomeEvent, ProtectedAttributes


def _count(world: World, table: type) -> int:
    with world.log.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def test_a_delivered_offer_blocks_the_next_decision_by_cool_off(world: World) -> None:
    d = world.decisions
    first = d[d["product"].notna()].iloc[0]
    assert world.log.record_delivery(str(first["decision_id"]), at=T0 + timedelta(seconds=1))
    customers = xsell.make_customers(60, seed=5)
    again = world.agent.act(
        customers[customers["customer_id"] == first["customer_id"]], at=T0 + timedelta(days=1)
    )
    assert again[f"blocked_{first['product']}"].iloc[0] in (
        "cool-off period",
        "frequency cap",
        "contact limit",
    )


def test_sixteen_concurrent_deliveries_to_one_customer_pass_a_cap_of_one(db_url: str) -> None:
    catalog = xsell.Catalog.sample().model_copy(
        update={"contact_policy": ContactPolicy(max_offers=1, period_days=30)}
    )
    world = build_world(db_url, n=20, catalog=catalog)
    try:
        customers = xsell.make_customers(20, seed=5)
        cid = world.decisions.loc[world.decisions["product"].notna(), "customer_id"].iloc[0]
        one = customers[customers["customer_id"] == cid]
        frames = [world.agent.act(one, at=T0, placement=f"slot-{i}") for i in range(40)]
        offers = pd.concat(frames)
        offers = offers[offers["product"].notna()].head(16)
        assert len(offers) == 16
        world.log.record_decisions(offers, world.agent)
        ids = offers["decision_id"].astype(str).tolist()
        barrier = threading.Barrier(16)
        results: list[bool] = []

        def deliver(i: str) -> None:
            barrier.wait()
            results.append(world.log.record_delivery(i, at=T0 + timedelta(seconds=1)))

        threads = [threading.Thread(target=deliver, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(results) == [False] * 15 + [True]
        with world.log.engine.connect() as conn:
            n = conn.execute(
                select(func.count()).select_from(Contact).where(Contact.customer_id == str(cid))
            ).scalar()
        assert n == 1
    finally:
        world.log.engine.dispose()


def test_erase_by_customer_removes_everything_about_them(world: World) -> None:
    offered = world.deliver_all()
    world.log.record_events(
        [{"decision_id": offered[0], "type": "click", "idempotency_key": "k", "at": T0}]
    )
    cid = str(world.decisions.set_index("decision_id").loc[offered[0], "customer_id"])
    n_theirs = int((world.decisions["customer_id"].astype(str) == cid).sum())
    before = _count(world, Decision)
    assert world.log.erase_customer(cid) == n_theirs
    with world.log.engine.connect() as conn:
        for table in (Decision, Contact, ProtectedAttributes):
            left = conn.execute(
                select(func.count()).select_from(table).where(table.customer_id == cid)
            ).scalar()
            assert left == 0, table.__tablename__
    assert _count(world, OutcomeEvent) == 0
    assert _count(world, Decision) == before - n_theirs
    assert world.log.contacts_since(pd.Series([cid]).to_numpy(), T0 - timedelta(days=1)).empty


def test_retention_deletes_decisions_older_than_n_days(world: World) -> None:
    world.deliver_all()
    world.learner().run_until_idle(now=T0 + timedelta(days=30))
    learned = _count(world, LearnedOutcome)
    assert world.log.apply_retention(90, now=T0 + timedelta(days=89)) == 0
    assert world.log.apply_retention(90, now=T0 + timedelta(days=91)) == len(world.decisions)
    assert (
        _count(world, Decision) == _count(world, Contact) == _count(world, ProtectedAttributes) == 0
    )
    assert _count(world, LearnedOutcome) == learned  # the models stay reproducible
