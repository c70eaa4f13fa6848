"""Named scenarios and contenders: what ``xsell simulate`` can run, by name.

A scenario is a world class with fixed parameters (its versioned specification) and the
contenders it is meant to compare; a contender name maps to a factory that builds it from
a :class:`~xsell.simulation.contenders.Setup`. Both registries hold plain, importable
callables, so runs can be spread over worker processes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from xsell.errors import InputError
from xsell.policies.greedy import EpsilonGreedy, Greedy
from xsell.policies.thompson import ThompsonSampling
from xsell.policies.ucb import UCB
from xsell.simulation.contenders.agents import XsellAgent
from xsell.simulation.contenders.base import ContenderFactory
from xsell.simulation.contenders.baselines import (
    NoOffer,
    Oracle,
    PropensityGreedy,
    RandomOffer,
    SegmentRules,
)
from xsell.simulation.contenders.learners import EpsilonGreedyValue
from xsell.simulation.contenders.peers import MABWiserBandit, VowpalWabbitBandit
from xsell.simulation.worlds.bank import BankWorld
from xsell.simulation.worlds.base import World
from xsell.simulation.worlds.email import EmailWorld
from xsell.simulation.worlds.telecom import TelecomWorld

__all__ = ["CONTENDERS", "SCENARIOS", "Scenario", "get_scenario", "resolve_contenders"]

#: seeds below this number may be used for tuning; reported runs use seeds at or above it
FIRST_REPORT_SEED = 1001


@dataclass(frozen=True)
class Scenario:
    """A world with fixed parameters and the contenders it compares by default.

    ``size_param`` is the world parameter that ``--customers`` sets (``None``: fixed).
    """

    name: str
    description: str
    world: Callable[..., World]
    params: Mapping[str, Any] = field(default_factory=dict)
    contenders: tuple[str, ...] = ()
    size_param: str | None = "customers"

    def make_world(self, seed: int, **overrides: Any) -> World:
        """The world drawn with ``seed`` from this scenario's specification."""
        return self.world(seed=seed, **{**self.params, **overrides})


def _agent(name: str, **params: Any) -> ContenderFactory:
    return partial(XsellAgent, name=name, **params)


#: contenders by name (xsell's own agents, the reference policies, the open-source peers)
CONTENDERS: dict[str, tuple[ContenderFactory, str]] = {
    "oracle": (Oracle, "knows the true probabilities (the limit)"),
    "random": (RandomOffer, "A/B: uniform over the allowed products"),
    "segment-rules": (SegmentRules, "the marketer's segment-to-product table"),
    "propensity-greedy": (PropensityGreedy, "today's practice: highest propensity x value"),
    "no-offer": (NoOffer, "control arm: nobody gets an offer"),
    "xsell": (_agent("xsell"), "xsell's default: Thompson sampling, Bayesian logistic model"),
    "greedy": (_agent("greedy", policy=Greedy()), "Bayesian logistic model, always its best guess"),
    "epsilon-greedy": (
        _agent("epsilon-greedy", model="sgd", policy=EpsilonGreedy()),
        "seed 000's agent: SGD logistic oracle, epsilon 0.1 decaying to 0.02",
    ),
    "ucb": (_agent("ucb", policy=UCB()), "UCB on the Bayesian logistic model's logit"),
    "linucb": (_agent("linucb", model="ridge", policy=UCB()), "LinUCB: ridge model, UCB"),
    "thompson-full": (
        _agent("thompson-full", policy=ThompsonSampling(posterior_scale=1.0)),
        "Thompson sampling on the full posterior (scale 1)",
    ),
    "lin-thompson": (
        _agent("lin-thompson", model="ridge", policy=ThompsonSampling()),
        "linear Thompson sampling: ridge model",
    ),
    "beta-thompson": (
        _agent(
            "beta-thompson", model="beta_bernoulli", policy=ThompsonSampling(posterior_scale=1.0)
        ),
        "context-free Thompson sampling on Beta-Bernoulli arms",
    ),
    # the peers import their library only when built (pip install 'xsell[peers]')
    "vw-squarecb": (
        partial(VowpalWabbitBandit, exploration="squarecb"),
        "Vowpal Wabbit --cb_explore_adf --squarecb (open-source peer)",
    ),
    "vw-epsilon": (
        partial(VowpalWabbitBandit, exploration="epsilon"),
        "Vowpal Wabbit --cb_explore_adf --epsilon (open-source peer)",
    ),
    "mabwiser-linucb": (
        partial(MABWiserBandit, policy="linucb"),
        "MABWiser LinUCB, one ridge model per product (open-source peer)",
    ),
    "mabwiser-lints": (
        partial(MABWiserBandit, policy="lints"),
        "MABWiser LinTS, linear Thompson sampling (open-source peer)",
    ),
    "beta-ucb": (
        _agent("beta-ucb", model="beta_bernoulli", policy=UCB()),
        "context-free UCB on Beta-Bernoulli arms (one standard deviation on the logit)",
    ),
    "epsilon-greedy-ctx-free": (
        _agent(
            "epsilon-greedy-ctx-free",
            model="beta_bernoulli",
            policy=EpsilonGreedy(epsilon=0.1, decay_outcomes=0, floor=0.1),
        ),
        "seed 002's agent: epsilon-greedy (fixed 0.1) on each arm's mean conversion rate",
    ),
    "epsilon-greedy-value": (
        EpsilonGreedyValue,
        "seed 003's EpsilonRingtail: epsilon-greedy on the mean reward per segment and action",
    ),
}

