"""Greedy and epsilon-greedy policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from xsell.errors import InputError
from xsell.policies.base import (
    ActionValues,
    Policy,
    _check_unit,
    greedy_action,
    uniform_over_allowed,
)

__all__ = ["EpsilonGreedy", "Greedy"]


def _one_hot(action: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((len(action), width))
    out[np.arange(len(action)), action] = 1.0
    return out


@dataclass(frozen=True, slots=True)
class Greedy(Policy):
    """Always the action with the highest plug-in expected value (probability 1).

    Untrained, with a propensity model, this is propensity-greedy: today's practice.

    Examples
    --------
    >>> from xsell import Agent, Catalog, Greedy, make_customers, sample_feature_spec
    >>> agent = Agent(Catalog.sample(), sample_feature_spec(), policy=Greedy(), seed=1)
    >>> out = agent.act(make_customers(5, seed=1), at="2026-01-05T09:00:00Z")
    >>> out["probability"].tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """

    name: ClassVar[str] = "greedy"
    deterministic: ClassVar[bool] = True

    def probabilities(self, values: ActionValues, *, n_learned: int) -> np.ndarray:
        """All mass on the greedy action."""
        ev = values.expected_value()
        return _one_hot(greedy_action(ev), ev.shape[1])


@dataclass(frozen=True, slots=True)
class EpsilonGreedy(Policy):
    """Greedy, except with probability epsilon a uniformly random allowed action.

    ``epsilon_n = max(floor, epsilon / (1 + n_learned / decay_outcomes))``: it decays with
    the number of outcomes learned (a property of the model, so every process that holds
    the same model version explores at the same rate) and never goes below ``floor``.

    Parameters
    ----------
    epsilon
        Initial exploration rate.
    decay_outcomes
        Outcomes after which epsilon has halved; ``0`` switches decay off.
    floor
        Lowest exploration rate.

    Examples
    --------
    >>> EpsilonGreedy(epsilon=0.2, decay_outcomes=1000, floor=0.05).epsilon_at(1000)
    0.1
    """

    name: ClassVar[str] = "epsilon_greedy"

    epsilon: float = 0.1
    decay_outcomes: float = 10_000.0
    floor: float = 0.02

    def __post_init__(self) -> None:
        _check_unit("epsilon", self.epsilon)
        _check_unit("floor", self.floor)
        if self.floor > self.epsilon:
            raise InputError(f"`floor` ({self.floor}) must not exceed `epsilon` ({self.epsilon})")
        if self.decay_outcomes < 0:
            raise InputError(f"`decay_outcomes` must be >= 0, got {self.decay_outcomes}")

    def epsilon_at(self, n_learned: int) -> float:
        """Exploration rate after ``n_learned`` outcomes."""
        if self.decay_outcomes == 0:
            return self.epsilon
        return max(self.floor, self.epsilon / (1.0 + n_learned / self.decay_outcomes))

    def probabilities(self, values: ActionValues, *, n_learned: int) -> np.ndarray:
        """(1 - ε) on the greedy action plus ε spread uniformly over the allowed actions."""
        eps = self.epsilon_at(n_learned)
        ev = values.expected_value()
        return (1.0 - eps) * _one_hot(greedy_action(ev), ev.shape[1]) + eps * uniform_over_allowed(
            values.allowed()
        )
