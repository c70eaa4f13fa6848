"""A bank's transactions → per-customer RFM and spending-mix features.

:class:`TransactionFeatures` turns a raw transactions table (one row per card payment,
transfer or withdrawal) into one row per customer: recency, frequency and monetary value
over a lookback window, the share of spending in foreign currencies, and optionally the
share per merchant category and per channel. Its :attr:`~TransactionFeatures.columns`
can be listed in a :class:`~xsell.features.spec.FeatureSpec`'s ``numeric`` columns once the
output is joined onto the customer table.

Time convention: only transactions strictly before ``as_of`` and at or after
``as_of - window_days`` count, so features computed for a decision at ``as_of`` never see
that decision's future. Dates and ``as_of`` must agree: both timezone-aware (any zone,
compared in UTC) or both naive (read as UTC). Mixing the two is refused, because a naive
local-time file compared with a UTC decision time silently shifts every window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from xsell.errors import InputError, SchemaError

__all__ = ["TransactionFeatures"]

_NS_PER_DAY = 86_400 * 10**9
_WHAT = "transactions"


@dataclass(frozen=True, slots=True)
class TransactionFeatures:
    """Per-customer features of a transactions table, as of a time.

    Parameters
    ----------
    home_currency
        The bank's currency; spending in any other currency counts as foreign.
    window_days
        Lookback window in days: transactions in ``[as_of - window_days, as_of)`` count.
    categories
        Merchant categories that each get a spending-share column (e.g. ``("travel",)``).
    channels
        Channels that each get a spending-share column (e.g. ``("online",)``).
    customer_id, date, amount, currency, merchant_category, channel
        Column names in the transactions table. ``amount`` is the booked amount in the home
        currency (signed: refunds are negative); ``currency`` is the currency the customer
        paid in. ``merchant_category`` and ``channel`` are read only when ``categories`` or
        ``channels`` ask for them.

    Notes
    -----
    Output columns (``w`` = ``window_days``), every value finite:

    ``rfm_recency_days``
        Days (fractional) from the last transaction in the window to ``as_of``, in
        ``(0, w]``; ``w`` for a customer without transactions in the window.
    ``rfm_frequency_{w}d``
        Number of transactions in the window.
    ``rfm_monetary_{w}d``
        Sum of the amounts in the window.
    ``rfm_mean_ticket_{w}d``
        Monetary value / frequency (0 without transactions).
    ``fx_share_{w}d``
        Share of spending not in ``home_currency``.
    ``category_share_{category}_{w}d``, ``channel_share_{channel}_{w}d``
        Share of spending in that merchant category / channel.

    Shares are weighted by absolute amounts, so they stay in ``[0, 1]`` with refunds, and
    are 0 for a customer without spending in the window. Currencies are compared
    case-insensitively; categories and channels exactly.

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b", "a"],
    ...     "date": pd.to_datetime(["2026-03-01", "2026-03-09", "2026-02-20", "2026-03-12"], utc=True),
    ...     "amount": [40.0, 60.0, 25.0, 999.0],
    ...     "currency": ["EUR", "USD", "EUR", "EUR"],
    ... })
    >>> tf = TransactionFeatures(window_days=30)
    >>> feats = tf.transform(tx, as_of="2026-03-10T00:00:00Z", customers=["a", "b", "c"])
    >>> feats.T
    customer_id              a     b     c
    rfm_recency_days       1.0  18.0  30.0
    rfm_frequency_30d      2.0   1.0   0.0
    rfm_monetary_30d     100.0  25.0   0.0
    rfm_mean_ticket_30d   50.0  25.0   0.0
    fx_share_30d           0.6   0.0   0.0
    >>> from xsell import FeatureSpec
    >>> FeatureSpec(numeric=("age", *tf.columns)).numeric[:3]
    ('age', 'rfm_recency_days', 'rfm_frequency_30d')
    """

    home_currency: str = "EUR"
    window_days: int = 90
    categories: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    customer_id: str = "customer_id"
    date: str = "date"
    amount: str = "amount"
    currency: str = "currency"
    merchant_category: str = "merchant_category"
    channel: str = "channel"

    def __post_init__(self) -> None:
        w = self.window_days
        if isinstance(w, bool) or not isinstance(w, int | np.integer):
            raise InputError(f"`window_days` must be a whole number of days, got {w!r}")
        if w <= 0:
            raise InputError(f"`window_days` must be > 0 (a lookback into the past), got {w}")
        object.__setattr__(self, "window_days", int(w))
        if not isinstance(self.home_currency, str) or not self.home_currency.strip():
            raise InputError(
                f"`home_currency` must be a currency code such as 'EUR', got {self.home_currency!r}"
            )
        for name in ("categories", "channels"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise InputError(f"`{name}` must be a sequence of names, got the string {value!r}")
            value = tuple(value)
            dup = [v for v in set(value) if value.count(v) > 1]
            if dup:
                raise InputError(f"`{name}` lists {dup[0]!r} twice")
            object.__setattr__(self, name, value)

    @property
    def columns(self) -> tuple[str, ...]:
        """The output column names, in output order."""
        w = self.window_days
        return (
            "rfm_recency_days",
            f"rfm_frequency_{w}d",
            f"rfm_monetary_{w}d",
            f"rfm_mean_ticket_{w}d",
            f"fx_share_{w}d",
            *(f"category_share_{c}_{w}d" for c in self.categories),
            *(f"channel_share_{c}_{w}d" for c in self.channels),
        )

    def transform(
        self,
        transactions: pd.DataFrame,
        as_of: object,
        customers: Sequence[object] | pd.Index | pd.Series | np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Features of every customer as of ``as_of``.

        Parameters
        ----------
        transactions
            One row per transaction, with the configured columns.
        as_of
            The decision time (datetime, Timestamp or ISO 8601 string); only transactions
            strictly before it count. Timezone-aware when the date column is, naive when it
            is naive (both then read as UTC); a mix raises :class:`~xsell.errors.InputError`.
        customers
            Customer ids to report, in this order (customers without transactions get the
            values documented in the class notes; transactions of other customers are
            ignored). Ids are matched as strings, so ``1`` matches ``"1"``. By default,
            every customer with a transaction before ``as_of``, in order of appearance.

        Returns
        -------
        pandas.DataFrame
            One row per customer, indexed by customer id (index named like the id column),
            with the :attr:`columns`.
        """
        if not isinstance(transactions, pd.DataFrame):
            raise InputError(
                f"`{_WHAT}` must be a pandas DataFrame, got {type(transactions).__name__}"
            )
        ids = _ids(transactions, self.customer_id)
        ns, cut = _times(transactions, self.date, as_of)
        amount = _amounts(transactions, self.amount)
        past = ns < cut
        win = past & (ns >= cut - self.window_days * _NS_PER_DAY)

        # row → output position; -1 for customers not reported
        codes, uniques = pd.factorize(ids[past])
        if customers is None:
            index = pd.Index(uniques, name=self.customer_id)
            pos = codes
        else:
            index = _customer_index(customers, self.customer_id)
            target = pd.Index(index.astype(str)).get_indexer(pd.Index(uniques).astype(str))
            pos = np.where(codes >= 0, target[codes], -1)
        n = len(index)
        counted = win[past] & (pos >= 0)
        rows = np.flatnonzero(past)[counted]
        p = pos[counted]
        amt = amount[rows]
        absamt = np.abs(amt)
        total = np.bincount(p, weights=absamt, minlength=n)

        def share(mask: np.ndarray) -> np.ndarray:
            part = np.bincount(p, weights=absamt * mask, minlength=n)
            return np.divide(part, total, out=np.zeros(n), where=total > 0)

        freq = np.bincount(p, minlength=n).astype(np.float64)
        monetary = np.bincount(p, weights=amt, minlength=n)
        last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, p, ns[rows])
        recency = np.where(freq > 0, (cut - last) / _NS_PER_DAY, float(self.window_days))
        home = self.home_currency.strip().upper()
        values = [
            recency,
            freq,
            monetary,
            np.divide(monetary, freq, out=np.zeros(n), where=freq > 0),
            share(_labels(transactions, self.currency, rows, currency=True) != home),
        ]
        for col, wanted in (
            (self.merchant_category, self.categories),
            (self.channel, self.channels),
        ):
            if wanted:
                labels = _labels(transactions, col, rows)
                values.extend(share(labels == w) for w in wanted)
        return pd.DataFrame(dict(zip(self.columns, values, strict=True)), index=index)


