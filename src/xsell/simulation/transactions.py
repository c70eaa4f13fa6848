"""Card payments, transfers and withdrawals of the sample bank's customers.

The transactions agree with each customer's attributes: how many depends on income,
digital activity and segment; the share paid in foreign currencies follows
``intl_txn_share``; travel, airline, hotel and currency-exchange spending grows with
``travel_trips_12m``; amounts are log-normal and grow with income.

Every transaction is a pure function of ``(bank.seed, customer id, day, index within the
day)``: a customer's transactions are the same whether generated alone or with others,
and generating two adjacent periods gives exactly the transactions of the whole period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from xsell._rng import hash_keys, keyed_uniform
from xsell._time import as_utc
from xsell.errors import InputError, SchemaError
from xsell.simulation.bank import SampleBank

__all__ = ["CATEGORIES", "CHANNELS", "TRANSACTION_COLUMNS", "generate_transactions"]

#: columns of :func:`generate_transactions`, in order
TRANSACTION_COLUMNS = (
    "transaction_id",
    "customer_id",
    "date",
    "amount",
    "currency",
    "merchant_category",
    "channel",
)
CHANNELS = ("card_present", "online", "atm", "transfer")
# category: (base weight, weight per trip, foreign-currency affinity, median amount in the
# home currency, log-sd, usual channel, other channel, P(other) base, P(other) per digital)
_CATEGORIES: dict[str, tuple[float, float, float, float, float, str, str, float, float]] = {
    "groceries": (0.30, 0.0, 0.4, 38.0, 0.6, "card_present", "online", 0.05, 0.15),
    "restaurants": (0.14, 0.0, 1.2, 30.0, 0.6, "card_present", "online", 0.08, 0.20),
    "fuel": (0.08, 0.0, 0.5, 55.0, 0.4, "card_present", "card_present", 0.0, 0.0),
    "retail": (0.12, 0.0, 0.8, 60.0, 0.8, "card_present", "online", 0.15, 0.35),
    "online": (0.06, 0.0, 1.6, 42.0, 0.8, "online", "online", 0.0, 0.0),
    "utilities": (0.05, 0.0, 0.05, 85.0, 0.4, "transfer", "transfer", 0.0, 0.0),
    "cash": (0.06, 0.0, 1.0, 120.0, 0.5, "atm", "atm", 0.0, 0.0),
    "travel": (0.008, 0.012, 3.0, 140.0, 0.7, "card_present", "online", 0.30, 0.40),
    "airline": (0.002, 0.006, 3.0, 280.0, 0.6, "online", "card_present", 0.15, -0.10),
    "hotel": (0.003, 0.008, 4.0, 190.0, 0.6, "online", "card_present", 0.40, -0.20),
    "fx_exchange": (0.001, 0.004, 6.0, 250.0, 0.6, "atm", "transfer", 0.30, 0.20),
}
CATEGORIES = tuple(_CATEGORIES)
_CURRENCIES = {"EUR": 0.30, "USD": 0.30, "GBP": 0.15, "CHF": 0.10, "SEK": 0.04, "PLN": 0.05}
_SEGMENT_RATE = {"student": 0.8, "retired": 0.7, "affluent": 1.2, "traveller": 1.1}
_REQUIRED = (
    "customer_id",
    "income",
    "segment",
    "digital_logins_30d",
    "intl_txn_share",
    "travel_trips_12m",
)
_NS_PER_DAY = 86_400 * 10**9
_MAX_PER_DAY = 20


def generate_transactions(
    bank: SampleBank,
    customers: pd.DataFrame,
    *,
    start: object,
    end: object,
    home_currency: str = "EUR",
) -> pd.DataFrame:
    """Transactions of ``customers`` in ``[start, end)``.

    Parameters
    ----------
    bank
        The sample bank (its seed fixes every draw).
    customers
        Customers as :meth:`SampleBank.customers` returns them; the columns read are
        ``customer_id``, ``income``, ``segment``, ``digital_logins_30d``,
        ``intl_txn_share`` and ``travel_trips_12m``.
    start, end
        The period, as timezone-aware times (or ISO 8601 strings with a zone).
    home_currency
        The bank's currency: domestic spending is in it, and amounts are booked in it.

    Returns
    -------
    pandas.DataFrame
        One row per transaction, in order of date (then ``transaction_id``), with the
        columns :data:`TRANSACTION_COLUMNS`: ``transaction_id`` (int64, derived from
        customer, day and index, unique with overwhelming probability), ``customer_id``,
        ``date`` (UTC), ``amount`` (in ``home_currency``, cents), ``currency`` (the currency
        paid in), ``merchant_category`` (one of :data:`CATEGORIES`) and ``channel`` (one of
        :data:`CHANNELS`); the last three are categoricals.

    Examples
    --------
    >>> bank = SampleBank(seed=3)
    >>> customers = bank.customers(200)
    >>> tx = generate_transactions(bank, customers, start="2026-01-01T00:00Z", end="2026-02-01T00:00Z")
    >>> list(tx.columns) == list(TRANSACTION_COLUMNS), len(tx) > 2_000
    (True, True)
    >>> one = generate_transactions(bank, customers.iloc[[7]], start="2026-01-01T00:00Z", end="2026-02-01T00:00Z")
    >>> mine = tx[tx["customer_id"] == customers["customer_id"].iloc[7]].reset_index(drop=True)
    >>> mine.equals(one)
    True
    """
    t0, t1 = as_utc(start, name="start"), as_utc(end, name="end")
    if t0 < pd.Timestamp("1970-01-01", tz="UTC"):
        raise InputError(f"`start` must be on or after 1970-01-01, got {t0}")
    if not t0 < t1:
        raise InputError(f"`end` must be after `start`, got start={t0} and end={t1}")
    if not (isinstance(home_currency, str) and len(home_currency) == 3 and home_currency.isalpha()):
        raise InputError(
            f"`home_currency` must be a three-letter currency code, got {home_currency!r}"
        )
    cols = _customer_columns(customers)
    n = len(customers)
    lo, hi = t0.as_unit("ns").value, t1.as_unit("ns").value
    days = np.arange(lo // _NS_PER_DAY, -(-hi // _NS_PER_DAY), dtype=np.int64)
    n_days = len(days)

    ids = customers["customer_id"].to_numpy()
    str_ids = customers["customer_id"].astype(str).to_numpy()
    ckeys = hash_keys(str_ids, "transactions")
    inc = np.log(np.maximum(cols["income"], 1.0)) - 10.3
    digital = np.log1p(np.maximum(cols["digital_logins_30d"], 0.0)) - 3.0
    seg = customers["segment"].astype(str).to_numpy()
    seg_rate = np.ones(n)
    for name, mult in _SEGMENT_RATE.items():
        seg_rate[seg == name] = mult
    rate = np.clip(0.45 * np.exp(0.3 * inc + 0.25 * digital) * seg_rate, 0.02, 4.0)
    online = np.asarray(expit(digital))  # 0..1: how much the customer lives online

    # how many transactions each (customer, day) has: Poisson(rate), by inverse CDF
    # (the draw index of a customer-day is the day number, so no per-day hashing is needed)
    u_days = keyed_uniform(
        bank.seed, np.repeat(hash_keys(str_ids, "transaction-days"), n_days), np.tile(days, n)
    )
    counts = _poisson(u_days, np.repeat(rate, n_days))
    first = np.repeat(np.cumsum(counts) - counts, counts)
    index = np.arange(int(counts.sum())) - first  # index within the day
    cell = np.repeat(np.arange(n * n_days), counts)
    row, day = cell // n_days, days[cell % n_days]
    keys = hash_keys(ckeys[row], day * 64 + index)

    def u(draw: int) -> np.ndarray:
        return np.asarray(np.clip(keyed_uniform(bank.seed, keys, draw), 1e-12, 1 - 1e-12))

    ns = day * _NS_PER_DAY + np.floor(u(0) * 86_400).astype(np.int64) * 10**9
    spec = list(_CATEGORIES.values())

    # merchant category: a per-customer mix in which travel grows with trips
    trips = np.minimum(np.maximum(cols["travel_trips_12m"], 0.0), 12.0)
    weights = np.column_stack([s[0] + s[1] * trips for s in spec])
    weights[:, CATEGORIES.index("online")] *= 1.0 + online
    weights /= weights.sum(axis=1, keepdims=True)
    cum = np.cumsum(weights, axis=1)
    uc = u(1)
    cat = np.zeros(len(keys), dtype=np.int64)
    for c in range(len(spec) - 1):
        cat += uc >= cum[row, c]

    # foreign currency: P(foreign | category) ∝ the category's affinity, scaled so that the
    # customer's expected share of foreign transactions is intl_txn_share
    affinity = np.asarray([s[2] for s in spec])
    scale = np.clip(cols["intl_txn_share"], 0.0, 1.0) / (weights @ affinity)
    foreign = u(2) < np.minimum(1.0, scale[row] * affinity[cat])
    pool = [c for c in _CURRENCIES if c != home_currency]
    pw = np.cumsum([_CURRENCIES[c] for c in pool])
    favourite = np.searchsorted(pw / pw[-1], keyed_uniform(bank.seed, ckeys, 1), side="right")
    anyone = np.searchsorted(pw / pw[-1], u(3), side="right")
    paid = np.where(u(4) < 0.6, favourite[row], anyone)
    currency_codes = np.where(foreign, paid + 1, 0)

    # amount: log-normal around the category's median, higher with income
    median = np.log(np.asarray([s[3] for s in spec]))
    sd = np.asarray([s[4] for s in spec])
    amount = np.round(np.exp(median[cat] + 0.35 * inc[row] + sd[cat] * ndtri(u(5))), 2)

    # channel: the category's usual channel, the other one more often for digital customers
    ch_index = {c: i for i, c in enumerate(CHANNELS)}
    usual = np.asarray([ch_index[s[5]] for s in spec])
    other = np.asarray([ch_index[s[6]] for s in spec])
    p_other = np.clip(
        np.asarray([s[7] for s in spec])[cat] + np.asarray([s[8] for s in spec])[cat] * online[row],
        0.0,
        1.0,
    )
    channel = np.where(u(6) < p_other, other[cat], usual[cat])

    tid = (keys >> np.uint64(1)).astype(np.int64)
    keep = np.flatnonzero((ns >= lo) & (ns < hi))
    order = keep[_chronological(ns[keep] - lo, keys[keep])]
    currencies = (home_currency, *pool)
    return pd.DataFrame(
        {
            "transaction_id": tid[order],
            "customer_id": ids[row[order]],
            "date": pd.DatetimeIndex(ns[order].view("datetime64[ns]")).tz_localize("UTC"),
            "amount": amount[order],
            "currency": _categorical(currency_codes[order], currencies),
            "merchant_category": _categorical(cat[order], CATEGORIES),
            "channel": _categorical(channel[order], CHANNELS),
        }
    )


def _chronological(offset_ns: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Order by time, ties broken by key: one sort of a packed (seconds, key) uint64,
    falling back to a two-key sort in the unlikely case that two packed values tie."""
    secs = (offset_ns // 10**9).astype(np.uint64)
    bits = max(int(secs.max(initial=0)).bit_length(), 1)
    packed = (secs << np.uint64(64 - bits)) | (keys >> np.uint64(bits))
    order = np.argsort(packed)
    if (np.diff(packed[order]) == 0).any():
        order = np.lexsort((keys, secs))
    return order


def _categorical(codes: np.ndarray, levels: tuple[str, ...]) -> pd.Categorical:
    dtype = pd.CategoricalDtype(list(levels))
    return pd.Categorical.from_codes(codes.astype(np.int64), dtype=dtype)


def _poisson(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson(lam) counts by inverse CDF of the uniforms ``u`` (capped at a high count)."""
    p = np.exp(-lam)
    cdf = p.copy()
    k = np.zeros(len(u), dtype=np.int64)
    for j in range(1, _MAX_PER_DAY + 1):
        above = u > cdf
        if not above.any():
            break
        k += above
        p = p * lam / j
        cdf = cdf + p
    return k


def _customer_columns(customers: pd.DataFrame) -> dict[str, np.ndarray]:
    if not isinstance(customers, pd.DataFrame):
        raise InputError(f"`customers` must be a pandas DataFrame, got {type(customers).__name__}")
    for col in _REQUIRED:
        if col not in customers.columns:
            raise SchemaError(f"`customers` is missing the required column {col!r}")
    out: dict[str, np.ndarray] = {}
    for col in ("income", "digital_logins_30d", "intl_txn_share", "travel_trips_12m"):
        s = customers[col]
        if not pd.api.types.is_numeric_dtype(s.dtype) or s.dtype == bool:
            raise SchemaError(f"`customers` column {col!r} must be numeric, got dtype {s.dtype}")
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(v).any():
            row = int(np.flatnonzero(np.isnan(v))[0])
            raise InputError(f"`customers` column {col!r} has a missing value (row {row})")
        out[col] = v
    if customers["customer_id"].astype(str).duplicated().any():
        raise InputError("`customers` column 'customer_id' has duplicated customer ids")
    return out
