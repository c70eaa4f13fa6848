"""``POST /v1/outcomes``: outcome events, stored once per idempotency key.

A delivery event (``delivered``, ``impression``) asks for a contact: it passes the
customer's cool-off, frequency caps and contact limit, checked and recorded atomically
per customer, or the answer is 409 naming the rule (the offer must not be delivered).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from xsell.service.deps import StateDep, require_api_key
from xsell.service.errors import KEYED_ERRORS
from xsell.service.schemas import (
    OutcomeEventBody,
    OutcomesRefused,
    OutcomesResponse,
    RefusedDelivery,
)
from xsell.store.events import EventReceipt

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/outcomes",
    tags=["outcomes"],
    dependencies=[Depends(require_api_key)],
    responses=KEYED_ERRORS,
)


@router.post(
    "",
    response_model=OutcomesResponse,
    responses={409: {"model": OutcomesRefused, "description": "A delivery was refused"}},
)
def record_outcomes(
    body: OutcomeEventBody | list[OutcomeEventBody], state: StateDep
) -> OutcomesResponse | JSONResponse:
    """Store one event or a list; an event whose idempotency key is stored counts as duplicate.

    409 when the contact rules refused a delivery event: the body names each refused
    decision and rule, and what was stored (the other events are).
    """
    events = body if isinstance(body, list) else [body]
    receipt = (
        state.log.receive_events([e.model_dump() for e in events])
        if events
        else EventReceipt(stored=0, duplicate=0)
    )
    state.metrics.outcomes.labels(result="stored").inc(receipt.stored)
    state.metrics.outcomes.labels(result="duplicate").inc(receipt.duplicate)
    if not receipt.refused:
        return OutcomesResponse(stored=receipt.stored, duplicate=receipt.duplicate)
    state.metrics.outcomes.labels(result="refused").inc(len(receipt.refused))
    refused = [
        RefusedDelivery(decision_id=r.decision_id, idempotency_key=r.idempotency_key, rule=r.rule)
        for r in receipt.refused
    ]
    reasons = "; ".join(f"decision {r.decision_id!r}: {r.rule}" for r in refused)
    out = OutcomesRefused(
        detail=f"the contact rules refused {len(refused)} delivery(ies), which must not be "
        f"delivered: {reasons}",
        stored=receipt.stored,
        duplicate=receipt.duplicate,
        refused=refused,
    )
    return JSONResponse(out.model_dump(), status_code=409)
