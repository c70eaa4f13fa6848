"""One contract, every reward model and every policy (in the manner of scikit-learn's
estimator checks): whatever combination a bank picks behaves the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xsell

AT = "2026-01-05T09:00:00Z"
LATER = "2026-01-06T09:00:00Z"
MODELS = ["bayes_logistic", "ridge", "sgd", "beta_bernoulli"]
POLICIES = {
    "greedy": xsell.Greedy(),
    "epsilon_greedy": xsell.EpsilonGreedy(epsilon=0.2),
    "thompson": xsell.ThompsonSampling(),
    "ucb": xsell.UCB(alpha=1.0),
    "ucb_floor": xsell.UCB(alpha=1.0, floor=0.05),
}
COMBOS = [
    (m, p) for m in MODELS for p in POLICIES if not (m == "sgd" and POLICIES[p].uses_uncertainty)
]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return xsell.make_customers(600, seed=21)


def _trained(model: str, policy: str, data: pd.DataFrame, seed: int = 3) -> xsell.Agent:
    agent = xsell.Agent(
        xsell.Catalog.sample(),
        xsell.sample_feature_spec(),
        model=model,
        policy=POLICIES[policy],
        seed=seed,
    )
    out = agent.act(data, at=AT)
    y = xsell.SampleBank(seed=21).respond(data, out["product"].tolist(), AT)
    agent.update(out.assign(conversion=y), at=AT)
    return agent


def _probs(out: pd.DataFrame) -> np.ndarray:
    return out[["p_none"] + [f"p_{p}" for p in xsell.Catalog.sample().product_ids]].to_numpy()


@pytest.mark.parametrize(("model", "policy"), COMBOS)
def test_probabilities_are_a_distribution_over_allowed_actions(model, policy, data) -> None:
    agent = _trained(model, policy, data)
    out = agent.act(data, at=LATER)
    probs = _probs(out)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    blocked = np.column_stack(
        [out[f"blocked_{p}"].astype(str) != "" for p in agent.catalog.product_ids]
    )
    assert (probs[:, 1:][blocked] == 0).all()
    chosen = out["product"].astype(object).fillna("none")
    labels = ["none", *agent.catalog.product_ids]
    np.testing.assert_allclose(
        out["probability"], probs[np.arange(len(out)), [labels.index(c) for c in chosen]]
    )
    assert (out["probability"] > 0).all()
    if POLICIES[policy].deterministic:
        assert (out["probability"] == 1).all()


@pytest.mark.parametrize(("model", "policy"), COMBOS)
def test_save_load_round_trip_gives_identical_decisions(
    model, policy, data, tmp_path: Path
) -> None:
    agent = _trained(model, policy, data)
    agent.save(str(tmp_path / "a.npz"))
    loaded = xsell.Agent.load(str(tmp_path / "a.npz"))
    pd.testing.assert_frame_equal(
        loaded.act(data, at=LATER, top_n=2), agent.act(data, at=LATER, top_n=2)
    )
    # and both keep learning identically
    out = agent.act(data, at="2026-01-07T09:00:00Z")
    loaded.act(data, at="2026-01-07T09:00:00Z")
    outcomes = out[out["product"].notna()].assign(conversion=1)
    agent.update(outcomes)
    loaded.update(outcomes)
    a, b = agent.model.coefficients(), loaded.model.coefficients()
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("model", "policy"), COMBOS)
def test_protected_attributes_never_reach_the_model(model, policy, data) -> None:
    a = _trained(model, policy, data).act(data, at=LATER)
    flipped = data.assign(gender=np.where(data["gender"] == "m", "f", "m"))
    b = _trained(model, policy, flipped).act(flipped, at=LATER)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(("model", "policy"), COMBOS)
def test_chunking_changes_nothing(model, policy, data) -> None:
    agent = _trained(model, policy, data)
    whole = agent.act(data, at=LATER)
    again = _trained(model, policy, data)
    sizes, pieces, start = [97, 1, 7, 250, 1, 2], [], 0
    while start < len(data):  # uneven chunks, one-row ones too
        size = sizes[len(pieces) % len(sizes)]
        pieces.append(again.act(data.iloc[start : start + size], at=LATER))
        start += size
    # to the bit: the logged probabilities must not depend on how customers are grouped
    pd.testing.assert_frame_equal(whole, pd.concat(pieces), check_exact=True)


@pytest.mark.parametrize("model", MODELS)
def test_learning_moves_the_model_and_bad_input_is_refused(model, data) -> None:
    agent = xsell.Agent(
        xsell.Catalog.sample(), xsell.sample_feature_spec(), model=model, policy=xsell.Greedy()
    )
    out = agent.act(data, at=AT)
    design = agent.featurizer.transform(data)
    before = agent.model.predict(design, with_uncertainty=False).probability()
    offered = out[out["product"].notna()]
    agent.update(offered.assign(conversion=1))
    after = agent.model.predict(design, with_uncertainty=False).probability()
    arms = sorted({agent.catalog.product_ids.index(p) for p in offered["product"].astype(str)})
    assert (after[:, arms].mean(axis=0) > before[:, arms].mean(axis=0)).all()
    with pytest.raises(xsell.SchemaError, match="'income'"):
        agent.act(data.drop(columns="income"), at=LATER)
    with pytest.raises(xsell.InputError, match="must be 0 or 1"):
        agent.update(pd.DataFrame({"decision_id": ["x"], "conversion": [3]}))


@pytest.mark.parametrize("model", MODELS)
def test_untrained_models_start_from_the_propensity_prior(model, data) -> None:
    agent = xsell.Agent(
        xsell.Catalog.sample(), xsell.sample_feature_spec(), model=model, policy=xsell.Greedy()
    )
    agent.fit_features(data)
    design = agent.featurizer.transform(data)
    p = agent.model.predict(design, with_uncertainty=False).probability()
    if model == "beta_bernoulli":  # no context: the mean propensity of each product
        np.testing.assert_allclose(p[0], np.nanmean(design.propensity, axis=0), rtol=1e-6)
    else:  # the propensity itself (exactly on the logit models, to first order on the linear one)
        np.testing.assert_allclose(p, design.propensity, rtol=1e-6 if model != "ridge" else 1e-9)


@pytest.mark.parametrize("model", MODELS)
def test_a_launched_product_leaves_the_others_untouched(model, data) -> None:
    agent = _trained(model, "greedy", data)
    before = [np.array(a, copy=True) for a in agent.model.coefficients()]
    extra = xsell.Catalog.sample().to_dict()
    extra["products"].append(dict(extra["products"][0], id="gold_card", name="Gold card"))
    agent.update_catalog(
        xsell.Catalog.from_dict(extra), reference=data.assign(propensity_gold_card=0.1)
    )
    after = agent.model.coefficients()
    K = len(before[0])
    np.testing.assert_array_equal(after[0][:K], before[0])
    assert agent.model.n_arms == K + 1


def test_policies_that_need_uncertainty_refuse_a_model_without_it() -> None:
    with pytest.raises(xsell.InputError, match="needs a model that reports its uncertainty"):
        xsell.Agent(
            xsell.Catalog.sample(),
            xsell.sample_feature_spec(),
            model="sgd",
            policy=xsell.ThompsonSampling(),
        )
    with pytest.raises(xsell.InputError, match="`model` must be one of"):
        xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), model="neural_net")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("choose_channel", [False, True])
def test_learning_by_id_equals_learning_by_replay(model, choose_channel, data) -> None:
    """The inputs remembered for a decision are the ones the model decided with."""
    kwargs = {
        "model": model,
        "policy": xsell.EpsilonGreedy(epsilon=0.5),
        "seed": 2,
        "choose_channel": choose_channel,
    }
    by_id = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), **kwargs)
    out = by_id.act(data, at=AT)
    y = xsell.SampleBank(seed=21).respond(data, out["product"].tolist(), AT)
    by_id.update(out.assign(conversion=y), at=AT)
    replay = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), **kwargs)
    replay.fit_features(data)
    rows = data.assign(
        product=out["product"].astype(object), channel=out["channel"].astype(object), conversion=y
    )
    replay.update(rows, at=AT)
    np.testing.assert_allclose(
        replay.model.coefficients()[0], by_id.model.coefficients()[0], rtol=1e-9, atol=1e-12
    )
