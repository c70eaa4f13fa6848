"""The policy contract: a full probability distribution over the eligible actions.

Action 0 is always "no offer" (expected value 0); actions 1..K are the catalog's
products in catalog order. A policy computes, for every customer, the probability of each
action; the decision is then drawn from exactly that distribution with a keyed uniform
number, so the logged probability is the true one.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from typing import Any, ClassVar

import numpy as np

from xsell.errors import InputError
from xsell.models.base import Prediction

__all__ = ["ActionValues", "Choice", "Policy", "draw"]


@dataclass(frozen=True)
class ActionValues:
    """Everything a policy needs to rank the actions of ``n`` customers over ``K`` products.

    Attributes
    ----------
    prediction
        The reward model's belief about conversion, shape (n, K).
    value
        Value of one conversion per product, shape (K,).
    penalty
        Expected cost of offering (opt-out probability × opt-out cost), shape (n, K).
    eligible
        Products the guardrails allow, boolean (n, K). "No offer" is always allowed.
    """

    prediction: Prediction
    value: np.ndarray
    penalty: np.ndarray
    eligible: np.ndarray

    @property
    def n(self) -> int:
        """Number of customers."""
        return int(self.eligible.shape[0])

    def expected_value(self) -> np.ndarray:
        """Plug-in expected value of each action, shape (n, K+1); -inf where not allowed."""
        return self._expected_value

    @cached_property
    def _expected_value(self) -> np.ndarray:
        p = self.prediction.probability()
        ev = np.empty((self.n, p.shape[1] + 1))
        ev[:, 0] = 0.0
        ev[:, 1:] = np.where(self.eligible, p * self.value - self.penalty, -np.inf)
        return ev

    def allowed(self) -> np.ndarray:
        """Allowed actions, boolean (n, K+1) with column 0 ("no offer") always true."""
        return np.column_stack([np.ones(self.n, dtype=bool), self.eligible])


def greedy_action(ev: np.ndarray) -> np.ndarray:
    """Index of the best action per row; ties go to the lowest index ("no offer", then catalog order)."""
    return np.asarray(np.argmax(ev, axis=1))


def uniform_over_allowed(allowed: np.ndarray) -> np.ndarray:
    """Uniform distribution over the allowed actions of each row."""
    a = allowed.astype(np.float64)
    return np.asarray(a / a.sum(axis=1, keepdims=True))


class Policy(ABC):
    """Base class of every policy.

    Subclasses are frozen dataclasses whose fields are their parameters; they implement
    :meth:`probabilities`. ``deterministic`` policies put all mass on one action.
    """

    name: ClassVar[str]
    deterministic: ClassVar[bool] = False
    #: whether the policy reads the model's uncertainty (``Prediction.scale``)
    uses_uncertainty: ClassVar[bool] = False

    @abstractmethod
    def probabilities(self, values: ActionValues, *, n_learned: int) -> np.ndarray:
        """Probability of each action, shape (n, K+1); rows sum to 1, 0 where not allowed.

        ``n_learned`` is the number of outcomes the model has learned (for decaying
        exploration, so that every process holding the same model agrees).
        """

    def get_params(self) -> dict[str, Any]:
        """The policy's parameters (its dataclass fields)."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @property
    def version(self) -> str:
        """A short stable id of the policy and its parameters, e.g. ``thompson-3f2a91c0``."""
        try:
            return _version_of(self)
        except TypeError:  # a policy that cannot be hashed: computed every time
            return _version_of.__wrapped__(self)


@lru_cache(maxsize=256)
def _version_of(policy: Policy) -> str:  # policies are frozen: each is hashed once
    blob = json.dumps({"name": policy.name, **policy.get_params()}, sort_keys=True)
    return f"{policy.name}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def _check_unit(name: str, value: float, *, low_open: bool = False) -> None:
    ok = (0 < value <= 1) if low_open else (0 <= value <= 1)
    if not ok:
        bound = "(0, 1]" if low_open else "[0, 1]"
        raise InputError(f"`{name}` must be in {bound}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Choice:
    """The outcome of a policy for ``n`` customers.

    Attributes
    ----------
    action
        Chosen action per customer (0 = no offer, k = product k-1 in catalog order).
    probability
        Probability with which that action was drawn.
    probabilities
        The full distribution, shape (n, K+1).
    greedy
        The action with the highest plug-in expected value.
    expected_value
        Plug-in expected value of every action, shape (n, K+1).
    """

    action: np.ndarray
    probability: np.ndarray
    probabilities: np.ndarray
    greedy: np.ndarray
    expected_value: np.ndarray

    @property
    def explored(self) -> np.ndarray:
        """Whether the chosen action differs from the greedy one."""
        return np.asarray(self.action != self.greedy)


def draw(probabilities: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draw one action per row by inverting the cumulative distribution at ``u`` in [0, 1).

    Only actions with positive probability can be drawn.
    """
    cum = np.cumsum(probabilities, axis=1)
    target = u * cum[:, -1]
    action = (cum <= target[:, None]).sum(axis=1)
    return np.asarray(np.minimum(action, probabilities.shape[1] - 1))


def choose(policy: Policy, values: ActionValues, u: np.ndarray, *, n_learned: int) -> Choice:
    """Apply a policy and draw each customer's action from its distribution."""
    probs = policy.probabilities(values, n_learned=n_learned)
    ev = values.expected_value()
    action = draw(probs, u)
    rows = np.arange(len(action))
    return Choice(action, probs[rows, action], probs, greedy_action(ev), ev)
