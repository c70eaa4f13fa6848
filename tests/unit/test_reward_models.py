"""Ridge, SGD oracle and Beta-Bernoulli reward models against closed forms and references."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.special import logit

from xsell import BayesianLogisticRegression, InputError
from xsell.features import Design
from xsell.models.base import RewardModel
from xsell.models.beta_bernoulli import BetaBernoulli
from xsell.models.ridge import RidgeRegression
from xsell.models.sgd_oracle import SGDOracle

K, d = 3, 4


def _design(seed: int, n: int = 600, *, e: int = 2) -> tuple[Design, np.ndarray, np.ndarray]:
    """A design with some missing propensities, a random arm per row and binary labels."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, d - 1))])
    P = rng.uniform(0.01, 0.4, size=(n, K))
    P[rng.random((n, K)) < 0.15] = np.nan
    E = np.zeros((n, K, e))
    if e:
        E[:, :, 0] = np.where(np.isnan(P), 0.0, logit(np.nan_to_num(P, nan=0.5)) + 1.5)
        E[:, :, 1] = np.isnan(P)
    arm = rng.integers(0, K, size=n)
    p_true = np.clip(np.nan_to_num(P[np.arange(n), arm], nan=0.1) + 0.05 * X[:, 1], 0, 1)
    y = (rng.random(n) < p_true).astype(float)
    return Design(X, E, P), arm, y


def _prior(seed: int, D: int = d + 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.3, size=(K, D)), rng.uniform(0.2, 1.0, size=(K, D))


CENTRE = np.array([0.2, 0.15, 0.25])


def _ridge(noise_sd: float = 0.3) -> RidgeRegression:
    m0, sd0 = _prior(1)
    return RidgeRegression(m0, sd0, n_shared=d, noise_sd=noise_sd, propensity_centre=CENTRE)


def _closed_form(model: RidgeRegression, design: Design, arm: np.ndarray, y: np.ndarray) -> Any:
    """The posterior from the normal equations, written out from the definition."""
    means, covs = [], []
    for k in range(K):
        rows = arm == k
        p = design.propensity[rows, k]
        miss = np.isnan(p)
        Z = np.column_stack([design.X[rows], np.where(miss, 0.0, p - CENTRE[k]), miss])
        P0 = np.diag(1.0 / model.prior_sd_[k] ** 2)
        A = P0 + Z.T @ Z / model.noise_sd**2
        b = P0 @ model.prior_mean_[k] + Z.T @ y[rows] / model.noise_sd**2
        means.append(np.linalg.solve(A, b))
        covs.append(np.linalg.inv(A))
    return np.array(means), np.array(covs)


def test_ridge_one_batch_equals_the_closed_form() -> None:
    design, arm, y = _design(0)
    model = _ridge()
    mean, cov = _closed_form(model, design, arm, y)
    model.partial_fit(design, arm, y)
    np.testing.assert_allclose(model.mean_, mean, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.cov_, cov, rtol=0, atol=1e-9)
    assert model.n_seen_.tolist() == np.bincount(arm, minlength=K).tolist()


def test_ridge_streamed_batches_equal_the_closed_form() -> None:
    design, arm, y = _design(1, n=1_000)
    model = _ridge()
    mean, cov = _closed_form(model, design, arm, y)
    for start in range(0, design.n, 37):
        rows = np.arange(start, min(design.n, start + 37))
        model.partial_fit(design.rows(rows), arm[rows], y[rows])
    np.testing.assert_allclose(model.mean_, mean, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.cov_, cov, rtol=0, atol=1e-9)


def test_ridge_prediction_is_the_direct_quadratic_form() -> None:
    design, arm, y = _design(2)
    model = _ridge().partial_fit(design, arm, y)
    pred = model.predict(design)
    assert pred.link == "identity" and pred.scale is not None
    for k in range(K):
        p = design.propensity[:, k]
        miss = np.isnan(p)
        Z = np.column_stack([design.X, np.where(miss, 0.0, p - CENTRE[k]), miss])
        np.testing.assert_allclose(pred.loc[:, k], Z @ model.mean_[k], rtol=1e-12, atol=1e-14)
        direct = np.sqrt(np.einsum("ij,jk,ik->i", Z, model.cov_[k], Z))
        np.testing.assert_allclose(pred.scale[:, k], direct, rtol=1e-9)
    assert model.predict(design, with_uncertainty=False).scale is None


