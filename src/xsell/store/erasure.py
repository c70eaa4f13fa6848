"""Erasure of one customer and retention: what the decision log forgets, in one transaction.

A decision goes with everything recorded about it: its contact or refused contact, its
outcome events, its protected attributes and its explanation. Learned outcomes keep their
decision id and model inputs (no customer id), so the model versions stay reproducible.

Idempotency keys map a request to its decision ids (``decision_requests``). Erasing a
customer takes their ids out of every key's list (a key left with none is deleted), so a
retry never points at a decision that is gone; retention deletes the keys recorded before
its cut-off with the decisions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, text, update

from xsell.store.tables import (
    Contact,
    CustomerLock,
    Decision,
    DecisionRequest,
    Explanation,
    OutcomeEvent,
    ProtectedAttributes,
    RefusedContact,
)

__all__ = ["erase_customer", "expire_before"]

#: keys whose decision ids include one of ``:ids``, by dialect (ids as a JSON array text)
_KEYS_WITH_IDS = {
    "postgresql": text(
        "SELECT idempotency_key, decision_ids FROM decision_requests WHERE EXISTS ("
        "SELECT 1 FROM json_array_elements_text(decision_ids) AS e(id) "
        "WHERE e.id IN (SELECT json_array_elements_text(CAST(:ids AS json))))"
    ),
    "sqlite": text(
        "SELECT idempotency_key, decision_ids FROM decision_requests WHERE EXISTS ("
        "SELECT 1 FROM json_each(decision_requests.decision_ids) AS e "
        "WHERE e.value IN (SELECT value FROM json_each(:ids)))"
    ),
}


def erase_customer(conn: Connection, customer_id: str) -> int:
    """Delete everything the log holds on one customer (see the module doc); returns the
    decisions erased."""
    ids = select(Decision.id).where(Decision.customer_id == str(customer_id))
    erased = [str(i) for i in conn.execute(ids).scalars()]
    _drop_from_requests(conn, erased)
    _delete(conn, ids)
    conn.execute(delete(CustomerLock).where(CustomerLock.customer_id == str(customer_id)))
    return len(erased)


def expire_before(conn: Connection, cutoff: datetime) -> int:
    """Delete the decisions made before ``cutoff`` and the idempotency keys recorded before
    it; returns the decisions deleted."""
    ids = select(Decision.id).where(Decision.at < cutoff)
    n = len(conn.execute(ids).all())
    _delete(conn, ids)
    conn.execute(delete(DecisionRequest).where(DecisionRequest.created_at < cutoff))
    return n


def _delete(conn: Connection, ids: Any) -> None:
    for table in (ProtectedAttributes, OutcomeEvent, Contact, RefusedContact, Explanation):
        conn.execute(delete(table).where(table.decision_id.in_(ids)))
    conn.execute(delete(Decision).where(Decision.id.in_(ids)))


def _drop_from_requests(conn: Connection, erased: Sequence[str]) -> None:
    """Take the erased decision ids out of every idempotency key's list."""
    if not erased:
        return
    query = _KEYS_WITH_IDS.get(conn.dialect.name)
    rows = (
        conn.execute(query, {"ids": json.dumps(list(erased))})
        if query is not None  # else every key, filtered here
        else conn.execute(select(DecisionRequest.idempotency_key, DecisionRequest.decision_ids))
    )
    gone = set(erased)
    for key, listed in rows.all():
        values = json.loads(listed) if isinstance(listed, str) else listed
        kept = [i for i in values if str(i) not in gone]
        if len(kept) == len(values):
            continue
        where = DecisionRequest.idempotency_key == key
        if kept:
            conn.execute(update(DecisionRequest).where(where).values(decision_ids=kept))
        else:
            conn.execute(delete(DecisionRequest).where(where))
