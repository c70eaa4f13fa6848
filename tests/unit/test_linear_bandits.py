"""LinUCB and linear Thompson sampling against small hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.stats import norm
from tests.catalogs import simple_catalog

import xsell

AT = "2026-01-05T09:00:00Z"
CATALOG = simple_catalog({"a": 0.05, "b": 0.045})
SPEC = xsell.FeatureSpec(propensity=None, consent=None)  # intercept only: one weight per product
NOISE = 0.2
PRIOR_SD = 0.3  # WarmStartPrior.intercept_sd, in logit units


def _customers(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(n)], "owns_a": False, "owns_b": False}
    )


def _agent(policy: xsell.Policy) -> xsell.Agent:
    agent = xsell.Agent(
        CATALOG,
        SPEC,
        model="ridge",
        model_params={"noise_sd": NOISE},
        policy=policy,
        learn_opt_out=False,
    )
    agent.fit_features(_customers(1))
    # product a: 200 offers, 12 conversions; product b: never offered
    history = _customers(200).assign(product="a", conversion=[1] * 12 + [0] * 188)
    agent.update(history, at=AT)
    return agent


def _by_hand() -> tuple[tuple[float, float], tuple[float, float]]:
    """Posterior mean and sd of each product's rate (conjugate normal, prior at the base rate)."""
    out = []
    for rate, n, s in ((0.05, 200, 12), (0.045, 0, 0)):
        s0 = PRIOR_SD * rate * (1 - rate)  # the logit sd carried to the probability scale
        precision = 1 / s0**2 + n / NOISE**2
        mean = (rate / s0**2 + s / NOISE**2) / precision
        out.append((mean, precision**-0.5))
    return out[0], out[1]


@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.0, 10.0])
def test_linucb_picks_the_highest_hand_computed_bound(alpha: float) -> None:
    (ma, sa), (mb, sb) = _by_hand()
    expected = "a" if ma + alpha * sa >= mb + alpha * sb else "b"
    out = _agent(xsell.UCB(alpha=alpha)).act(_customers(3), at=AT)
    assert (out["product"] == expected).all()
    assert (out["probability"] == 1.0).all()


def test_linucb_choice_flips_with_alpha() -> None:
    (ma, sa), (mb, sb) = _by_hand()
    assert ma > mb and sb > sa  # a is better known and better; b is uncertain
    picks = {
        alpha: _agent(xsell.UCB(alpha=alpha)).act(_customers(1), at=AT)["product"].iloc[0]
        for alpha in (0.0, 10.0)
    }
    assert picks == {0.0: "a", 10.0: "b"}


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_linear_thompson_probabilities_match_direct_integration(scale: float) -> None:
    (ma, sa), (mb, sb) = _by_hand()
    sa, sb = scale * sa, scale * sb
    # P(a has the highest sampled value and beats "no offer", worth 0), by quadrature
    p_a = quad(lambda t: norm.pdf(t, ma, sa) * norm.cdf(t, mb, sb), 0, np.inf)[0]
    p_b = quad(lambda t: norm.pdf(t, mb, sb) * norm.cdf(t, ma, sa), 0, np.inf)[0]
    p_none = norm.cdf(0, ma, sa) * norm.cdf(0, mb, sb)
    assert p_a + p_b + p_none == pytest.approx(1.0, abs=1e-6)
    out = _agent(xsell.ThompsonSampling(posterior_scale=scale, floor=0.0)).act(_customers(1), at=AT)
    assert out["p_a"].iloc[0] == pytest.approx(p_a, abs=0.01)
    assert out["p_b"].iloc[0] == pytest.approx(p_b, abs=0.01)
    assert out["p_none"].iloc[0] == pytest.approx(p_none, abs=0.01)
