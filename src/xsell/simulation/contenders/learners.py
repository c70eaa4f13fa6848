"""Simple learners a marketing team writes itself, as peers of xsell's agents.

``EpsilonGreedyValue`` is seed 003's *EpsilonRingtail*: per customer segment, the running
mean reward (ΔCLV net of opt-out and contact costs) of each action; it offers the best
one, except with probability epsilon a uniformly random allowed one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform
from xsell.errors import InputError
from xsell.simulation.contenders.base import Offers, Setup

__all__ = ["EpsilonGreedyValue"]


class EpsilonGreedyValue:
    """Epsilon-greedy on the mean observed reward per (segment, action).

    Each estimate starts at the catalog's expected value (base rate × value) with the
    weight of ``prior_weight`` outcomes and moves to the mean reward seen. When
    exploiting, the best allowed action is offered if its estimate is positive ("no
    offer" is worth 0); when exploring (probability ``epsilon``, keyed by customer and
    time), a uniformly random allowed action.

    Parameters
    ----------
    setup
        The world and seed.
    epsilon
        Exploration rate, in [0, 1].
    column
        Segment column (default: the world's ``segment_column`` when the customers have
        it, else one segment for all).
    prior_weight
        Pseudo-outcomes behind each starting estimate (> 0).

    Examples
    --------
    >>> from xsell.simulation import run_contender
    >>> from xsell.simulation.worlds import TelecomWorld
    >>> result = run_contender(TelecomWorld(seed=1, customers=200, days=3), EpsilonGreedyValue)
    >>> int(result["offers"].sum()) > 0
    True
    """

    name = "epsilon-greedy-value"

    def __init__(
        self,
        setup: Setup,
        *,
        epsilon: float = 0.1,
        column: str | None = None,
        prior_weight: float = 1.0,
    ) -> None:
        if not 0 <= epsilon <= 1:
            raise InputError(f"`epsilon` must be in [0, 1], got {epsilon!r}")
        if not prior_weight > 0:
            raise InputError(f"`prior_weight` must be > 0, got {prior_weight!r}")
        column = setup.world.get("segment_column") if column is None else column
        self.column = column if column in setup.reference.columns else None
        levels = (
            sorted(setup.reference[self.column].astype(str).unique()) if self.column else ["all"]
        )
        self.levels = pd.Index(levels)
        prior = np.array([p.base_rate * p.value.amount for p in setup.catalog.products])
        self.count = np.full((len(levels) + 1, len(prior)), float(prior_weight))
        self.total = self.count * prior
        self.epsilon = float(epsilon)
        self.seed = setup.seed
        self.id_col = setup.feature_spec.customer_id

    def _group(self, customers: pd.DataFrame) -> np.ndarray:
        """Row of each customer's segment; unseen segments share the last row."""
        if self.column is None:
            return np.zeros(len(customers), dtype=np.int64)
        g = self.levels.get_indexer(pd.Index(customers[self.column].astype(str)))
        return np.where(g >= 0, g, len(self.levels))

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """The best allowed action by mean reward, or a random one with probability epsilon."""
        n = len(customers)
        est = (self.total / self.count)[self._group(customers)]
        masked = np.where(eligible, est, -np.inf)
        best = masked.argmax(axis=1)
        count = eligible.sum(axis=1)
        greedy = np.where((count > 0) & (masked[np.arange(n), best] > 0), best, -1)
        keys = hash_keys(customers[self.id_col].astype(str).to_numpy(), at.value, "eps-value")
        explore = (keyed_uniform(self.seed, keys, 0) < self.epsilon) & (count > 0)
        pick = np.minimum(
            (keyed_uniform(self.seed, keys, 1) * count).astype(np.int64), np.maximum(count - 1, 0)
        )
        hit = eligible & ((np.cumsum(eligible, axis=1) - 1) == pick[:, None])
        action = np.where(explore, hit.argmax(axis=1), greedy)
        return Offers(action.astype(np.int64), None, explore & (action != greedy))

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Add each outcome's reward to its (segment, action) mean."""
        g = self._group(feedback)
        k = feedback["product_index"].to_numpy(dtype=np.int64)
        np.add.at(self.count, (g, k), 1.0)
        np.add.at(self.total, (g, k), feedback["reward"].to_numpy(dtype=np.float64))
