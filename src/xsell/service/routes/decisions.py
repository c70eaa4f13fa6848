"""``POST /v1/decisions`` (decide and record) and ``GET /v1/decisions/{id}`` (audit view)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Header, Path

from xsell.control_group import CONTROL, CONTROL_REASON, TREATMENT, in_control_group
from xsell.errors import InputError, XsellError
from xsell.service.deps import StateDep, require_api_key
from xsell.service.queries import audit_view, offers_of
from xsell.service.schemas import AuditView, DecisionRequestBody, DecisionsResponse
from xsell.service.state import ServiceState

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/decisions", tags=["decisions"], dependencies=[Depends(require_api_key)]
)

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


def _control_group(state: ServiceState, customers: pd.DataFrame) -> np.ndarray | None:
    """Which customers are held out (the batch's function), or ``None`` without a control group."""
    share = state.settings.control_share
    col = state.agent.spec.customer_id
    if share == 0 or col not in customers.columns:
        return None  # (a missing id column is act's error to report)
    return in_control_group(
        customers[col].to_numpy(dtype=object), share, state.settings.control_salt
    )


def _respond(state: ServiceState, ids: list[str]) -> DecisionsResponse:
    return DecisionsResponse(offers=offers_of(state.engine, ids), model_version=state.model_version)


@router.post("")
def decide(
    body: DecisionRequestBody, state: StateDep, idempotency_key: IdempotencyKey = None
) -> DecisionsResponse:
    """Decide for one customer or a list; the decisions are committed before the response.

    With an ``Idempotency-Key`` header, a retry returns the decisions of the first request.
    """
    if idempotency_key is not None:
        stored = state.log.decisions_for_key(idempotency_key)
        if stored is not None:
            return _respond(state, stored)
    rows = body.customer if isinstance(body.customer, list) else [body.customer]
    if not 1 <= len(rows) <= state.settings.max_customers:
        raise InputError(
            f"`customer` must hold 1 to {state.settings.max_customers} customers, got {len(rows)}"
        )
    customers = pd.DataFrame.from_records(rows)
    placement = body.placement if body.channel is None else f"{body.channel}/{body.placement}"
    held = _control_group(state, customers)
    with state.lock:
        agent = state.agent
        try:
            decisions = agent.act(
                customers,
                at=body.at,
                mode=body.mode,
                placement=placement,
                top_n=body.top_n,
                blocked=None if held is None else {CONTROL_REASON: held},
            )
            if held is not None:
                decisions["traffic_group"] = np.where(
                    held[customers.index.get_indexer(decisions.index)], CONTROL, TREATMENT
                )
            texts = agent.explain(decisions).tolist()
        except XsellError:
            raise
        except (TypeError, ValueError, KeyError) as exc:  # a value of the wrong type
            raise InputError(f"`customer` has a value xsell cannot read: {exc}") from None
        try:
            state.log.record_decisions(
                decisions,
                agent,
                customers=customers,
                explanations=texts,
                idempotency_key=idempotency_key,
            )
        except InputError:
            stored = (
                None if idempotency_key is None else state.log.decisions_for_key(idempotency_key)
            )
            if stored is None:
                raise
            return _respond(state, stored)  # a concurrent retry recorded it first
    state.metrics.decisions.inc(len(decisions))
    return _respond(state, decisions["decision_id"].astype(str).tolist())


@router.get("/{decision_id}")
def audit(
    decision_id: Annotated[str, Path(min_length=1, max_length=64)], state: StateDep
) -> AuditView:
    """The audit view of one decision: inputs, eligible and blocked products, probabilities,
    explanation, versions, contact, outcomes and the learned reward."""
    return audit_view(state.engine, decision_id, state.agent.featurizer.feature_names)
