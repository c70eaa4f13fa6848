"""Upper confidence bound: optimism in the face of uncertainty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from xsell.errors import InputError
from xsell.models.base import to_probability
from xsell.policies.base import (
    ActionValues,
    Policy,
    _check_unit,
    greedy_action,
    uniform_over_allowed,
)

__all__ = ["UCB"]


@dataclass(frozen=True, slots=True)
class UCB(Policy):
    """Offer the action whose optimistic value is highest.

    Each product's conversion probability is taken at ``loc + alpha · scale`` of the
    model's belief (on its link scale) before the value and the expected opt-out cost are
    applied, so products the model knows little about get a boost. Over
    :class:`~xsell.models.RidgeRegression` this is LinUCB (Li et al., 2010); over the
    Bayesian logistic model, a UCB on the logit. It is deterministic: the chosen action
    has probability 1, unless ``floor`` spreads some mass over the allowed actions so that
    its logs can be evaluated offline.

    Parameters
    ----------
    alpha
        Width of the confidence bound, in standard deviations.
    floor
        Probability mass spread uniformly over the allowed actions (0: deterministic).

    Examples
    --------
    >>> import numpy as np
    >>> from xsell.models import Prediction
    >>> from xsell.policies import ActionValues
    >>> pred = Prediction(np.array([[-3.0, -3.2]]), np.array([[0.1, 0.8]]))
    >>> values = ActionValues(pred, np.array([100.0, 100.0]), np.zeros((1, 2)), np.ones((1, 2), bool))
    >>> UCB(alpha=0.0).probabilities(values, n_learned=0).tolist()
    [[0.0, 1.0, 0.0]]
    >>> UCB(alpha=1.0).probabilities(values, n_learned=0).tolist()
    [[0.0, 0.0, 1.0]]
    """

    name: ClassVar[str] = "ucb"
    uses_uncertainty: ClassVar[bool] = True

    alpha: float = 1.0
    floor: float = 0.0

    def __post_init__(self) -> None:
        if not self.alpha >= 0:
            raise InputError(f"`alpha` must be >= 0, got {self.alpha!r}")
        _check_unit("floor", self.floor)

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        """Deterministic unless a floor is set."""
        return self.floor == 0

    def probabilities(self, values: ActionValues, *, n_learned: int) -> np.ndarray:
        """All mass (less the floor) on the action with the highest optimistic value."""
        pred = values.prediction
        if pred.scale is None:
            raise InputError("UCB needs a prediction with uncertainty (scale)")
        p = to_probability(pred.loc + self.alpha * pred.scale, pred.link)
        ev = np.empty((values.n, p.shape[1] + 1))
        ev[:, 0] = 0.0
        ev[:, 1:] = np.where(values.eligible, p * values.value - values.penalty, -np.inf)
        best = greedy_action(ev)
        probs = np.zeros_like(ev)
        probs[np.arange(values.n), best] = 1.0
        if self.floor:
            probs = (1.0 - self.floor) * probs + self.floor * uniform_over_allowed(values.allowed())
        return probs
