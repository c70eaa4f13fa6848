"""Bayesian linear (ridge) regression per product on the probability scale, for LinUCB."""

from __future__ import annotations

from typing import Any

import numpy as np

from xsell._blas import single_threaded_blas
from xsell.errors import InputError
from xsell.features.featurizer import Design
from xsell.models.base import (
    Prediction,
    gaussian_prior,
    predict_one_row_as_two,
    row_products,
)

__all__ = ["RidgeRegression"]

#: saved arrays, each the attribute of the same name with a trailing underscore
_STATE = ("prior_mean", "prior_sd", "propensity_centre", "mean", "cov", "prec", "prec_mean",
          "n_seen")  # fmt: skip


def _prior(prior_mean: Any, prior_sd: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated prior arrays of shape (K, D) (shared by the linear reward models)."""
    mean = np.array(prior_mean, dtype=np.float64, ndmin=2)
    sd = np.array(prior_sd, dtype=np.float64, ndmin=2)
    if mean.ndim != 2 or mean.shape != sd.shape or mean.shape[1] == 0:
        raise InputError(
            f"`prior_mean` {mean.shape} and `prior_sd` {sd.shape} must share a shape (K, D)"
        )
    if not np.isfinite(mean).all():
        raise InputError("`prior_mean` must be finite everywhere")
    bad = ~(np.isfinite(sd) & (sd > 0))
    if bad.any():
        raise InputError(f"`prior_sd` must be finite and > 0 everywhere, got {float(sd[bad][0])}")
    return mean, sd


def _batch(n: int, n_arms: int, arm: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``arm`` (int64) and ``y`` (float64) of one ``partial_fit`` batch."""
    arm_a, y_a = np.asarray(arm), np.asarray(y, dtype=np.float64)
    if arm_a.shape != (n,) or y_a.shape != (n,):
        raise InputError(f"`arm` {arm_a.shape} and `y` {y_a.shape} must have shape ({n},)")
    if n and not np.issubdtype(arm_a.dtype, np.integer):
        raise InputError(f"`arm` must hold integers, got dtype {arm_a.dtype}")
    arm_a = arm_a.astype(np.int64)
    if n and (arm_a.min() < 0 or arm_a.max() >= n_arms):
        bad = int(arm_a[(arm_a < 0) | (arm_a >= n_arms)][0])
        raise InputError(f"`arm` must be in [0, {n_arms}), got {bad}")
    if not np.isfinite(y_a).all():
        raise InputError("`y` must be finite")
    return arm_a, y_a


def _factor(factor: float) -> float:
    if not 0 < factor <= 1:
        raise InputError(f"`factor` must be in (0, 1], got {factor!r}")
    return float(factor)


class RidgeRegression:
    """One Bayesian linear regression per arm, predicting the conversion probability itself.

    Arm ``k`` sees ``z = [X, p_k - centre_k, missing_k]`` where ``p_k`` is the customer's
    propensity for product ``k`` (``design.propensity``; the first input is 0 where it is
    missing) and ``centre_k`` the product's mean propensity; without arm inputs
    (``D == n_shared``) just ``z = X``. With Gaussian noise of sd ``noise_sd`` the posterior
    is exact and kept in information form: precision ``A = P0 + Σ z zᵀ / noise²`` and
    ``b = P0 m0 + Σ y z / noise²``; the mean is ``A⁻¹ b`` and the covariance ``A⁻¹``
    (kept too, so :meth:`predict` is a few GEMMs). Streaming batches gives exactly the
    one-batch posterior.

    Parameters
    ----------
    prior_mean, prior_sd
        Arrays of shape (K, D): the prior's mean and standard deviation per weight, on the
        probability scale (a warm start is intercept ``centre_k``, weight 1 on the
        propensity input, ``base_rate - centre_k`` on the missing flag, 0 elsewhere).
    n_shared
        Number of shared inputs ``d``; ``D - d`` must be 0 or 2.
    noise_sd
        Standard deviation of an outcome around its probability (> 0).
    propensity_centre
        Shape (K,): each product's mean propensity (probability scale); default zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from xsell.features import Design
    >>> m = RidgeRegression(np.zeros((2, 2)), np.ones((2, 2)), n_shared=2)
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> d = Design(X, np.zeros((4, 2, 0)), np.full((4, 2), np.nan))
    >>> _ = m.partial_fit(d, np.array([0, 0, 0, 0]), np.array([0, 0, 1, 1]))
    >>> pred = m.predict(d)
    >>> bool(pred.loc[3, 0] > pred.loc[0, 0]), pred.link
    (True, 'identity')
    >>> float(pred.loc[3, 1]), float(pred.scale[0, 1])  # arm 1 saw nothing: its prior
    (0.0, 1.0)
    """

    def __init__(
        self,
        prior_mean: np.ndarray,
        prior_sd: np.ndarray,
        *,
        n_shared: int,
        noise_sd: float = 0.2,
        propensity_centre: np.ndarray | None = None,
    ) -> None:
        prior_mean, prior_sd = _prior(prior_mean, prior_sd)
        K, D = prior_mean.shape
        if not 0 < n_shared <= D or D - n_shared not in (0, 2):
            raise InputError(f"`n_shared` must be {D} or {D - 2} (>= 1), got {n_shared}")
        if not (np.isfinite(noise_sd) and noise_sd > 0):
            raise InputError(f"`noise_sd` must be > 0, got {noise_sd!r}")
        centre = np.zeros(K) if propensity_centre is None else propensity_centre
        centre = np.array(centre, dtype=np.float64)
        if centre.shape != (K,) or not np.isfinite(centre).all():
            raise InputError(f"`propensity_centre` must be finite of shape ({K},), got {centre}")
        self.n_shared = n_shared
        self.noise_sd = float(noise_sd)
        self.prior_mean_ = prior_mean
        self.prior_sd_ = prior_sd
        self.propensity_centre_ = centre
        self.mean_ = prior_mean.copy()
        self.cov_, self.prec_ = gaussian_prior(prior_mean, prior_sd)
        self.prec_mean_ = prior_mean / prior_sd**2  # b = A · mean
        self.n_seen_ = np.zeros(K, dtype=np.int64)

    @property
    def n_arms(self) -> int:
        """Number of arms ``K``."""
        return int(self.mean_.shape[0])

    @property
    def n_inputs(self) -> int:
        """Inputs per arm ``D``."""
        return int(self.mean_.shape[1])

    def _arm_inputs(self, design: Design) -> np.ndarray:
        """Shape (n, K, D - d): centred propensity (0 where missing) and missing flag."""
        d, K = self.n_shared, self.n_arms
        if design.X.shape[1] != d or design.E.shape[2] != self.n_inputs - d:
            raise InputError(
                f"design has {design.X.shape[1]} shared + {design.E.shape[2]} arm inputs; "
                f"the model was built for {d} + {self.n_inputs - d}"
            )
        if design.propensity.shape != (design.n, K):
            raise InputError(
                f"design has propensity {design.propensity.shape}; need ({design.n}, {K})"
            )
        if self.n_inputs == d:
            return np.zeros((design.n, K, 0))
        missing = np.isnan(design.propensity)
        centred = np.where(missing, 0.0, design.propensity - self.propensity_centre_)
        return np.stack([centred, missing.astype(np.float64)], axis=2)

    def predict(self, design: Design, *, with_uncertainty: bool = True) -> Prediction:
        """Posterior of every arm's probability: mean and standard deviation, shape (n, K).

        A row's numbers do not depend on the rows around it (products by
        :func:`~xsell.models.base.row_products`; one row is predicted as two).
        """
        if design.n == 1:
            return predict_one_row_as_two(self, design, with_uncertainty=with_uncertainty)
        E = self._arm_inputs(design)
        d, X = self.n_shared, np.asfortranarray(design.X)
        loc = row_products(X, self.mean_[:, :d])
        if E.shape[2]:
            loc += np.einsum("nke,ke->nk", E, self.mean_[:, d:])
        if not with_uncertainty:
            return Prediction(loc, None, "identity")
        # zᵀ Σ_k z for every arm against all covariances at once (float64: on the
        # probability scale the variances are small and the propensity input is narrow)
        n, K = loc.shape
        cxx = self.cov_[:, :d, :d].transpose(1, 0, 2).reshape(d, K * d)
        var = np.einsum("nkd,nd->nk", row_products(X, cxx.T).reshape(n, K, d), X)
        if E.shape[2]:
            cxe = self.cov_[:, :d, d:].transpose(1, 0, 2).reshape(d, -1)
            var += 2.0 * np.einsum("nke,nke->nk", row_products(X, cxe.T).reshape(E.shape), E)
            var += np.einsum("nke,kef,nkf->nk", E, self.cov_[:, d:, d:], E)
        return Prediction(loc, np.sqrt(np.maximum(var, 0.0)), "identity")

    def partial_fit(self, design: Design, arm: np.ndarray, y: np.ndarray) -> RidgeRegression:
        """Absorb one batch of outcomes (exact conjugate update of every touched arm)."""
        E = self._arm_inputs(design)
        arm, y = _batch(design.n, self.n_arms, arm, y)
        if design.n == 0:
            return self
        Z = design.X
        if E.shape[2]:
            Z = np.hstack([Z, E[np.arange(design.n), arm, :]])
        order = np.argsort(arm, kind="stable")
        arms, starts, counts = np.unique(arm[order], return_index=True, return_counts=True)
        Zs, ys = Z[order], y[order]
        w = 1.0 / self.noise_sd**2
        with single_threaded_blas():
            gram = np.stack(
                [
                    Zs[s : s + c].T @ Zs[s : s + c]
                    for s, c in zip(starts.tolist(), counts.tolist(), strict=True)
                ]
            )
            self.prec_[arms] += w * gram
            self.prec_mean_[arms] += w * np.add.reduceat(Zs * ys[:, None], starts, axis=0)
            self._solve(arms)
        self.n_seen_[arms] += counts
        return self

    def _solve(self, arms: np.ndarray) -> None:
        """Mean and covariance of the given arms from their information form."""
        A = self.prec_[arms]
        self.mean_[arms] = np.linalg.solve(A, self.prec_mean_[arms][:, :, None])[:, :, 0]
        cov = np.linalg.inv(A)
        self.cov_[arms] = 0.5 * (cov + cov.transpose(0, 2, 1))

    def decay(self, factor: float) -> None:
        """Fade the evidence toward the prior: ``A ← f·A + (1−f)·P0``, ``b`` likewise.

        ``factor`` in (0, 1]; 1 changes nothing, and the prior itself is a fixed point.
        """
        f = _factor(factor)
        if f == 1.0:
            return
        p0 = 1.0 / self.prior_sd_**2
        idx = np.arange(self.n_inputs)
        self.prec_ *= f
        self.prec_[:, idx, idx] += (1.0 - f) * p0
        self.prec_mean_ = f * self.prec_mean_ + (1.0 - f) * p0 * self.prior_mean_
        with single_threaded_blas():
            self._solve(np.arange(self.n_arms))

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means (K, D) and standard deviations (K, D)."""
        return self.mean_.copy(), np.sqrt(np.diagonal(self.cov_, axis1=1, axis2=2)).copy()

    def add_arm(
        self, prior_mean: np.ndarray, prior_sd: np.ndarray, propensity_centre: float = 0.0
    ) -> None:
        """Append an arm starting from its own prior; no other arm changes."""
        D = self.n_inputs
        pm, ps = _prior(np.reshape(prior_mean, (1, -1)), np.reshape(prior_sd, (1, -1)))
        if pm.shape != (1, D):
            raise InputError(f"`prior_mean` must have shape ({D},), got {np.shape(prior_mean)}")
        if not np.isfinite(propensity_centre):
            raise InputError(f"`propensity_centre` must be finite, got {propensity_centre!r}")
        self.prior_mean_ = np.vstack([self.prior_mean_, pm])
        self.prior_sd_ = np.vstack([self.prior_sd_, ps])
        self.propensity_centre_ = np.append(self.propensity_centre_, float(propensity_centre))
        self.mean_ = np.vstack([self.mean_, pm])
        self.cov_ = np.concatenate([self.cov_, np.diag(ps[0] ** 2)[None]])
        self.prec_ = np.concatenate([self.prec_, np.diag(1.0 / ps[0] ** 2)[None]])
        self.prec_mean_ = np.vstack([self.prec_mean_, pm / ps**2])
        self.n_seen_ = np.append(self.n_seen_, 0)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metadata and arrays for persistence."""
        meta = {"n_shared": self.n_shared, "noise_sd": self.noise_sd}
        return meta, {name: getattr(self, f"{name}_") for name in _STATE}

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RidgeRegression:
        """Restore what :meth:`get_state` returned."""
        self.n_shared = int(meta["n_shared"])
        self.noise_sd = float(meta["noise_sd"])
        for name in _STATE:
            dtype = np.int64 if name == "n_seen" else np.float64
            setattr(self, f"{name}_", np.array(arrays[name], dtype=dtype))
        return self

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RidgeRegression:
        """Build a model from saved state."""
        m = cls(
            arrays["prior_mean"],
            arrays["prior_sd"],
            n_shared=int(meta["n_shared"]),
            noise_sd=float(meta["noise_sd"]),
            propensity_centre=arrays["propensity_centre"],
        )
        return m.set_state(meta, arrays)