def test_ridge_without_arm_inputs_reads_only_x() -> None:
    design, arm, y = _design(3, e=0)
    rng = np.random.default_rng(0)
    m0, sd0 = rng.normal(size=(K, d)), np.full((K, d), 0.5)
    model = RidgeRegression(m0, sd0, n_shared=d).partial_fit(design, arm, y)
    rows = arm == 0
    Z = design.X[rows]
    A = np.diag(1 / sd0[0] ** 2) + Z.T @ Z / 0.2**2
    ref = np.linalg.solve(A, m0[0] / sd0[0] ** 2 + Z.T @ y[rows] / 0.2**2)
    np.testing.assert_allclose(model.mean_[0], ref, atol=1e-9)
    np.testing.assert_allclose(model.predict(design).loc[:, 0], design.X @ ref, atol=1e-9)


def test_ridge_state_round_trip() -> None:
    design, arm, y = _design(4)
    model = _ridge().partial_fit(design, arm, y)
    meta, arrays = model.get_state()
    copy = RidgeRegression.from_state(json.loads(json.dumps(meta)), dict(arrays))
    for name, value in copy.get_state()[1].items():
        np.testing.assert_array_equal(value, arrays[name])
    np.testing.assert_array_equal(copy.predict(design).scale, model.predict(design).scale)


def _beta() -> BetaBernoulli:
    return BetaBernoulli(np.array([0.05, 0.2, 0.5]), prior_strength=20.0)


def test_beta_bernoulli_counts_are_the_exact_posterior() -> None:
    design, arm, y = _design(5)
    model = _beta().partial_fit(design, arm, y)
    wins = np.array([y[arm == k].sum() for k in range(K)])
    n = np.bincount(arm, minlength=K)
    np.testing.assert_allclose(model.alpha_, 20 * np.array([0.05, 0.2, 0.5]) + wins)
    np.testing.assert_allclose(model.beta_, 20 * np.array([0.95, 0.8, 0.5]) + n - wins)
    mean, sd = model.coefficients()
    assert mean.shape == sd.shape == (K, 1)
    a, b = model.alpha_, model.beta_
    np.testing.assert_allclose(mean[:, 0], a / (a + b))


def test_beta_bernoulli_belief_matches_mean_and_logit_spread() -> None:
    design, _, _ = _design(6, n=5)
    model = _beta()
    pred = model.predict(design)
    assert pred.scale is not None and pred.loc.shape == pred.scale.shape == (5, K)
    assert (pred.loc == pred.loc[0]).all()
    rng = np.random.default_rng(0)
    draws = logit(rng.beta(model.alpha_, model.beta_, size=(400_000, K)))
    # plug-in probability = posterior mean rate; spread = the sd of logit(p)
    np.testing.assert_allclose(pred.probability()[0], model.alpha_ / (model.alpha_ + model.beta_))
    np.testing.assert_allclose(pred.scale[0], draws.std(axis=0), rtol=0.01)


def _sgd(**kw: Any) -> SGDOracle:
    m0, sd0 = _prior(2)
    m0[:, 0] = logit(CENTRE)
    return SGDOracle(m0, sd0, n_shared=d, **kw)


def test_sgd_untrained_prediction_is_the_logistic_prior() -> None:
    design, _, _ = _design(7)
    model = _sgd()
    ref = BayesianLogisticRegression(model.prior_mean_, model.prior_sd_, n_shared=d)
    np.testing.assert_allclose(model.predict(design).loc, ref.predict(design).loc, atol=1e-12)
    assert model.predict(design).scale is None
    np.testing.assert_array_equal(model.coefficients()[0], model.prior_mean_)
    assert np.isnan(model.coefficients()[1]).all()


