"""Transaction features (RFM, FX share, spending mix) and the sample bank's transactions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from xsell.errors import InputError, SchemaError
from xsell.features import FeatureSpec, TransactionFeatures
from xsell.simulation import (
    TRANSACTION_COLUMNS,
    SampleBank,
    generate_transactions,
    make_customers,
)

AS_OF = pd.Timestamp("2026-04-01T00:00:00Z")
START, END = "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z"


def _tx(**cols: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "customer_id": ["a", "a", "a", "b"],
        "date": pd.to_datetime(
            ["2026-03-01 12:00", "2026-03-20 00:00", "2026-03-31 18:00", "2026-02-15 00:00"],
            utc=True,
        ),
        "amount": [100.0, 50.0, -20.0, 30.0],
        "currency": ["EUR", "usd", "EUR", "GBP"],
        "merchant_category": ["travel", "groceries", "travel", "hotel"],
        "channel": ["online", "card_present", "online", "online"],
    }
    base.update(cols)
    return pd.DataFrame(base)


# --- the builder against hand-computed values ---------------------------------------------


def test_hand_computed_table() -> None:
    tf = TransactionFeatures(window_days=30, categories=("travel",), channels=("online",))
    out = tf.transform(_tx(), AS_OF)
    assert list(out.columns) == list(tf.columns)
    assert list(out.index) == ["a", "b"] and out.index.name == "customer_id"
    a, b = out.loc["a"], out.loc["b"]
    # window [2026-03-02, 2026-04-01): the 2026-03-01 payment of a and b's payment fall out
    assert a["rfm_recency_days"] == pytest.approx(0.25)  # 18:00 the day before
    assert a["rfm_frequency_30d"] == 2
    assert a["rfm_monetary_30d"] == pytest.approx(30.0)  # 50 - 20 (a refund)
    assert a["rfm_mean_ticket_30d"] == pytest.approx(15.0)
    assert a["fx_share_30d"] == pytest.approx(50 / 70)  # "usd" is foreign, case aside
    assert a["category_share_travel_30d"] == pytest.approx(20 / 70)
    assert a["channel_share_online_30d"] == pytest.approx(20 / 70)
    # b's only payment is older than the window: it is known, but inactive in it
    assert list(b) == [30.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def _reference(tx: pd.DataFrame, as_of: pd.Timestamp, window: int, cats: list[str]) -> dict:
    """A plain Python loop over transactions: the definition, written independently."""
    start = as_of - pd.Timedelta(days=window)
    acc: dict[str, dict[str, float]] = {}
    for r in tx.itertuples(index=False):
        if not (start <= r.date < as_of):
            continue
        d = acc.setdefault(
            str(r.customer_id), {"n": 0, "sum": 0.0, "abs": 0.0, "fx": 0.0, "last": None}
        )
        d["n"] += 1
        d["sum"] += r.amount
        d["abs"] += abs(r.amount)
        if r.currency.strip().upper() != "EUR":
            d["fx"] += abs(r.amount)
        for c in cats:
            d[c] = d.get(c, 0.0) + (abs(r.amount) if r.merchant_category == c else 0.0)
        if d["last"] is None or r.date > d["last"]:
            d["last"] = r.date
    out = {}
    for cid, d in acc.items():
        row = [
            (as_of - d["last"]).total_seconds() / 86400,
            d["n"],
            d["sum"],
            d["sum"] / d["n"],
            d["fx"] / d["abs"] if d["abs"] else 0.0,
        ]
        row += [d.get(c, 0.0) / d["abs"] if d["abs"] else 0.0 for c in cats]
        out[cid] = row
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_a_loop_reference_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    cats = ["travel", "hotel"]
    tx = pd.DataFrame(
        {
            "customer_id": rng.choice([f"c{i}" for i in range(25)], n),
            "date": AS_OF + pd.to_timedelta(rng.uniform(-60, 5, n), unit="D"),
            "amount": np.round(rng.lognormal(3, 1, n) * rng.choice([1, 1, 1, -1], n), 2),
            "currency": rng.choice(["EUR", "eur ", "USD", "GBP", "CHF"], n),
            "merchant_category": rng.choice(["travel", "hotel", "groceries", "fuel"], n),
        }
    )
    ref = _reference(tx, AS_OF, 30, cats)
    ids = [f"c{i}" for i in range(30)]  # c25..c29 have no transactions at all
    out = TransactionFeatures(window_days=30, categories=tuple(cats)).transform(tx, AS_OF, ids)
    assert list(out.index) == ids
    for cid in ids:
        expected = ref.get(cid, [30.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0])
        np.testing.assert_allclose(out.loc[cid].to_numpy(), expected, rtol=1e-9, atol=1e-9)


def test_no_leakage_from_as_of_or_later() -> None:
    tx = _tx(
        customer_id=["a", "a", "a", "a"],
        date=[AS_OF - pd.Timedelta(days=30), AS_OF, AS_OF + pd.Timedelta(days=1), AS_OF],
        amount=[10.0, 1000.0, 1000.0, 1000.0],
        currency=["EUR", "USD", "USD", "USD"],
    )
    out = TransactionFeatures(window_days=30).transform(tx, AS_OF)
    # only the payment exactly window_days before counts (the window is closed on the left)
    assert out.loc["a"].tolist() == [30.0, 1.0, 10.0, 10.0, 0.0]


def test_customers_known_only_from_the_future_are_not_listed() -> None:
    tx = _tx(customer_id=["a", "a", "a", "z"], date=[AS_OF - pd.Timedelta(days=1)] * 3 + [AS_OF])
    assert list(TransactionFeatures().transform(tx, AS_OF).index) == ["a"]


def test_customers_without_transactions_and_id_matching() -> None:
    tx = _tx(customer_id=[1, 1, 2, 2])
    out = TransactionFeatures(window_days=30).transform(tx, AS_OF, customers=["2", "9", "1"])
    assert list(out.index) == ["2", "9", "1"]
    assert out.loc["9"].tolist() == [30.0, 0.0, 0.0, 0.0, 0.0]
    assert out.loc["1", "rfm_frequency_30d"] == 1  # its 2026-03-01 payment is too old
    assert np.isfinite(out.to_numpy()).all()
    assert TransactionFeatures().transform(tx, AS_OF, customers=[]).shape == (0, 5)


def test_time_zones_and_iso_strings() -> None:
    tx = _tx()
    paris = tx.assign(date=tx["date"].dt.tz_convert("Europe/Paris"))
    tf = TransactionFeatures(window_days=30)
    expected = tf.transform(tx, AS_OF)
    pd.testing.assert_frame_equal(tf.transform(paris, "2026-04-01T02:00:00+02:00"), expected)
    iso = tx.assign(date=tx["date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    pd.testing.assert_frame_equal(tf.transform(iso, AS_OF), expected)
    naive = tx.assign(date=tx["date"].dt.tz_localize(None))
    pd.testing.assert_frame_equal(tf.transform(naive, AS_OF.tz_localize(None)), expected)


def test_columns_feed_a_feature_spec() -> None:
    tf = TransactionFeatures(window_days=60, categories=("travel",))
    assert tf.columns[-1] == "category_share_travel_60d"
    spec = FeatureSpec(numeric=("age", *tf.columns), consent=None)
    assert spec.model_inputs[1:] == tf.columns


BAD_TRANSACTIONS = [
    ({"drop": "amount"}, SchemaError, "missing the required column 'amount'"),
    ({"drop": "date"}, SchemaError, "missing the required column 'date'"),
    ({"drop": "customer_id"}, SchemaError, "missing the required column 'customer_id'"),
    ({"drop": "currency"}, SchemaError, "missing the required column 'currency'"),
    ({"amount": ["1", "2", "3", "4"]}, SchemaError, "'amount' must be numeric"),
    ({"amount": [True, False, True, True]}, SchemaError, "'amount' must be numeric"),
    ({"amount": [1.0, np.nan, 1.0, 1.0]}, InputError, r"'amount' must be finite.*row 1"),
    ({"date": ["2026-03-01", "yesterday", "2026-03-02", "2026-03-03"]}, SchemaError,
     r"'date' has an unparseable date 'yesterday' \(row 1\)"),
    ({"date": [1, 2, 3, 4]}, SchemaError, "'date' must hold dates, got dtype int64"),
    ({"date": pd.to_datetime(["2026-03-01", None, "2026-03-02", "2026-03-03"], utc=True)},
     InputError, r"'date' has a missing value \(row 1\)"),
    ({"customer_id": ["a", None, "b", "b"]}, InputError, "'customer_id' has a missing value"),
    ({"currency": ["EUR", "USD", None, "EUR"]}, InputError, r"'currency' has a missing value \(row 2\)"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "error", "match"), BAD_TRANSACTIONS)
def test_bad_transactions_name_the_column(change: dict, error: type, match: str) -> None:
    change = dict(change)
    tx = _tx().drop(columns=[change.pop("drop")]) if "drop" in change else _tx(**change)
    with pytest.raises(error, match=match):
        TransactionFeatures(channels=("online",)).transform(tx, AS_OF)


def test_naive_and_aware_times_do_not_mix() -> None:
    tf = TransactionFeatures()
    with pytest.raises(InputError, match=r"`as_of` is the naive time .* 'date' is timezone-aware"):
        tf.transform(_tx(), "2026-04-01T00:00:00")
    naive = _tx().assign(date=lambda d: d["date"].dt.tz_localize(None))
    with pytest.raises(InputError, match=r"`as_of` is timezone-aware .* 'date' is naive"):
        tf.transform(naive, AS_OF)
    with pytest.raises(InputError, match="`as_of` must be a time"):
        tf.transform(_tx(), "not a time")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window_days": -7}, r"`window_days` must be > 0 .*got -7"),
        ({"window_days": 0}, r"`window_days` must be > 0"),
        ({"window_days": 2.5}, "`window_days` must be a whole number"),
        ({"categories": "travel"}, "`categories` must be a sequence of names"),
        ({"channels": ("online", "online")}, "`channels` lists 'online' twice"),
        ({"home_currency": ""}, "`home_currency` must be a currency code"),
    ],
)
def test_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        TransactionFeatures(**kwargs)


def test_bad_customers_and_table() -> None:
    tf = TransactionFeatures()
    with pytest.raises(InputError, match="duplicated customer id 'a'"):
        tf.transform(_tx(), AS_OF, customers=["a", "b", "a"])
    with pytest.raises(InputError, match=r"pass the column \(customers\['customer_id'\]\)"):
        tf.transform(_tx(), AS_OF, customers=pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(InputError, match="`transactions` must be a pandas DataFrame"):
        tf.transform([1, 2], AS_OF)  # type: ignore[arg-type]


# --- the sample bank's transactions ----------------------------------------------------------


@pytest.fixture(scope="module")
def bank_tx() -> tuple[SampleBank, pd.DataFrame, pd.DataFrame]:
    bank = SampleBank(seed=5)
    customers = bank.customers(5_000)
    return bank, customers, generate_transactions(bank, customers, start=START, end=END)


def test_volume_columns_and_types(bank_tx: tuple[SampleBank, pd.DataFrame, pd.DataFrame]) -> None:
    _, customers, tx = bank_tx
    assert len(tx) >= 100_000
    assert tuple(tx.columns) == TRANSACTION_COLUMNS
    assert tx["transaction_id"].is_unique
    assert str(tx["date"].dt.tz) == "UTC"
    assert tx["date"].is_monotonic_increasing
    assert tx["date"].min() >= pd.Timestamp(START) and tx["date"].max() < pd.Timestamp(END)
    assert (tx["amount"] > 0).all()
    assert set(tx["customer_id"]) <= set(customers["customer_id"])
    assert {"EUR", "USD", "GBP"} <= set(tx["currency"])
    assert {"travel", "airline", "hotel", "groceries"} <= set(tx["merchant_category"])
    assert set(tx["channel"]) == {"card_present", "online", "atm", "transfer"}


def test_a_customer_gets_the_same_transactions_alone_or_with_others(
    bank_tx: tuple[SampleBank, pd.DataFrame, pd.DataFrame],
) -> None:
    bank, customers, tx = bank_tx
    some = customers.iloc[[4_321, 17, 2_500]]  # any order
    alone = generate_transactions(bank, some, start=START, end=END)
    within = tx[tx["customer_id"].isin(some["customer_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, within)
    again = generate_transactions(SampleBank(seed=5), some, start=START, end=END)
    pd.testing.assert_frame_equal(alone, again)
    other = generate_transactions(SampleBank(seed=6), some, start=START, end=END)
    assert not other.equals(alone)


def test_adjacent_periods_add_up_to_the_whole(
    bank_tx: tuple[SampleBank, pd.DataFrame, pd.DataFrame],
) -> None:
    bank, customers, _ = bank_tx
    few = customers.iloc[:300]
    whole = generate_transactions(bank, few, start=START, end=END)
    mid = "2026-02-10T13:30:00Z"
    parts = pd.concat(
        [
            generate_transactions(bank, few, start=START, end=mid),
            generate_transactions(bank, few, start=mid, end=END),
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(parts, whole)


def test_built_features_follow_the_customer_attributes(
    bank_tx: tuple[SampleBank, pd.DataFrame, pd.DataFrame],
) -> None:
    _, customers, tx = bank_tx
    tf = TransactionFeatures(categories=("travel", "airline", "hotel"))
    f = tf.transform(tx, END, customers=customers["customer_id"])
    assert spearmanr(f["fx_share_90d"], customers["intl_txn_share"]).statistic > 0.5
    travel = f[[f"category_share_{c}_90d" for c in ("travel", "airline", "hotel")]].sum(axis=1)
    assert spearmanr(travel, customers["travel_trips_12m"]).statistic > 0.4
    assert spearmanr(f["rfm_monetary_90d"], customers["income"]).statistic > 0.4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start": "2026-01-01T00:00:00"}, InputError, "`start` must be timezone-aware"),
        ({"end": START}, InputError, "`end` must be after `start`"),
        ({"home_currency": "euro"}, InputError, "`home_currency` must be a three-letter"),
        ({"drop": "intl_txn_share"}, SchemaError, "missing the required column 'intl_txn_share'"),
    ],
)
def test_generator_rejects_bad_input(kwargs: dict, error: type, match: str) -> None:
    kwargs = {"start": START, "end": END, **kwargs}
    customers = make_customers(5, seed=1)
    if "drop" in kwargs:
        customers = customers.drop(columns=[kwargs.pop("drop")])
    with pytest.raises(error, match=match):
        generate_transactions(SampleBank(seed=1), customers, **kwargs)
