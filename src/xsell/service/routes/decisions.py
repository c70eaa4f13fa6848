"""``POST /v1/decisions`` (decide and record) and ``GET /v1/decisions/{id}`` (audit view)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from xsell.control_group import in_control_group
from xsell.errors import InputError
from xsell.service.batcher import DecisionRequest
from xsell.service.deps import (
    API_KEY_HEADER,
    API_KEY_SCHEME,
    StateDep,
    check_api_key,
    require_api_key,
)
from xsell.service.errors import KEYED_ERRORS
from xsell.service.parsing import (
    IDEMPOTENCY_KEY_PARAMETER,
    body_schema,
    idempotency_key_of,
    parse_body,
)
from xsell.service.queries import audit_view, offers_of
from xsell.service.schemas import AuditView, DecisionRequestBody, DecisionsResponse, Offer
from xsell.service.state import ServiceState

__all__ = ["router"]

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], responses=KEYED_ERRORS)

DECISION_BODY_SCHEMA = body_schema(DecisionRequestBody)
DecisionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
#: longest customer id the log stores
MAX_ID_LENGTH = 128


def _control_group(
    state: ServiceState, rows: list[dict[str, Any]], column: str
) -> np.ndarray | None:
    """Which customers are held out (the batch's function), or ``None`` without a control group."""
    share = state.settings.control_share
    if share == 0 or not any(column in r for r in rows):
        return None  # (a missing id column is act's error to report)
    ids = np.empty(len(rows), dtype=object)
    ids[:] = [r.get(column) for r in rows]
    return in_control_group(ids, share, state.settings.control_salt)


def _respond(state: ServiceState, ids: list[str]) -> DecisionsResponse:
    offers, refused = offers_of(state.engine, ids)
    return DecisionsResponse(offers=offers, model_version=state.model_version, refused=refused)


def _check_ids(rows: list[dict[str, Any]], column: str) -> None:
    """Each customer once per request (one decision id each), ids the log can store."""
    if not any(column in r for r in rows):
        return  # the agent names the missing column
    values = [r.get(column) for r in rows]
    if not all(
        isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in values
    ):
        _check_id_column(pd.DataFrame.from_records(rows), column)  # read as pandas reads them
        return
    ids = [str(v) for v in values]
    too_long = [i for i, v in enumerate(ids) if len(v) > MAX_ID_LENGTH]
    if too_long:
        raise InputError(
            f"`customer` {column!r} must be at most {MAX_ID_LENGTH} characters, "
            f"got {len(ids[too_long[0]])} (customer {too_long[0]})"
        )
    seen: set[str] = set()
    for v in ids:
        if v in seen:
            raise InputError(
                f"`customer` lists {column!r} {v!r} more than once; "
                "decide for each customer once per request"
            )
        seen.add(v)


def _check_id_column(customers: pd.DataFrame, column: str) -> None:
    """:func:`_check_ids` on ids only pandas reads exactly (null, decimal, mixed)."""
    ids = customers[column].astype(str)
    too_long = ids[ids.str.len() > MAX_ID_LENGTH]
    if len(too_long):
        raise InputError(
            f"`customer` {column!r} must be at most {MAX_ID_LENGTH} characters, "
            f"got {len(too_long.iloc[0])} (customer {int(too_long.index[0])})"
        )
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise InputError(
            f"`customer` lists {column!r} {repeated.iloc[0]!r} more than once; "
            "decide for each customer once per request"
        )


@router.post(
    "",
    response_model=DecisionsResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": DECISION_BODY_SCHEMA}},
        },
        "parameters": [IDEMPOTENCY_KEY_PARAMETER],
        "security": [{API_KEY_SCHEME: []}],
    },
)
async def decide(request: Request) -> Response:
    """Decide for one customer or a list; the decisions are committed before the response.

    With an ``Idempotency-Key`` header, a retry returns the decisions of the first request.
    A batch-mode offer is a contact at once, recorded under the customer's lock; one the
    contact rules refuse then is listed in ``refused`` (it must not be sent).
    """
    # the busiest route reads its body and header itself and answers with the response's
    # JSON: FastAPI's generic parameter solving and response validation cost more than the
    # decision (the schema above documents exactly what is read here)
    state: ServiceState = request.app.state.xsell
    check_api_key(state, request.headers.get(API_KEY_HEADER))
    body = parse_body(DecisionRequestBody, await request.body())
    idempotency_key = idempotency_key_of(request.headers.get("idempotency-key"))
    answer = await _decide(state, body, idempotency_key)
    return Response(answer.model_dump_json(), media_type="application/json")


async def _decide(
    state: ServiceState, body: DecisionRequestBody, idempotency_key: str | None
) -> DecisionsResponse:
    # a coroutine: the request waits for its batch on the event loop, no thread of its own;
    # what reads the database without deciding runs in the thread pool
    if idempotency_key is not None:
        stored = await run_in_threadpool(state.log.decisions_for_key, idempotency_key)
        if stored is not None:
            return await run_in_threadpool(_respond, state, stored)
    rows = body.customer if isinstance(body.customer, list) else [body.customer]
    if not 1 <= len(rows) <= state.settings.max_customers:
        raise InputError(
            f"`customer` must hold 1 to {state.settings.max_customers} customers, got {len(rows)}"
        )
    column = state.agent.spec.customer_id
    _check_ids(rows, column)
    placement = body.placement if body.channel is None else f"{body.channel}/{body.placement}"
    # decided with the requests that arrive meanwhile, exactly as alone (see the batcher)
    request = await state.batcher.decide(
        DecisionRequest(
            rows,
            body.at,
            body.mode,
            placement,
            body.top_n,
            idempotency_key,
            _control_group(state, rows, column),
        )
    )
    if request.error is not None:
        raise request.error
    if request.record_error is not None:
        if not isinstance(request.record_error, InputError):
            raise request.record_error
        stored = (
            None
            if idempotency_key is None
            else await run_in_threadpool(state.log.decisions_for_key, idempotency_key)
        )
        if stored is None:
            raise request.record_error
        return await run_in_threadpool(_respond, state, stored)  # a concurrent retry recorded it
    decided, texts = request.decided, request.explanations
    assert decided is not None
    state.metrics.decisions.inc(len(decided))
    contacts_now = state.log.rules.contact_at_decision_modes
    if any(d["product"] is not None and d["mode"] in contacts_now for d in decided.decisions):
        # some may have been refused as contacts: read back what was stored
        return await run_in_threadpool(_respond, state, decided.decision_ids)
    # what was just committed, served from memory (the audit view reads it back from the log)
    offers = [
        Offer(
            decision_id=d["decision_id"],
            customer_id=d["customer_id"],
            rank=d["rank"],
            product=d["product"],
            channel=d["channel"],
            probability=d["probability"],
            explanation=text,
        )
        for d, text in zip(decided.decisions, texts, strict=True)
        if d["product"] is not None
    ]
    return DecisionsResponse(offers=offers, model_version=state.model_version)


@router.get("/{decision_id}", dependencies=[Depends(require_api_key)])
def audit(decision_id: DecisionId, state: StateDep) -> AuditView:
    """The audit view of one decision: inputs, eligible and blocked products, probabilities,
    explanation, versions, contact, outcomes and the learned reward."""
    return audit_view(state.engine, decision_id, state.agent.featurizer.feature_names)
