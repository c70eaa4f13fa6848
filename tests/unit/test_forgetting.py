"""Forgetting: with a half-life, the model follows a reversed effect; without, nothing changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from tests.catalogs import simple_catalog

import xsell

CATALOG = simple_catalog({"card": 0.05, "loan": 0.05})
SPEC = xsell.FeatureSpec(numeric=("x",), propensity=None, consent=None)
START = pd.Timestamp("2026-01-01T00:00:00Z")
PER_DAY = 200


def _day(day: int, sign: float) -> pd.DataFrame:
    rng = np.random.default_rng(day)
    x = rng.normal(size=PER_DAY)
    y = (rng.random(PER_DAY) < expit(-2.0 + sign * 1.5 * x)).astype(int)
    return pd.DataFrame(
        {
            "customer_id": [f"d{day}-{i}" for i in range(PER_DAY)],
            "x": x,
            "owns_card": False,
            "owns_loan": False,
            "product": "card",
            "conversion": y,
        }
    )


def _x_weight(agent: xsell.Agent) -> float:
    co = agent.coefficients()
    return float(
        co[(co["outcome"] == "conversion") & (co["product"] == "card") & (co["feature"] == "x")][
            "weight"
        ].iloc[0]
    )


def _run(
    half_life: float | None, days_before: int = 40, days_after: int = 10
) -> tuple[float, list[float]]:
    agent = xsell.Agent(CATALOG, SPEC, learn_opt_out=False, half_life=half_life)
    agent.fit_features(_day(0, 1.0))
    for d in range(days_before):
        agent.update(_day(d, +1.0), at=START + pd.Timedelta(days=d))
    before = _x_weight(agent)
    after = []
    for d in range(days_before, days_before + days_after):
        agent.update(_day(d, -1.0), at=START + pd.Timedelta(days=d))
        after.append(_x_weight(agent))
    return before, after


def test_a_half_life_tracks_a_reversed_effect_within_2000_events() -> None:
    before, after = _run(half_life=3.0)
    assert before > 0.2
    # the effect reversed: within 4 days x 200 = 800 events the weight has changed sign,
    # and after 2,000 it has moved as far below 0 as it was above
    first_negative = next(i for i, w in enumerate(after) if w < 0)
    assert (first_negative + 1) * PER_DAY <= 800, after
    assert after[-1] < -0.2, after


def test_without_forgetting_8000_old_events_outweigh_2000_new_ones() -> None:
    before, after = _run(half_life=None)
    assert before > 0.5 and min(after) > 0.4, after


def test_no_half_life_changes_nothing() -> None:
    a = xsell.Agent(CATALOG, SPEC, learn_opt_out=False)
    b = xsell.Agent(CATALOG, SPEC, learn_opt_out=False, half_life=None)
    for agent in (a, b):
        agent.fit_features(_day(0, 1.0))
        for d in range(5):
            agent.update(_day(d, 1.0), at=START + pd.Timedelta(days=d))
    np.testing.assert_array_equal(a.model.mean_, b.model.mean_)
    before = a.model.mean_.copy()
    a.model.decay(1.0)
    np.testing.assert_array_equal(a.model.mean_, before)


def test_decay_moves_halfway_to_the_prior_in_information_form() -> None:
    agent = xsell.Agent(CATALOG, SPEC, learn_opt_out=False)
    agent.fit_features(_day(0, 1.0))
    agent.update(_day(1, 1.0), at=START)
    m = agent.model
    P0 = np.diag(1 / m.prior_sd_[0] ** 2)
    P, mean = m.prec_[0].copy(), m.mean_[0].copy()
    m.decay(0.5)
    np.testing.assert_allclose(m.prec_[0], 0.5 * P + 0.5 * P0)
    np.testing.assert_allclose(
        m.prec_[0] @ m.mean_[0], 0.5 * P @ mean + 0.5 * P0 @ m.prior_mean_[0]
    )
    with pytest.raises(xsell.InputError, match="`factor` must be in"):
        m.decay(0.0)


def test_bad_half_life() -> None:
    with pytest.raises(xsell.InputError, match="`half_life` must be > 0"):
        xsell.Agent(CATALOG, SPEC, half_life=0)
