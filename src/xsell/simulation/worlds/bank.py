"""The bank cross-sell world: the sample bank's customers visiting over weeks, under a market that moves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform
from xsell.catalog.product import Catalog
from xsell.errors import InputError
from xsell.simulation.bank import SampleBank, sample_feature_spec
from xsell.simulation.worlds.base import Step, Truth, World, WorldSpec

__all__ = ["BANK_DEFAULTS", "BANK_SEGMENT_RULES", "BankWorld"]

#: version of the bank world's specification; bump it on any change of the truth below
BANK_VERSION = "1"

#: the bank world's parameters (every one is part of the versioned spec)
BANK_DEFAULTS: dict[str, Any] = {
    "customers": 50_000,
    "days": 60,
    "visits_per_customer": 2.0,
    "start": "2026-01-05T09:00:00Z",
    # the market: FX volatility (standardized) before and after the regime change
    "fx_before": 0.0,
    "fx_after": 2.0,
    "drift_day": None,  # None: the market never moves
    "propensity": True,  # False: the bank has no propensity model (true cold start)
    "wrong_products": ("travel_insurance",),
    "propensity_noise": 0.6,
    "organic_share": 0.15,  # P(buy without an offer) as a share of P(buy when offered)
    "window_days": 14.0,
    "opt_out_rate": 0.004,  # P(opt-out) of one offer to a customer not contacted lately
    "fatigue": 0.75,  # opt-out risk grows by this factor per contact in the last 30 days
    "contact_rules": True,  # False: no caps, cool-off, contact limit or opt-outs
}

#: a marketer's table for the sample bank: products to push per segment, in order
BANK_SEGMENT_RULES: dict[str, tuple[str, ...]] = {
    "student": ("multi_currency_account", "savings_account", "travel_insurance"),
    "young_professional": ("travel_credit_card", "personal_loan", "savings_account"),
    "family": ("mortgage", "personal_loan", "travel_insurance", "savings_account"),
    "affluent": ("investment_fund", "travel_credit_card", "savings_account"),
    "traveller": (
        "travel_credit_card",
        "multi_currency_account",
        "forex_account",
        "travel_insurance",
    ),
    "retired": ("savings_account", "investment_fund", "travel_insurance"),
}


#: mean days from contact to conversion, per channel
RESPONSE_DELAY_DAYS = {"app": 1.0, "web": 1.0, "email": 3.0, "sms": 2.0}


class BankWorld(World):
    """Sample-bank customers who visit the app on random days; one decision per visit.

    Each customer visits on about ``visits_per_customer`` of ``days`` days (more often when
    digitally active). The truth is the sample bank's (interactions included: who wants a
    travel card, a mortgage, a forex account) plus organic uptake, delayed responses, and
    opt-outs that grow with contact fatigue. The market's FX volatility jumps from
    ``fx_before`` to ``fx_after`` on ``drift_day``, which makes FX products more wanted;
    the bank's propensity model was trained before and never sees it.

    Examples
    --------
    >>> world = BankWorld(seed=3, customers=500, days=10)
    >>> steps = list(world.steps())
    >>> len(steps), sum(len(s.rows) for s in steps) > 0
    (10, True)
    >>> world.truth(world.population().iloc[:5], steps[0].at).convert.shape
    (5, 8)
    """

    def __init__(self, seed: int = 0, **params: Any) -> None:
        unknown = sorted(set(params) - set(BANK_DEFAULTS))
        if unknown:
            raise InputError(
                f"unknown bank world parameter(s) {unknown}; known: {sorted(BANK_DEFAULTS)}"
            )
        p = {**BANK_DEFAULTS, **params}
        p["wrong_products"] = tuple(p["wrong_products"])
        for name in ("customers", "days"):
            if not isinstance(p[name], int) or p[name] < 1:
                raise InputError(f"`{name}` must be a positive integer, got {p[name]!r}")
        for name in ("visits_per_customer", "window_days"):
            if not p[name] > 0:
                raise InputError(f"`{name}` must be positive, got {p[name]!r}")
        if p["drift_day"] is not None and not 0 <= p["drift_day"] < p["days"]:
            raise InputError(f"`drift_day` must be within 0..days-1, got {p['drift_day']!r}")
        self.seed = int(seed)
        self.params = p
        self.spec = WorldSpec("bank", BANK_VERSION, p)
        self.catalog = _catalog(p["contact_rules"])
        spec = sample_feature_spec()
        self.feature_spec = spec if p["propensity"] else replace(spec, propensity=None)
        self.bank = SampleBank(
            seed=self.seed,
            catalog=self.catalog,
            wrong_products=p["wrong_products"],
            propensity_noise=p["propensity_noise"],
            fx_volatility=p["fx_before"],
        )
        self.start = pd.Timestamp(p["start"])
        self.response_delay_days = RESPONSE_DELAY_DAYS
        self.fatigue = float(p["fatigue"]) if p["contact_rules"] else 0.0
        self.segment_rules = BANK_SEGMENT_RULES
        self._population: pd.DataFrame | None = None

    def population(self) -> pd.DataFrame:
        """All customers at the start of the run (propensity columns dropped without a model)."""
        if self._population is None:
            df = self.bank.customers(self.params["customers"])
            if not self.params["propensity"]:
                df = df.drop(columns=[c for c in df.columns if c.startswith("propensity_")])
            self._population = df
        return self._population

    def fx_at(self, at: pd.Timestamp) -> float:
        """The market's FX volatility at ``at``."""
        drift = self.params["drift_day"]
        if drift is not None and at >= self.start + pd.Timedelta(days=drift):
            return float(self.params["fx_after"])
        return float(self.params["fx_before"])

    def steps(self) -> Iterator[Step]:
        """One step a day; each customer comes on a day with a probability set by activity."""
        pop = self.population()
        logins = pop["digital_logins_30d"].to_numpy(dtype=np.float64)
        weight = np.clip((1 + logins) / np.mean(1 + logins), 0.25, 4.0)
        p = np.minimum(1.0, self.params["visits_per_customer"] * weight / self.params["days"])
        keys = hash_keys(pop["customer_id"].to_numpy(), "visit")
        for d in range(self.params["days"]):
            u = keyed_uniform(self.seed, keys, d)
            yield Step(d, self.start + pd.Timedelta(days=d), np.flatnonzero(u < p))

    def observe(self, customers: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
        """The customers with today's market indicator."""
        return customers.assign(fx_volatility=self.fx_at(at))

    def truth(self, customers: pd.DataFrame, at: pd.Timestamp) -> Truth:
        """The sample bank's true response, plus organic uptake and opt-out risk."""
        convert = self.bank.true_probabilities(customers)
        K = convert.shape[1]
        if self.params["contact_rules"]:
            rate = np.array(
                [
                    self.params["opt_out_rate"]
                    * (2.0 if p.channels["realtime"] in ("email", "sms") else 1.0)
                    for p in self.catalog.products
                ]
            )
        else:
            rate = np.zeros(K)
        value = np.broadcast_to(
            np.array([p.value.amount for p in self.catalog.products]), convert.shape
        )
        return Truth(
            convert=convert,
            organic=self.params["organic_share"] * convert,
            opt_out=np.broadcast_to(rate, convert.shape),
            value=value,
        )

    def window(self) -> np.ndarray:
        """The same observation window for every product."""
        return np.full(len(self.catalog.products), float(self.params["window_days"]))


def _catalog(contact_rules: bool) -> Catalog:
    catalog = Catalog.sample()
    if contact_rules:
        return catalog
    data = catalog.to_dict()
    data["contact_policy"] = {"max_offers": 10_000, "period_days": 30}
    data["contact_costs"] = {}
    products: list[dict[str, object]] = data["products"]  # type: ignore[assignment]
    for prod in products:
        prod["cool_off_days"] = 0.0
        prod["frequency_cap"] = None
        prod["opt_out_cost"] = 0.0
    return Catalog.from_dict(data)
