"""Greedy and epsilon-greedy: probabilities, ties, decay, draws."""

from __future__ import annotations

import numpy as np
import pytest

import xsell
from xsell.models import Prediction
from xsell.policies import ActionValues, choose, draw


def _values(p: np.ndarray, eligible: np.ndarray, value: float = 100.0) -> ActionValues:
    loc = np.log(p / (1 - p))
    return ActionValues(
        Prediction(loc, np.full_like(loc, 0.3)),
        np.full(p.shape[1], value),
        np.zeros_like(p),
        eligible,
    )


def test_greedy_takes_the_best_eligible_with_probability_one() -> None:
    p = np.array([[0.1, 0.3, 0.2], [0.1, 0.3, 0.2]])
    eligible = np.array([[True, True, True], [True, False, True]])
    probs = xsell.Greedy().probabilities(_values(p, eligible), n_learned=0)
    np.testing.assert_array_equal(probs, [[0, 0, 1, 0], [0, 0, 0, 1]])


def test_ties_go_to_catalog_order() -> None:
    p = np.array([[0.2, 0.2, 0.2]])
    probs = xsell.Greedy().probabilities(_values(p, np.ones((1, 3), bool)), n_learned=0)
    np.testing.assert_array_equal(probs, [[0, 1, 0, 0]])


def test_epsilon_greedy_spreads_epsilon_over_allowed_actions() -> None:
    p = np.array([[0.1, 0.3, 0.2]])
    eligible = np.array([[True, False, True]])
    pol = xsell.EpsilonGreedy(epsilon=0.3, decay_outcomes=0, floor=0.0)
    probs = pol.probabilities(_values(p, eligible), n_learned=10**6)
    # allowed: none, product 0, product 2 (the greedy one)
    np.testing.assert_allclose(probs, [[0.1, 0.1, 0.0, 0.8]])


def test_epsilon_decays_with_outcomes_learned_down_to_the_floor() -> None:
    pol = xsell.EpsilonGreedy(epsilon=0.2, decay_outcomes=1_000, floor=0.05)
    assert pol.epsilon_at(0) == 0.2
    assert pol.epsilon_at(1_000) == pytest.approx(0.1)
    assert pol.epsilon_at(3_000) == pytest.approx(0.05)
    assert pol.epsilon_at(10**9) == 0.05


def test_draw_never_picks_a_zero_probability_action() -> None:
    probs = np.tile([0.0, 0.5, 0.0, 0.5, 0.0], (10_000, 1))
    u = np.linspace(0, 1, 10_000, endpoint=False)
    a = draw(probs, u)
    assert set(np.unique(a)) == {1, 3}
    assert abs((a == 1).mean() - 0.5) < 0.01


def test_choose_reports_probability_of_the_chosen_action_and_exploration() -> None:
    p = np.array([[0.1, 0.3, 0.2]] * 4)
    values = _values(p, np.ones((4, 3), bool))
    c = choose(
        xsell.EpsilonGreedy(epsilon=1.0, floor=1.0, decay_outcomes=0),
        values,
        np.array([0.0, 0.3, 0.6, 0.9]),
        n_learned=0,
    )
    np.testing.assert_array_equal(c.action, [0, 1, 2, 3])
    np.testing.assert_allclose(c.probability, 0.25)
    np.testing.assert_array_equal(c.explored, [True, True, False, True])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epsilon": 1.5}, r"`epsilon` must be in \[0, 1\]"),
        ({"epsilon": 0.1, "floor": 0.2}, "must not exceed"),
        ({"decay_outcomes": -1}, "`decay_outcomes` must be >= 0"),
    ],
)
def test_bad_parameters(kwargs, match) -> None:
    with pytest.raises(xsell.InputError, match=match):
        xsell.EpsilonGreedy(**kwargs)


def test_policy_version_changes_with_parameters() -> None:
    assert xsell.ThompsonSampling().version == xsell.ThompsonSampling().version
    assert xsell.ThompsonSampling().version != xsell.ThompsonSampling(posterior_scale=0.3).version
    assert xsell.ThompsonSampling().version.startswith("thompson-")
