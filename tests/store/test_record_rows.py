"""What the log stores for decisions, whichever path decided them and whatever comes first."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

import xsell
from tests.store.conftest import T0, World
from xsell.decisions import RecordDecisions
from xsell.errors import InputError
from xsell.store import DecisionLog, migrate
from xsell.store.tables import Decision, Explanation


def test_offers_keep_their_inputs_when_a_no_offer_row_comes_first(db_url: str) -> None:
    # rows of one INSERT take their columns from the first row: a no-offer row (no model
    # inputs) first must not drop the inputs of the offers after it
    migrate(db_url)
    log = DecisionLog(db_url, catalog=xsell.Catalog.sample())
    agent = xsell.Agent(
        log.catalog, xsell.sample_feature_spec(), seed=3, history=log, record_contacts=False
    )
    agent.fit_features(xsell.make_customers(300, seed=1))
    customers = xsell.make_customers(6, seed=2)
    owns = [c for c in customers.columns if c.startswith("owns_")]
    customers.loc[0, owns] = True  # nothing left to offer the first customer
    by_frame = agent.act(customers, at=T0)
    by_records = agent.act_records(
        json.loads(customers.to_json(orient="records")), at=T0, placement="records"
    )
    assert by_frame["product"].isna().iloc[0] and by_records.decisions[0]["product"] is None
    log.record_decisions(by_frame, agent)
    log.record_decisions(by_records, agent)
    with log.engine.connect() as conn:
        rows = conn.execute(select(Decision.product, Decision.arm, Decision.input_p)).all()
    assert len(rows) == 12
    offers = [r for r in rows if r.product is not None]
    assert len(offers) >= 4 and all(r.arm is not None for r in offers)
    # the sample customers all have propensity scores: every offer stores its own
    assert all(r.input_p is not None and 0 < r.input_p < 1 for r in offers)
    assert np.isfinite([r.input_p for r in offers]).all()
    log.engine.dispose()


def test_requests_recorded_together_are_all_recorded_or_none(db_url: str) -> None:
    migrate(db_url)
    log = DecisionLog(db_url, catalog=xsell.Catalog.sample())
    agent = xsell.Agent(
        log.catalog, xsell.sample_feature_spec(), seed=3, history=log, record_contacts=False
    )
    agent.fit_features(xsell.make_customers(300, seed=1))

    def request(start: int) -> RecordDecisions:
        records = json.loads(xsell.make_customers(2, seed=4, start=start).to_json(orient="records"))
        return agent.act_records(records, at=T0)

    first, second, third = request(0), request(10), request(20)
    texts = [agent.explain_records(d) for d in (first, second, third)]
    assert log.record_requests([(first, texts[0], "key-1")], agent) == [len(first)]
    # the third is new, but the first again repeats its ids and key: nothing is stored
    with pytest.raises(InputError):
        log.record_requests([(third, texts[2], None), (first, texts[0], "key-1")], agent)
    with log.engine.connect() as conn:
        stored = set(conn.execute(select(Decision.id)).scalars())
        explained = set(conn.execute(select(Explanation.decision_id)).scalars())
    assert stored == explained == set(first.decision_ids)
    assert log.record_requests([(second, texts[1], "key-2"), (third, texts[2], None)], agent) == [
        len(second),
        len(third),
    ]
    assert log.decisions_for_key("key-2") == second.decision_ids
    log.engine.dispose()


def test_contact_rows_are_the_contacts_since(world: World) -> None:
    delivered = world.deliver_all()
    assert delivered
    ids = world.decisions["customer_id"].astype(str).to_numpy()
    since = T0 - timedelta(days=1)
    frame = world.log.contacts_since(ids, since)
    rows = world.log.contact_rows(ids, since)
    assert len(rows) == len(frame) == len(delivered)
    assert sorted((c, p, t) for c, p, t in rows) == sorted(
        zip(
            frame["customer_id"],
            frame["product_id"],
            (t.to_pydatetime() for t in frame["at"]),
            strict=True,
        )
    )
    assert world.log.contact_rows(ids, T0 + timedelta(days=1)) == []
