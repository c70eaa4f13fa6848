"""The email (seed 002) and telecom (seed 003) worlds, checked from outside the arena."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from xsell.errors import InputError
from xsell.guardrails.contact_history import InMemoryContactHistory
from xsell.guardrails.rules import evaluate_guardrails
from xsell.simulation.arena import run_contender
from xsell.simulation.contenders import Offers, RandomOffer, SegmentRules, Setup
from xsell.simulation.scenarios import CONTENDERS, SCENARIOS, resolve_contenders
from xsell.simulation.worlds import EmailWorld, TelecomWorld
from xsell.simulation.worlds.telecom import ACTIONS, EXECUTION_DELAY


class Recorder:
    """Wraps a contender and writes down every offer it makes and every outcome it is told."""

    def __init__(self, setup: Setup, inner: Any = RandomOffer) -> None:
        self.inner = inner(setup)
        self.name = f"recorded-{self.inner.name}"
        self.history = setup.history
        self.products = setup.catalog.product_ids
        self.offers: list[pd.DataFrame] = []
        self.told: list[pd.DataFrame] = []

    def act(self, customers: pd.DataFrame, eligible: np.ndarray, at: pd.Timestamp) -> Offers:
        offers = self.inner.act(customers, eligible, at)
        action = np.asarray(offers.action)
        made = action >= 0
        self.offers.append(
            pd.DataFrame(
                {
                    "customer_id": customers["customer_id"].to_numpy()[made],
                    "decided_at": at,
                    "product": np.asarray(self.products, dtype=object)[action[made]],
                }
            )
        )
        return offers

    def update(self, feedback: pd.DataFrame, at: pd.Timestamp) -> None:
        self.inner.update(feedback, at)
        told = feedback[["customer_id", "decided_at", "product", "conversion", "value"]].copy()
        told["told_at"] = at
        self.told.append(told)


def _recorded(world: Any, inner: Any = RandomOffer) -> tuple[Recorder, pd.DataFrame]:
    box: list[Recorder] = []

    def factory(setup: Setup) -> Recorder:
        box.append(Recorder(setup, inner))
        return box[0]

    result = run_contender(world, factory)
    return box[0], result


# --- email (seed 002) -------------------------------------------------------------------


def test_email_world_is_seed_002s_setting() -> None:
    world = EmailWorld(seed=5)
    assert world.catalog.product_ids == tuple(f"subject_{k}" for k in range(1, 6))
    assert [p.value.amount for p in world.catalog.products] == [1.0] * 5
    assert {p.channels["realtime"] for p in world.catalog.products} == {"email"}
    assert len(world.population()) == 10_000
    assert sum(len(s.rows) for s in world.steps()) == 10_000
    assert world.segment_rules == {}
    # the true rates are fixed by the seed: the same seed, the same rates; another, others
    np.testing.assert_array_equal(world.rates, EmailWorld(seed=5).rates)
    assert not np.allclose(world.rates, EmailWorld(seed=6).rates)
    assert ((world.rates >= 0.02) & (world.rates <= 0.12)).all()
    truth = world.truth(world.population().iloc[:3], next(world.steps()).at)
    np.testing.assert_array_equal(truth.convert[0], world.rates)
    assert world.spec.name == "email" and world.spec.version == "1"


def test_email_feedback_arrives_before_the_next_batch() -> None:
    rec, result = _recorded(EmailWorld(seed=2, sends=2_000))
    offers = pd.concat(rec.offers)
    told = pd.concat(rec.told)
    assert len(offers) == 2_000 and result["offers"].sum() == 2_000
    # all but the last batch are told, each exactly one step after it was sent
    last = offers["decided_at"].max()
    assert len(told) == (offers["decided_at"] < last).sum()
    assert ((told["told_at"] - told["decided_at"]) == pd.Timedelta(hours=1)).all()


def test_epsilon_greedy_beats_uniform_ab_over_ten_seeds() -> None:
    eps, _ = CONTENDERS["epsilon-greedy-ctx-free"]
    gain, traffic = [], []
    for seed in range(10):
        # 10,000 sends in 20 batches of 500 (feedback still arrives before each batch)
        world = EmailWorld(seed=seed, batch=500)
        ab = run_contender(world, RandomOffer)
        greedy = run_contender(world, eps)
        gain.append(greedy["conversions"].sum() - ab["conversions"].sum())
        traffic.append(ab[[f"offers_subject_{k}" for k in range(1, 6)]].sum().to_numpy())
    d = np.asarray(gain, dtype=np.float64)
    assert d.mean() > 2 * d.std(ddof=1) / np.sqrt(len(d)), d
    # uniform allocation: about 2,000 sends per arm (binomial sd 40)
    t = np.asarray(traffic)
    assert (t.sum(axis=1) == 10_000).all()
    assert (np.abs(t - 2_000) < 200).all(), t


def test_email_scenario_runs_every_contender() -> None:
    scenario = SCENARIOS["email"]
    assert scenario.size_param == "sends"
    world = scenario.make_world(1001, sends=600)
    for name, factory in resolve_contenders(scenario.contenders).items():
        result = run_contender(world, factory, name=name)
        # xsell's agents may also choose "no send" (explored, or sampled as the best)
        assert result["offers"].sum() >= (570 if name.startswith(("epsilon", "beta")) else 600)


# --- telecom (seed 003) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def telecom_run() -> tuple[TelecomWorld, Recorder, pd.DataFrame]:
    world = TelecomWorld(seed=7, customers=400, days=21, events_per_customer=10.0)
    rec, result = _recorded(world)
    return world, rec, result


def test_telecom_never_contacts_a_customer_awaiting_a_response(
    telecom_run: tuple[TelecomWorld, Recorder, pd.DataFrame],
) -> None:
    _, rec, _ = telecom_run
    offers = pd.concat(rec.offers).sort_values(["customer_id", "decided_at"], kind="stable")
    told = pd.concat(rec.told)
    told["decided_at"] = told["decided_at"].dt.tz_convert(offers["decided_at"].dt.tz)
    merged = offers.merge(told, on=["customer_id", "decided_at", "product"], how="left")
    assert len(merged) == len(offers)  # one offer per customer per decision time
    nxt = merged.groupby("customer_id")["decided_at"].shift(-1)
    repeat = nxt.notna()
    assert repeat.sum() > 100  # customers do come back and get offers again
    # the next offer to a customer comes only once the previous outcome has been told
    assert (merged.loc[repeat, "told_at"] <= nxt[repeat]).all()
    # and every offer followed by another one was told (none skipped or forgotten)
    assert merged.loc[repeat, "told_at"].notna().all()


def test_telecom_applies_channel_execution_delays(
    telecom_run: tuple[TelecomWorld, Recorder, pd.DataFrame],
) -> None:
    world, rec, _ = telecom_run
    offers = pd.concat(rec.offers)
    channel = {pid: ch for pid, ch, *_ in ACTIONS}
    delay = offers["product"].map(lambda p: EXECUTION_DELAY[channel[p]])
    expected = offers.assign(at=offers["decided_at"] + pd.to_timedelta(delay.to_numpy()))
    start = offers["decided_at"].min() - pd.Timedelta(days=1)
    contacts = rec.history.contacts_since(world.population()["customer_id"].to_numpy(), start)
    # the arena carries delays as fractional days: allow a few nanoseconds of rounding
    contacts = contacts.rename(columns={"product_id": "product"}).assign(
        at=lambda d: d["at"].dt.round("s")
    )
    hit = expected.merge(contacts, on=["customer_id", "product", "at"], how="left", indicator=True)
    assert (hit["_merge"] == "both").all() and len(contacts) == len(offers)
    assert (offers["product"].map(channel) == "outbound_call").any()
    assert EXECUTION_DELAY["outbound_call"] >= pd.Timedelta(hours=24)


def test_telecom_null_outcomes_after_the_cool_off_and_negative_rewards(
    telecom_run: tuple[TelecomWorld, Recorder, pd.DataFrame],
) -> None:
    world, rec, _ = telecom_run
    told = pd.concat(rec.told)
    channel = {pid: ch for pid, ch, *_ in ACTIONS}
    cool = dict(zip(world.catalog.product_ids, world.window(), strict=True))
    delay = pd.to_timedelta(told["product"].map(lambda p: EXECUTION_DELAY[channel[p]]).to_numpy())
    wait = pd.to_timedelta(told["product"].map(cool).to_numpy(), unit="D")
    elapsed = told["told_at"] - told["decided_at"]
    null = told["conversion"] == 0
    assert null.sum() > 0.5 * len(told)
    # silence is told once the action's cool-off after the contact has passed, not before
    assert (elapsed[null] >= delay[null] + wait[null]).all()
    assert (elapsed[null] < delay[null] + wait[null] + pd.Timedelta(hours=6)).all()
    # a response is told early: after the contact, before the cool-off ends
    conv = ~null
    assert conv.sum() > 20
    assert (elapsed[conv] >= delay[conv]).all()
    assert (elapsed[conv] < delay[conv] + wait[conv] + pd.Timedelta(hours=6)).all()
    # ΔCLV of accepted actions: sometimes a loss (a discount to a customer who stays)
    value = told.loc[conv, "value"]
    assert (value < 0).any() and (value > 0).any()
    assert (told.loc[null, "value"] == 0).all()


def test_telecom_truth_values_can_be_negative_and_differ_from_the_catalog() -> None:
    world = TelecomWorld(seed=3, customers=2_000, days=7)
    customers = world.observe(world.population(), world.start)
    truth = world.truth(customers, world.start)
    k = world.catalog.product_ids.index("retention_discount")
    assert (truth.value[:, k] < 0).any() and (truth.value[:, k] > 0).any()
    catalog = np.array([p.value.amount for p in world.catalog.products])
    assert (np.abs(truth.value.mean(axis=0) - catalog) > 5).any()
    # realized values average to the truth (common uniforms for every contender)
    u = np.random.default_rng(0).random((200_000 // 2_000, 2_000, 5))
    realized = np.mean([world.realized_value(truth, ui) for ui in u], axis=0)
    np.testing.assert_allclose(realized.mean(axis=0), truth.value.mean(axis=0), rtol=0.05)


def test_telecom_awaiting_customers_are_blocked_by_the_guardrails() -> None:
    world = TelecomWorld(seed=1, customers=50, days=2)
    customers = world.observe(world.population(), world.start)
    customers["awaiting_response"] = np.arange(50) % 2 == 0
    verdict = evaluate_guardrails(customers, world.catalog, world.feature_spec, at=world.start)
    assert not verdict.eligible[0::2].any()
    assert verdict.eligible[1::2].any()


def test_telecom_segment_rules_follow_the_tiers() -> None:
    world = TelecomWorld(seed=1, customers=300, days=2)
    assert world.segment_column == "tier" and set(world.segment_rules) == {
        "Gold",
        "Silver",
        "Bronze",
    }
    customers = world.observe(world.population(), world.start)
    eligible = np.ones((len(customers), len(world.catalog.products)), dtype=bool)
    setup = Setup(
        world.catalog,
        world.feature_spec,
        1,
        customers,
        history=InMemoryContactHistory(),
        true_values=lambda c, at: np.zeros((len(c), 5)),
        world=world.info(),
    )
    action = SegmentRules(setup).act(customers, eligible, world.start).action
    picked = np.asarray(world.catalog.product_ids, dtype=object)[action]
    for tier, order in world.segment_rules.items():
        assert (picked[customers["tier"].to_numpy() == tier] == order[0]).all()


def test_telecom_is_reproducible_for_a_seed() -> None:
    a = run_contender(TelecomWorld(seed=11, customers=300, days=6), RandomOffer)
    b = run_contender(TelecomWorld(seed=11, customers=300, days=6), RandomOffer)
    c = run_contender(TelecomWorld(seed=12, customers=300, days=6), RandomOffer)
    pd.testing.assert_frame_equal(a, b)
    assert not a[["conversions", "reward"]].equals(c[["conversions", "reward"]])


def test_telecom_scenario_runs_every_contender() -> None:
    scenario = SCENARIOS["telecom"]
    assert scenario.size_param == "customers"
    assert {"segment-rules", "epsilon-greedy-value", "beta-thompson", "random", "xsell"} <= set(
        scenario.contenders
    )
    world = scenario.make_world(1001, customers=200, days=3)
    for name, factory in resolve_contenders(scenario.contenders).items():
        result = run_contender(world, factory, name=name)
        assert result["decisions"].sum() > 0, name


# --- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("world", "params", "name"),
    [
        (EmailWorld, {"sends": 0}, "sends"),
        (EmailWorld, {"arms": 2.5}, "arms"),
        (EmailWorld, {"batch": -1}, "batch"),
        (EmailWorld, {"rate_low": 1.5}, "rate_low"),
        (EmailWorld, {"rate_low": 0.2, "rate_high": 0.1}, "rate_low"),
        (EmailWorld, {"subjects": 5}, "subjects"),
        (TelecomWorld, {"customers": 0}, "customers"),
        (TelecomWorld, {"days": "7"}, "days"),
        (TelecomWorld, {"step_hours": 5}, "step_hours"),
        (TelecomWorld, {"events_per_customer": 0.0}, "events_per_customer"),
        (TelecomWorld, {"opt_out_scale": -1.0}, "opt_out_scale"),
        (TelecomWorld, {"fatigue": "high"}, "fatigue"),
        (TelecomWorld, {"churn": 0.2}, "churn"),
    ],
)
def test_bad_parameters_name_the_parameter(world: Any, params: dict[str, Any], name: str) -> None:
    with pytest.raises(InputError, match=name):
        world(seed=0, **params)
