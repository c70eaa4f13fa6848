"""Seed 003's telecom world: customer events trigger a next-best action; reward is ΔCLV.

A customer's event (a service-desk call, a website visit, an app session, a shop visit)
asks for a next-best action. The action is queued on its channel and executed later (an
outbound call takes 30 hours); from then on the customer is awaiting a response and is
not contacted again until they respond or the action's cool-off passes, which gives a
null outcome. The reward is the change in the customer's lifetime value, which may be
negative: a retention discount accepted by a customer who would have stayed anyway only
costs money. An annoying contact can make a customer churn (the opt-out), which loses
the catalog's average lifetime value (``opt_out_cost``); the arena then never contacts
them through that channel again.

The catalog's value of each action is the marketer's average ΔCLV estimate; the truth
differs per customer (it depends on spend and on the hidden churn risk) and on average
(a loyalty bonus loses money on most customers, a contract renewal earns more than
estimated on Gold customers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtri

from xsell._rng import hash_keys, keyed_uniform
from xsell.catalog.product import Catalog
from xsell.errors import InputError
from xsell.features.spec import FeatureSpec
from xsell.simulation.worlds.base import Step, Truth, World, WorldSpec

__all__ = [
    "TELECOM_DEFAULTS",
    "TELECOM_SEGMENT_RULES",
    "TelecomTruth",
    "TelecomWorld",
    "telecom_catalog",
]

#: version of the telecom world's specification; bump it on any change of the truth below
TELECOM_VERSION = "1"

#: the telecom world's parameters (every one is part of the versioned spec)
TELECOM_DEFAULTS: dict[str, Any] = {
    "customers": 5_000,
    "days": 42,
    "step_hours": 6,  # one decision round per this many hours
    "events_per_customer": 4.0,  # expected trigger events per customer over the run
    "opt_out_scale": 1.0,  # multiplies every channel's churn-on-contact probability
    "fatigue": 0.5,
    "start": "2026-01-05T08:00:00Z",
}

EVENTS = ("service_call", "web_visit", "app_session", "shop_visit")
PLANS = ("basic", "standard", "unlimited")
CONTRACTS = ("monthly", "12m", "24m")

#: (id, channel, marketer's ΔCLV estimate, cool-off days, base rate) per action
ACTIONS = (
    ("upgrade_offer", "outbound_call", 100.0, 14.0, 0.06),
    ("retention_discount", "email", 60.0, 10.0, 0.08),
    ("data_addon", "sms", 40.0, 7.0, 0.05),
    ("loyalty_bonus", "app", 30.0, 5.0, 0.25),
    ("contract_renewal", "outbound_call", 150.0, 21.0, 0.05),
)

#: when a queued action is carried out, per channel
EXECUTION_DELAY = {
    "outbound_call": pd.Timedelta(hours=30),
    "email": pd.Timedelta(hours=4),
    "sms": pd.Timedelta(0),
    "app": pd.Timedelta(0),
}

#: mean days from contact to response, per channel
RESPONSE_DELAY_DAYS = {"outbound_call": 0.5, "email": 2.0, "sms": 1.0, "app": 0.5}

#: P(an annoying contact makes the customer churn), per channel, at churn risk 0.25
OPT_OUT = {"outbound_call": 0.01, "email": 0.003, "sms": 0.005, "app": 0.002}

#: the marketer's hand-made tier table: tier -> actions to push, in order
TELECOM_SEGMENT_RULES: dict[str, tuple[str, ...]] = {
    "Gold": ("loyalty_bonus", "upgrade_offer", "contract_renewal"),
    "Silver": ("upgrade_offer", "data_addon", "retention_discount"),
    "Bronze": ("retention_discount", "data_addon"),
}


@dataclass(frozen=True, slots=True)
class TelecomTruth(Truth):
    """:class:`Truth` plus what a conversion's ΔCLV is made of.

    The ΔCLV of customer i accepting action k is ``base[i, k] + churner[i, k] * w`` with
    ``w`` = 1 if the customer would have churned within the year, else 0; ``churn`` (n,)
    is the probability of that, so ``value = base + churner * churn``.
    """

    base: np.ndarray
    churner: np.ndarray
    churn: np.ndarray


class TelecomWorld(World):
    """Seed 003: mobile customers whose events trigger a next-best action; reward is ΔCLV.

    Customers have a tenure, a monthly spend, a plan, a data usage, a contract, a tier
    (Gold from 60 EUR a month, Silver from 35, else Bronze) and the bank's noisy churn
    score; their true churn probability also depends on a hidden trait. Each customer has
    about ``events_per_customer`` events over ``days`` days (customers at risk call the
    service desk more); each event is a decision. The five actions, their channels,
    execution delays and cool-offs are in :data:`ACTIONS` and :data:`EXECUTION_DELAY`. A
    customer awaiting the response to an action is not eligible for any other
    (the catalog's ``awaiting_response`` rule).

    Examples
    --------
    >>> world = TelecomWorld(seed=2, customers=300, days=7)
    >>> steps = list(world.steps())
    >>> len(steps), sum(len(s.rows) for s in steps) > 0
    (28, True)
    >>> world.population()["tier"].isin(["Gold", "Silver", "Bronze"]).all()
    np.True_
    >>> customers = world.observe(world.population().iloc[:4], steps[0].at)
    >>> world.truth(customers, steps[0].at).value.shape
    (4, 5)
    """

    def __init__(self, seed: int = 0, **params: Any) -> None:
        unknown = sorted(set(params) - set(TELECOM_DEFAULTS))
        if unknown:
            raise InputError(
                f"unknown telecom world parameter(s) {unknown}; known: {sorted(TELECOM_DEFAULTS)}"
            )
        p = {**TELECOM_DEFAULTS, **params}
        for name in ("customers", "days", "step_hours"):
            if not isinstance(p[name], int) or isinstance(p[name], bool) or p[name] < 1:
                raise InputError(f"`{name}` must be a positive integer, got {p[name]!r}")
        if p["step_hours"] > 24 or 24 % p["step_hours"]:
            raise InputError(f"`step_hours` must divide 24, got {p['step_hours']!r}")
        for name in ("events_per_customer", "opt_out_scale", "fatigue"):
            if not isinstance(p[name], int | float) or isinstance(p[name], bool):
                raise InputError(f"`{name}` must be a number, got {p[name]!r}")
        if not p["events_per_customer"] > 0:
            raise InputError(f"`events_per_customer` must be > 0, got {p['events_per_customer']}")
        for name in ("opt_out_scale", "fatigue"):
            if not p[name] >= 0:
                raise InputError(f"`{name}` must be >= 0, got {p[name]!r}")
        self.seed = int(seed)
        self.params = p
        self.spec = WorldSpec("telecom", TELECOM_VERSION, p)
        self.catalog = telecom_catalog()
        self.feature_spec = FeatureSpec(
            customer_id="customer_id",
            numeric=("tenure_months", "monthly_spend", "data_usage_gb", "churn_score"),
            categorical=("plan", "contract", "tier", "event"),
            propensity=None,
            consent="consent_{channel}",
        )
        self.start = pd.Timestamp(p["start"])
        self.execution_delay = EXECUTION_DELAY
        self.response_delay_days = RESPONSE_DELAY_DAYS
        self.fatigue = float(p["fatigue"])
        self.segment_rules = TELECOM_SEGMENT_RULES
        self.segment_column = "tier"
        self._population: pd.DataFrame | None = None

    def _u(self, ids: np.ndarray, *key: str | int) -> np.ndarray:
        """Keyed uniforms, one per customer, for what ``key`` names."""
        return keyed_uniform(self.seed, hash_keys(ids, *key), 0)

    def _churn(self, customers: pd.DataFrame) -> np.ndarray:
        """True probability of churning within a year (a hidden trait included)."""
        ids = customers["customer_id"].to_numpy(dtype=object)
        hidden = ndtri(np.clip(self._u(ids, "hidden"), 1e-9, 1 - 1e-9))
        contract = customers["contract"].to_numpy(dtype=object)
        z = (
            -1.4
            + 1.0 * (contract == "monthly")
            - 0.6 * (contract == "24m")
            - 0.5 * np.log(customers["tenure_months"].to_numpy(dtype=np.float64) / 12.0)
            + 0.3 * (customers["plan"].to_numpy(dtype=object) == "basic")
            + 0.8 * hidden
        )
        return np.asarray(expit(z))

    def population(self) -> pd.DataFrame:
        """Every customer as the operator's data shows them (the true churn stays hidden)."""
        if self._population is not None:
            return self._population
        n = self.params["customers"]
        ids = np.array([f"t{i:07d}" for i in range(n)], dtype=object)
        u = np.column_stack([self._u(ids, "customer", j) for j in range(10)])
        tenure = np.clip(np.ceil(-np.log1p(-u[:, 0]) * 30.0), 1, 120)
        spend = np.clip(40.0 * np.exp(0.45 * ndtri(np.clip(u[:, 1], 1e-9, 1 - 1e-9))), 10, 200)
        p_unl = np.clip((spend - 30.0) / 100.0, 0.05, 0.7)
        plan = np.where(u[:, 2] < p_unl, "unlimited", np.where(u[:, 2] < 0.55, "standard", "basic"))
        usage_base = np.select([plan == "basic", plan == "standard"], [3.0, 10.0], 30.0)
        usage = usage_base * np.exp(0.6 * ndtri(np.clip(u[:, 3], 1e-9, 1 - 1e-9)))
        contract = np.where(u[:, 4] < 0.45, "monthly", np.where(u[:, 4] < 0.75, "12m", "24m"))
        df = pd.DataFrame(
            {
                "customer_id": ids,
                "tenure_months": tenure,
                "monthly_spend": spend.round(2),
                "plan": plan.astype(object),
                "data_usage_gb": usage.round(2),
                "contract": contract.astype(object),
                "tier": np.select([spend >= 60, spend >= 35], ["Gold", "Silver"], "Bronze"),
            }
        )
        churn = self._churn(df)
        noise = 0.7 * ndtri(np.clip(u[:, 5], 1e-9, 1 - 1e-9))
        df["churn_score"] = expit(logit(churn) + noise).round(3)
        for j, (ch, share) in enumerate(
            (("outbound_call", 0.8), ("email", 0.9), ("sms", 0.92), ("app", 0.65))
        ):
            df[f"consent_{ch}"] = u[:, 6 + j] < share
        for prod in self.catalog.products:
            df[prod.owned_col] = np.zeros(n, dtype=bool)
        # the event that last brought each customer in, as the data shows it at the start
        df["event"] = self.observe(df, self.start - pd.Timedelta(days=1))["event"]
        self._population = df
        return df

    def steps(self) -> Iterator[Step]:
        """A round every ``step_hours``; a customer has an event in it with a keyed draw."""
        pop = self.population()
        n_steps = self.params["days"] * 24 // self.params["step_hours"]
        weight = 0.5 + 2.0 * self._churn(pop)
        rate = self.params["events_per_customer"] * weight / weight.mean() / n_steps
        p = np.minimum(1.0, rate)
        keys = hash_keys(pop["customer_id"].to_numpy(dtype=object), "event")
        hours = pd.Timedelta(hours=self.params["step_hours"])
        for s in range(n_steps):
            u = keyed_uniform(self.seed, keys, s)
            yield Step(s, self.start + s * hours, np.flatnonzero(u < p))

    def observe(self, customers: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
        """The customers with the event that brought them (customers at risk call more)."""
        ids = customers["customer_id"].to_numpy(dtype=object)
        c = self._churn(customers)
        w = np.column_stack(
            [0.1 + c, np.full_like(c, 0.4), np.full_like(c, 0.3), np.full_like(c, 0.1)]
        )
        cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
        u = self._u(ids, at.value, "event_type")
        kind = np.minimum((u[:, None] >= cum).sum(axis=1), len(EVENTS) - 1)
        return customers.assign(event=np.asarray(EVENTS, dtype=object)[kind])

    def truth(self, customers: pd.DataFrame, at: pd.Timestamp) -> TelecomTruth:
        """Acceptance probabilities, churn-on-contact risks and true mean ΔCLV per action."""
        c = self._churn(customers)
        spend = customers["monthly_spend"].to_numpy(dtype=np.float64)
        usage = customers["data_usage_gb"].to_numpy(dtype=np.float64)
        tenure = customers["tenure_months"].to_numpy(dtype=np.float64)
        event = customers["event"].to_numpy(dtype=object)
        call, web, app = event == "service_call", event == "web_visit", event == "app_session"
        convert = np.column_stack(
            [
                0.05
                * (1 + usage / 15.0)
                * np.where(call, 0.6, np.where(web, 1.3, 1.0))
                * (1 - 0.5 * c),
                (0.03 + 0.35 * c) * np.where(call, 1.6, 1.0),
                0.03 * (1 + usage / 8.0) * np.where(web, 1.3, 1.0),
                (0.22 + 0.1 * app) * np.ones_like(c),
                0.04 * (1 + np.minimum(tenure, 48.0) / 24.0) * (1 - 0.5 * c),
            ]
        )
        convert = np.clip(convert, 0.0, 0.9)
        # ΔCLV = base + churner * [customer would have churned]
        base = np.column_stack(
            [
                -10.0 + 3.6 * spend,
                -2.4 * spend,
                np.full_like(spend, 48.0),
                np.full_like(spend, -25.0),
                -60.0 + 3.0 * spend,
            ]
        )
        churner = np.column_stack(
            [-3.6 * spend, 8.4 * spend, np.full_like(spend, -48.0), 1.8 * spend, 9.6 * spend]
        )
        organic = convert * np.array([0.1, 0.0, 0.1, 0.0, 0.0])
        rate = np.array([OPT_OUT[ch] for _, ch, *_ in ACTIONS]) * self.params["opt_out_scale"]
        opt_out = np.minimum(1.0, rate * (0.5 + 2.0 * c)[:, None])
        return TelecomTruth(
            convert=convert,
            organic=organic,
            opt_out=opt_out,
            value=base + churner * c[:, None],
            base=base,
            churner=churner,
            churn=c,
        )

    def realized_value(self, truth: Truth, u: np.ndarray) -> np.ndarray:
        """ΔCLV of each conversion: whether the customer would have churned is drawn with ``u``."""
        if not isinstance(truth, TelecomTruth):
            return truth.value
        return np.asarray(truth.base + truth.churner * (u < truth.churn[:, None]))

    def window(self) -> np.ndarray:
        """Each action's cool-off: silence until it ends is the null outcome."""
        return np.array([cool for _, _, _, cool, _ in ACTIONS])


def telecom_catalog() -> Catalog:
    """The five actions, each blocked while the customer awaits a response to any action.

    Examples
    --------
    >>> telecom_catalog().product("upgrade_offer").eligibility[0].field
    'awaiting_response'
    """
    awaiting = {"field": "awaiting_response", "equals": False, "reason": "awaiting a response"}
    extra: dict[str, list[dict[str, Any]]] = {
        "upgrade_offer": [{"field": "plan", "not_in": ["unlimited"]}],
        "data_addon": [{"field": "plan", "not_in": ["unlimited"]}],
        "retention_discount": [{"field": "contract", "in": ["monthly", "12m"]}],
        "loyalty_bonus": [{"field": "tenure_months", "min": 6}],
        "contract_renewal": [{"field": "contract", "equals": "monthly"}],
    }
    return Catalog.from_dict(
        {
            "name": "telecom_nba",
            "version": TELECOM_VERSION,
            "contact_policy": {"max_offers": 4, "period_days": 30},
            "contact_costs": {"outbound_call": 4.0, "email": 0.02, "sms": 0.05, "app": 0.0},
            "products": [
                {
                    "id": pid,
                    "name": pid.replace("_", " ").capitalize(),
                    "category": "nba",
                    "value": {"amount": value, "currency": "EUR"},
                    "opt_out_cost": 500.0,  # average CLV lost when a contact makes a customer churn
                    "channels": {"realtime": channel, "batch": channel},
                    "eligibility": [awaiting, *extra[pid]],
                    "base_rate": base_rate,
                }
                for pid, channel, value, _, base_rate in ACTIONS
            ],
        }
    )
