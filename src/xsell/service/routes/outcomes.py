"""``POST /v1/outcomes``: outcome events, stored once per idempotency key."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from xsell.service.deps import StateDep, require_api_key
from xsell.service.schemas import OutcomeEventBody, OutcomesResponse

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/outcomes", tags=["outcomes"], dependencies=[Depends(require_api_key)]
)


@router.post("")
def record_outcomes(
    body: OutcomeEventBody | list[OutcomeEventBody], state: StateDep
) -> OutcomesResponse:
    """Store one event or a list; an event whose idempotency key is stored counts as duplicate."""
    events = body if isinstance(body, list) else [body]
    stored = state.log.record_events([e.model_dump() for e in events]) if events else 0
    state.metrics.outcomes.labels(result="stored").inc(stored)
    state.metrics.outcomes.labels(result="duplicate").inc(len(events) - stored)
    return OutcomesResponse(stored=stored, duplicate=len(events) - stored)
