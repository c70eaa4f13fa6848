"""A list request mixing customers with and without an offer is recorded whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.service.conftest import AT, HEADERS, customers, make_client
from xsell.store.tables import Decision


@pytest.mark.parametrize("no_offer_first", [True, False])
def test_offers_and_no_offers_in_one_request_keep_their_model_inputs(
    tmp_path: Path, no_offer_first: bool
) -> None:
    rows = customers(4, seed=5)
    silent = {**rows[0], **{f"consent_{c}": False for c in ("app", "web", "email", "sms")}}
    body = [silent, *rows[1:]] if no_offer_first else [*rows[1:], silent]
    with make_client(f"sqlite:///{tmp_path / 'x.db'}") as client:
        r = client.post("/v1/decisions", json={"customer": body, "at": AT}, headers=HEADERS)
        assert r.status_code == 200, r.text
        offered = {o["customer_id"] for o in r.json()["offers"]}
        assert rows[0]["customer_id"] not in offered and len(offered) == 3
        engine = client.app.state.xsell.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            stored = conn.execute(
                select(Decision.customer_id, Decision.product, Decision.input_p)
            ).all()
    assert len(stored) == 4
    for customer_id, product, input_p in stored:
        if customer_id in offered:
            assert product is not None and input_p is not None and 0 < input_p < 1
        else:
            assert product is None and input_p is None
