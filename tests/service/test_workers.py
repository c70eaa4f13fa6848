"""Several worker processes on one database: ``xsell serve --workers 2`` for real.

Each worker polls the model registry in the background and swaps a newer version in off
the request path; every response names the version it was served by.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.databases import BACKENDS, fresh_database
from tests.service.conftest import HEADERS, customers
from tests.service.live import LiveServer, live_server
from xsell.store import Learner

SWAP_DEADLINE_S = 5.0


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str]]:
    """Two workers started together on an empty database, and the database's URL."""
    folder = tmp_path_factory.mktemp("live")
    with fresh_database(request.param, folder) as url, live_server(url, folder, workers=2) as s:
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
