"""Contact summaries: what the contact rules need to know of a customer's past contacts.

Cool-off, frequency caps and the contact limit read, per (customer, product), only the last
contact time and two counts, relative to the decision time ``at``:

* ``last_at``: the newest contact at or before ``at`` within the rules' look-back;
* ``n_cap``: contacts in the product's frequency-cap window (``0 <= age < cap period``);
* ``n_limit``: contacts in the catalog-wide contact-limit window (``age < period_days``).

:func:`summarize_contacts` turns raw contacts into that table and :func:`rule_inputs` gives the
contact rules' inputs from it. A history that answers with summaries
(:class:`ContactSummaries`: a batch run's contact snapshot, a Parquet file a Spark executor
reads instead of the database) is read that way; a history of raw contacts (the real-time
path) is read contact by contact, and both give the same verdicts (a property test checks
it on random histories).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from xsell.catalog.product import Catalog

__all__ = [
    "SUMMARY_COLUMNS",
    "ContactSummaries",
    "combine",
    "empty_summary",
    "lookback_days",
    "rule_inputs",
    "since",
    "summarize_contacts",
]

#: columns of a contact summary
SUMMARY_COLUMNS = ("customer_id", "product_id", "last_at", "n_cap", "n_limit")


@runtime_checkable
class ContactSummaries(Protocol):
    """A contact history that answers with summaries (see the module doc) instead of contacts."""

    def contact_summary(
        self, customer_ids: np.ndarray, at: datetime, catalog: Catalog
    ) -> pd.DataFrame:
        """The summary rows of these customers for decisions at ``at`` (:data:`SUMMARY_COLUMNS`)."""
        ...


def lookback_days(catalog: Catalog) -> float:
    """How far back the catalog's contact rules look, in days."""
    products = catalog.products
    return float(
        max(
            [catalog.contact_policy.period_days]
            + [p.cool_off_days for p in products]
            + [p.frequency_cap.period_days for p in products if p.frequency_cap]
        )
    )


def empty_summary() -> pd.DataFrame:
    """A summary with no rows (the dtypes :func:`summarize_contacts` returns)."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "product_id": pd.Series(dtype=object),
            "last_at": pd.Series(dtype="datetime64[us, UTC]"),
            "n_cap": pd.Series(dtype=np.int32),
            "n_limit": pd.Series(dtype=np.int32),
        }
    )


def _age_days(at: datetime, times: pd.Series) -> np.ndarray:
    at_ns = pd.Timestamp(at).tz_convert("UTC").as_unit("ns").value
    # times may come in any resolution (pandas reads datetimes as us, Parquet as ms ...)
    ns = pd.to_datetime(times, utc=True).dt.as_unit("ns").astype("int64").to_numpy()
    return np.asarray((at_ns - ns) / 86_400e9)


def summarize_contacts(contacts: pd.DataFrame, catalog: Catalog, at: datetime) -> pd.DataFrame:
    """Summarize raw contacts (``customer_id, product_id, at``) for decisions at ``at``.

    One row per (customer, product) with a contact at or before ``at`` within the
    look-back; products the catalog does not know are kept (they count toward the contact
    limit). Partial summaries of disjoint sets of contacts combine by :func:`combine`.

    Examples
    --------
    >>> from xsell import Catalog
    >>> at = pd.Timestamp("2026-01-10", tz="UTC")
    >>> contacts = pd.DataFrame({"customer_id": ["c1", "c1", "c2"],
    ...     "product_id": ["mortgage", "mortgage", "credit_card"],
    ...     "at": pd.to_datetime(["2026-01-09", "2025-12-01", "2026-01-11"], utc=True)})
    >>> s = summarize_contacts(contacts, Catalog.sample(), at)
    >>> s[["customer_id", "product_id", "n_cap", "n_limit"]].values.tolist()
    [['c1', 'mortgage', 2, 1]]
    """
    if len(contacts) == 0:
        return empty_summary()
    age = _age_days(at, contacts["at"])
    keep = (age >= 0) & (age < lookback_days(catalog))
    if not keep.any():
        return empty_summary()
    sub = contacts.loc[keep, ["customer_id", "product_id"]].astype(str)
    age = age[keep]
    periods = pd.Series(
        {p.id: p.frequency_cap.period_days for p in catalog.products if p.frequency_cap},
        dtype=np.float64,
    )
    cap_period = periods.reindex(sub["product_id"].to_numpy()).fillna(0.0).to_numpy()
    frame = pd.DataFrame(
        {
            "customer_id": sub["customer_id"].to_numpy(dtype=object),
            "product_id": sub["product_id"].to_numpy(dtype=object),
            "last_at": pd.to_datetime(contacts["at"].to_numpy()[keep], utc=True),
            "n_cap": (age < cap_period).astype(np.int32),
            "n_limit": (age < catalog.contact_policy.period_days).astype(np.int32),
        }
    )
    return combine([frame])


def combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Merge summaries of disjoint sets of contacts (counts add up, the newest time wins)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_summary()
    frame = pd.concat(parts, ignore_index=True)
    out = frame.groupby(["customer_id", "product_id"], sort=True, as_index=False).agg(
        last_at=("last_at", "max"), n_cap=("n_cap", "sum"), n_limit=("n_limit", "sum")
    )
    out["last_at"] = pd.to_datetime(out["last_at"], utc=True).dt.as_unit("us")
    out["n_cap"] = out["n_cap"].astype(np.int32)
    out["n_limit"] = out["n_limit"].astype(np.int32)
    out["customer_id"] = out["customer_id"].astype(object)
    out["product_id"] = out["product_id"].astype(object)
    return out.reset_index(drop=True)


def rule_inputs(
    summary: pd.DataFrame, customer_ids: np.ndarray, catalog: Catalog, at: datetime
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From a summary, per customer: in cool-off (n, K), contacts in the cap window (n, K)
    and contacts in the contact-limit window (n,)."""
    products = catalog.products
    n, K = len(customer_ids), len(products)
    in_cool = np.zeros((n, K), dtype=bool)
    counts = np.zeros((n, K), dtype=np.int64)
    if len(summary) == 0 or n == 0:
        return in_cool, counts, np.zeros(n, dtype=np.int64)
    row = pd.Index(np.asarray(customer_ids).astype(str)).get_indexer(
        pd.Index(summary["customer_id"].astype(str))
    )
    col = pd.Index([p.id for p in products]).get_indexer(
        pd.Index(summary["product_id"].astype(str))
    )
    found = row >= 0
    limit = summary["n_limit"].to_numpy(dtype=np.int64)
    total = np.bincount(row[found], weights=limit[found], minlength=n).astype(np.int64)
    known = found & (col >= 0)
    r, c = row[known], col[known]
    age = _age_days(at, summary["last_at"])[known]
    cool = np.array([p.cool_off_days for p in products])
    hit = (age >= 0) & (age < cool[c])
    in_cool[r[hit], c[hit]] = True
    np.add.at(counts, (r, c), summary["n_cap"].to_numpy(dtype=np.int64)[known])
    return in_cool, counts, total


def since(at: datetime, catalog: Catalog) -> pd.Timestamp:
    """The oldest contact time the rules read for decisions at ``at``."""
    return pd.Timestamp(at) - timedelta(days=lookback_days(catalog))
