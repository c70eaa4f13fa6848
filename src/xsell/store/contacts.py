"""Contacts in the decision log: reading them for caps, and the atomic cap-check-and-record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from xsell.catalog.product import Catalog
from xsell.guardrails.contact_history import CONTACT_COLUMNS
from xsell.guardrails.rules import contact_blocks
from xsell.store.engine import is_postgres
from xsell.store.rules import RewardRules
from xsell.store.tables import Contact, CustomerLock

__all__ = ["ConnectionContacts", "insert_contacts", "lock_customer", "try_contact"]

_CHUNK = 5_000  # ids per IN list (SQLite allows 32,766 parameters per statement)


class ConnectionContacts:
    """The contacts table read through one open connection (a :class:`ContactHistory`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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
        return out

    def record(self, contacts: pd.DataFrame) -> None:
        """Not used: the log records contacts by decision (see :meth:`DecisionLog.record_delivery`)."""
        raise NotImplementedError


def lock_customer(conn: Connection, customer_id: str) -> None:
    """Serialize contact checks of one customer until this transaction ends.

    PostgreSQL: ``SELECT ... FOR UPDATE`` on the customer's lock row (created on first
    use). SQLite needs nothing: a write transaction holds the database's only write lock.
    """
    if not is_postgres(conn):
        return
    conn.execute(
        postgresql.insert(CustomerLock)
        .values(customer_id=customer_id)
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )
    conn.execute(
        select(CustomerLock.customer_id)
        .where(CustomerLock.customer_id == customer_id)
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
    """Check the customer's contact rules and record the contact, atomically.

    Returns ``""`` when the contact is recorded (or was before), else the rule that
    blocked it. Call inside a write transaction.
    """
    lock_customer(conn, customer_id)
    done = conn.execute(select(Contact.decision_id).where(Contact.decision_id == decision_id))
    if done.first() is not None:
        return ""
    if enforce_caps and product in catalog.product_ids:
        reasons = contact_blocks(
            np.array([customer_id], dtype=object),
            catalog,
            at=at,
            history=ConnectionContacts(conn),
        )
        reason = str(reasons[0, list(catalog.product_ids).index(product)])
        if reason:
            return reason
    row: dict[str, object] = {
        "decision_id": decision_id,
        "customer_id": customer_id,
        "product": product,
        "channel": channel,
        "at": at,
        "source": source,
    }
    insert_contacts(conn, [row], rules)
    return ""
