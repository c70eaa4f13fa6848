"""Several worker processes on one database: ``xsell serve --workers 2`` for real.

Each worker polls the model registry in the background and swaps a newer version in off
the request path; every response names the version it was served by. Requests for one
customer that arrive at once, on both workers, cannot pass its contact limit together.
Connections a client opens at once are spread over both workers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.catalogs import limited_catalog_file
from tests.databases import BACKENDS, fresh_database
from tests.service.conftest import AT, HEADERS, customers
from tests.service.live import LiveServer, live_server
from xsell.store import Learner, make_engine
from xsell.store.tables import Contact, RefusedContact

SWAP_DEADLINE_S = 5.0
CONTACT_LIMIT = 2
RUSH = 16


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str]]:
    """Two workers started together on an empty database, and the database's URL.

    The catalog allows :data:`CONTACT_LIMIT` contacts per customer in 30 days.
    """
    folder = tmp_path_factory.mktemp("live")
    catalog = str(limited_catalog_file(folder, CONTACT_LIMIT))
    with (
        fresh_database(request.param, folder) as url,
        live_server(url, folder, workers=2, catalog_path=catalog) as s,
    ):
        yield s, url


def _learn_a_new_version(server: LiveServer, url: str) -> int:
    body = {"customer": customers(4, seed=21), "placement": "swap"}
    r = httpx.post(f"{server.url}/v1/decisions", json=body, headers=HEADERS, timeout=30)
    assert r.status_code == 200, r.text
    events = [
        {"decision_id": o["decision_id"], "type": t, "idempotency_key": f"{o['decision_id']}-{t}"}
        for o in r.json()["offers"]
        for t in ("delivered", "conversion")  # a conversion closes the window at once
    ]
    r = httpx.post(f"{server.url}/v1/outcomes", json=events, headers=HEADERS, timeout=30)
    assert r.status_code == 200, r.text
    learner = Learner(url)
    try:
        result = learner.run_once()
    finally:
        learner.engine.dispose()
    assert result.version is not None and result.learned > 0
    return result.version


def test_two_workers_switch_to_a_new_model_version_within_5_s(
    server: tuple[LiveServer, str],
) -> None:
    live, url = server
    assert len(live.pids) == 2
    before = {int(live.health().headers["X-Model-Version"]) for _ in range(4)}
    version = _learn_a_new_version(live, url)
    stored = time.monotonic()
    assert before == {version - 1}
    seen: dict[int, list[int]] = {pid: [] for pid in live.pids}
    switched: dict[int, float] = {}
    while len(switched) < len(live.pids):
        elapsed = time.monotonic() - stored
        assert elapsed < SWAP_DEADLINE_S, f"after {elapsed:.1f} s, versions seen: {seen}"
        r = live.health()
        pid, served = r.json()["worker_pid"], int(r.headers["X-Model-Version"])
        assert served == r.json()["model_version"]
        seen[pid].append(served)
        if served == version:
            switched.setdefault(pid, elapsed)
        time.sleep(0.02)
    for pid, versions in seen.items():  # once switched, a worker never serves the old one
        first_new = versions.index(version)
        assert set(versions[first_new:]) == {version}, (pid, versions)
    print(f"workers switched after {sorted(round(s, 2) for s in switched.values())} s")


def _at_once(n: int, request: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``request(i)`` for i < n from n threads released together."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = request(i)
        except httpx.HTTPError as exc:  # kept: the assertion names it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(r, httpx.Response) for r in out), out
    return out


def _stored(url: str, table: Any, customer_id: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stmt = select(func.count()).select_from(table).where(table.customer_id == customer_id)
            return int(conn.execute(stmt).scalar_one())
    finally:
        engine.dispose()


def test_16_deliveries_at_once_for_one_customer_pass_the_contact_limit_only(
    server: tuple[LiveServer, str],
) -> None:
    live, url = server
    c = {**customers(1, seed=51)[0], "customer_id": "rush-deliveries"}
    ids = []
    for i in range(RUSH):  # decided one by one: a real-time decision is no contact
        body = {"customer": c, "at": AT, "placement": f"slot-{i}"}
        r = httpx.post(f"{live.url}/v1/decisions", json=body, headers=HEADERS, timeout=30)
        ids += [o["decision_id"] for o in r.json()["offers"]]
    assert len(ids) == RUSH
    answers = _at_once(
        RUSH,
        lambda i: httpx.post(
            f"{live.url}/v1/outcomes",
            json={"decision_id": ids[i], "type": "delivered", "idempotency_key": f"rush-{i}"},
            headers=HEADERS,
            timeout=60,
        ),
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * CONTACT_LIMIT + [409] * (RUSH - CONTACT_LIMIT), codes
    for r in answers:
        if r.status_code == 409:
            assert [x["rule"] for x in r.json()["refused"]] == ["contact limit"]
    assert _stored(url, Contact, "rush-deliveries") == CONTACT_LIMIT
    assert _stored(url, RefusedContact, "rush-deliveries") == RUSH - CONTACT_LIMIT


def test_16_batch_decisions_at_once_for_one_customer_pass_the_contact_limit_only(
    server: tuple[LiveServer, str],
) -> None:
    live, url = server
    c = {**customers(1, seed=52)[0], "customer_id": "rush-batch"}
    answers = _at_once(
        RUSH,
        lambda i: httpx.post(
            f"{live.url}/v1/decisions",
            json={"customer": c, "at": AT, "placement": f"send-{i}", "mode": "batch"},
            headers=HEADERS,
            timeout=60,
        ),
    )
    assert [r.status_code for r in answers] == [200] * RUSH, [r.text for r in answers]
    sent = sum(len(r.json()["offers"]) for r in answers)
    refused = [x for r in answers for x in r.json()["refused"]]
    assert sent == CONTACT_LIMIT == _stored(url, Contact, "rush-batch")
    assert {x["rule"] for x in refused} <= {"contact limit"}
    assert len(refused) == _stored(url, RefusedContact, "rush-batch")
    print(f"batch rush: {sent} sent, {len(refused)} refused at recording, rest not offered")


def test_connections_opened_at_once_are_spread_over_the_workers(
    server: tuple[LiveServer, str],
) -> None:
    # a client with a few keep-alive connections (a gateway, a load balancer) must not have
    # them all on one worker: with one shared socket the first worker awake took them all
    live, _ = server
    socks = [socket.create_connection(("127.0.0.1", live.port), timeout=30) for _ in range(RUSH)]
    try:
        pids = []
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            head, _, rest = _read_until(s, b"\r\n\r\n").partition(b"\r\n\r\n")
            length = int(
                next(
                    ln.split(b":", 1)[1]
                    for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"content-length")
                )
            )
            while len(rest) < length:
                rest += s.recv(length - len(rest))
            pids.append(json.loads(rest)["worker_pid"])
    finally:
        for s in socks:
            s.close()
    per_worker = Counter(pids)
    print(f"16 connections per worker: {sorted(per_worker.values())}")
    # spread by a hash of the connection: each worker gets 2 or more of 16 but with
    # probability 2 * 17 / 2**16 (0.05 %); one shared socket gave 16/0 in 2 of 6 tries
    assert len(per_worker) == 2 and min(per_worker.values()) >= 2, per_worker


def _read_until(s: socket.socket, mark: bytes) -> bytes:
    data = b""
    while mark not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError(f"the connection closed after {data!r}")
        data += chunk
    return data
