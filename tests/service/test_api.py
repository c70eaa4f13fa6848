"""The HTTP API: auth, decisions, idempotency, outcomes, audit view, models, errors."""

from __future__ import annotations

import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.service.conftest import AT, HEADERS, customers
from xsell.store.tables import Decision, DecisionRequest

ROUTES = [
    ("POST", "/v1/decisions"),
    ("POST", "/v1/outcomes"),
    ("GET", "/v1/decisions/abc"),
    ("GET", "/v1/models"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
]


def _decide(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    r = client.post("/v1/decisions", json=body, headers={**HEADERS, **headers})
    assert r.status_code == 200, r.text
    return r.json()


def _count(client: TestClient, table: Any) -> int:
    engine = client.app.state.xsell.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        n: int = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return n


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_every_route_but_health_needs_a_valid_key(
    client: TestClient, method: str, path: str, key: str | None
) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    r = client.request(method, path, headers=headers, json={})
    assert r.status_code == 401
    assert r.headers["X-Model-Version"] == "0"


def test_the_key_tests_cover_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json", headers=HEADERS).json()
    documented = {
        (method.upper(), path.replace("{decision_id}", "abc"))
        for path, operations in schema["paths"].items()
        for method in operations
    }
    # every documented operation, and the schema itself, but health
    assert documented | {("GET", "/openapi.json")} == set(ROUTES) | {("GET", "/healthz")}
    for page in ("/docs", "/redoc"):  # no browser pages: the schema needs a key
        assert client.get(page).status_code == 404


def test_health_needs_no_key(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.json()["worker_pid"] == os.getpid()  # the test client runs the app in-process
    assert r.headers["X-Model-Version"] == "0"


def test_a_decision_for_one_customer(client: TestClient) -> None:
    out = _decide(client, {"customer": customers(1)[0], "at": AT, "placement": "one"})
    assert isinstance(out["offers"], list) and len(out["offers"]) == 1
    offer = out["offers"][0]
    assert set(offer) >= {"decision_id", "product", "channel", "probability", "explanation"}
    assert 0 < offer["probability"] <= 1 and offer["explanation"].startswith("Offered")


def test_a_decision_for_a_list_with_top_n(client: TestClient) -> None:
    out = _decide(client, {"customer": customers(5), "top_n": 2, "at": AT, "placement": "list"})
    offers = out["offers"]
    assert isinstance(offers, list) and 5 <= len(offers) <= 10
    assert {o["rank"] for o in offers} <= {1, 2}
    assert len({o["customer_id"] for o in offers}) == 5


def test_a_customer_with_nothing_to_offer_gets_an_empty_list(client: TestClient) -> None:
    c = customers(1, seed=3)[0]
    c.update({k: True for k in c if k.startswith("owns_")})
    out = _decide(client, {"customer": c, "at": AT, "placement": "none"})
    assert out["offers"] == []


def test_an_idempotency_key_retry_returns_the_same_decision_and_records_once(
    client: TestClient,
) -> None:
    before = _count(client, Decision)
    body = {"customer": customers(1, seed=4)[0], "placement": "retry"}  # no `at`: time moves
    first = _decide(client, body, **{"Idempotency-Key": "req-1"})
    again = _decide(client, body, **{"Idempotency-Key": "req-1"})
    assert first == again
    assert _count(client, Decision) == before + 1
    assert _count(client, DecisionRequest) >= 1


def test_outcomes_are_stored_and_duplicates_counted(client: TestClient) -> None:
    did = _decide(client, {"customer": customers(1, seed=5)[0], "at": AT, "placement": "outcomes"})[
        "offers"
    ][0]["decision_id"]
    events = [
        {"decision_id": did, "type": "delivered", "idempotency_key": f"{did}-d", "at": AT},
        {"decision_id": did, "type": "click", "idempotency_key": f"{did}-c", "at": AT},
    ]
    r = client.post("/v1/outcomes", json=events, headers=HEADERS)
    assert r.json() == {"stored": 2, "duplicate": 0}
    r = client.post("/v1/outcomes", json=events[0], headers=HEADERS)  # one event, a retry
    assert r.json() == {"stored": 0, "duplicate": 1}
    audit = client.get(f"/v1/decisions/{did}", headers=HEADERS).json()
    assert [e["type"] for e in audit["outcomes"]] == ["delivered", "click"]
    assert audit["contact"]["source"] == "delivered"
    assert audit["learned"] is None


def test_the_audit_view_shows_inputs_probabilities_versions(client: TestClient) -> None:
    offer = _decide(client, {"customer": customers(1, seed=6)[0], "at": AT, "placement": "audit"})[
        "offers"
    ][0]
    a = client.get(f"/v1/decisions/{offer['decision_id']}", headers=HEADERS).json()
    assert a["product"] == offer["product"] and a["explanation"] == offer["explanation"]
    assert "income" in a["inputs"] and "intercept" in a["inputs"]
    assert abs(sum(a["probabilities"].values()) - 1) < 1e-9
    assert set(a["versions"]) == {"model", "policy", "catalog", "feature_spec", "reward_rules"}
    assert offer["product"] in a["eligible"]


def test_unknown_ids_are_404(client: TestClient) -> None:
    assert client.get("/v1/decisions/" + "0" * 32, headers=HEADERS).status_code == 404
    ev = {"decision_id": "0" * 32, "type": "click", "idempotency_key": "x"}
    assert client.post("/v1/outcomes", json=ev, headers=HEADERS).status_code == 404


def test_models_lists_versions_and_coefficients(client: TestClient) -> None:
    out = client.get("/v1/models", headers=HEADERS).json()
    assert out["serving_version"] == 0 and out["versions"][0]["version"] == 0
    assert {"product", "feature", "weight", "sd"} <= set(out["coefficients"][0])


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    _decide(client, {"customer": customers(1, seed=7)[0], "at": AT, "placement": "metrics"})
    text = client.get("/metrics", headers=HEADERS).text
    assert "xsell_decisions_total" in text and "xsell_request_seconds_bucket" in text
    assert "xsell_errors_total" in text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"top_n": 0}, "top_n"),
        ({"top_n": "two"}, "top_n"),
        ({"at": "2026-01-05T09:00:00"}, "at"),
        ({"customer": "nobody"}, "customer"),
        ({"extra_field": 1}, "extra_field"),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    body = {"customer": customers(1)[0], **change}
    r = client.post("/v1/decisions", json=body, headers=HEADERS)
    assert r.status_code == 422
    assert field in r.text


def test_a_missing_customer_column_is_422_naming_it(client: TestClient) -> None:
    c = customers(1)[0]
    del c["income"]
    r = client.post("/v1/decisions", json={"customer": c}, headers=HEADERS)
    assert r.status_code == 422 and "income" in r.json()["detail"]


def test_an_oversized_body_is_413(client: TestClient) -> None:
    body = {"customer": customers(1)[0], "placement": "x" * 300_000}
    r = client.post("/v1/decisions", json=body, headers=HEADERS)
    assert r.status_code == 413
    assert r.headers["X-Model-Version"] == "0"


def test_a_streamed_oversized_body_is_413(client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(30):
            yield b"x" * 10_000

    r = client.post("/v1/outcomes", content=chunks(), headers=HEADERS)
    assert r.status_code == 413
