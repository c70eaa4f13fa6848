"""Seed 002's email world: five subject lines, 10,000 sends, no context, immediate feedback.

Every recipient gets one email; the only choice is its subject line. Each subject line
has a fixed true open-to-conversion rate, drawn once per seed; nothing about the
recipient changes it, so the best policy is to find the best line and send it. This is
the textbook multi-armed bandit a bandit should beat a uniform A/B split on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform
from xsell.catalog.product import Catalog
from xsell.errors import InputError
from xsell.features.spec import FeatureSpec
from xsell.simulation.worlds.base import Step, Truth, World, WorldSpec

__all__ = ["EMAIL_DEFAULTS", "EmailWorld"]

#: version of the email world's specification; bump it on any change of the truth below
EMAIL_VERSION = "1"

#: the email world's parameters (every one is part of the versioned spec)
EMAIL_DEFAULTS: dict[str, Any] = {
    "arms": 5,
    "sends": 10_000,
    "batch": 100,  # sends per step; every outcome is known before the next batch
    "rate_low": 0.02,  # true rates are uniform on [rate_low, rate_high], drawn per seed
    "rate_high": 0.12,
    "start": "2026-01-05T09:00:00Z",
}

#: hours between two batches; the observation window is half of it
_STEP_HOURS = 1.0


class EmailWorld(World):
    """Seed 002: ``sends`` emails in batches of ``batch``, one of ``arms`` subject lines each.

    The true conversion rate of subject line k is ``rate_low + (rate_high - rate_low) * u_k``
    with ``u_k`` a keyed uniform of (seed, k): uniform on ``[rate_low, rate_high]``
    (default [0.02, 0.12]) and fixed for the whole run. Recipients have only an id; a
    conversion is worth 1; there are no opt-outs, caps or organic conversions. Batches go
    out an hour apart and every conversion happens within minutes (a 30-minute window),
    so each outcome is known before the next batch: feedback is immediate.

    Examples
    --------
    >>> world = EmailWorld(seed=1)
    >>> world.rates.round(3).tolist() == EmailWorld(seed=1).rates.round(3).tolist()
    True
    >>> steps = list(world.steps())
    >>> len(steps), sum(len(s.rows) for s in steps)
    (100, 10000)
    >>> bool(((world.rates >= 0.02) & (world.rates <= 0.12)).all())
    True
    """

    def __init__(self, seed: int = 0, **params: Any) -> None:
        unknown = sorted(set(params) - set(EMAIL_DEFAULTS))
        if unknown:
            raise InputError(
                f"unknown email world parameter(s) {unknown}; known: {sorted(EMAIL_DEFAULTS)}"
            )
        p = {**EMAIL_DEFAULTS, **params}
        for name in ("arms", "sends", "batch"):
            if not isinstance(p[name], int) or isinstance(p[name], bool) or p[name] < 1:
                raise InputError(f"`{name}` must be a positive integer, got {p[name]!r}")
        for name in ("rate_low", "rate_high"):
            if not isinstance(p[name], int | float) or not 0 <= p[name] <= 1:
                raise InputError(f"`{name}` must be a probability in [0, 1], got {p[name]!r}")
        if p["rate_low"] > p["rate_high"]:
            raise InputError(
                f"`rate_low` ({p['rate_low']}) must not exceed `rate_high` ({p['rate_high']})"
            )
        self.seed = int(seed)
        self.params = p
        self.spec = WorldSpec("email", EMAIL_VERSION, p)
        ids = [f"subject_{k + 1}" for k in range(p["arms"])]
        u = keyed_uniform(self.seed, hash_keys(np.asarray(ids, dtype=object), "email-rate"), 0)
        #: the true conversion rate of each subject line
        self.rates = p["rate_low"] + (p["rate_high"] - p["rate_low"]) * u
        self.catalog = _catalog(ids, float(np.mean([p["rate_low"], p["rate_high"]])))
        self.feature_spec = FeatureSpec(customer_id="customer_id", propensity=None, consent=None)
        self.start = pd.Timestamp(p["start"])
        self.execution_delay = {"email": pd.Timedelta(0)}
        # mean minutes to convert: P(later than the 30-minute window) = exp(-30)
        self.response_delay_days = {"email": 1.0 / (24 * 60)}
        self.fatigue = 0.0
        self.segment_rules = {}
        self._population: pd.DataFrame | None = None

    def population(self) -> pd.DataFrame:
        """One recipient per send: an id and (false) owned flags, nothing else."""
        if self._population is None:
            n = self.params["sends"]
            df = pd.DataFrame({"customer_id": [f"r{i:06d}" for i in range(n)]})
            for prod in self.catalog.products:
                df[prod.owned_col] = np.zeros(n, dtype=bool)
            self._population = df
        return self._population

    def steps(self) -> Iterator[Step]:
        """Consecutive batches of recipients, an hour apart."""
        n, batch = self.params["sends"], self.params["batch"]
        for i, lo in enumerate(range(0, n, batch)):
            at = self.start + pd.Timedelta(hours=_STEP_HOURS * i)
            yield Step(i, at, np.arange(lo, min(lo + batch, n)))

    def observe(self, customers: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
        """Nothing changes: there is no context."""
        return customers

    def truth(self, customers: pd.DataFrame, at: pd.Timestamp) -> Truth:
        """The same rates for every recipient; no organic conversions, no opt-outs."""
        shape = (len(customers), len(self.rates))
        zeros = np.zeros(shape)
        return Truth(
            convert=np.broadcast_to(self.rates, shape),
            organic=zeros,
            opt_out=zeros,
            value=np.ones(shape),
        )

    def window(self) -> np.ndarray:
        """Half the time between batches: every outcome is known before the next one."""
        return np.full(len(self.catalog.products), _STEP_HOURS / 48.0)


def _catalog(ids: list[str], base_rate: float) -> Catalog:
    """Subject lines as products: value 1, email only, no caps, no cool-off."""
    return Catalog.from_dict(
        {
            "name": "email_subject_lines",
            "version": EMAIL_VERSION,
            "contact_policy": {"max_offers": 1_000_000, "period_days": 1},
            "products": [
                {
                    "id": pid,
                    "name": f"Subject line {k + 1}",
                    "category": "subject_line",
                    "value": {"amount": 1.0, "currency": "EUR"},
                    "channels": {"realtime": "email", "batch": "email"},
                    "base_rate": base_rate,
                }
                for k, pid in enumerate(ids)
            ],
        }
    )
