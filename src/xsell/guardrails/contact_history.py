"""Who was offered what, when: the memory behind frequency caps and cool-off periods."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from xsell.errors import InputError

__all__ = ["CONTACT_COLUMNS", "ContactHistory", "ContactRows", "InMemoryContactHistory"]

#: columns of a contacts table
CONTACT_COLUMNS = ("customer_id", "product_id", "channel", "at")


@runtime_checkable
class ContactHistory(Protocol):
    """Where guardrails read past contacts from, and where new contacts are recorded.

    The in-memory implementation serves tests, simulations and single-process use; the
    decision log implements the same protocol for the service and batch runs.
    """

    def contacts_since(self, customer_ids: np.ndarray, since: datetime) -> pd.DataFrame:
        """Contacts of these customers at or after ``since`` (columns :data:`CONTACT_COLUMNS`)."""
        ...

    def record(self, contacts: pd.DataFrame) -> None:
        """Store new contacts (columns :data:`CONTACT_COLUMNS`; ``at`` timezone-aware UTC)."""
        ...


@runtime_checkable
class ContactRows(Protocol):
    """A contact history that can also give its contacts as plain rows.

    The guardrails read these instead of :meth:`ContactHistory.contacts_since` when a
    history offers them: for one customer, building a DataFrame costs more than the
    rules themselves (the decision log offers them).
    """

    def contact_rows(
        self, customer_ids: np.ndarray, since: datetime
    ) -> list[tuple[str, str, datetime]]:
        """``(customer_id, product_id, at)`` of the contacts :meth:`ContactHistory.contacts_since`
        returns (``at`` timezone-aware)."""
        ...


class InMemoryContactHistory:
    """Contact history held in memory, indexed by customer.

    Examples
    --------
    >>> import pandas as pd
    >>> h = InMemoryContactHistory()
    >>> h.record(pd.DataFrame({"customer_id": ["c1"], "product_id": ["mortgage"],
    ...                        "channel": ["web"], "at": [pd.Timestamp("2026-01-02", tz="UTC")]}))
    >>> len(h.contacts_since(pd.Series(["c1", "c2"]).to_numpy(), pd.Timestamp("2026-01-01", tz="UTC")))
    1
    """

    def __init__(self) -> None:
        self._chunks: list[pd.DataFrame] = []
        self._frame: pd.DataFrame | None = None

    def _all(self) -> pd.DataFrame:
        if self._frame is None or self._chunks:
            parts = ([self._frame] if self._frame is not None else []) + self._chunks
            self._frame = pd.concat(parts, ignore_index=True) if parts else _empty()
            self._chunks = []
        return self._frame

    def record(self, contacts: pd.DataFrame) -> None:
        """Append contacts."""
        missing = [c for c in CONTACT_COLUMNS if c not in contacts.columns]
        if missing:
            raise InputError(f"`contacts` is missing columns {missing}")
        at = pd.to_datetime(contacts["at"])
        if at.dt.tz is None:
            raise InputError("`contacts` column 'at' must be timezone-aware (UTC)")
        df = pd.DataFrame(
            {
                "customer_id": contacts["customer_id"].astype(str).to_numpy(),
                "product_id": contacts["product_id"].astype(str).to_numpy(),
                "channel": contacts["channel"].astype(str).to_numpy(),
                "at": at.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
            }
        )
        if len(df):
            self._chunks.append(df)

    def contacts_since(self, customer_ids: np.ndarray, since: datetime) -> pd.DataFrame:
        """Contacts of these customers at or after ``since``."""
        df = self._all()
        if df.empty:
            return df
        ts = np.datetime64(pd.Timestamp(since).tz_convert("UTC").tz_localize(None), "ns")
        recent = df[df["at"].to_numpy() >= ts]
        keep = recent["customer_id"].isin(pd.Index(np.asarray(customer_ids).astype(str)))
        out = recent[keep.to_numpy()].reset_index(drop=True)
        out["at"] = pd.to_datetime(out["at"]).dt.tz_localize("UTC")
        return out

    def __len__(self) -> int:
        return len(self._all())


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "product_id": pd.Series(dtype=object),
            "channel": pd.Series(dtype=object),
            "at": pd.Series(dtype="datetime64[ns]"),
        }
    )
