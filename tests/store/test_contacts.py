"""Contacts from the log: caps read from it, the atomic cap check, erasure and retention."""

from __future__ import annotations

import threading
from datetime import timedelta

import pandas as pd
from sqlalchemy import func, select

import xsell
from tests.catalogs import contact_limited_catalog
from tests.store.conftest import T0, World, build_world
from xsell.catalog.product import ContactPolicy
from xsell.store.tables import (
    Contact,
    Decision,
    LearnedOutcome,
    OutcomeEvent,
    ProtectedAttributes,
    RefusedContact,
)


def _count(world: World, table: type) -> int:
    with world.log.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def _deliver_at_once(world: World, ids: list[str]) -> list[bool]:
    """Deliver these decisions from one thread each, released together."""
    barrier = threading.Barrier(len(ids))
    results: list[bool] = []

    def deliver(i: str) -> None:
        barrier.wait()
        results.append(world.log.record_delivery(i, at=T0 + timedelta(seconds=1)))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


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
        results = _deliver_at_once(world, offers["decision_id"].astype(str).tolist())
        assert sorted(results) == [False] * 15 + [True]
        with world.log.engine.connect() as conn:
            n = conn.execute(
                select(func.count()).select_from(Contact).where(Contact.customer_id == str(cid))
            ).scalar()
        assert n == 1
    finally:
        world.log.engine.dispose()


def test_sixteen_concurrent_deliveries_of_one_product_pass_its_frequency_cap_of_one(
    db_url: str,
) -> None:
    """The per-product cap is checked and the contact recorded under the customer's lock too
    (no cool-off, no contact limit in this catalog: the cap is the one rule that applies)."""
    data = xsell.Catalog.sample().to_dict()
    data["contact_policy"] = {"max_offers": 100, "period_days": 30}
    for product in data["products"]:
        product["cool_off_days"] = 0
        product["frequency_cap"] = {"max_offers": 1, "period_days": 30}
    world = build_world(db_url, n=20, catalog=xsell.Catalog.from_dict(data))
    try:
        customers = xsell.make_customers(20, seed=5)
        cid = world.decisions.loc[world.decisions["product"].notna(), "customer_id"].iloc[0]
        one = customers[customers["customer_id"] == cid]
        offers = pd.concat([world.agent.act(one, at=T0, placement=f"p-{i}") for i in range(60)])
        offers = offers[offers["product"].notna()]
        product = offers["product"].value_counts().index[0]
        offers = offers[offers["product"] == product].head(16)
        assert len(offers) == 16
        world.log.record_decisions(offers, world.agent)
        results = _deliver_at_once(world, offers["decision_id"].astype(str).tolist())
        assert sorted(results) == [False] * 15 + [True]
        with world.log.engine.connect() as conn:
            refused = conn.execute(select(RefusedContact.rule)).scalars().all()
        assert refused == ["frequency cap"] * 15
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


def _one_customer_offers(world: World, n: int, mode: str = "realtime") -> pd.DataFrame:
    """``n`` offers for one customer, decided (not recorded) in separate placements."""
    customers = xsell.make_customers(len(world.decisions), seed=5)
    cid = world.decisions.loc[world.decisions["product"].notna(), "customer_id"].iloc[0]
    one = customers[customers["customer_id"] == cid]
    frames = [world.agent.act(one, at=T0, placement=f"p-{i}", mode=mode) for i in range(3 * n)]
    offers = pd.concat(frames)
    offers = offers[offers["product"].notna()].head(n)
    assert len(offers) == n
    return offers


def test_a_refused_delivery_is_stored_as_refused_and_is_no_contact(db_url: str) -> None:
    world = build_world(db_url, n=20, catalog=contact_limited_catalog(2))
    try:
        offers = _one_customer_offers(world, 3)
        world.log.record_decisions(offers, world.agent)
        ids = offers["decision_id"].astype(str).tolist()
        at = T0 + timedelta(seconds=1)
        assert [world.log.record_delivery(i, at=at) for i in ids] == [True, True, False]
        with world.log.engine.connect() as conn:
            refused = conn.execute(select(RefusedContact.decision_id, RefusedContact.rule)).all()
        assert [tuple(r) for r in refused] == [(ids[2], "contact limit")]
        assert _count(world, Contact) == 2
    finally:
        world.log.engine.dispose()


