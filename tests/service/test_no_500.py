"""No input produces a 500: malformed payloads get 4xx, with the model version header."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.conftest import HEADERS, customers

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_base = customers(1, seed=9)[0]


@st.composite
def _mangled_customer(draw: st.DrawFn) -> dict[str, Any]:
    c = dict(_base)
    for key in draw(st.lists(st.sampled_from(sorted(c)), max_size=4)):
        c[key] = draw(_json)
    return c


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=_json
    | st.fixed_dictionaries(
        {"customer": _mangled_customer()}, optional={"top_n": _json, "at": _json, "channel": _json}
    )
)
def test_malformed_decision_requests_never_500(client: TestClient, body: Any) -> None:
    r = client.post("/v1/decisions", json=body, headers=HEADERS)
    assert r.status_code < 500, r.text
    assert "X-Model-Version" in r.headers


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_json)
def test_malformed_outcomes_never_500(client: TestClient, body: Any) -> None:
    r = client.post("/v1/outcomes", json=body, headers=HEADERS)
    assert r.status_code < 500, r.text


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"\xff\xfe",
        b"[]",
        b"null",
        b'{"customer": {}}',
        b'{"customer": []}',
        b'{"customer": {"age": NaN}}',
        b'{"top_n": Infinity}',
    ],
)
def test_broken_bodies_are_4xx(client: TestClient, raw: bytes) -> None:
    for path in ("/v1/decisions", "/v1/outcomes"):
        r = client.post(path, content=raw, headers={**HEADERS, "Content-Type": "application/json"})
        assert r.status_code < 500, (path, raw, r.text)


# Regressions: each of these was a 500 (found by schemathesis-style probing on PostgreSQL).


def _offer(client: TestClient, placement: str) -> str:
    body = {"customer": customers(1, seed=9)[0], "placement": placement}
    r = client.post("/v1/decisions", json=body, headers=HEADERS)
    assert r.status_code == 200, r.text
    return str(r.json()["offers"][0]["decision_id"])


@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        ("/v1/decisions", {"placement": "a\x00b"}, "placement"),
        ("/v1/decisions", {"channel": "app\x00"}, "channel"),
        ("/v1/decisions", {"customer_id": "C\x001"}, "customer_id"),
        ("/v1/outcomes", {"idempotency_key": "k\x00"}, "idempotency_key"),
        ("/v1/outcomes", {"decision_id": "d\x00"}, "decision_id"),
    ],
)
def test_nul_characters_are_422_naming_the_field(
    client: TestClient, path: str, change: dict[str, str], field: str
) -> None:
    if path == "/v1/decisions":
        c = customers(1, seed=9)[0]
        body: dict[str, Any] = (
            {"customer": {**c, **change}} if "customer_id" in change else {"customer": c, **change}
        )
    else:
        base = {"decision_id": _offer(client, "nul"), "type": "click", "idempotency_key": "nul"}
        body = {**base, **change}
    r = client.post(path, json=body, headers=HEADERS)
    assert r.status_code == 422 and field in r.text


def test_a_nul_character_in_a_decision_id_path_is_422(client: TestClient) -> None:
    r = client.get("/v1/decisions/a%00b", headers=HEADERS)
    assert r.status_code == 422 and "decision_id" in r.text


def test_a_customer_id_longer_than_the_log_stores_is_422(client: TestClient) -> None:
    c = {**customers(1, seed=9)[0], "customer_id": "x" * 129}
    r = client.post("/v1/decisions", json={"customer": c}, headers=HEADERS)
    assert r.status_code == 422 and "at most 128 characters" in r.json()["detail"]


def test_one_customer_twice_in_a_request_is_422(client: TestClient) -> None:
    c = customers(1, seed=9)[0]
    r = client.post("/v1/decisions", json={"customer": [c, c]}, headers=HEADERS)
    assert r.status_code == 422 and "more than once" in r.json()["detail"]


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_times_beyond_what_xsell_computes_with_are_422_naming_at(
    client: TestClient, at: str
) -> None:
    r = client.post(
        "/v1/decisions", json={"customer": customers(1, seed=9)[0], "at": at}, headers=HEADERS
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("`at` must lie between")
    event = {"decision_id": _offer(client, f"late-{at[:4]}"), "type": "delivered"}
    r = client.post(
        "/v1/outcomes", json={**event, "idempotency_key": at, "at": at}, headers=HEADERS
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("`at` must lie between")
