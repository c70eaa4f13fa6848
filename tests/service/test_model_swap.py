"""A version the learner stores is swapped in by the worker and shown in the header."""

from __future__ import annotations

from tests.service.conftest import HEADERS, customers, make_client
from xsell.store import Learner


def test_a_new_model_version_is_swapped_in(db_url: str) -> None:
    with make_client(db_url) as client:
        body = {"customer": customers(3, seed=11)}  # now: events are received in time
        offers = client.post("/v1/decisions", json=body, headers=HEADERS).json()["offers"]
        events = [
            {
                "decision_id": o["decision_id"],
                "type": t,
                "idempotency_key": f"{o['decision_id']}-{t}",
            }
            for o in offers
            for t in ("delivered", "conversion")
        ]
        assert client.post("/v1/outcomes", json=events, headers=HEADERS).json()["duplicate"] == 0
        state = client.app.state.xsell  # type: ignore[attr-defined]
        result = Learner(state.engine).run_once()
        assert result.version == 1 and result.conversions == len(offers)
        assert state.refresh()
        r = client.get("/v1/models", headers=HEADERS)
        assert r.headers["X-Model-Version"] == "1" and r.json()["serving_version"] == 1
        audit = client.get(f"/v1/decisions/{offers[0]['decision_id']}", headers=HEADERS).json()
        assert audit["learned"] == {"model_version": 1, "conversion": 1, "opt_out": 0}
