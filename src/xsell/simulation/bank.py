"""A seeded sample bank: customers as the bank sees them, and how they truly respond.

Every attribute of customer ``i`` is a pure function of ``(seed, i)``, so customers
0..999 are the same whether generated at once or in pieces, and every response is a pure
function of ``(seed, customer, time, product)``: policies compared on the same stream
meet the same customers and the same luck (common random numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtri

from xsell._rng import hash_keys, keyed_uniform
from xsell.catalog.product import Catalog
from xsell.features.spec import FeatureSpec

__all__ = ["SampleBank", "make_customers", "sample_feature_spec"]

SEGMENTS = ("student", "young_professional", "family", "affluent", "traveller", "retired")
REGIONS = ("capital", "north", "south", "east", "west")
CHANNELS = ("app", "web", "email", "sms")


def sample_feature_spec() -> FeatureSpec:
    """The feature specification of the sample bank's customer table.

    Examples
    --------
    >>> spec = sample_feature_spec()
    >>> "gender" in spec.protected and "gender" not in spec.model_inputs
    True
    """
    return FeatureSpec(
        customer_id="customer_id",
        numeric=(
            "age",
            "income",
            "tenure_months",
            "balance",
            "intl_txn_share",
            "travel_trips_12m",
            "digital_logins_30d",
            "debt_to_income",
        ),
        categorical=("segment", "credit_band", "region", "risk_profile"),
        boolean=("owns_current_account",),
        market=("fx_volatility",),
        propensity="propensity_{product}",
        protected=("gender",),
        consent="consent_{channel}",
    )


@dataclass
class SampleBank:
    """A synthetic multicurrency retail bank with a known truth.

    Parameters
    ----------
    seed
        Seed of everything the bank generates.
    catalog
        Products (default: the sample catalog). Products the truth below does not know
        get a generic response.
    wrong_products
        Products whose propensity score is unrelated to the truth and inflated: the bank's
        propensity model is wrong for them.
    propensity_noise
        Standard deviation of the propensity model's error on the logit scale.
    fx_volatility
        The market indicator today (standardized units).

    Examples
    --------
    >>> bank = SampleBank(seed=1)
    >>> a = bank.customers(10)
    >>> b = bank.customers(4, start=6)
    >>> bool((a.iloc[6:].reset_index(drop=True) == b).all().all())
    True
    """

    seed: int = 0
    catalog: Catalog = field(default_factory=Catalog.sample)
    wrong_products: Sequence[str] = ("travel_insurance",)
    propensity_noise: float = 0.6
    fx_volatility: float = 0.0

    def _u(self, keys: np.ndarray, draw: int) -> np.ndarray:
        return np.asarray(np.clip(keyed_uniform(self.seed, keys, draw), 1e-12, 1 - 1e-12))

    def _z(self, keys: np.ndarray, draw: int) -> np.ndarray:
        return np.asarray(ndtri(self._u(keys, draw)))

    def customers(self, n: int, *, start: int = 0) -> pd.DataFrame:
        """Customers ``start .. start + n - 1`` as the bank's data would show them."""
        idx = np.arange(start, start + n)
        ids = np.char.add("C", np.char.zfill(idx.astype(str), 8)).astype(object)
        keys = hash_keys(ids, "customer")

        def z(draw: int) -> np.ndarray:
            return self._z(keys, draw)

        def u(draw: int) -> np.ndarray:
            return self._u(keys, draw)

        age = np.clip(np.round(44 + 16 * z(0)), 16, 90)
        seg_u = u(1)
        segment = np.select(
            [
                age < 23,
                (age < 35) & (seg_u < 0.7),
                (age >= 66),
                seg_u < 0.25,
                seg_u < 0.45,
                seg_u < 0.8,
            ],
            ["student", "young_professional", "retired", "traveller", "affluent", "family"],
            default="young_professional",
        ).astype(object)
        income = np.round(
            np.exp(
                10.3 + 0.45 * z(2) + 0.5 * (segment == "affluent") - 0.9 * (segment == "student")
            ),
            -2,
        )
        tenure = np.clip(np.round((age - 16) * 12 * u(3)), 0, None)
        balance = np.round(
            np.exp(7.5 + 1.2 * z(4) + 1.2 * (segment == "affluent") + 0.02 * (age - 40)), 2
        )
        travel = segment == "traveller"
        intl = np.clip(expit(-2.2 + 1.8 * travel + 0.7 * z(5)), 0, 1).round(3)
        trips = np.floor(
            -np.log(u(6)) * (0.8 + 3.0 * travel + 0.5 * (segment == "affluent"))
        ).astype(np.int64)
        logins = np.floor(-np.log(u(7)) * (25 - 0.25 * (age - 40))).clip(0, 200).astype(np.int64)
        dti = np.clip(expit(-1.3 + 0.6 * z(8) + 0.5 * (segment == "family")), 0, 1).round(3)
        credit = np.select(
            [u(9) < 0.25, u(9) < 0.6, u(9) < 0.85, u(9) < 0.95], ["A", "B", "C", "D"], "E"
        ).astype(object)
        region = np.asarray(REGIONS, dtype=object)[
            np.minimum((u(10) * len(REGIONS)).astype(int), len(REGIONS) - 1)
        ]
        risk = np.select(
            [u(11) < 0.45 + 0.3 * (age > 60), u(11) < 0.85], ["conservative", "balanced"], "dynamic"
        ).astype(object)
        # protected: correlated with income and travel, but the truth never reads it
        gender = np.where(u(12) < 0.5 + 0.1 * (income > 40000) - 0.05 * travel, "m", "f").astype(
            object
        )
        df = pd.DataFrame(
            {
                "customer_id": ids,
                "age": age,
                "income": income,
                "tenure_months": tenure,
                "balance": balance,
                "intl_txn_share": intl,
                "travel_trips_12m": trips,
                "digital_logins_30d": logins,
                "debt_to_income": dti,
                "segment": segment,
                "credit_band": credit,
                "region": region,
                "risk_profile": risk,
                "owns_current_account": u(13) < 0.9,
                "fx_volatility": np.full(n, float(self.fx_volatility)),
                "gender": gender,
            }
        )
        truth = self._true_logits(df, keys)
        for k, p in enumerate(self.catalog.products):
            owned_p = 0.04 + 0.3 * expit(
                truth[:, k] + 2.0
            )  # people who like a product often have it
            df[p.owned_col] = u(20 + k) < owned_p * (age >= 18)
        for ch in CHANNELS:
            df[f"consent_{ch}"] = u(40 + CHANNELS.index(ch)) < (
                0.95 if ch in ("app", "web") else 0.8
            )
        wrong = set(self.wrong_products)
        for k, p in enumerate(self.catalog.products):
            if p.id in wrong:
                # the bank's model is wrong here: a score unrelated to the truth, and high
                score = -2.2 + 0.8 * z(60 + k)
            else:
                score = 0.8 * truth[:, k] - 0.5 + self.propensity_noise * z(60 + k)
            df[f"propensity_{p.id}"] = np.round(expit(score), 5)
        return df

    def _true_logits(self, df: pd.DataFrame, keys: np.ndarray) -> np.ndarray:
        seg = df["segment"].to_numpy()
        age = df["age"].to_numpy()
        intl = df["intl_txn_share"].to_numpy()
        trips = np.minimum(df["travel_trips_12m"].to_numpy(), 10)
        inc = np.log(df["income"].to_numpy())
        bal = np.log1p(df["balance"].to_numpy())
        dti = df["debt_to_income"].to_numpy()
        fx = df["fx_volatility"].to_numpy(dtype=np.float64)
        taste = self._z(keys, 99) * 0.4
        rules = {
            "multi_currency_account": -3.6 + 3.0 * intl + 0.25 * trips + 0.3 * fx,
            "travel_credit_card": -4.4
            + 0.45 * trips
            + 0.6 * (inc - 10.3)
            + 0.5 * (seg == "traveller"),
            "forex_account": -4.3 + 3.5 * intl * (1 + 0.5 * fx) + 0.4 * fx,
            "personal_loan": -4.6
            + 2.0 * (dti - 0.2)
            + 0.7 * (seg == "family")
            + 0.4 * (seg == "young_professional"),
            "savings_account": -3.4
            + 0.25 * (bal - 7.5)
            + 0.4 * (seg == "retired")
            - 0.3 * (seg == "student"),
            "investment_fund": -5.0
            + 0.5 * (bal - 7.5)
            + 0.02 * (age - 40)
            + 0.5 * (seg == "affluent"),
            "travel_insurance": -4.0 + 0.35 * trips + 0.4 * (seg == "family") * (trips > 1),
            "mortgage": -6.2
            + 1.4 * (seg == "family") * ((age >= 27) & (age <= 45))
            + 0.8 * (inc - 10.3),
        }
        out = np.empty((len(df), len(self.catalog.products)))
        for k, p in enumerate(self.catalog.products):
            out[:, k] = rules.get(p.id, np.full(len(df), logit(p.base_rate))) + taste
        return out

    def true_probabilities(self, customers: pd.DataFrame) -> np.ndarray:
        """True conversion probability of every (customer, product) if offered, shape (n, K)."""
        keys = hash_keys(customers["customer_id"].astype(str).to_numpy(), "customer")
        return np.asarray(expit(self._true_logits(customers, keys)))

    def respond(
        self, customers: pd.DataFrame, product: Sequence[str | None], at: object
    ) -> np.ndarray:
        """Whether each customer converts on the product offered (0 for no offer).

        The luck of customer ``i`` for product ``k`` at time ``at`` is fixed, whichever
        policy made the offer.
        """
        ids = customers["customer_id"].astype(str).to_numpy()
        keys = hash_keys(ids, str(at), "response")
        p = self.true_probabilities(customers)
        col = pd.Index(self.catalog.product_ids).get_indexer(pd.Index(product, dtype=object))
        u = np.column_stack([keyed_uniform(self.seed, keys, k) for k in range(p.shape[1])])
        rows = np.arange(len(ids))
        offered = col >= 0
        out = np.zeros(len(ids), dtype=np.int64)
        out[offered] = (u[rows[offered], col[offered]] < p[rows[offered], col[offered]]).astype(
            np.int64
        )
        return out


def make_customers(n: int, seed: int = 0, *, start: int = 0) -> pd.DataFrame:
    """``n`` sample-bank customers (see :class:`SampleBank`).

    Examples
    --------
    >>> df = make_customers(3, seed=7)
    >>> list(df["customer_id"])
    ['C00000000', 'C00000001', 'C00000002']
    """
    return SampleBank(seed=seed).customers(n, start=start)
