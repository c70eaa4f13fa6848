"""Context-free Beta-Bernoulli conversion rates per product (the non-contextual baseline)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logit, polygamma

from xsell.errors import InputError
from xsell.features.featurizer import Design
from xsell.models.base import Prediction
from xsell.models.ridge import _batch, _factor

__all__ = ["BetaBernoulli"]


def _rates(prior_rate: Any, prior_strength: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(alpha0, beta0)`` from rates in (0, 1) and strengths > 0."""
    rate = np.array(prior_rate, dtype=np.float64, ndmin=1)
    if rate.ndim != 1 or rate.size == 0:
        raise InputError(f"`prior_rate` must have shape (K,), got {rate.shape}")
    if not ((rate > 0) & (rate < 1)).all():
        raise InputError(
            f"`prior_rate` must be in (0, 1), got {rate[~((rate > 0) & (rate < 1))][0]}"
        )
    strength = np.array(prior_strength, dtype=np.float64)
    if strength.shape not in ((), rate.shape):
        raise InputError(f"`prior_strength` must be a number or of shape {rate.shape}")
    if not (np.isfinite(strength) & (strength > 0)).all():
        raise InputError(f"`prior_strength` must be finite and > 0, got {prior_strength!r}")
    return strength * rate, strength * (1.0 - rate)


