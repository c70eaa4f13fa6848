"""Bayesian logistic regression per product, updated online by Laplace approximation."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from xsell._blas import single_threaded_blas
from xsell.errors import InputError
from xsell.features.featurizer import Design
from xsell.models.base import (
    Prediction,
    check_design,
    gaussian_prior,
    predict_one_row_as_two,
    row_products,
)

__all__ = ["BayesianLogisticRegression"]

#: rows per block of the variance computation (its float32 products: rows x arms x inputs)
_BLOCK_ROWS = 1024
# Products whose rows must not depend on their neighbours run on NumPy's einsum, not BLAS:
# BLAS multiplies a row through kernels chosen by its position in the matrix (full or edge
# tiles), and their results can differ in the last bit (seen on AMD EPYC: a third of the
# rows of a float32 product changed with the rows around them). With einsum a customer's
# numbers are the same bits whatever rows share the call: a chunk of a batch run, a Spark
# partition, a request, on any machine.


class BayesianLogisticRegression:
    """One logistic regression per arm with a Gaussian posterior over its weights.

    Arm ``k`` sees the inputs ``z = [X, E[:, k]]`` (shared customer features, then the
    arm's own inputs such as its centred propensity logit). Each :meth:`partial_fit` batch
    is absorbed exactly as a Laplace approximation does it: Newton steps to the MAP of the
    batch likelihood under the current posterior as prior, and the Hessian there as the new
    precision. One batch therefore gives exactly the MAP of the penalized likelihood.

    Parameters
    ----------
    prior_mean, prior_sd
        Arrays of shape (K, D): the prior's mean and standard deviation per weight.
    n_shared
        Number of shared inputs ``d`` (the rest, ``D - d``, are arm-specific).
    max_newton, tol
        Newton iteration limit and convergence tolerance on the largest step (Newton
        converges quadratically: a last step below 1e-4 leaves an error near 1e-8).

    Examples
    --------
    >>> import numpy as np
    >>> from xsell.features import Design
    >>> m = BayesianLogisticRegression(np.zeros((2, 2)), np.ones((2, 2)), n_shared=2)
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> d = Design(X, np.zeros((4, 2, 0)), np.full((4, 2), np.nan))
    >>> _ = m.partial_fit(d, np.array([0, 0, 0, 0]), np.array([0, 0, 1, 1]))
    >>> bool(m.predict(d).loc[3, 0] > m.predict(d).loc[0, 0])
    True
    >>> float(m.predict(d).loc[3, 1])  # arm 1 saw nothing: still its prior
    0.0
    """

    def __init__(
        self,
        prior_mean: np.ndarray,
        prior_sd: np.ndarray,
        *,
        n_shared: int,
        max_newton: int = 50,
        tol: float = 1e-4,
    ) -> None:
        prior_mean = np.array(prior_mean, dtype=np.float64, ndmin=2)
        prior_sd = np.array(prior_sd, dtype=np.float64, ndmin=2)
        if prior_mean.shape != prior_sd.shape:
            raise InputError(
                f"`prior_mean` {prior_mean.shape} and `prior_sd` {prior_sd.shape} differ in shape"
            )
        if not (prior_sd > 0).all():
            raise InputError("`prior_sd` must be > 0 everywhere")
        if not 0 < n_shared <= prior_mean.shape[1]:
            raise InputError(f"`n_shared` must be in [1, {prior_mean.shape[1]}], got {n_shared}")
        self.n_shared = n_shared
        self.max_newton = max_newton
        self.tol = tol
        self.prior_mean_ = prior_mean
        self.prior_sd_ = prior_sd
        self.mean_ = prior_mean.copy()
        self.cov_, self.prec_ = gaussian_prior(prior_mean, prior_sd)
        self.n_seen_ = np.zeros(prior_mean.shape[0], dtype=np.int64)

    @property
    def cov_(self) -> np.ndarray:
        """Posterior covariances (K, D, D): the precisions' inverses, made when first read
        after an update (many updates may come between two reads)."""
        if self._stale.any():
            arms = np.flatnonzero(self._stale)
            with single_threaded_blas():
                cov = np.linalg.inv(self.prec_[arms])
            self._cov[arms] = 0.5 * (cov + cov.transpose(0, 2, 1))
            self._stale[:] = False
        return self._cov

    @cov_.setter
    def cov_(self, cov: np.ndarray) -> None:
        self._cov = cov
        self._stale = np.zeros(len(cov), dtype=bool)

    @property
    def n_arms(self) -> int:
        """Number of arms ``K``."""
        return int(self.mean_.shape[0])

    @property
    def n_inputs(self) -> int:
        """Inputs per arm ``D``."""
        return int(self.mean_.shape[1])

    def _check(self, design: Design) -> None:
        check_design(design, n_shared=self.n_shared, n_inputs=self.n_inputs, n_arms=self.n_arms)

    def predict(self, design: Design, *, with_uncertainty: bool = True) -> Prediction:
        """Posterior of every arm's logit: mean and standard deviation, shape (n, K)."""
        self._check(design)
        if design.n == 1:  # the same arithmetic as among others (see row_products)
            return predict_one_row_as_two(self, design, with_uncertainty=with_uncertainty)
        d = self.n_shared
        loc = row_products(design.X, self.mean_[:, :d])
        if self.n_inputs > d:
            loc += np.einsum("nke,ke->nk", design.E, self.mean_[:, d:])
        if not with_uncertainty:
            return Prediction(loc, None, "logit")
        return Prediction(loc, np.sqrt(np.maximum(self._variance(design), 0.0)), "logit")

    def _variance(self, design: Design) -> np.ndarray:
        """z' Σ_k z for every row and arm, ``z = [x, e_k]``, block of rows by block of rows.

        ``x' Σ_k x`` for every arm is one float32 product against all covariances at once
        (float32 is 5x faster here and its 1e-7 relative error is irrelevant for a
        variance); a block's products (rows x arms x inputs) stay in the cache, which
        materialising them for a whole batch does not.
        """
        f32 = np.float32
        d, K, n = self.n_shared, self.n_arms, design.n
        e = self.n_inputs - d
        cov = self.cov_
        cxx = cov[:, :d, :d].transpose(1, 0, 2).reshape(d, K * d).astype(f32)
        cxe = cov[:, :d, d:].transpose(1, 0, 2).reshape(d, K * e).astype(f32)
        cee = cov[:, d:, d:].astype(f32)
        var = np.empty((n, K))
        rows = max(1, min(n, _BLOCK_ROWS))
        xbuf = np.empty((rows, d), dtype=f32)
        abuf = np.empty((rows, K * d), dtype=f32)
        bbuf = np.empty((rows, K * e), dtype=f32)
        for start in range(0, n, rows):
            m = min(rows, n - start)
            x = xbuf[:m]
            x[...] = design.X[start : start + m]
            A = np.einsum("nd,dj->nj", x, cxx, out=abuf[:m]).reshape(m, K, d)
            v = var[start : start + m]
            v[...] = np.einsum("nkd,nd->nk", A, x)
            if e:
                E = design.E[start : start + m].astype(f32)
                B = np.einsum("nd,dj->nj", x, cxe, out=bbuf[:m]).reshape(m, K, e)
                v += 2.0 * np.einsum("nke,nke->nk", B, E)
                # e' Σ_ee e with e a handful of inputs: term by term, not a 3-operand einsum
                quad = np.zeros((m, K), dtype=f32)
                for i in range(e):
                    for j in range(e):
                        quad += E[:, :, i] * cee[:, i, j] * E[:, :, j]
                v += quad
        return var

    def partial_fit(
        self, design: Design, arm: np.ndarray, y: np.ndarray
    ) -> BayesianLogisticRegression:
        """Absorb one batch of outcomes (Laplace update per arm; the posterior becomes the prior)."""
        self._check(design)
        arm = np.asarray(arm, dtype=np.int64)
        y = np.asarray(y, dtype=np.float64)
        if arm.shape != (design.n,) or y.shape != (design.n,):
            raise InputError(f"`arm` and `y` must have shape ({design.n},)")
        # The matrices here are tiny (D x D, D ~ 30): a multi-threaded BLAS only adds
        # synchronisation, which stalls for milliseconds when the other core is busy.
        if design.n == 0:
            return self
        if arm.min() < 0 or arm.max() >= self.n_arms:
            raise InputError(f"`arm` must be in [0, {self.n_arms}), got {arm.min()}..{arm.max()}")
        Z = design.X
        if self.n_inputs > self.n_shared:
            n, K, e = design.E.shape
            own = np.take(design.E.reshape(n * K, e), np.arange(n) * K + arm, axis=0)
            Z = np.hstack([Z, own])
        with single_threaded_blas():
            self._laplace(arm, Z, y)
        return self

    def _laplace(self, arm: np.ndarray, Z: np.ndarray, y: np.ndarray) -> None:
        """Newton steps to every touched arm's MAP at once (rows sorted by arm, not padded)."""
        counts = np.bincount(arm, minlength=self.n_arms)
        arms = np.flatnonzero(counts)
        counts = counts[arms]
        ends = np.cumsum(counts)
        bounds = list(zip((ends - counts).tolist(), ends.tolist(), strict=True))
        order = np.argsort(arm, kind="stable")
        Zs, ys = np.take(Z, order, axis=0), y[order]
        D = Z.shape[1]
        m0 = self.mean_[arms]
        P0 = self.prec_[arms]
        w = m0.copy()
        logits = np.empty(len(ys))
        # per row: its inputs times its curvature, then its residual; one GEMM per arm of its
        # rows with these gives that arm's data Hessian and gradient together
        WR = np.empty((len(ys), D + 1))
        HG = np.empty((len(arms), D, D + 1))

        def probabilities(w: np.ndarray) -> np.ndarray:
            for a, (lo, hi) in enumerate(bounds):
                np.matmul(Zs[lo:hi], w[a], out=logits[lo:hi])
            return np.asarray(expit(logits))

        def hessians_gradients(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            np.multiply(Zs, (p * (1.0 - p))[:, None], out=WR[:, :D])
            np.subtract(ys, p, out=WR[:, D])
            for a, (lo, hi) in enumerate(bounds):
                np.matmul(Zs[lo:hi].T, WR[lo:hi], out=HG[a])
            return P0 + HG[:, :, :D], HG[:, :, D].copy()

        for _ in range(self.max_newton):
            H, resid = hessians_gradients(probabilities(w))
            g = np.einsum("ade,ae->ad", P0, w - m0) - resid
            step = np.linalg.solve(H, g[:, :, None])[:, :, 0]
            w -= step
            if np.max(np.abs(step)) < self.tol:
                break
        # the posterior precision: the Hessian at the MAP itself
        H = hessians_gradients(probabilities(w))[0]
        self.mean_[arms] = w
        self.prec_[arms] = H
        self._stale[arms] = True
        self.n_seen_[arms] += counts

    def decay(self, factor: float) -> None:
        """Forget: move every arm's posterior toward its prior by ``factor`` in (0, 1].

        In information form, ``P ← f·P + (1−f)·P0`` and ``P·m ← f·P·m + (1−f)·P0·m0``: the
        evidence seen so far counts ``f`` times as much (``f = 0.5`` after one half-life).
        """
        if not 0 < factor <= 1:
            raise InputError(f"`factor` must be in (0, 1], got {factor!r}")
        if factor == 1:
            return
        D = self.n_inputs
        P0 = np.zeros_like(self.prec_)
        P0[:, np.arange(D), np.arange(D)] = 1.0 / self.prior_sd_**2
        info = np.einsum("kde,ke->kd", self.prec_, self.mean_)
        info0 = self.prior_mean_ / self.prior_sd_**2
        with single_threaded_blas():
            self.prec_ = factor * self.prec_ + (1.0 - factor) * P0
            self.mean_ = np.linalg.solve(
                self.prec_, (factor * info + (1.0 - factor) * info0)[:, :, None]
            )[:, :, 0]
            cov = np.linalg.inv(self.prec_)
        self.cov_ = 0.5 * (cov + cov.transpose(0, 2, 1))

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means (K, D) and standard deviations (K, D)."""
        return self.mean_.copy(), np.sqrt(np.diagonal(self.cov_, axis1=1, axis2=2)).copy()

    def add_arm(self, prior_mean: np.ndarray, prior_sd: np.ndarray) -> None:
        """Append an arm starting from its own prior; no other arm changes."""
        D = self.n_inputs
        pm = np.asarray(prior_mean, dtype=np.float64).reshape(1, D)
        ps = np.asarray(prior_sd, dtype=np.float64).reshape(1, D)
        self.prior_mean_ = np.vstack([self.prior_mean_, pm])
        self.prior_sd_ = np.vstack([self.prior_sd_, ps])
        self.mean_ = np.vstack([self.mean_, pm])
        self.cov_ = np.concatenate([self.cov_, np.diag(ps[0] ** 2)[None]], axis=0)
        self.prec_ = np.concatenate([self.prec_, np.diag(1.0 / ps[0] ** 2)[None]], axis=0)
        self.n_seen_ = np.append(self.n_seen_, 0)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metadata and arrays for persistence."""
        meta = {"n_shared": self.n_shared, "max_newton": self.max_newton, "tol": self.tol}
        arrays = {
            "prior_mean": self.prior_mean_,
            "prior_sd": self.prior_sd_,
            "mean": self.mean_,
            "cov": self.cov_,
            "prec": self.prec_,
            "n_seen": self.n_seen_,
        }
        return meta, arrays

    def set_state(
        self, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> BayesianLogisticRegression:
        """Restore what :meth:`get_state` returned."""
        self.n_shared = int(meta["n_shared"])
        self.max_newton = int(meta["max_newton"])
        self.tol = float(meta["tol"])
        self.prior_mean_ = np.asarray(arrays["prior_mean"], dtype=np.float64)
        self.prior_sd_ = np.asarray(arrays["prior_sd"], dtype=np.float64)
        self.mean_ = np.asarray(arrays["mean"], dtype=np.float64).copy()
        self.cov_ = np.asarray(arrays["cov"], dtype=np.float64).copy()
        self.prec_ = np.asarray(arrays["prec"], dtype=np.float64).copy()
        self.n_seen_ = np.asarray(arrays["n_seen"], dtype=np.int64).copy()
        return self

    @classmethod
    def from_state(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> BayesianLogisticRegression:
        """Build a model from saved state."""
        m = cls(arrays["prior_mean"], arrays["prior_sd"], n_shared=int(meta["n_shared"]))
        return m.set_state(meta, arrays)
