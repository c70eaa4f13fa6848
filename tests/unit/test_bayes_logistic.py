"""The Laplace-updated Bayesian logistic regression against reference fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from xsell import BayesianLogisticRegression, InputError
from xsell.features import Design


def _problem(seed: int, n: int = 2_000, d: int = 5, e: int = 2):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, d - 1))])
    E = rng.normal(size=(n, 1, e))
    w_true = rng.normal(scale=0.8, size=d + e)
    w_true[0] = -2.0
    Z = np.hstack([X, E[:, 0, :]])
    y = (rng.random(n) < expit(Z @ w_true)).astype(float)
    prior_mean = rng.normal(scale=0.3, size=(1, d + e))
    prior_sd = rng.uniform(0.3, 1.5, size=(1, d + e))
    return Design(X, E, np.full((n, 1), np.nan)), Z, y, prior_mean, prior_sd


def _map(Z: np.ndarray, y: np.ndarray, m0: np.ndarray, sd0: np.ndarray) -> np.ndarray:
    """MAP of the penalized likelihood with scipy (an independent optimizer)."""

    def f(w: np.ndarray) -> float:
        z = Z @ w
        return float(
            -(y * log_expit(z) + (1 - y) * log_expit(-z)).sum()
            + 0.5 * (((w - m0) / sd0) ** 2).sum()
        )

    def g(w: np.ndarray) -> np.ndarray:
        return -Z.T @ (y - expit(Z @ w)) + (w - m0) / sd0**2

    res = minimize(f, m0.copy(), jac=g, method="BFGS", options={"gtol": 1e-11, "maxiter": 10_000})
    return np.asarray(res.x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_batch_posterior_mean_equals_scipy_map(seed: int) -> None:
    design, Z, y, m0, sd0 = _problem(seed)
    model = BayesianLogisticRegression(m0, sd0, n_shared=design.X.shape[1])
    model.partial_fit(design, np.zeros(design.n, dtype=int), y)
    ref = _map(Z, y, m0[0], sd0[0])
    np.testing.assert_allclose(model.mean_[0], ref, atol=1e-6)
    # the posterior precision is the Hessian of the penalized likelihood at the MAP
    p = expit(Z @ ref)
    H = (Z.T * (p * (1 - p))) @ Z + np.diag(1 / sd0[0] ** 2)
    np.testing.assert_allclose(model.prec_[0], H, rtol=1e-6)
    np.testing.assert_allclose(model.cov_[0] @ model.prec_[0], np.eye(len(ref)), atol=1e-8)


def test_streamed_batches_match_one_batch_fit() -> None:
    design, _, y, m0, sd0 = _problem(5, n=10_000)
    arm = np.zeros(design.n, dtype=int)
    whole = BayesianLogisticRegression(m0, sd0, n_shared=design.X.shape[1]).partial_fit(
        design, arm, y
    )
    streamed = BayesianLogisticRegression(m0, sd0, n_shared=design.X.shape[1])
    for start in range(0, design.n, 500):
        rows = np.arange(start, min(design.n, start + 500))
        streamed.partial_fit(design.rows(rows), arm[rows], y[rows])
    p_whole = whole.predict(design).probability()
    p_stream = streamed.predict(design).probability()
    assert np.max(np.abs(p_whole - p_stream)) < 0.01


def test_predictive_sd_matches_direct_quadratic_form() -> None:
    design, Z, y, m0, sd0 = _problem(3, n=300)
    model = BayesianLogisticRegression(m0, sd0, n_shared=design.X.shape[1])
    model.partial_fit(design, np.zeros(design.n, dtype=int), y)
    pred = model.predict(design)
    direct = np.sqrt(np.einsum("ij,jk,ik->i", Z, model.cov_[0], Z))
    np.testing.assert_allclose(pred.scale[:, 0], direct, rtol=1e-5)
    np.testing.assert_allclose(pred.loc[:, 0], Z @ model.mean_[0], rtol=1e-12)


def test_arms_learn_independently_and_add_arm_touches_nothing_else() -> None:
    rng = np.random.default_rng(0)
    n, d = 400, 3
    X = np.column_stack([np.ones(n), rng.normal(size=(n, d - 1))])
    design = Design(X, np.zeros((n, 2, 0)), np.full((n, 2), np.nan))
    model = BayesianLogisticRegression(np.zeros((2, d)), np.ones((2, d)), n_shared=d)
    model.partial_fit(design, np.zeros(n, dtype=int), (rng.random(n) < 0.3).astype(float))
    np.testing.assert_array_equal(model.mean_[1], np.zeros(d))
    before = model.mean_.copy(), model.cov_.copy()
    model.add_arm(np.full(d, 0.5), np.full(d, 2.0))
    assert model.n_arms == 3
    np.testing.assert_array_equal(model.mean_[:2], before[0])
    np.testing.assert_array_equal(model.cov_[:2], before[1])
    np.testing.assert_array_equal(model.mean_[2], np.full(d, 0.5))


@pytest.mark.parametrize(
    ("mean", "sd", "n_shared", "match"),
    [
        (np.zeros((2, 3)), np.ones((2, 4)), 3, "differ in shape"),
        (np.zeros((2, 3)), np.zeros((2, 3)), 3, "`prior_sd` must be > 0"),
        (np.zeros((2, 3)), np.ones((2, 3)), 4, "`n_shared` must be in"),
    ],
)
def test_bad_construction_is_a_clear_error(mean, sd, n_shared, match) -> None:
    with pytest.raises(InputError, match=match):
        BayesianLogisticRegression(mean, sd, n_shared=n_shared)


def test_design_of_the_wrong_width_is_refused() -> None:
    model = BayesianLogisticRegression(np.zeros((1, 3)), np.ones((1, 3)), n_shared=3)
    bad = Design(np.ones((2, 4)), np.zeros((2, 1, 0)), np.full((2, 1), np.nan))
    with pytest.raises(InputError, match="design has 4 shared"):
        model.predict(bad)
