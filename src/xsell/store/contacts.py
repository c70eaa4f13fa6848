"""Contacts in the decision log: reading them for caps, and the atomic cap-check-and-record
(or refusal) under each customer's lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from xsell.catalog.product import Catalog
from xsell.guardrails.contact_history import CONTACT_COLUMNS
from xsell.guardrails.rules import contact_blocks
from xsell.store.engine import is_postgres
from xsell.store.rules import RewardRules
from xsell.store.tables import Contact, CustomerLock, RefusedContact

__all__ = [
    "ConnectionContacts",
    "contact_or_refuse",
    "insert_contacts",
    "lock_customer",
    "lock_customers",
    "try_contact",
]

_CHUNK = 5_000  # ids per IN list (SQLite allows 32,766 parameters per statement)


class ConnectionContacts:
    """The contacts table read through one open connection (a :class:`ContactHistory`).

    With ``until``, a contact recorded at a later time is read as made at ``until``: it
    counts for the caps of a contact at ``until`` (deliveries may be reported out of
    order, and workers' clocks differ).
    """

    def __init__(self, conn: Connection, until: datetime | None = None) -> None:
        self.conn = conn
        self.until = until

    def contacts_since(self, customer_ids: np.ndarray, since: datetime) -> pd.DataFrame:
        """Contacts of these customers at or after ``since`` (UTC)."""
        ids = list(dict.fromkeys(str(i) for i in np.asarray(customer_ids).tolist()))
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), _CHUNK):
            stmt = select(Contact.customer_id, Contact.product, Contact.channel, Contact.at).where(
                Contact.customer_id.in_(ids[start : start + _CHUNK]),
                Contact.at >= pd.Timestamp(since).tz_convert("UTC").to_pydatetime(),
            )
            rows.extend(tuple(r) for r in self.conn.execute(stmt))
        out = pd.DataFrame(rows, columns=list(CONTACT_COLUMNS))
        out["at"] = pd.to_datetime(out["at"], utc=True)
        if self.until is not None:
            until = pd.Timestamp(self.until).tz_convert("UTC")
            out["at"] = out["at"].where(out["at"] <= until, until)
        return out

    def record(self, contacts: pd.DataFrame) -> None:
        """Not used: the log records contacts by decision (see :meth:`DecisionLog.record_delivery`)."""
        raise NotImplementedError


def lock_customer(conn: Connection, customer_id: str) -> None:
    """Serialize contact checks of one customer until this transaction ends (see
    :func:`lock_customers`)."""
    lock_customers(conn, [customer_id])


def lock_customers(conn: Connection, customer_ids: Sequence[str]) -> None:
    """Serialize contact checks of these customers until this transaction ends.

    PostgreSQL: ``SELECT ... FOR UPDATE`` on each customer's lock row (created on first
    use), taken in customer id order so that two transactions cannot deadlock. SQLite
    needs nothing: a write transaction holds the database's only write lock.
    """
    if not is_postgres(conn):
        return
    ids = sorted({str(i) for i in customer_ids})
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        conn.execute(
            postgresql.insert(CustomerLock).on_conflict_do_nothing(index_elements=["customer_id"]),
            [{"customer_id": i} for i in chunk],
        )
        conn.execute(
            select(CustomerLock.customer_id)
            .where(CustomerLock.customer_id.in_(chunk))
            .order_by(CustomerLock.customer_id)
            .with_for_update()
        )


def insert_contacts(
    conn: Connection, rows: Sequence[dict[str, object]], rules: RewardRules
) -> list[str]:
    """Insert contacts (a decision already contacted is left alone); the decision ids added.

    Each row has ``decision_id, customer_id, product, channel, at, source``; the window
    end and close times come from ``rules``.
    """
    if not rows:
        return []
    full = []
    for r in rows:
        at = r["at"]
        assert isinstance(at, datetime)
        end, closes = rules.window(str(r["product"]), at)
        full.append({**r, "window_ends_at": end, "closes_at": closes})
    dialect = postgresql if is_postgres(conn) else sqlite
    stmt = (
        dialect.insert(Contact)
        .on_conflict_do_nothing(index_elements=["decision_id"])
        .returning(Contact.decision_id)
    )
    return list(conn.execute(stmt, full).scalars())


def contact_or_refuse(
    conn: Connection,
    contacts: Sequence[dict[str, object]],
    *,
    catalog: Catalog,
    rules: RewardRules,
    enforce_caps: bool = True,
) -> dict[str, str]:
    """Record each contact the customer's contact rules allow; the refused ones' rules.

    Call inside a write transaction. Each row has ``decision_id, customer_id, product,
    channel, at, source`` and optionally the ``idempotency_key`` of the event that asked.
    The customers are locked first (:func:`lock_customers`), then the contacts are checked
    in time order, each against the customer's recorded contacts (this request's and any
    with a later time included), and recorded, or stored as a :class:`RefusedContact`
    naming the rule (cool-off period, frequency cap, contact limit). A decision contacted before is left alone (not refused).
    Returns ``{decision_id: rule}`` of the refused contacts.
    """
    if not contacts:
        return {}
    lock_customers(conn, [str(c["customer_id"]) for c in contacts])
    ids = list(dict.fromkeys(str(c["decision_id"]) for c in contacts))
    done: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        stmt = select(Contact.decision_id).where(
            Contact.decision_id.in_(ids[start : start + _CHUNK])
        )
        done.update(conn.execute(stmt).scalars())
    todo: dict[str, dict[str, object]] = {}
    for c in sorted(contacts, key=lambda c: (c["at"], str(c["decision_id"]))):
        if str(c["decision_id"]) not in done:
            todo.setdefault(str(c["decision_id"]), c)  # the first delivery of a decision wins
    # round k checks every customer's k-th contact, after the contacts of rounds < k
    nth: dict[str, int] = {}
    rounds: list[list[dict[str, object]]] = []
    for c in todo.values():
        k = nth[str(c["customer_id"])] = nth.get(str(c["customer_id"]), -1) + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(c)
    refused: dict[str, str] = {}
    refusals: list[dict[str, object]] = []
    for batch in rounds:
        allowed = []
        for c, reason in zip(
            batch, _blocking_rules(conn, batch, catalog, enforce_caps), strict=True
        ):
            if reason:
                refused[str(c["decision_id"])] = reason
                refusals.append({**_REFUSAL_DEFAULTS, **c, "rule": reason})
            else:
                allowed.append({k: v for k, v in c.items() if k != "idempotency_key"})
        insert_contacts(conn, allowed, rules)
    if refusals:
        conn.execute(insert(RefusedContact), refusals)
    return refused


_REFUSAL_DEFAULTS: dict[str, object] = {"idempotency_key": None}


def _blocking_rules(
    conn: Connection, batch: Sequence[dict[str, object]], catalog: Catalog, enforce_caps: bool
) -> list[str]:
    """The first contact rule blocking each contact (``""``: none), one query per time."""
    out = [""] * len(batch)
    if not enforce_caps:
        return out
    pids = list(catalog.product_ids)
    by_time: dict[object, list[int]] = {}
    for i, c in enumerate(batch):
        if c["product"] in pids:  # a product the catalog no longer has: no rule applies
            by_time.setdefault(c["at"], []).append(i)
    for at, rows in by_time.items():
        assert isinstance(at, datetime)
        reasons = contact_blocks(
            np.array([batch[i]["customer_id"] for i in rows], dtype=object),
            catalog,
            at=at,
            history=ConnectionContacts(conn, until=at),  # later contacts count too
        )
        for j, i in enumerate(rows):
            out[i] = str(reasons[j, pids.index(str(batch[i]["product"]))])
    return out


def try_contact(
    conn: Connection,
    *,
    catalog: Catalog,
    rules: RewardRules,
    decision_id: str,
    customer_id: str,
    product: str,
    channel: str,
    at: datetime,
    source: str,
    enforce_caps: bool,
) -> str:
    """Check one customer's contact rules and record the contact, atomically.

    Returns ``""`` when the contact is recorded (or was before), else the rule that
    blocked it (stored as a refused contact). Call inside a write transaction.
    """
    row: dict[str, object] = {
        "decision_id": decision_id,
        "customer_id": customer_id,
        "product": product,
        "channel": channel,
        "at": at,
        "source": source,
    }
    refused = contact_or_refuse(
        conn, [row], catalog=catalog, rules=rules, enforce_caps=enforce_caps
    )
    return refused.get(decision_id, "")
