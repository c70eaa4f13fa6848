"""The agent end to end: warm start, keyed randomness, guardrails, updates, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import Agent, InputError, SchemaError, UnknownDecisionError

AT = "2026-01-05T09:00:00Z"


def _probs(out: pd.DataFrame, catalog) -> np.ndarray:
    return out[["p_none"] + [f"p_{p}" for p in catalog.product_ids]].to_numpy()


def test_untrained_agent_ranks_as_the_propensity_model(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec, policy=xsell.Greedy(), learn_opt_out=False)
    out = agent.act(customers, at=AT)
    design = agent.featurizer.transform(customers)
    # the model's day-one probabilities are the (clipped) propensity scores themselves ...
    np.testing.assert_allclose(
        agent.model.predict(design).probability(), design.propensity, rtol=1e-9
    )
    # ... so its greedy choice is the eligible product with the highest propensity x value
    value = np.array([p.value.amount for p in catalog.products])
    ev = np.where(agent_eligible(out, catalog), design.propensity * value, -np.inf)
    best = np.where(np.isfinite(ev.max(axis=1)), np.argmax(ev, axis=1), -1)
    expected = np.where(best >= 0, np.asarray(catalog.product_ids, dtype=object)[best], None)
    np.testing.assert_array_equal(
        out["product"].astype(object).where(out["product"].notna(), None), expected
    )
    assert (out["probability"] == 1.0).all()
    assert not out["explored"].any()


def agent_eligible(out: pd.DataFrame, catalog) -> np.ndarray:
    return np.column_stack([out[f"blocked_{p}"].astype(str) == "" for p in catalog.product_ids])


def test_without_propensity_scores_the_prior_is_neutral(catalog, customers) -> None:
    spec = xsell.FeatureSpec(numeric=("age", "income"), propensity=None)
    agent = Agent(catalog, spec, policy=xsell.Greedy(), learn_opt_out=False)
    agent.act(customers.filter(regex="^(?!propensity_)"), at=AT)
    design = agent.featurizer.transform(customers)
    base = np.array([p.base_rate for p in catalog.products])
    np.testing.assert_allclose(
        agent.model.predict(design).probability(), np.tile(base, (len(customers), 1))
    )


@pytest.mark.parametrize(
    "policy", [xsell.ThompsonSampling(), xsell.EpsilonGreedy(epsilon=0.3), xsell.Greedy()]
)
def test_chunked_decisions_equal_unchunked(catalog, spec, policy) -> None:
    customers = xsell.make_customers(10_000, seed=5)
    whole = Agent(catalog, spec, policy=policy, seed=42)
    whole.fit_features(customers)
    chunked = Agent(catalog, spec, policy=policy, seed=42)
    chunked.fit_features(customers)
    a = whole.act(customers, at=AT)
    b = pd.concat(
        [chunked.act(customers.iloc[i : i + 137], at=AT) for i in range(0, len(customers), 137)]
    )
    pd.testing.assert_frame_equal(a, b)


def test_same_seed_same_decisions_other_seed_other_draws(catalog, spec, customers) -> None:
    pol = xsell.EpsilonGreedy(epsilon=0.5)
    a = Agent(catalog, spec, policy=pol, seed=1).act(customers, at=AT)
    b = Agent(catalog, spec, policy=pol, seed=1).act(customers, at=AT)
    c = Agent(catalog, spec, policy=pol, seed=2).act(customers, at=AT)
    pd.testing.assert_frame_equal(a, b)
    assert (a["product"].astype(object) != c["product"].astype(object)).any()
    assert not set(a["decision_id"]) & set(c["decision_id"])


def test_decision_ids_are_unique_and_time_ordered(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec)
    first = agent.act(customers, at="2026-01-05T09:00:00Z")
    later = agent.act(customers, at="2026-01-05T09:00:01Z")
    assert first["decision_id"].is_unique
    assert first["decision_id"].str.len().eq(32).all()
    assert first["decision_id"].max() < later["decision_id"].min()


def test_outputs_are_consistent(catalog, spec, customers) -> None:
    out = Agent(catalog, spec).act(customers, at=AT)
    probs = _probs(out, catalog)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[:, 1:][~agent_eligible(out, catalog)] == 0).all()
    chosen = out["product"].astype(object).fillna("none").to_numpy()
    col = {name: i for i, name in enumerate(["none", *catalog.product_ids])}
    np.testing.assert_allclose(
        out["probability"], probs[np.arange(len(out)), [col[c] for c in chosen]]
    )
    channels = {p.id: p.channels["realtime"] for p in catalog.products}
    offered = out["product"].notna()
    assert (
        out.loc[offered, "channel"].astype(str)
        == out.loc[offered, "product"].astype(str).map(channels)
    ).all()
    assert out.loc[~offered, "channel"].isna().all()
    assert (out["model_version"] == 0).all() and out["policy_version"].astype(str).str.startswith(
        "thompson"
    ).all()
    assert str(out["at"].dt.tz) == "UTC"


def test_batch_mode_uses_the_batch_channel(catalog, spec, customers) -> None:
    out = Agent(catalog, spec).act(customers, at=AT, mode="batch")
    channels = {p.id: p.channels["batch"] for p in catalog.products}
    offered = out["product"].notna()
    assert (
        out.loc[offered, "channel"].astype(str)
        == out.loc[offered, "product"].astype(str).map(channels)
    ).all()


def test_nothing_eligible_means_no_offer_with_reasons(catalog, spec, customers) -> None:
    one = customers.iloc[[0]].copy()
    for p in catalog.products:
        one[p.owned_col] = True
    out = Agent(catalog, spec).act(one, at=AT)
    assert pd.isna(out["product"].iloc[0]) and out["probability"].iloc[0] == 1.0
    assert all(
        out[f"blocked_{p}"].iloc[0] == "already owns the product" for p in catalog.product_ids
    )


def test_protected_attributes_change_nothing(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec, seed=3)
    a = agent.act(customers, at=AT)
    flipped = customers.assign(gender=np.where(customers["gender"] == "m", "f", "m"))
    b = Agent(catalog, spec, seed=3).act(flipped, at=AT)
    pd.testing.assert_frame_equal(a, b)
    assert not any("gender" in name for name in agent.feature_names)


def test_frequency_cap_and_cool_off_from_the_contact_history(catalog, spec, customers) -> None:
    history = xsell.InMemoryContactHistory()
    agent = Agent(catalog, spec, policy=xsell.Greedy(), history=history)
    first = agent.act(customers, at=AT)
    again = agent.act(customers, at=pd.Timestamp(AT) + pd.Timedelta(days=1))
    offered = first["product"].notna().to_numpy()
    same = (again["product"].astype(object) == first["product"].astype(object)).to_numpy()
    assert not (offered & same).any(), "a product offered yesterday is in its cool-off today"
    pid = first.loc[offered, "product"].astype(str).to_numpy()
    blocked = np.array(
        [
            again[f"blocked_{p}"].to_numpy()[i]
            for i, p in zip(np.flatnonzero(offered), pid, strict=True)
        ]
    )
    assert (blocked == "cool-off period").all()


def test_update_by_decision_id_and_by_replay_learn_the_same(catalog, spec, customers) -> None:
    by_id = Agent(catalog, spec, seed=4)
    out = by_id.act(customers, at=AT)
    bank = xsell.SampleBank(seed=11)
    y = bank.respond(customers, out["product"].tolist(), AT)
    summary = by_id.update(out.assign(conversion=y))
    offered = out["product"].notna()
    assert summary.learned == offered.sum() and summary.skipped_no_offer == (~offered).sum()
    assert summary.conversions == y.sum() and summary.model_version == 1
    replay = Agent(catalog, spec, seed=4)
    replay.fit_features(customers)
    replay.update(customers.assign(product=out["product"].astype(object), conversion=y))
    np.testing.assert_allclose(replay.model.mean_, by_id.model.mean_, atol=1e-10)
    with pytest.raises(UnknownDecisionError, match="not pending"):
        by_id.update(out[offered].head(1).assign(conversion=0))  # already learned


def test_update_accepts_offer_results_and_learns_opt_outs(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec, seed=4)
    out = agent.act(customers, at=AT)
    ids = out.loc[out["product"].notna(), "decision_id"].tolist()[:3]
    s = agent.update(
        [
            xsell.OfferResult(ids[0], 1, 0),
            xsell.OfferResult(ids[1], 0, 1),
            xsell.OfferResult(ids[2], 0),
        ]
    )
    assert (s.learned, s.conversions, s.opt_outs_learned) == (3, 1, 2)
    assert agent.opt_out_model.n_seen_.sum() == 2


@pytest.mark.parametrize(
    ("outcomes", "error", "match"),
    [
        (
            pd.DataFrame({"decision_id": ["nope"], "conversion": [1]}),
            UnknownDecisionError,
            r"\['nope'\]",
        ),
        (
            pd.DataFrame({"decision_id": ["x"]}),
            SchemaError,
            "missing the label column 'conversion'",
        ),
        (
            pd.DataFrame({"decision_id": ["x"], "conversion": [2]}),
            InputError,
            "must be 0 or 1, got 2",
        ),
        (
            pd.DataFrame({"decision_id": ["x"], "conversion": [np.nan]}),
            InputError,
            "missing a value",
        ),
        (pd.DataFrame({"decision_id": ["x"], "conversion": ["yes"]}), SchemaError, "must be 0/1"),
        (
            pd.DataFrame({"decision_id": ["x", "x"], "conversion": [1, 0]}),
            InputError,
            "repeats 'x'",
        ),
        (pd.DataFrame({"conversion": [1]}), SchemaError, "needs a 'decision_id' column"),
        ("not a frame", InputError, "must be a DataFrame or a list of OfferResult"),
    ],
)
def test_bad_outcomes_are_clear_errors(catalog, spec, customers, outcomes, error, match) -> None:
    agent = Agent(catalog, spec)
    agent.act(customers.head(10), at=AT)
    before = agent.model.mean_.copy()
    with pytest.raises(error, match=match):
        agent.update(outcomes)
    np.testing.assert_array_equal(agent.model.mean_, before)
    assert agent.model_version == 0


@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [
        (lambda df: df, {"at": "2026-01-05T09:00:00"}, InputError, "must be timezone-aware"),
        (lambda df: df, {"at": "yesterday-ish"}, InputError, "`at` must be a time"),
        (lambda df: df, {"at": AT, "mode": "carrier-pigeon"}, InputError, "`mode` must be"),
        (lambda df: df.drop(columns="income"), {"at": AT}, SchemaError, "'income'"),
        (lambda df: df.drop(columns="owns_mortgage"), {"at": AT}, SchemaError, "'owns_mortgage'"),
        (lambda df: df.drop(columns="consent_app"), {"at": AT}, SchemaError, "'consent_app'"),
        (lambda df: df.assign(age="old"), {"at": AT}, SchemaError, "'age' must be numeric"),
        (
            lambda df: df.assign(customer_id="same"),
            {"at": AT},
            InputError,
            "duplicated customer id 'same'",
        ),
        (
            lambda df: df.assign(propensity_mortgage=-0.5),
            {"at": AT},
            InputError,
            "'propensity_mortgage' must hold probabilities",
        ),
    ],
)
def test_bad_customers_are_clear_errors(
    catalog, spec, customers, change, kwargs, error, match
) -> None:
    agent = Agent(catalog, spec)
    agent.fit_features(customers)
    with pytest.raises(error, match=match):
        agent.act(change(customers.head(20)), **kwargs)


def test_explanations_in_plain_words(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec, seed=2)
    out = agent.act(customers.head(50), at=AT)
    texts = agent.explain(out)
    offered = out["product"].notna().to_numpy()
    names = {p.id: p.name for p in catalog.products}
    for text, pid in zip(texts[offered], out.loc[offered, "product"].astype(str), strict=True):
        assert text.startswith(f"Offered {names[pid]} via ")
    blocked_row = int(np.flatnonzero((out["blocked_mortgage"].astype(str) != "").to_numpy())[0])
    assert "Mortgage (" in texts.iloc[blocked_row]
    # drivers are real features that raised the chosen product's score
    d1 = out.loc[offered, "driver_1"]
    assert ((d1 >= -1) & (d1 < len(agent.feature_names))).all()
    assert (out.loc[offered & (out["driver_1"] >= 0).to_numpy(), "driver_1_effect"] >= 0.02).all()


def test_coefficients_table(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec)
    agent.act(customers, at=AT)
    co = agent.coefficients()
    conv = co[co["outcome"] == "conversion"]
    prop = conv[conv["feature"] == "propensity score"]
    assert (
        len(prop) == len(catalog.products)
        and (prop["weight"] == 1.0).all()
        and (prop["sd"] > 0).all()
    )
    assert set(co["outcome"]) == {"conversion", "opt_out"}


def test_opt_out_cost_can_make_no_offer_the_best(catalog, spec, customers) -> None:
    data = catalog.to_dict()
    for p in data["products"]:
        p["opt_out_cost"] = 1e6
    costly = xsell.Catalog.from_dict(data)
    out = Agent(costly, spec, policy=xsell.Greedy()).act(customers, at=AT)
    assert out["product"].isna().all()


def test_the_clock_is_injectable(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec, clock=lambda: pd.Timestamp("2030-06-01T00:00:00Z").to_pydatetime())
    out = agent.act(customers.head(3))
    assert (out["at"] == pd.Timestamp("2030-06-01T00:00:00Z")).all()


def test_pending_memory_is_bounded_and_keeps_the_newest(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec, pending_capacity=300)
    first = agent.act(customers.head(200), at=AT)
    agent.act(customers.head(200), at=AT)  # the same decisions again: same ids, newer slots
    later = agent.act(customers.iloc[200:400], at=AT)
    assert len(agent.pending) <= 300
    newest = later.loc[later["product"].notna(), "decision_id"].tolist()
    agent.update(pd.DataFrame({"decision_id": newest, "conversion": 0}))
    oldest = first.loc[first["product"].notna(), "decision_id"].tolist()
    with pytest.raises(UnknownDecisionError, match="older than the last 300 decisions"):
        agent.update(pd.DataFrame({"decision_id": oldest, "conversion": 0}))


def test_pending_ids_survive_interleaved_batches_and_overwrites(catalog, spec, customers) -> None:
    agent = Agent(
        catalog,
        spec,
        policy=xsell.EpsilonGreedy(epsilon=1.0, floor=1.0, decay_outcomes=0),
        pending_capacity=500,
    )
    outs = [agent.act(customers.iloc[i * 300 : (i + 1) * 300], at=AT) for i in range(3)]
    offered = [o.loc[o["product"].notna(), "decision_id"].tolist() for o in outs]
    # 3 x ~290 offers into 500 slots: the last batch is whole, the first is mostly gone
    agent.update(pd.DataFrame({"decision_id": offered[2], "conversion": 0}))
    assert agent.model.n_seen_.sum() == len(offered[2])
    with pytest.raises(UnknownDecisionError):
        agent.update(pd.DataFrame({"decision_id": offered[0][:5], "conversion": 0}))
    survivors = offered[1][-100:]
    agent.update(pd.DataFrame({"decision_id": survivors, "conversion": 1}))
    assert agent.model.n_seen_.sum() == len(offered[2]) + 100


def test_a_retried_decision_is_learned_once(catalog, spec, customers) -> None:
    agent = Agent(catalog, spec, seed=6)
    first = agent.act(customers.head(50), at=AT)
    retry = agent.act(customers.head(50), at=AT)  # same customers, time and placement
    pd.testing.assert_frame_equal(first, retry)
    offered = first[first["product"].notna()]
    agent.update(offered.assign(conversion=1))
    assert agent.model.n_seen_.sum() == len(offered)
    with pytest.raises(UnknownDecisionError):
        agent.update(offered.head(1).assign(conversion=1))
