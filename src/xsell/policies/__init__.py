"""Policies: choose among the eligible products, with the exact probability of the choice."""

from typing import Any

from xsell.errors import PersistenceError
from xsell.policies.base import ActionValues, Choice, Policy, choose, draw
from xsell.policies.greedy import EpsilonGreedy, Greedy
from xsell.policies.thompson import ThompsonSampling, win_probabilities
from xsell.policies.ucb import UCB

__all__ = [
    "UCB",
    "ActionValues",
    "Choice",
    "EpsilonGreedy",
    "Greedy",
    "Policy",
    "ThompsonSampling",
    "choose",
    "draw",
    "policy_from_dict",
    "win_probabilities",
]

_POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (Greedy, EpsilonGreedy, ThompsonSampling, UCB)
}


def policy_from_dict(data: dict[str, Any]) -> Policy:
    """Rebuild a policy from ``{"name": ..., "params": {...}}`` (as saved with an agent)."""
    name = data.get("name")
    if name not in _POLICIES:
        raise PersistenceError(f"unknown policy {name!r}; known: {sorted(_POLICIES)}")
    return _POLICIES[str(name)](**data.get("params", {}))
