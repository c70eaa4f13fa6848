"""Requests that arrive together are decided together, exactly as each would be alone.

The tests hold the agent's lock so requests queue up behind a first one, then release it:
the queued requests are decided in one batch (the batch-size metric says so), and their
decisions and logged rows must equal those an agent loaded from the same log makes for
each request alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import xsell
from tests.databases import BACKENDS, fresh_database
from tests.service.conftest import HEADERS, make_client
from xsell.decisions import decision_records
from xsell.service.state import ServiceState
from xsell.store.rows import decision_rows, pending_inputs
from xsell.store.tables import Decision, Explanation, ProtectedAttributes

AT = "2026-02-02T10:00:00Z"


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """An app of its own on a fresh database (one statement per batch on PostgreSQL)."""
    with fresh_database(request.param, tmp_path) as url, make_client(url) as c:
        yield c


def _state(client: TestClient) -> ServiceState:
    state: ServiceState = client.app.state.xsell  # type: ignore[attr-defined]
    return state


def _customers(n: int, start: int) -> list[dict[str, Any]]:
    df = xsell.make_customers(n, seed=21, start=start)
    out: list[dict[str, Any]] = json.loads(df.to_json(orient="records"))
    return out


def _batched(client: TestClient, bodies: list[dict[str, Any]], **headers: Any) -> list[Any]:
    """Post ``bodies`` so that all but the first queue behind it and form one batch."""
    state = _state(client)
    with ThreadPoolExecutor(len(bodies)) as pool:
        with state.lock:  # the first request's batch waits here; the others queue
            futures: list[Future[Any]] = []
            for i, body in enumerate(bodies):
                h = {**HEADERS, **{k: v[i] for k, v in headers.items() if v[i] is not None}}
                futures.append(pool.submit(client.post, "/v1/decisions", json=body, headers=h))
                if i == 0:
                    _until(lambda: state.batcher.waiting == 0 and state.batcher.deciding)
            _until(lambda: state.batcher.waiting == len(bodies) - 1)
        return [f.result(timeout=60) for f in futures]


def _until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the requests did not queue up in time")
        time.sleep(0.005)


def _batch_sizes(client: TestClient) -> tuple[float, float]:
    """(number of batches, requests in them) so far."""
    samples = {
        s.name: s.value
        for metric in _state(client).metrics.batch_size.collect()
        for s in metric.samples
    }
    return samples["xsell_decision_batch_size_count"], samples["xsell_decision_batch_size_sum"]


def test_requests_arriving_together_are_decided_as_each_alone(client: TestClient) -> None:
    bodies = [
        {"customer": _customers(1, 0)[0], "at": AT, "placement": "home"},
        *({"customer": c, "at": AT, "placement": "home"} for c in _customers(5, 10)),
        {"customer": _customers(3, 20), "at": AT, "placement": "home", "top_n": 2},
        {"customer": _customers(2, 30), "at": AT, "placement": "home", "top_n": 2},
        {"customer": _customers(1, 40)[0], "at": AT, "placement": "cart"},
    ]
    before = _batch_sizes(client)
    answers = _batched(client, bodies)
    assert [a.status_code for a in answers] == [200] * len(bodies)
    batches, requests = (a - b for a, b in zip(_batch_sizes(client), before, strict=True))
    assert (batches, requests) == (2, len(bodies))  # the first alone, then all the others
    # an agent loaded from the same log, deciding each request alone, agrees on everything
    state = _state(client)
    alone = state.registry.load(history=state.log)
    alone.record_contacts = False
    with state.engine.connect() as conn:
        logged = {r.id: r._asdict() for r in conn.execute(select(Decision.__table__))}
        texts = dict(conn.execute(select(Explanation.decision_id, Explanation.text)).all())
        protected = dict(
            conn.execute(
                select(ProtectedAttributes.decision_id, ProtectedAttributes.attributes)
            ).all()
        )
    for body, answer in zip(bodies, answers, strict=True):
        rows = body["customer"] if isinstance(body["customer"], list) else [body["customer"]]
        frame = alone.act(
            pd.DataFrame.from_records(rows),
            at=AT,
            placement=body["placement"],
            top_n=body.get("top_n", 1),
        )
        expected = decision_records(frame)
        served = answer.json()["offers"]
        offered = [d for d in expected if d["product"] is not None]
        assert [o["decision_id"] for o in served] == [d["decision_id"] for d in offered]
        assert [o["probability"] for o in served] == [d["probability"] for d in offered]
        assert [o["explanation"] for o in served] == [
            t for t, d in zip(alone.explain(frame), expected, strict=True) if d["product"]
        ]
        want = decision_rows(
            expected,
            pending_inputs(alone, expected),
            alone,
            traffic_group="default",
            reward_rules_version=state.log.rules.fingerprint,
        )
        gender = {str(c["customer_id"]): c["gender"] for c in rows}
        for row, text in zip(want, alone.explain(frame).tolist(), strict=True):
            got = logged[row["id"]]
            assert {k: got[k] for k in row} == row
            assert texts[row["id"]] == text
            assert protected[row["id"]] == {"gender": gender[row["customer_id"]]}


def test_a_bad_request_in_a_batch_fails_alone(client: TestClient) -> None:
    bad = _customers(1, 50)[0] | {"income": None}  # alone, pandas refuses a null number
    bodies = [
        {"customer": _customers(1, 60)[0]},
        {"customer": _customers(1, 61)[0]},
        {"customer": bad},
        {"customer": _customers(1, 62)[0]},
    ]
    statuses = [a.status_code for a in _batched(client, bodies)]
    assert statuses == [200, 200, 422, 200]


def test_one_customer_in_two_requests_and_one_key_twice(client: TestClient) -> None:
    same = _customers(1, 70)[0]
    bodies = [{"customer": _customers(1, 71)[0]}, {"customer": same}, {"customer": same}]
    answers = _batched(client, bodies)
    assert [a.status_code for a in answers] == [200, 200, 200]
    # a retry racing its original: one records, the other returns what it recorded
    body = {"customer": _customers(1, 80)[0]}
    answers = _batched(client, [body, body, body], **{"Idempotency-Key": [None, "k-1", "k-1"]})
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[1].json() == answers[2].json()