class BetaBernoulli:
    """One Beta(α, β) belief per product about its conversion rate; no customer context.

    The prior is centred on the product's mean propensity: ``α0 = s·r``, ``β0 = s·(1−r)``
    with ``s`` pseudo-observations. Outcomes add successes to α and failures to β. The
    prediction is a Normal on the logit scale centred on the logit of the posterior mean
    ``α / (α + β)`` (so the plug-in probability is the mean rate; ``E[logit p] = ψ(α) − ψ(β)``
    lies far below it when α < 1, as at a few-percent base rate) with the exact spread of
    ``logit(p)`` for ``p ~ Beta(α, β)``, variance ``ψ'(α) + ψ'(β)``; the same for every customer.

    Parameters
    ----------
    prior_rate
        Shape (K,): each product's prior mean rate, in (0, 1).
    prior_strength
        Prior pseudo-observations (> 0): a number or one per product.

    Examples
    --------
    >>> import numpy as np
    >>> from xsell.features import Design
    >>> m = BetaBernoulli(np.array([0.1, 0.5]), prior_strength=10.0)
    >>> d = Design(np.ones((3, 1)), np.zeros((3, 2, 0)), np.full((3, 2), np.nan))
    >>> _ = m.partial_fit(d, np.array([0, 0, 1]), np.array([1, 0, 1]))
    >>> m.alpha_.tolist(), m.beta_.tolist()
    ([2.0, 6.0], [10.0, 5.0])
    >>> m.predict(d).loc.shape
    (3, 2)
    """

    def __init__(
        self, prior_rate: np.ndarray, *, prior_strength: float | np.ndarray = 20.0
    ) -> None:
        self.prior_alpha_, self.prior_beta_ = _rates(prior_rate, prior_strength)
        self.alpha_ = self.prior_alpha_.copy()
        self.beta_ = self.prior_beta_.copy()
        self.n_seen_ = np.zeros(len(self.alpha_), dtype=np.int64)

    @property
    def n_arms(self) -> int:
        """Number of arms ``K``."""
        return len(self.alpha_)

    @property
    def n_inputs(self) -> int:
        """One "weight" per arm: its rate."""
        return 1

    @property
    def mean_(self) -> np.ndarray:
        """Posterior mean rates, shape (K, 1)."""
        return np.asarray(self.alpha_ / (self.alpha_ + self.beta_))[:, None]

    @property
    def prior_mean_(self) -> np.ndarray:
        """Prior mean rates, shape (K, 1)."""
        return np.asarray(self.prior_alpha_ / (self.prior_alpha_ + self.prior_beta_))[:, None]

    def _check(self, design: Design) -> None:
        if design.propensity.shape != (design.n, self.n_arms):
            raise InputError(
                f"design has propensity {design.propensity.shape}; need ({design.n}, {self.n_arms})"
            )

    def predict(self, design: Design, *, with_uncertainty: bool = True) -> Prediction:
        """Belief about every arm's ``logit(p)``, shape (n, K) (identical rows)."""
        self._check(design)
        # location at the logit of the posterior mean, so the plug-in probability is the
        # mean rate (E[logit p] sits far below it when alpha < 1, as at a few-% base rate);
        # spread: the exact standard deviation of logit(p)
        loc = np.repeat(logit(self.alpha_ / (self.alpha_ + self.beta_))[None], design.n, axis=0)
        if not with_uncertainty:
            return Prediction(loc, None, "logit")
        sd = np.sqrt(polygamma(1, self.alpha_) + polygamma(1, self.beta_))
        return Prediction(loc, np.repeat(sd[None], design.n, axis=0), "logit")

    def partial_fit(self, design: Design, arm: np.ndarray, y: np.ndarray) -> BetaBernoulli:
        """Add each arm's successes to α and failures to β (``y`` in [0, 1])."""
        self._check(design)
        arm, y = _batch(design.n, self.n_arms, arm, y)
        if not ((y >= 0) & (y <= 1)).all():
            raise InputError("`y` must be in [0, 1]")
        wins = np.bincount(arm, weights=y, minlength=self.n_arms)
        counts = np.bincount(arm, minlength=self.n_arms)
        self.alpha_ += wins
        self.beta_ += counts - wins
        self.n_seen_ += counts
        return self

    def decay(self, factor: float) -> None:
        """Fade toward the prior: ``α ← f·α + (1−f)·α0`` and β likewise; 1 changes nothing."""
        f = _factor(factor)
        if f == 1.0:
            return
        self.alpha_ = f * self.alpha_ + (1.0 - f) * self.prior_alpha_
        self.beta_ = f * self.beta_ + (1.0 - f) * self.prior_beta_

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean rate and its standard deviation, each of shape (K, 1)."""
        a, b = self.alpha_, self.beta_
        sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
        return self.mean_, sd[:, None]

    def add_arm(self, prior_rate: float, prior_strength: float | None = None) -> None:
        """Append an arm (strength: the last arm's by default); no other arm changes."""
        if prior_strength is None:
            prior_strength = float(self.prior_alpha_[-1] + self.prior_beta_[-1])
        a0, b0 = _rates(np.reshape(prior_rate, -1), prior_strength)
        if a0.shape != (1,):
            raise InputError(f"`prior_rate` must be one number, got shape {np.shape(prior_rate)}")
        self.prior_alpha_ = np.append(self.prior_alpha_, a0)
        self.prior_beta_ = np.append(self.prior_beta_, b0)
        self.alpha_ = np.append(self.alpha_, a0)
        self.beta_ = np.append(self.beta_, b0)
        self.n_seen_ = np.append(self.n_seen_, 0)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metadata and arrays for persistence."""
        arrays = {
            "prior_alpha": self.prior_alpha_,
            "prior_beta": self.prior_beta_,
            "alpha": self.alpha_,
            "beta": self.beta_,
            "n_seen": self.n_seen_,
        }
        return {}, arrays

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> BetaBernoulli:
        """Restore what :meth:`get_state` returned."""
        self.prior_alpha_ = np.array(arrays["prior_alpha"], dtype=np.float64)
        self.prior_beta_ = np.array(arrays["prior_beta"], dtype=np.float64)
        self.alpha_ = np.array(arrays["alpha"], dtype=np.float64)
        self.beta_ = np.array(arrays["beta"], dtype=np.float64)
        self.n_seen_ = np.array(arrays["n_seen"], dtype=np.int64)
        return self

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> BetaBernoulli:
        """Build a model from saved state."""
        a0, b0 = np.asarray(arrays["prior_alpha"]), np.asarray(arrays["prior_beta"])
        return cls(a0 / (a0 + b0), prior_strength=a0 + b0).set_state(meta, arrays)
