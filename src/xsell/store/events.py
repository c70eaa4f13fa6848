"""Outcome events: validated, stored once per idempotency key; deliveries become contacts.

A delivery event (``delivered``, ``impression``, or what the reward rules name for the
channel) makes its offer a contact. Checked, it goes through the customer's contact rules
under the customer's lock, and a delivery the rules refuse is stored as a refused contact
naming the rule: the offer must not be delivered and does not count as a contact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from xsell.catalog.product import Catalog
from xsell.errors import InputError
from xsell.store.contacts import contact_or_refuse
from xsell.store.engine import is_postgres
from xsell.store.rules import RewardRules
from xsell.store.tables import OutcomeEvent, RefusedContact

__all__ = ["EventReceipt", "RefusedDelivery", "event_rows", "store_events"]


@dataclass(frozen=True, slots=True)
class RefusedDelivery:
    """A delivery event the contact rules refused: which decision, which event, which rule."""

    decision_id: str
    idempotency_key: str
    rule: str


@dataclass(frozen=True, slots=True)
class EventReceipt:
    """What storing a list of events did.

    ``stored`` events were new, ``duplicate`` ones repeated a stored idempotency key (or
    one earlier in the list); ``refused`` lists the deliveries the contact rules refused,
    now or when the same key was first stored.
    """

    stored: int
    duplicate: int
    refused: list[RefusedDelivery] = field(default_factory=list)


def _missing(v: Any) -> bool:
    return v is None or bool(pd.isna(v))


def event_rows(
    records: Sequence[Mapping[str, Any]],
    rules: RewardRules,
    to_utc: Callable[[object, str], datetime],
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """The ``outcome_events`` rows of these events, by idempotency key (first one wins).

    Raises :class:`InputError` naming the row and field of a bad event.
    """
    rows: dict[str, dict[str, Any]] = {}
    for n, e in enumerate(records):
        for col in ("decision_id", "type", "idempotency_key"):
            if _missing(e.get(col)):
                raise InputError(f"`events` row {n} is missing {col!r}")
        if e["type"] not in rules.event_types:
            raise InputError(
                f"`events` row {n} has type {e['type']!r}; expected one of "
                f"{list(rules.event_types)}"
            )
        value = e.get("value")
        rows.setdefault(
            str(e["idempotency_key"]),
            {
                "idempotency_key": str(e["idempotency_key"]),
                "decision_id": str(e["decision_id"]),
                "type": str(e["type"]),
                "value": None if value is None or _missing(value) else float(value),
                "event_at": to_utc(e.get("at") or now, "at"),
                "received_at": to_utc(e.get("received_at") or now, "received_at"),
            },
        )
    return rows


def store_events(
    conn: Connection,
    rows: Mapping[str, dict[str, Any]],
    decisions: Mapping[str, Any],
    *,
    catalog: Catalog,
    rules: RewardRules,
    enforce_caps: bool,
    received: int,
) -> EventReceipt:
    """Store the new events and make their deliveries contacts (inside a write transaction).

    ``decisions`` maps each event's decision id to its row (``id, customer_id, product,
    channel``); ``received`` is how many events the caller sent (duplicates included).
    """
    deliveries = []
    for r in rows.values():
        d = decisions[r["decision_id"]]
        if d.product is not None and rules.is_delivery(r["type"], d.channel):
            deliveries.append(
                {
                    "decision_id": d.id,
                    "customer_id": d.customer_id,
                    "product": d.product,
                    "channel": d.channel or "",
                    "at": r["event_at"],
                    "source": r["type"],
                    "idempotency_key": r["idempotency_key"],
                }
            )
    dialect = postgresql if is_postgres(conn) else sqlite
    stmt = (
        dialect.insert(OutcomeEvent)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutcomeEvent.idempotency_key)
    )
    new = set(conn.execute(stmt, list(rows.values())).scalars())
    fresh = [c for c in deliveries if c["idempotency_key"] in new]
    contact_or_refuse(conn, fresh, catalog=catalog, rules=rules, enforce_caps=enforce_caps)
    keys = [c["idempotency_key"] for c in deliveries]
    refused = []
    if keys:  # this request's refusals, and those of keys stored before (a retry)
        found = conn.execute(
            select(RefusedContact.decision_id, RefusedContact.idempotency_key, RefusedContact.rule)
            .where(RefusedContact.idempotency_key.in_(keys))
            .order_by(RefusedContact.id)
        )
        refused = [RefusedDelivery(d, str(k), rule) for d, k, rule in found]
    return EventReceipt(stored=len(new), duplicate=received - len(new), refused=refused)
