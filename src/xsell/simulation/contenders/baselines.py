"""Reference policies: what banks do today, and the limits either side.

``RandomOffer`` is the A/B test (uniform over what is allowed), ``SegmentRules`` the
marketer's hand-made segment-to-product table, ``PropensityGreedy`` today's practice
(the highest propensity × value), ``NoOffer`` the control arm against which incremental
uptake is measured, and ``Oracle`` the limit: it knows the true probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform
from xsell.simulation.contenders.base import Offers, Setup

__all__ = [
    "NoOffer",
    "Oracle",
    "PropensityGreedy",
    "RandomOffer",
    "SegmentRules",
]


def _first_allowed(score: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Argmax of ``score`` over the allowed products (ties: catalog order), -1 if none."""
    masked = np.where(eligible, score, -np.inf)
    best = masked.argmax(axis=1)
    return np.where(eligible.any(axis=1), best, -1)


class RandomOffer:
    """A/B allocation: a uniformly random allowed product for every customer."""

    name = "random"

    def __init__(self, setup: Setup) -> None:
        self.seed = setup.seed
        self.id_col = setup.feature_spec.customer_id

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """Draw uniformly among the allowed products (keyed by customer and time)."""
        keys = hash_keys(customers[self.id_col].astype(str).to_numpy(), at.value, "random")
        u = keyed_uniform(self.seed, keys, 0)
        count = eligible.sum(axis=1)
        pick = np.minimum((u * count).astype(np.int64), np.maximum(count - 1, 0))
        order = np.cumsum(eligible, axis=1) - 1
        hit = eligible & (order == pick[:, None])
        action = np.where(count > 0, hit.argmax(axis=1), -1)
        prob = np.where(count > 0, 1.0 / np.maximum(count, 1), 1.0)
        return Offers(action, prob, np.zeros(len(action), dtype=bool))

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Learns nothing."""


class SegmentRules:
    """The marketer's table: the first allowed product of the customer's segment list.

    The table and the column it reads come from the world (``World.segment_rules``).
    Customers of a segment not in the table, or whose listed products are all blocked,
    get the allowed product with the highest catalog value.
    """

    name = "segment-rules"

    def __init__(
        self,
        setup: Setup,
        rules: Mapping[str, Sequence[str]] | None = None,
        column: str | None = None,
    ) -> None:
        rules = setup.world.get("segment_rules", {}) if rules is None else rules
        column = setup.world.get("segment_column", "segment") if column is None else column
        ids = list(setup.catalog.product_ids)
        self.column = column
        self.rank: dict[str, np.ndarray] = {}
        for seg, order in rules.items():
            rank = np.zeros(len(ids))
            for i, pid in enumerate(order):
                if pid in ids:
                    rank[ids.index(pid)] = len(order) - i
            self.rank[seg] = rank
        self.fallback = np.array([p.value.amount for p in setup.catalog.products]) * 1e-9

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """Apply the table."""
        seg = customers[self.column].astype(str).to_numpy()
        score = np.tile(self.fallback, (len(seg), 1))
        for name, rank in self.rank.items():
            score[seg == name] += rank
        action = _first_allowed(score, eligible)
        return Offers(action, np.ones(len(action)), np.zeros(len(action), dtype=bool))

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Learns nothing."""


class PropensityGreedy:
    """Today's practice: the allowed product with the highest propensity × value.

    Without a propensity model the catalog's base rates stand in for the scores.
    """

    name = "propensity-greedy"

    def __init__(self, setup: Setup) -> None:
        spec = setup.feature_spec
        self.columns = (
            [spec.propensity.format(product=p) for p in setup.catalog.product_ids]
            if spec.propensity is not None
            else None
        )
        self.base = np.array([p.base_rate for p in setup.catalog.products])
        self.value = np.array([p.value.amount for p in setup.catalog.products])

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """Rank by the bank's propensity score times the product's value."""
        if self.columns is None:
            p = np.tile(self.base, (len(customers), 1))
        else:
            p = customers[self.columns].to_numpy(dtype=np.float64, na_value=0.0)
        action = _first_allowed(p * self.value, eligible)
        return Offers(action, np.ones(len(action)), np.zeros(len(action), dtype=bool))

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Learns nothing."""


class Oracle:
    """The limit: the allowed action with the highest true expected reward (or none)."""

    name = "oracle"

    def __init__(self, setup: Setup) -> None:
        self.true_values = setup.true_values

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """Offer what truly pays most, when anything pays at all."""
        ev = self.true_values(customers, at)
        action = _first_allowed(ev, eligible)
        best = np.take_along_axis(ev, np.maximum(action, 0)[:, None], axis=1)[:, 0]
        action = np.where((action >= 0) & (best > 0), action, -1)
        return Offers(action, np.ones(len(action)), np.zeros(len(action), dtype=bool))

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Needs nothing."""


class NoOffer:
    """The control arm: nobody gets an offer (organic uptake only)."""

    name = "no-offer"

    def __init__(self, setup: Setup) -> None:
        pass

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """Offer nothing."""
        n = len(customers)
        return Offers(np.full(n, -1, dtype=np.int64), np.ones(n), np.zeros(n, dtype=bool))

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Learns nothing."""
