"""Requests that arrive together are decided together, exactly as each would be alone.

The tests start several requests in one pass of the app's event loop: each reaches the
batcher before the batch runs (nothing in the app suspends a request before it queues), so
they are decided in one batch (the batch-size metric says so), and their decisions and
logged rows must equal those an agent loaded from the same log makes for each request
alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
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
from xsell.service.batcher import LINGER_WHEN_BUSY
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


@dataclass(frozen=True)
class _Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


async def _post(app: Any, body: dict[str, Any], headers: dict[str, str]) -> _Answer:
    """``POST /v1/decisions`` straight through the app's ASGI interface."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/decisions",
        "raw_path": b"/v1/decisions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the client waits for its answer
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return _Answer(sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]))


def _batched(client: TestClient, bodies: list[dict[str, Any]], **headers: Any) -> list[Any]:
    """Post ``bodies`` at once, in one pass of the app's event loop (they form one batch)."""
    heads = [
        {**HEADERS, **{k: v[i] for k, v in headers.items() if v[i] is not None}}
        for i in range(len(bodies))
    ]

    async def post_all() -> list[_Answer]:
        return list(
            await asyncio.gather(
                *(_post(client.app, b, h) for b, h in zip(bodies, heads, strict=True))
            )
        )

    portal = client.portal
    assert portal is not None  # the client is entered: the app runs
    return portal.call(post_all)


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
    assert (batches, requests) == (1, len(bodies))  # all of them at once
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


@pytest.mark.parametrize("busy", [True, False])
def test_near_saturation_a_batch_lingers_for_the_requests_that_follow(
    tmp_path: Path, busy: bool
) -> None:
    """A request at an idle worker is decided at once. At a worker that has been deciding
    most of the time lately, one that follows a batch waits the linger, and a request
    arriving meanwhile joins its batch; below that share it is decided at once too."""
    with fresh_database("sqlite", tmp_path) as url, make_client(url, batch_linger_ms=100.0) as c:
        state = _state(c)
        bodies = [{"customer": x} for x in _customers(3, 90)]

        async def scenario() -> list[_Answer]:
            now = asyncio.get_running_loop().time()
            # busy all of the last 10 s (share 1.0), or half of the last second (0.24)
            if busy:
                state.batcher.busy.record(now - 10.0, now)
            else:
                state.batcher.busy.record(now - 1.0, now - 0.5)
            assert (state.batcher.busy.share(now) >= LINGER_WHEN_BUSY) is busy
            first = await _post(c.app, bodies[0], HEADERS)  # idle: decided at once
            second = asyncio.create_task(_post(c.app, bodies[1], HEADERS))
            while state.batcher.waiting == 0:  # queued right after a batch
                await asyncio.sleep(0)
            third = asyncio.create_task(_post(c.app, bodies[2], HEADERS))
            return [first, await second, await third]

        before = _batch_sizes(c)
        portal = c.portal
        assert portal is not None
        answers = portal.call(scenario)
        assert [a.status_code for a in answers] == [200] * 3
        batches, requests = (a - b for a, b in zip(_batch_sizes(c), before, strict=True))
        # busy: the first alone, the others together; else each alone
        assert (batches, requests) == ((2, 3) if busy else (3, 3))
