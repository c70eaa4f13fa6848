"""Service fixtures: a TestClient over a fresh SQLite file (one app per test module)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import xsell
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
        **settings,
    )
    return TestClient(create_app(cfg), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file for this module."""
    return tmp_path_factory.mktemp("svc") / "xsell.db"


@pytest.fixture(scope="module")
def client(db_path: Path) -> Iterator[TestClient]:
    """A started app on a fresh SQLite file."""
    with make_client(f"sqlite:///{db_path}") as c:
        yield c
