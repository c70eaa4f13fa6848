"""What every simulated world gives the arena: customers, a schedule, and a known truth.

A world is drawn from a :class:`WorldSpec` (fixed and versioned before any policy is
tuned on it) with a seed. It never decides anything: the arena asks it who comes when,
what those customers look like to the bank, and how they truly respond, and runs every
contender against its own copy of the changing state (products owned, consents,
contacts) with the same luck.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xsell.catalog.product import Catalog
from xsell.features.spec import FeatureSpec

__all__ = ["Step", "Truth", "World", "WorldSpec"]


@dataclass(frozen=True)
class WorldSpec:
    """The fixed, versioned description of a world; a seed draws one world from it.

    Examples
    --------
    >>> spec = WorldSpec("email", "1", {"arms": 5})
    >>> spec.fingerprint == WorldSpec("email", "1", {"arms": 5}).fingerprint
    True
    >>> spec.fingerprint == WorldSpec("email", "1", {"arms": 6}).fingerprint
    False
    """

    name: str
    version: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-ready data."""
        return {"name": self.name, "version": self.version, "params": dict(self.params)}

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the spec (first 12 hex digits): any change of a parameter changes it."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Step:
    """One decision time: who comes (rows of :meth:`World.population`) and when."""

    index: int
    at: pd.Timestamp
    rows: np.ndarray


@dataclass(frozen=True, slots=True)
class Truth:
    """How customers truly respond, per (customer, product); arrays of shape (n, K).

    ``convert`` is the probability of buying product k within the observation window when
    offered k; ``organic`` the probability of buying it in that time with no offer (at most
    ``convert``: an offer never hurts uptake); ``opt_out`` the probability that an offer of
    k makes the customer withdraw consent for its channel; ``value`` the mean value of a
    conversion, which may differ from the catalog's estimate and may be negative.
    """

    convert: np.ndarray
    organic: np.ndarray
    opt_out: np.ndarray
    value: np.ndarray


class World(ABC):
    """A simulated environment with a known truth (see the module docstring).

    Subclasses set ``spec``, ``seed``, ``catalog`` and ``feature_spec`` and implement the
    abstract methods. Every random draw of a world is a pure function of its seed and of
    what is drawn (customer, time, product), so every contender meets the same luck.
    """

    spec: WorldSpec
    seed: int
    catalog: Catalog
    feature_spec: FeatureSpec
    #: when the contact made by an offer starts its observation window, per channel
    execution_delay: Mapping[str, pd.Timedelta] = {}
    #: mean conversion delay after contact, in days, per channel
    response_delay_days: Mapping[str, float] = {}
    #: opt-out probability grows by this factor per contact in the last 30 days
    fatigue: float = 0.0
    #: the marketer's hand-made table for this world: segment -> products to push, in order
    segment_rules: Mapping[str, tuple[str, ...]] = {}
    #: the customer column that table reads
    segment_column: str = "segment"

    @abstractmethod
    def population(self) -> pd.DataFrame:
        """Every customer at the start, one row each, as the bank's data shows them."""

    @abstractmethod
    def steps(self) -> Iterator[Step]:
        """The decision times and who is decided at each, in time order."""

    @abstractmethod
    def observe(self, customers: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
        """These customers as the bank sees them at ``at`` (time-varying columns set)."""

    @abstractmethod
    def truth(self, customers: pd.DataFrame, at: pd.Timestamp) -> Truth:
        """The true response of these customers (as returned by :meth:`observe`) at ``at``."""

    def window(self) -> np.ndarray:
        """Observation window per product, in days: silence after it means no conversion."""
        return np.full(len(self.catalog.products), 14.0)

    def realized_value(self, truth: Truth, u: np.ndarray) -> np.ndarray:
        """The value of each conversion given uniforms ``u`` (n, K): the mean by default."""
        return truth.value

    def info(self) -> dict[str, Any]:
        """What the report says about this world."""
        return {
            "world": self.spec.name,
            "version": self.spec.version,
            "fingerprint": self.spec.fingerprint,
            "seed": self.seed,
            "products": list(self.catalog.product_ids),
            "window_days": [float(w) for w in self.window()],
            "segment_column": self.segment_column,
            "segment_rules": {k: list(v) for k, v in self.segment_rules.items()},
        }
