"""The one small interface every policy in the arena implements.

A contender sees what a bank's decision engine would see: the customers (their features,
propensity scores, products owned, consents) and which products the guardrails allow
for each of them. It returns one action per customer and learns from feedback rows that
arrive when each decision's outcome is known (late, as in production).

Examples
--------
A policy that offers the eligible product with the highest propensity score, written
against this interface (xsell ships a fuller one as ``propensity-greedy``):

>>> import numpy as np
>>> class HighestPropensity:
...     name = "highest-propensity"
...     def __init__(self, setup):
...         self.columns = [f"propensity_{p}" for p in setup.catalog.product_ids]
...     def act(self, customers, eligible, at):
...         score = np.where(eligible, customers[self.columns].to_numpy(), -np.inf)
...         best = score.argmax(axis=1)
...         return Offers(np.where(eligible.any(axis=1), best, -1))
...     def update(self, feedback, at):
...         pass  # learns nothing
>>> from xsell.simulation import BankWorld, run_contender
>>> result = run_contender(BankWorld(seed=1, customers=300, days=5), HighestPropensity)
>>> int(result["offers"].sum()) > 0
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from xsell.catalog.product import Catalog
from xsell.features.spec import FeatureSpec
from xsell.guardrails.contact_history import ContactHistory

__all__ = ["Contender", "ContenderFactory", "Offers", "Setup"]


@dataclass(frozen=True, slots=True)
class Offers:
    """What a contender decided for n customers.

    ``action[i]`` is the index of the product offered to customer i in the catalog's
    order, or -1 for no offer. ``probability`` is the probability the policy chose that
    action with (1 for a deterministic policy; ``None`` when the policy cannot say),
    ``explored`` whether it was not the policy's current best guess, ``decision_id`` an id
    the contender wants back in its feedback (default: the arena's own).
    """

    action: np.ndarray
    probability: np.ndarray | None = None
    explored: np.ndarray | None = None
    decision_id: np.ndarray | None = None


@dataclass(frozen=True)
class Setup:
    """What a contender is built from, for one world and seed.

    ``reference`` is the customer base at the start (to fit scalers on, as a bank would
    on its customer table); ``history`` this contender's own contact history, which the
    arena keeps and the guardrails read; ``true_values`` gives the true expected reward of
    every (customer, product) and is meant for the oracle alone.
    """

    catalog: Catalog
    feature_spec: FeatureSpec
    seed: int
    reference: pd.DataFrame
    history: ContactHistory
    true_values: Callable[[pd.DataFrame, pd.Timestamp], np.ndarray]
    world: dict[str, Any]


@runtime_checkable
class Contender(Protocol):
    """A policy in the arena: ``act`` decides, ``update`` learns."""

    name: str

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        """Decide for every customer; ``eligible`` is the guardrails' (n, K) verdict."""
        ...

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        """Learn from decided offers whose outcome is now known.

        ``feedback`` has the customers' columns as they were at decision time, and
        ``decision_id, product, product_index, channel, decided_at, conversion, opt_out,
        value, reward``.
        """
        ...


#: builds a contender for one world and seed
ContenderFactory = Callable[[Setup], Contender]
