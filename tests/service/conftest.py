"""Service fixtures: a TestClient over a fresh database, one app per test module and backend.

Every module runs on a SQLite file and on a PostgreSQL database (:mod:`tests.databases`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import xsell
from tests.databases import BACKENDS, fresh_database
from xsell.service import Settings, create_app

KEY = "test-key-1"
HEADERS = {"X-API-Key": KEY}
AT = "2026-01-05T09:00:00Z"


def customers(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` sample customers as JSON objects."""
    records: list[dict[str, Any]] = json.loads(
        xsell.make_customers(n, seed=seed).to_json(orient="records")
    )
    return records


def make_client(url: str, **settings: Any) -> TestClient:
    """A client of an app on ``url`` (enter it to run the app's start-up)."""
    cfg = Settings(
        database_url=url,
        api_keys=KEY,
        reference_size=300,
        model_poll_seconds=0,
        max_body_bytes=200_000,
        gc_freeze=False,  # in-process apps: the test runner's objects stay collectable
        **settings,
    )
    return TestClient(create_app(cfg), raise_server_exceptions=False)


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database for this module: a SQLite file, or a PostgreSQL database."""
    with fresh_database(request.param, tmp_path_factory.mktemp("svc")) as url:
        yield url


@pytest.fixture(scope="module")
def client(db_url: str) -> Iterator[TestClient]:
    """A started app on this module's database."""
    with make_client(db_url) as c:
        yield c