def test_sgd_learns_in_the_right_direction_and_predicts_as_sklearn() -> None:
    design, _, _ = _design(8)
    model = _sgd()
    before = model.predict(design).loc
    arm = np.zeros(design.n, dtype=int)
    model.partial_fit(design, arm, np.ones(design.n))
    after = model.predict(design).loc
    assert (after[:, 0] > before[:, 0]).mean() > 0.95
    np.testing.assert_array_equal(after[:, 1:], before[:, 1:])
    Z = np.hstack([design.X[:, 1:], design.E[:, 0, :]])
    sk = model.classifiers_[0].decision_function(Z)
    np.testing.assert_allclose(after[:, 0], sk, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"learning_rate": "optimal", "alpha": 1e-3}])
def test_sgd_save_restore_continues_bitwise_identically(kw: dict[str, Any]) -> None:
    design, arm, y = _design(9, n=800)
    first, second = np.arange(400), np.arange(400, 800)
    model = _sgd(**kw).partial_fit(design.rows(first), arm[first], y[first])
    meta, arrays = model.get_state()
    restored = SGDOracle.from_state(
        json.loads(json.dumps(meta)), {k: np.array(v) for k, v in arrays.items()}
    )
    for a, b in zip(model.classifiers_, restored.classifiers_, strict=True):
        assert set(vars(a)) - {"_loss_function_"} == set(vars(b))
    model.partial_fit(design.rows(second), arm[second], y[second])
    restored.partial_fit(design.rows(second), arm[second], y[second])
    np.testing.assert_array_equal(restored.mean_, model.mean_)
    assert restored.mean_.tobytes() == model.mean_.tobytes()
    assert [c.t_ for c in restored.classifiers_] == [c.t_ for c in model.classifiers_]


def _models() -> list[Callable[[], Any]]:
    return [_ridge, _sgd, _beta]


def _state(model: Any) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=float) for k, v in model.get_state()[1].items()}


@pytest.mark.parametrize("make", _models())
def test_models_follow_the_protocol(make: Callable[[], Any]) -> None:
    assert isinstance(make(), RewardModel)


@pytest.mark.parametrize("make", _models())
def test_decay_one_changes_nothing_and_repeated_decay_returns_to_the_prior(
    make: Callable[[], Any],
) -> None:
    design, arm, y = _design(10)
    model = make().partial_fit(design, arm, y)
    before = _state(model)
    model.decay(1.0)
    for name, value in _state(model).items():
        np.testing.assert_array_equal(value, before[name])
    prior = make().predict(design)
    trained = model.predict(design)
    model.decay(0.5)
    half = model.predict(design)
    if trained.scale is not None:  # less evidence: more uncertainty, never less
        assert (half.scale >= trained.scale - 1e-12).all()
        assert (half.scale > trained.scale).mean() > 0.9
    else:  # the SGD oracle's weights move exactly halfway, and its logits are linear in them
        np.testing.assert_allclose(half.loc, 0.5 * (trained.loc + prior.loc), atol=1e-12)
    for _ in range(60):
        model.decay(0.5)
    np.testing.assert_allclose(model.predict(design).loc, prior.loc, atol=1e-9)


def test_decay_follows_the_information_form_exactly() -> None:
    design, arm, y = _design(11)
    ridge = _ridge().partial_fit(design, arm, y)
    A, b = ridge.prec_.copy(), ridge.prec_mean_.copy()
    P0 = np.array([np.diag(1 / s**2) for s in ridge.prior_sd_])
    ridge.decay(0.3)
    A_ref = 0.3 * A + 0.7 * P0
    b_ref = 0.3 * b + 0.7 * np.einsum("kde,ke->kd", P0, ridge.prior_mean_)
    np.testing.assert_allclose(ridge.prec_, A_ref, rtol=1e-12)
    np.testing.assert_allclose(ridge.mean_, np.linalg.solve(A_ref, b_ref[..., None])[..., 0])
    np.testing.assert_allclose(ridge.cov_, np.linalg.inv(A_ref), rtol=1e-9)

    beta = _beta().partial_fit(design, arm, y)
    a = beta.alpha_.copy()
    beta.decay(0.3)
    np.testing.assert_allclose(beta.alpha_, 0.3 * a + 0.7 * beta.prior_alpha_)

    sgd = _sgd().partial_fit(design, arm, y)
    w = sgd.mean_
    sgd.decay(0.3)
    np.testing.assert_allclose(sgd.mean_, 0.3 * w + 0.7 * sgd.prior_mean_)


