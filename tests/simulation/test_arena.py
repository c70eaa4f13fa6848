"""The arena: common random numbers, the oracle's bound, delays and windows, guardrails."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest

from xsell.errors import InputError
from xsell.simulation import BankWorld, Offers, run_contender
from xsell.simulation.contenders import NoOffer, Oracle, PropensityGreedy, RandomOffer, XsellAgent
from xsell.simulation.metrics import paired, summary
from xsell.simulation.runner import run_arena

SMALL = {"customers": 1_500, "days": 24}


def test_identical_policies_give_identical_results() -> None:
    world = partial(BankWorld, seed=11, **SMALL)
    a = run_contender(world(), partial(XsellAgent, name="a"))
    b = run_contender(world(), partial(XsellAgent, name="b"))
    cols = [c for c in a.columns if c != "contender"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["offers"].sum() > 0 and a["conversions"].sum() > 0


def test_runs_are_reproducible_across_worker_processes() -> None:
    names = ["random", "xsell"]
    one = run_arena("bank", seeds=[3, 4], contenders=names, world_params=SMALL, jobs=1)
    two = run_arena("bank", seeds=[3, 4], contenders=names, world_params=SMALL, jobs=2)
    pd.testing.assert_frame_equal(one.steps, two.steps)


def test_offers_only_add_purchases_on_the_same_customers() -> None:
    # on the first day every contender's world is in the same state: with the same luck,
    # an offer can only turn a non-buyer into a buyer, never the reverse
    world = partial(BankWorld, seed=5, **SMALL)
    base = run_contender(world(), NoOffer)
    assert base["conversions"].sum() == 0 and base["purchases"].sum() > 0
    for factory in (RandomOffer, PropensityGreedy, Oracle):
        other = run_contender(world(), factory)
        assert other["purchases"].iloc[0] >= base["purchases"].iloc[0]
        assert other["offers"].iloc[0] > 0


def test_oracle_bounds_every_policy_without_contact_rules() -> None:
    params = {**SMALL, "contact_rules": False}
    result = run_arena(
        "bank",
        seeds=[21, 22],
        contenders=["oracle", "xsell", "propensity-greedy", "random", "linucb", "epsilon-greedy"],
        world_params=params,
    )
    steps = result.steps
    assert (steps["regret"] >= -1e-9).all()
    total = steps.groupby(["seed", "contender"])["expected_reward"].sum().unstack()
    for name in total.columns:
        assert (total["oracle"] >= total[name] - 1e-9).all(), name
    # and it is a real bound: the oracle is strictly ahead of today's practice
    assert (total["oracle"] > total["propensity-greedy"]).all()


class _Probe:
    """Offers the highest-propensity product and records what it is told, and when."""

    name = "probe"

    def __init__(self, setup):  # type: ignore[no-untyped-def]
        self.inner = PropensityGreedy(setup)
        self.decided: dict[str, pd.Timestamp] = {}
        self.told: list[pd.DataFrame] = []

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        offers = self.inner.act(customers, eligible, at)
        ids = np.array([f"{at.value}-{c}" for c in customers["customer_id"]], dtype=object)
        for i in np.flatnonzero(offers.action >= 0):
            self.decided[ids[i]] = at
        return Offers(offers.action, offers.probability, offers.explored, ids)

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        self.told.append(feedback.assign(told_at=at))


def test_delays_and_observation_window() -> None:
    world = BankWorld(seed=8, customers=3_000, days=40, window_days=7.0)
    probes: list[_Probe] = []

    def factory(setup):  # type: ignore[no-untyped-def]
        probes.append(_Probe(setup))
        return probes[0]

    steps = run_contender(world, factory)
    probe = probes[0]
    told = pd.concat(probe.told, ignore_index=True)
    assert told["decision_id"].is_unique  # each decision is told once
    lag = (told["told_at"] - told["decided_at"]).dt.total_seconds() / 86_400
    silent = told["conversion"] == 0
    # silence is only taken as "no" once the window has passed, and then at the next step
    assert (lag[silent] >= 7.0).all() and (lag[silent] < 8.0).all()
    # a conversion is told when it happens, within the window
    assert (lag[~silent] > 0).all() and (lag[~silent] < 8.0).all()
    assert lag[~silent].mean() < 4.0  # app responses take about a day, not the window
    # every decision old enough has been told
    end = steps["at"].iloc[-1]
    old = {d for d, at in probe.decided.items() if (end - at) >= pd.Timedelta(days=8)}
    assert old <= set(told["decision_id"])
    # the labels are the arena's: conversions in the feedback equal those it counted
    assert told["conversion"].sum() <= steps["conversions"].sum()


def test_a_contender_cannot_override_the_guardrails() -> None:
    class Pushy:
        name = "pushy"

        def __init__(self, setup):  # type: ignore[no-untyped-def]
            pass

        def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
            return Offers(np.full(len(customers), 7, dtype=np.int64))  # mortgage to everyone

        def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
            pass

    with pytest.raises(InputError, match="guardrails block"):
        run_contender(BankWorld(seed=1, customers=500, days=3), Pushy)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"customers": 0}, "`customers` must be a positive integer"),
        ({"days": -3}, "`days` must be a positive integer"),
        ({"drift_day": 99, "days": 10}, "`drift_day`"),
        ({"colour": "red"}, "unknown bank world parameter"),
    ],
)
def test_bad_world_parameters_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        BankWorld(seed=1, **kwargs)  # type: ignore[arg-type]


def test_summary_pairs_contenders_by_seed() -> None:
    result = run_arena(
        "bank", seeds=[1, 2, 3], contenders=["propensity-greedy", "random"], world_params=SMALL
    )
    s = summary(result.steps, reference="propensity-greedy").set_index("contender")
    diff = paired(result.steps, "propensity-greedy").set_index("contender")
    totals = result.steps.groupby(["contender", "seed"])["reward"].sum()
    expected = (totals["random"] - totals["propensity-greedy"]).mean()
    assert diff.loc["random", "difference"] == pytest.approx(expected)
    assert s.loc["propensity-greedy", "reward_vs_propensity-greedy"] == 0
    assert s.loc["random", "seeds"] == 3