def test_checked_delivery_events_pass_up_to_the_limit_and_a_retry_is_refused_again(
    db_url: str,
) -> None:
    world = build_world(db_url, n=20, catalog=contact_limited_catalog(2))
    try:
        offers = _one_customer_offers(world, 6)
        world.log.record_decisions(offers, world.agent)
        ids = offers["decision_id"].astype(str).tolist()
        events = [
            {"decision_id": i, "type": "delivered", "idempotency_key": f"d-{i}", "at": T0}
            for i in ids
        ]
        receipt = world.log.receive_events(events)
        assert receipt.stored == len(ids) and receipt.duplicate == 0
        # at one time, the order of decision ids decides who comes first
        assert [(r.decision_id, r.rule) for r in receipt.refused] == [
            (i, "contact limit") for i in sorted(ids)[2:]
        ]
        assert _count(world, Contact) == 2
        retry = next(e for e in events if e["decision_id"] == sorted(ids)[-1])
        again = world.log.receive_events([retry])
        assert (again.stored, again.duplicate) == (0, 1)
        assert [r.idempotency_key for r in again.refused] == [retry["idempotency_key"]]
        assert _count(world, Contact) == 2 and _count(world, RefusedContact) == len(ids) - 2
    finally:
        world.log.engine.dispose()


def test_a_batch_offer_recorded_after_a_rival_contact_is_refused_under_the_lock(
    db_url: str,
) -> None:
    world = build_world(db_url, n=20, catalog=contact_limited_catalog(1))
    try:
        # two batch sends decided before either is recorded (two workers at once)
        offers = _one_customer_offers(world, 2, "batch")
        first, second = offers.iloc[[0]], offers.iloc[[1]]
        world.log.record_decisions(first, world.agent, check_contacts=True)
        world.log.record_decisions(second, world.agent, check_contacts=True)
        with world.log.engine.connect() as conn:
            contacts = conn.execute(select(Contact.decision_id, Contact.source)).all()
            refused = conn.execute(
                select(RefusedContact.decision_id, RefusedContact.source, RefusedContact.rule)
            ).all()
        first_id, second_id = str(first["decision_id"].iloc[0]), str(second["decision_id"].iloc[0])
        assert [tuple(c) for c in contacts] == [(first_id, "decision")]
        assert [tuple(r) for r in refused] == [(second_id, "decision", "contact limit")]
        assert _count(world, Decision) == len(world.decisions) + 2  # both decisions are kept
    finally:
        world.log.engine.dispose()


def test_a_delivery_reported_late_counts_the_contacts_recorded_after_its_time(
    db_url: str,
) -> None:
    # two workers: the one whose clock says 09:00:05 commits first, then 09:00:01 arrives
    world = build_world(db_url, n=20, catalog=contact_limited_catalog(1))
    try:
        offers = _one_customer_offers(world, 2)
        world.log.record_decisions(offers, world.agent)
        early, late = offers["decision_id"].astype(str).tolist()
        assert world.log.record_delivery(late, at=T0 + timedelta(seconds=5))
        assert not world.log.record_delivery(early, at=T0 + timedelta(seconds=1))
        assert _count(world, Contact) == 1
    finally:
        world.log.engine.dispose()


def test_erasure_and_retention_take_decisions_out_of_idempotency_keys(db_url: str) -> None:
    """A key whose request decided for two customers keeps the other's decisions when one
    is erased, and is gone once both are; retention drops the keys with the decisions."""
    world = build_world(db_url, n=4)
    try:
        customers = xsell.make_customers(4, seed=5)
        pair = customers.iloc[:2]
        later = T0 + timedelta(days=1)
        decided = world.agent.act(pair, at=later, placement="keyed")
        world.log.record_decisions(decided, world.agent, idempotency_key="k-pair")
        first, second = (str(c) for c in pair["customer_id"])
        ids = decided["decision_id"].astype(str).tolist()
        assert world.log.decisions_for_key("k-pair") == ids
        assert world.log.erase_customer(first) == 2  # the build's decision and the keyed one
        kept = decided.loc[decided["customer_id"].astype(str) == second, "decision_id"]
        assert world.log.decisions_for_key("k-pair") == kept.astype(str).tolist()
        world.log.erase_customer(second)
        assert world.log.decisions_for_key("k-pair") is None
        # retention: a key recorded before the cut-off goes with its decisions
        world.clock.now = later
        again = world.agent.act(customers.iloc[2:3], at=later, placement="keyed")
        world.log.record_decisions(again, world.agent, idempotency_key="k-late")
        assert world.log.decisions_for_key("k-late") is not None
        assert world.log.apply_retention(1, now=later + timedelta(days=2)) >= 1
        assert world.log.decisions_for_key("k-late") is None
    finally:
        world.log.engine.dispose()