@pytest.mark.parametrize("make", _models())
def test_add_arm_leaves_other_arms_untouched(make: Callable[[], Any]) -> None:
    design, arm, y = _design(12)
    model = make().partial_fit(design, arm, y)
    before, pred = _state(model), model.predict(design)
    if isinstance(model, BetaBernoulli):
        model.add_arm(0.3)
    else:
        model.add_arm(np.full(model.n_inputs, 0.1), np.full(model.n_inputs, 0.5))
    for name, value in _state(model).items():
        if before[name].ndim:  # per-arm arrays: the first K rows are unchanged
            np.testing.assert_array_equal(value[:K], before[name])
    assert model.n_arms == K + 1
    wider = Design(
        design.X,
        np.concatenate([design.E, design.E[:, :1]], axis=1),
        np.column_stack([design.propensity, design.propensity[:, 0]]),
    )
    new = model.predict(wider)
    np.testing.assert_array_equal(new.loc[:, :K], pred.loc)
    model.partial_fit(wider, np.full(design.n, K), y)
    assert model.n_seen_[K] == design.n


def _raises(match: str, fn: Callable[[], Any]) -> None:
    with pytest.raises(InputError, match=match):
        fn()


def test_bad_inputs_raise_input_error_naming_the_argument() -> None:
    m0, sd0 = _prior(0)
    _raises("`prior_mean`", lambda: RidgeRegression(m0, sd0[:, :3], n_shared=d))
    _raises("`prior_sd`", lambda: RidgeRegression(m0, -sd0, n_shared=d))
    _raises("`prior_sd`", lambda: SGDOracle(m0, 0 * sd0, n_shared=d))
    _raises("`noise_sd`", lambda: RidgeRegression(m0, sd0, n_shared=d, noise_sd=0.0))
    _raises("`n_shared`", lambda: RidgeRegression(m0, sd0, n_shared=d + 1))
    _raises(
        "`propensity_centre`",
        lambda: RidgeRegression(m0, sd0, n_shared=d, propensity_centre=np.array([0.1])),
    )
    _raises("`learning_rate`", lambda: SGDOracle(m0, sd0, n_shared=d, learning_rate="fast"))
    _raises("`random_state`", lambda: SGDOracle(m0, sd0, n_shared=d, random_state=None))  # type: ignore[arg-type]
    _raises("`prior_strength`", lambda: BetaBernoulli(np.array([0.1, 0.2]), prior_strength=0.0))
    _raises("`prior_strength`", lambda: BetaBernoulli(np.array([0.1]), prior_strength=np.ones(2)))
    _raises("`prior_rate`", lambda: BetaBernoulli(np.array([0.0, 0.2])))
    design, arm, y = _design(0)
    narrow = Design(design.X[:3], design.E[:3, :2], design.propensity[:3, :2])
    for model in (_ridge(), _sgd(), _beta()):
        for match, bad_arm, bad_y in [
            ("`arm`", arm[:-1], y),
            ("`arm`", arm + K, y),
            ("`y`", arm, y * np.nan),
        ]:
            with pytest.raises(InputError, match=match):
                model.partial_fit(design, bad_arm, bad_y)
        for factor in (0.0, 1.5):
            with pytest.raises(InputError, match="`factor`"):
                model.decay(factor)
        with pytest.raises(InputError, match="design"):
            model.predict(narrow)
    _raises("`y`", lambda: _sgd().partial_fit(design, arm, y * 0.5))
    _raises(
        "design has 4 shared",
        lambda: _ridge().predict(Design(design.X, design.E[:, :, :0], design.propensity)),
    )
    _raises("`prior_mean`", lambda: _ridge().add_arm(np.zeros(3), np.ones(3)))
    _raises("`prior_rate`", lambda: _beta().add_arm(1.5))
