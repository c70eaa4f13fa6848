"""Contacts over HTTP: a delivery passes the contact rules or gets 409 naming the rule;
a batch-mode offer is a contact when it is decided."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.catalogs import limited_catalog_file
from tests.service.conftest import AT, HEADERS, customers, make_client
from xsell.store.tables import Contact, RefusedContact


@pytest.fixture(scope="module")
def limited(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app whose catalog allows two contacts per customer in 30 days."""
    path = limited_catalog_file(tmp_path_factory.mktemp("catalog"), 2)
    with make_client(db_url, catalog_path=path) as c:
        yield c


def _offers(client: TestClient, customer: dict[str, Any], n: int, **body: Any) -> list[str]:
    ids = []
    for i in range(n):
        r = client.post(
            "/v1/decisions",
            json={"customer": customer, "at": AT, "placement": f"p{i}", **body},
            headers=HEADERS,
        )
        assert r.status_code == 200, r.text
        ids += [o["decision_id"] for o in r.json()["offers"]]
    return ids


def _count(client: TestClient, table: Any, customer_id: str) -> int:
    engine = client.app.state.xsell.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(table).where(table.customer_id == customer_id)
        return int(conn.execute(stmt).scalar_one())


def _delivered(did: str, key: str | None = None) -> dict[str, str]:
    return {"decision_id": did, "type": "delivered", "idempotency_key": key or f"{did}-d", "at": AT}


def test_deliveries_beyond_the_contact_limit_get_409_naming_the_rule(limited: TestClient) -> None:
    c = {**customers(1, seed=41)[0], "customer_id": "limited-41"}
    ids = _offers(limited, c, 4)
    assert len(ids) == 4
    answers = [limited.post("/v1/outcomes", json=_delivered(i), headers=HEADERS) for i in ids]
    assert [r.status_code for r in answers] == [200, 200, 409, 409]
    body = answers[2].json()
    assert body["refused"] == [
        {"decision_id": ids[2], "idempotency_key": f"{ids[2]}-d", "rule": "contact limit"}
    ]
    assert (body["stored"], body["duplicate"]) == (1, 0) and "contact limit" in body["detail"]
    retry = limited.post("/v1/outcomes", json=_delivered(ids[2]), headers=HEADERS)
    assert retry.status_code == 409 and retry.json()["duplicate"] == 1
    assert _count(limited, Contact, c["customer_id"]) == 2
    assert _count(limited, RefusedContact, c["customer_id"]) == 2
    audit = limited.get(f"/v1/decisions/{ids[2]}", headers=HEADERS).json()
    assert audit["contact"] is None
    assert [r["rule"] for r in audit["refused_contacts"]] == ["contact limit"]
    assert [e["type"] for e in audit["outcomes"]] == ["delivered"]  # stored, not a contact


def test_a_list_with_a_refused_delivery_stores_the_rest_and_says_which(
    limited: TestClient,
) -> None:
    c = {**customers(1, seed=42)[0], "customer_id": "limited-42"}
    ids = _offers(limited, c, 3)
    events = [_delivered(i) for i in ids] + [
        {"decision_id": ids[0], "type": "click", "idempotency_key": f"{ids[0]}-c", "at": AT}
    ]
    r = limited.post("/v1/outcomes", json=events, headers=HEADERS)
    assert r.status_code == 409
    body = r.json()
    assert (body["stored"], body["duplicate"]) == (4, 0)
    assert len(body["refused"]) == 1 and body["refused"][0]["rule"] == "contact limit"
    assert _count(limited, Contact, c["customer_id"]) == 2


def test_a_batch_offer_is_a_contact_when_decided(limited: TestClient) -> None:
    c = {**customers(1, seed=43)[0], "customer_id": "limited-43"}
    ids = _offers(limited, c, 3, mode="batch")
    assert len(ids) == 2  # the third decision saw the limit reached: no offer
    for i in ids:
        audit = limited.get(f"/v1/decisions/{i}", headers=HEADERS).json()
        assert audit["contact"]["source"] == "decision"
    assert _count(limited, Contact, c["customer_id"]) == 2