def _column(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        raise SchemaError(f"`{_WHAT}` is missing the required column {col!r}")
    return df[col]


def _first_missing(s: pd.Series, col: str) -> None:
    miss = s.isna().to_numpy()
    if miss.any():
        raise InputError(
            f"`{_WHAT}` column {col!r} has a missing value (row {int(np.flatnonzero(miss)[0])})"
        )


def _ids(df: pd.DataFrame, col: str) -> np.ndarray:
    s = _column(df, col)
    _first_missing(s, col)
    return s.to_numpy()


def _amounts(df: pd.DataFrame, col: str) -> np.ndarray:
    s = _column(df, col)
    if s.dtype == bool or not pd.api.types.is_numeric_dtype(s.dtype):
        raise SchemaError(f"`{_WHAT}` column {col!r} must be numeric, got dtype {s.dtype}")
    v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(v)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"`{_WHAT}` column {col!r} must be finite, got {v[row]} (row {row})")
    return v


def _labels(df: pd.DataFrame, col: str, rows: np.ndarray, *, currency: bool = False) -> np.ndarray:
    """The column's values on ``rows`` as strings. Currencies are stripped and upper-cased
    and must not be missing; other missing values match nothing."""
    codes, uniques = pd.factorize(_column(df, col).iloc[rows])
    if currency and (codes < 0).any():
        row = int(rows[np.flatnonzero(codes < 0)[0]])
        raise InputError(f"`{_WHAT}` column {col!r} has a missing value (row {row})")
    names = [str(u).strip().upper() if currency else str(u) for u in uniques]
    table = np.asarray([*names, ""], dtype=object)
    return np.asarray(table[codes])  # code -1 picks the trailing ""