_BANK_CONTENDERS = (
    "oracle",
    "xsell",
    "propensity-greedy",
    "epsilon-greedy",
    "linucb",
    "thompson-full",
    "segment-rules",
    "random",
    "no-offer",
    "vw-squarecb",
    "vw-epsilon",
    "mabwiser-linucb",
    "mabwiser-lints",
)

#: scenarios by name
SCENARIOS: dict[str, Scenario] = {
    "bank": Scenario(
        "bank",
        "bank cross-sell, stable market, with the bank's propensity model",
        BankWorld,
        {},
        _BANK_CONTENDERS,
    ),
    "bank-cold": Scenario(
        "bank-cold",
        "bank cross-sell without any propensity model (true cold start)",
        BankWorld,
        {"propensity": False},
        _BANK_CONTENDERS,
    ),
    "bank-drift": Scenario(
        "bank-drift",
        "bank cross-sell; FX volatility jumps half-way, FX products become wanted",
        BankWorld,
        {"drift_day": 30},
        _BANK_CONTENDERS,
    ),
    "bank-free": Scenario(
        "bank-free",
        "bank cross-sell without caps, cool-off, contact limit or opt-outs",
        BankWorld,
        {"contact_rules": False},
        _BANK_CONTENDERS,
    ),
    "email": Scenario(
        "email",
        "seed 002: five email subject lines, 10,000 sends, no context, immediate feedback",
        EmailWorld,
        {},
        ("oracle", "epsilon-greedy-ctx-free", "beta-thompson", "beta-ucb", "random"),
        size_param="sends",
    ),
    "telecom": Scenario(
        "telecom",
        "seed 003: events trigger a next-best action; delays, cool-offs, reward is ΔCLV",
        TelecomWorld,
        {},
        (
            "oracle",
            "xsell",
            "beta-thompson",
            "epsilon-greedy-value",
            "segment-rules",
            "random",
        ),
    ),
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``, or a clear error listing the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise InputError(f"unknown scenario {name!r}; known: {sorted(SCENARIOS)}") from None


def resolve_contenders(names: list[str] | tuple[str, ...]) -> dict[str, ContenderFactory]:
    """Factories for the named contenders, or a clear error naming an unknown one."""
    out: dict[str, ContenderFactory] = {}
    for name in names:
        if name not in CONTENDERS:
            raise InputError(f"unknown contender {name!r}; known: {sorted(CONTENDERS)}")
        out[name] = CONTENDERS[name][0]
    return out
