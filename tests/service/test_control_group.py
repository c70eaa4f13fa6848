"""The service holds out the same control group as a batch run: one function, one salt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import text

from tests.service.conftest import AT, HEADERS, customers, make_client
from xsell.control_group import in_control_group


def test_the_service_holds_out_the_batch_control_group(tmp_path: Path) -> None:
    rows = customers(60, seed=8)
    with make_client(
        f"sqlite:///{tmp_path / 'x.db'}", control_share=0.3, control_salt="spring"
    ) as client:
        r = client.post(
            "/v1/decisions", json={"customer": rows, "at": AT, "placement": "app"}, headers=HEADERS
        )
        assert r.status_code == 200, r.text
        engine = client.app.state.xsell.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            logged = conn.execute(
                text("select customer_id, traffic_group, product from decisions")
            ).all()
    ids = np.array([c["customer_id"] for c in rows], dtype=object)
    held = dict(zip(ids.tolist(), in_control_group(ids, 0.3, "spring").tolist(), strict=True))
    assert 5 < sum(held.values()) < 35
    for customer_id, group, product in logged:
        assert group == ("control" if held[customer_id] else "treatment")
        if held[customer_id]:
            assert product is None
    assert any(p is not None for c, g, p in logged if not held[c])