def _times(df: pd.DataFrame, col: str, as_of: object) -> tuple[np.ndarray, int]:
    """Transaction times and ``as_of`` as int64 nanoseconds on one clock."""
    s = _column(df, col)
    if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        try:
            parsed = pd.to_datetime(s, format="ISO8601", errors="coerce")
        except ValueError as exc:  # mixed UTC offsets
            raise SchemaError(f"`{_WHAT}` column {col!r} cannot be read as times: {exc}") from None
        bad = (parsed.isna() & s.notna()).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise SchemaError(
                f"`{_WHAT}` column {col!r} has an unparseable date {s.iloc[row]!r} (row {row}); "
                "use ISO 8601 or a datetime column"
            )
        s = parsed
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        raise SchemaError(f"`{_WHAT}` column {col!r} must hold dates, got dtype {s.dtype}")
    _first_missing(s, col)
    try:
        ts = pd.Timestamp(as_of)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"`as_of` must be a time, got {as_of!r}: {exc}") from None
    if pd.isna(ts):
        raise InputError(f"`as_of` must be a time, got {as_of!r}")
    aware = isinstance(s.dtype, pd.DatetimeTZDtype)
    if aware and ts.tzinfo is None:
        raise InputError(
            f"`as_of` is the naive time {ts} but `{_WHAT}` column {col!r} is timezone-aware; "
            "pass a timezone-aware `as_of` (e.g. with 'Z' for UTC)"
        )
    if not aware and ts.tzinfo is not None:
        raise InputError(
            f"`as_of` is timezone-aware ({ts}) but `{_WHAT}` column {col!r} is naive; "
            "localize the column to UTC (Series.dt.tz_localize('UTC')) or pass a naive `as_of`"
        )
    if aware:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        ts = ts.tz_convert("UTC").tz_localize(None)
    ns = s.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ns, int(ts.as_unit("ns").value)


def _customer_index(customers: object, col: str) -> pd.Index:
    if isinstance(customers, pd.DataFrame):
        raise InputError(
            f"`customers` must be a sequence of customer ids; pass the column "
            f"(customers[{col!r}]), not the table"
        )
    if isinstance(customers, str):
        raise InputError(
            f"`customers` must be a sequence of customer ids, got the string {customers!r}"
        )
    index: pd.Index = pd.Index(cast(Any, customers))
    if index.hasnans:
        raise InputError("`customers` has a missing customer id")
    dup = index.astype(str).duplicated()
    if dup.any():
        raise InputError(f"`customers` has the duplicated customer id {index[dup][0]!r}")
    return index.rename(col)
