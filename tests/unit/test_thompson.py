"""Thompson sampling: exact choice probabilities, and draws that follow them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, roots_hermitenorm
from scipy.stats import chisquare, norm

import xsell
from xsell.policies import win_probabilities


def _reference(loc, scale, value, penalty, eligible) -> np.ndarray:
    """P(product k has the highest sampled value, and beats 0) by Gauss-Hermite quadrature
    over z_k, conditioning on it; independent of the code under test."""
    x, w = roots_hermitenorm(160)
    w = w / w.sum()
    K = len(loc)
    out = np.zeros(K + 1)

    def cdf(j: int, t: np.ndarray) -> np.ndarray:
        q = (t + penalty[j]) / value[j]
        inside = (q > 0) & (q < 1)
        z = np.where(inside, np.log(np.where(inside, q, 0.5) / (1 - np.where(inside, q, 0.5))), 0)
        return np.where(q <= 0, 0.0, np.where(q >= 1, 1.0, norm.cdf((z - loc[j]) / scale[j])))

    for k in range(K):
        if not eligible[k]:
            continue
        ev = value[k] * expit(loc[k] + scale[k] * x) - penalty[k]
        prod = np.where(ev > 0, 1.0, 0.0)
        for j in range(K):
            if j != k and eligible[j]:
                prod = prod * cdf(j, ev)
        out[k + 1] = float((w * prod).sum())
    out[0] = float(np.prod([cdf(j, np.array(0.0)) for j in range(K) if eligible[j]]))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_win_probabilities_match_gauss_hermite(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, K = 60, 6
    loc = rng.normal(-3.0, 1.0, (n, K))
    scale = rng.uniform(0.05, 1.2, (n, K))
    value = rng.uniform(20, 500, K)
    penalty = rng.uniform(0, 2.0, (n, K))
    eligible = rng.random((n, K)) < 0.75
    got = win_probabilities(loc, scale, value, penalty, eligible)
    ref = np.array([_reference(loc[i], scale[i], value, penalty[i], eligible[i]) for i in range(n)])
    assert np.abs(got - ref).max() <= 0.02
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-9)
    assert (got[:, 1:][~eligible] == 0).all()


def test_nothing_eligible_means_no_offer_for_sure() -> None:
    loc = np.zeros((3, 4))
    got = win_probabilities(
        loc, np.ones((3, 4)), np.ones(4), np.zeros((3, 4)), np.zeros((3, 4), bool)
    )
    np.testing.assert_array_equal(got[:, 0], 1.0)


def test_chosen_frequencies_match_the_logged_probabilities(catalog, spec) -> None:
    """Many identical customers under different keys: the choices follow the logged distribution."""
    base = xsell.make_customers(50, seed=3)
    agent = xsell.Agent(catalog, spec, policy=xsell.ThompsonSampling(posterior_scale=1.0), seed=9)
    agent.fit_features(base)
    one = base.iloc[[7]]
    n = 20_000
    many = pd.concat([one] * n, ignore_index=True)
    many["customer_id"] = [f"K{i}" for i in range(n)]
    out = agent.act(many, at="2026-02-01T10:00:00Z")
    pcols = ["p_none"] + [f"p_{p}" for p in catalog.product_ids]
    probs = out[pcols].to_numpy()
    np.testing.assert_allclose(probs, probs[:1].repeat(n, axis=0), atol=1e-12)
    p = probs[0]
    assert (p > 0.01).sum() >= 3, "the test needs a customer with several likely offers"
    chosen = out["product"].astype(object).fillna("none").to_numpy()
    labels = np.array(["none", *catalog.product_ids])
    counts = np.array([(chosen == lab).sum() for lab in labels])
    assert counts[p == 0].sum() == 0
    live = p > 0
    _, pvalue = chisquare(counts[live], p[live] / p[live].sum() * n)
    assert pvalue > 1e-3
    # the logged probability is that of the chosen action
    col = {lab: i for i, lab in enumerate(labels)}
    np.testing.assert_allclose(out["probability"], p[[col[c] for c in chosen]])


def test_smaller_posterior_scale_explores_less(catalog, spec, customers) -> None:
    wide = xsell.Agent(catalog, spec, policy=xsell.ThompsonSampling(posterior_scale=1.0, floor=0.0))
    narrow = xsell.Agent(
        catalog, spec, policy=xsell.ThompsonSampling(posterior_scale=0.2, floor=0.0)
    )
    a = wide.act(customers, at="2026-01-05T09:00:00Z")
    b = narrow.act(customers, at="2026-01-05T09:00:00Z")
    assert b["explored"].mean() < a["explored"].mean()
    # "probability of the greedy choice" is higher with a narrower posterior on average
    assert b["probability"].mean() > a["probability"].mean()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"posterior_scale": 0}, "`posterior_scale` must be > 0"),
        ({"floor": 1.5}, r"`floor` must be in \[0, 1\]"),
        ({"grid": 2}, "`grid` must be >= 4"),
        ({"budget": -0.1}, "`budget` must be >= 0"),
    ],
)
def test_bad_parameters(kwargs, match) -> None:
    with pytest.raises(xsell.InputError, match=match):
        xsell.ThompsonSampling(**kwargs)


@pytest.mark.parametrize("budget", [0.0, 0.01, 0.05])
def test_budget_caps_the_expected_cost_of_exploring(budget: float) -> None:
    rng = np.random.default_rng(4)
    n, K = 400, 6
    pred = xsell.Prediction(rng.normal(-3.0, 0.7, (n, K)), rng.uniform(0.2, 1.5, (n, K)))
    value = rng.uniform(50, 150, K)
    penalty = rng.uniform(0, 0.5, (n, K))
    eligible = rng.uniform(size=(n, K)) < 0.8
    values = xsell.ActionValues(pred, value, penalty, eligible)
    free = xsell.ThompsonSampling(floor=0.0).probabilities(values, n_learned=0)
    capped = xsell.ThompsonSampling(floor=0.0, budget=budget).probabilities(values, n_learned=0)
    # plug-in values computed here, independently of the policy's helpers
    p = expit(pred.loc)
    ev = np.column_stack([np.zeros(n), np.where(eligible, p * value - penalty, -np.inf)])
    best = ev.max(axis=1)
    gap = np.where(np.isfinite(ev), best[:, None] - ev, 0.0)
    loss_free = (free * gap).sum(axis=1)
    loss = (capped * gap).sum(axis=1)
    assert np.allclose(capped.sum(axis=1), 1.0)
    assert (capped[~np.isfinite(ev)] == 0).all()
    assert (loss <= budget * np.maximum(best, 0) + 1e-9).all()
    # exploration is kept where it was already within budget, and only shrunk elsewhere
    within = loss_free <= budget * np.maximum(best, 0)
    assert np.allclose(capped[within], free[within])
    assert (loss_free > loss + 1e-12).sum() == (~within).sum() > 0
