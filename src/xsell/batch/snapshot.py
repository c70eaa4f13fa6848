"""A batch run's contact snapshot: the contact history summarized once, for one decision time.

A run reads the decision log's contacts once, at its start, and summarizes them per
(customer, product) for its decision time (:mod:`xsell.guardrails.contact_summary`: last
contact, contacts in the frequency-cap window, contacts in the contact-limit window). The
snapshot is a plain table: it is saved as Parquet beside the run, so a resumed run reads
exactly what the interrupted one read (its own contacts, recorded since, never count
against it), and Spark executors read it instead of the database.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, exists, select

from xsell._rng import hash_keys
from xsell._time import as_utc
from xsell.catalog.product import Catalog
from xsell.errors import InputError
from xsell.guardrails.contact_summary import (
    SUMMARY_COLUMNS,
    combine,
    empty_summary,
    since,
    summarize_contacts,
)
from xsell.store.engine import read_transaction
from xsell.store.tables import Contact, Decision

__all__ = ["SNAPSHOT_SCHEMA", "ContactSnapshot"]

#: the Parquet schema of a snapshot
SNAPSHOT_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("product_id", pa.string()),
        ("last_at", pa.timestamp("us", tz="UTC")),
        ("n_cap", pa.int32()),
        ("n_limit", pa.int32()),
    ]
)
_STREAM_ROWS = 200_000


class ContactSnapshot:
    """Contact summaries of every recently contacted customer, for decisions at ``at``.

    It is a :class:`~xsell.guardrails.contact_summary.ContactSummaries` history: give it to
    an agent (``agent.history = snapshot``, ``record_contacts=False``) and the agent's
    contact rules read it instead of the log. Rows are looked up by a sorted 64-bit hash of
    the customer id, confirmed on the id itself.

    Parameters
    ----------
    summary
        Rows with :data:`~xsell.guardrails.contact_summary.SUMMARY_COLUMNS`.
    at
        The decision time the counts are relative to.

    Examples
    --------
    >>> from xsell import Catalog
    >>> at = pd.Timestamp("2026-01-10", tz="UTC")
    >>> contacts = pd.DataFrame({"customer_id": ["c1"], "product_id": ["mortgage"],
    ...                          "at": [pd.Timestamp("2026-01-09", tz="UTC")]})
    >>> snap = ContactSnapshot.from_contacts(contacts, Catalog.sample(), at)
    >>> len(snap), len(snap.for_customers(np.array(["c1", "c2"], dtype=object)))
    (1, 1)
    """

    def __init__(self, summary: pd.DataFrame, at: datetime) -> None:
        missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
        if missing:
            raise InputError(f"`summary` is missing the columns {missing}")
        self.at = as_utc(at)
        self.summary = summary[list(SUMMARY_COLUMNS)].reset_index(drop=True)
        ids = self.summary["customer_id"].astype(str).to_numpy(dtype=object)
        self._ids = ids
        keys = hash_keys(ids) if len(ids) else np.zeros(0, dtype=np.uint64)
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]

    def __len__(self) -> int:
        return len(self.summary)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def empty(cls, at: datetime) -> ContactSnapshot:
        """A snapshot of nobody (a log without contacts)."""
        return cls(empty_summary(), at)

    @classmethod
    def from_contacts(
        cls, contacts: pd.DataFrame, catalog: Catalog, at: datetime
    ) -> ContactSnapshot:
        """Summarize raw contacts (``customer_id, product_id, at``)."""
        return cls(summarize_contacts(contacts, catalog, as_utc(at)), at)

    @classmethod
    def from_log(
        cls, engine: Engine, catalog: Catalog, at: datetime, *, exclude_run: str | None = None
    ) -> ContactSnapshot:
        """Read the decision log's contacts within the rules' look-back, streamed and
        summarized part by part (memory grows with the contacted customers, not the log).

        ``exclude_run``: leave out the contacts of that batch run's own decisions (a rerun
        of a run reads what the run first read).
        """
        ts = as_utc(at)
        stmt = select(Contact.customer_id, Contact.product, Contact.at).where(
            Contact.at >= since(ts, catalog).to_pydatetime(), Contact.at <= ts.to_pydatetime()
        )
        if exclude_run is not None:
            own = select(Decision.id).where(
                Decision.id == Contact.decision_id,
                Decision.placement == exclude_run,
                Decision.mode == "batch",
            )
            stmt = stmt.where(~exists(own))
        parts = []
        with read_transaction(engine) as conn:
            result = conn.execution_options(stream_results=True, yield_per=_STREAM_ROWS).execute(
                stmt
            )
            for rows in result.partitions(_STREAM_ROWS):
                frame = pd.DataFrame(
                    [tuple(r) for r in rows], columns=["customer_id", "product_id", "at"]
                )
                frame["at"] = pd.to_datetime(frame["at"], utc=True)
                parts.append(summarize_contacts(frame, catalog, ts))
                parts = [combine(parts)] if len(parts) > 8 else parts
        return cls(combine(parts), ts)

    # -- Parquet ----------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        """The snapshot as an Arrow table (:data:`SNAPSHOT_SCHEMA`; ``at`` in its metadata)."""
        table = pa.Table.from_pandas(self.summary, schema=SNAPSHOT_SCHEMA, preserve_index=False)
        return table.replace_schema_metadata({"xsell.snapshot_at": self.at.isoformat()})

    def write(self, path: str | Path) -> None:
        """Save as one Parquet file."""
        pq.write_table(self.to_arrow(), str(path))

    @classmethod
    def read(cls, path: str | Path) -> ContactSnapshot:
        """Read a snapshot :meth:`write` saved."""
        table = pq.read_table(str(path))
        meta = table.schema.metadata or {}
        at = meta.get(b"xsell.snapshot_at")
        if at is None:
            raise InputError(f"{path} is not a contact snapshot (no 'xsell.snapshot_at' metadata)")
        return cls.from_arrow(table, pd.Timestamp(at.decode()))

    @classmethod
    def from_arrow(cls, table: pa.Table, at: datetime) -> ContactSnapshot:
        """A snapshot from rows in :data:`SNAPSHOT_SCHEMA` (e.g. one Spark partition's)."""
        frame = table.select(list(SUMMARY_COLUMNS)).to_pandas()
        frame["customer_id"] = frame["customer_id"].astype(object)
        frame["product_id"] = frame["product_id"].astype(object)
        return cls(frame, at)

    # -- reading ----------------------------------------------------------------------------
    def for_customers(self, customer_ids: np.ndarray) -> pd.DataFrame:
        """The summary rows of these customers."""
        if len(self._keys) == 0 or len(customer_ids) == 0:
            return self.summary.iloc[:0]
        ids = pd.Series(np.asarray(customer_ids, dtype=object)).astype(str).to_numpy(dtype=object)
        wanted = np.unique(hash_keys(ids))
        lo = np.searchsorted(self._keys, wanted, side="left")
        hi = np.searchsorted(self._keys, wanted, side="right")
        hit = hi > lo
        if not hit.any():
            return self.summary.iloc[:0]
        lo, hi = lo[hit], hi[hit]
        counts = hi - lo
        pos = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        rows = np.sort(self._order[pos])
        # a 64-bit hash may collide: keep only rows whose id is one asked for
        rows = rows[pd.Series(self._ids[rows]).isin(ids).to_numpy()]
        out: pd.DataFrame = self.summary.iloc[rows]
        return out

    def contact_summary(
        self, customer_ids: np.ndarray, at: datetime, catalog: Catalog
    ) -> pd.DataFrame:
        """The rows of these customers; ``at`` must be the snapshot's own decision time."""
        if as_utc(at) != self.at:
            raise InputError(
                f"`at` {as_utc(at).isoformat()} is not the contact snapshot's decision time "
                f"{self.at.isoformat()}: a snapshot's counts hold for its own time only"
            )
        return self.for_customers(customer_ids)

    def contacts_since(self, customer_ids: np.ndarray, since: datetime) -> pd.DataFrame:
        """Refused: a snapshot holds counts, not contacts (read :meth:`contact_summary`)."""
        raise InputError("a contact snapshot holds per-product counts, not contacts")

    def record(self, contacts: pd.DataFrame) -> None:
        """Refused: a snapshot is read-only (build the agent with ``record_contacts=False``)."""
        raise InputError(
            "a contact snapshot is read-only: build the agent with record_contacts=False"
        )
