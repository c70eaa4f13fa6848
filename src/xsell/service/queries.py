"""Reads of the decision log the routes need: served offers and the audit view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from xsell.errors import UnknownDecisionError
from xsell.service.schemas import AuditView, Offer, RefusedOffer
from xsell.store.engine import read_transaction
from xsell.store.tables import (
    Contact,
    Decision,
    Explanation,
    LearnedOutcome,
    OutcomeEvent,
    RefusedContact,
)

__all__ = ["audit_view", "offers_of"]


def offers_of(engine: Engine, ids: Sequence[str]) -> tuple[list[Offer], list[RefusedOffer]]:
    """The offers among these decisions, in the order of ``ids`` (no-offer rows left out),
    and the batch offers whose contact was refused when they were recorded."""
    stmt = (
        select(Decision, Explanation.text)
        .outerjoin(Explanation, Explanation.decision_id == Decision.id)
        .where(Decision.id.in_(list(ids)))
    )
    with read_transaction(engine) as conn:
        rows = {r.id: r for r in conn.execute(stmt)}
        refused: dict[str, str] = {}
        if any(r.mode != "realtime" and r.product is not None for r in rows.values()):
            refused = dict(
                conn.execute(
                    select(RefusedContact.decision_id, RefusedContact.rule).where(
                        RefusedContact.decision_id.in_(list(rows)),
                        RefusedContact.source == "decision",
                    )
                ).all()
            )
    offers, refusals = [], []
    for i in ids:
        r = rows.get(i)
        if r is None or r.product is None:
            continue
        if i in refused:
            refusals.append(
                RefusedOffer(
                    decision_id=r.id, customer_id=r.customer_id, product=r.product, rule=refused[i]
                )
            )
            continue
        offers.append(
            Offer(
                decision_id=r.id,
                customer_id=r.customer_id,
                rank=r.rank,
                product=r.product,
                channel=r.channel,
                probability=r.probability,
                explanation=r.text or "",
            )
        )
    return offers, refusals


def audit_view(engine: Engine, decision_id: str, feature_names: Sequence[str]) -> AuditView:
    """Everything stored on one decision; an unknown id raises UnknownDecisionError."""
    with read_transaction(engine) as conn:
        d = conn.execute(select(Decision).where(Decision.id == decision_id)).first()
        if d is None:
            raise UnknownDecisionError(f"`decision_id` {decision_id!r} is not in the log")
        text = conn.execute(
            select(Explanation.text).where(Explanation.decision_id == decision_id)
        ).scalar()
        contact = conn.execute(select(Contact).where(Contact.decision_id == decision_id)).first()
        refusals = conn.execute(
            select(RefusedContact)
            .where(RefusedContact.decision_id == decision_id)
            .order_by(RefusedContact.id)
        ).all()
        events = conn.execute(
            select(OutcomeEvent)
            .where(OutcomeEvent.decision_id == decision_id)
            .order_by(OutcomeEvent.event_at, OutcomeEvent.id)
        ).all()
        learned = conn.execute(
            select(
                LearnedOutcome.model_version, LearnedOutcome.conversion, LearnedOutcome.opt_out
            ).where(LearnedOutcome.decision_id == decision_id)
        ).first()
    inputs: dict[str, float] | None = None
    if d.input_x is not None:
        x = np.frombuffer(d.input_x, dtype=np.float64).tolist()
        names = list(feature_names) if len(feature_names) == len(x) else []
        inputs = {(names[j] if names else f"x{j}"): v for j, v in enumerate(x)}
    return AuditView(
        decision_id=d.id,
        at=d.at.isoformat(),
        customer_id=d.customer_id,
        rank=d.rank,
        mode=d.mode,
        channel=d.channel,
        placement=d.placement,
        product=d.product,
        probability=d.probability,
        probabilities=d.probabilities,
        expected_value=d.expected_value,
        explored=d.explored,
        eligible=d.eligible,
        blocked=d.blocked,
        inputs=inputs,
        explanation=text,
        versions={
            "model": d.model_version,
            "policy": d.policy_version,
            "catalog": d.catalog_version,
            "feature_spec": d.feature_spec_version,
            "reward_rules": d.reward_rules_version,
        },
        contact=None if contact is None else _contact(contact),
        refused_contacts=[
            {"at": r.at.isoformat(), "source": r.source, "rule": r.rule} for r in refusals
        ],
        outcomes=[_event(e) for e in events],
        learned=None if learned is None else dict(learned._mapping),
    )


def _contact(c: Any) -> dict[str, Any]:
    return {
        "at": c.at.isoformat(),
        "source": c.source,
        "window_ends_at": c.window_ends_at.isoformat(),
        "closes_at": c.closes_at.isoformat(),
    }


def _event(e: Any) -> dict[str, Any]:
    return {
        "type": e.type,
        "value": e.value,
        "at": e.event_at.isoformat(),
        "received_at": e.received_at.isoformat(),
        "idempotency_key": e.idempotency_key,
    }
