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
