"""Choosing the channel as well as the offer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.catalogs import simple_catalog

import xsell

AT = pd.Timestamp("2026-01-05T09:00:00Z")


def test_actions_are_pairs_with_their_own_probabilities(catalog, spec, customers) -> None:
    agent = xsell.Agent(catalog, spec, choose_channel=True, seed=1)
    out = agent.act(customers, at=AT)
    labels = agent.arms.labels(catalog)
    assert "multi_currency_account@sms" in labels and len(labels) > len(catalog.products)
    probs = out[["p_none"] + [f"p_{a}" for a in labels]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    offered = out[out["product"].notna()]
    chosen = (offered["product"].astype(str) + "@" + offered["channel"].astype(str)).to_numpy()
    got = offered[[f"p_{a}" for a in labels]].to_numpy()[
        np.arange(len(offered)), [labels.index(c) for c in chosen]
    ]
    np.testing.assert_allclose(offered["probability"], got)
    for pid, channel in zip(
        offered["product"].astype(str), offered["channel"].astype(str), strict=True
    ):
        assert channel in catalog.product(pid).channel_choices


def test_channel_consent_is_a_guardrail(catalog, spec, customers) -> None:
    no_app = customers.assign(consent_app=False)
    out = xsell.Agent(catalog, spec, choose_channel=True, seed=1).act(no_app, at=AT, top_n=3)
    assert not (out["channel"] == "app").any()
    assert (
        (out[[c for c in out.columns if c.startswith("p_") and c.endswith("@app")]] == 0)
        .all()
        .all()
    )
    nothing = customers.assign(
        consent_app=False, consent_web=False, consent_email=False, consent_sms=False
    )
    out = xsell.Agent(catalog, spec, choose_channel=True).act(nothing, at=AT)
    assert out["product"].isna().all()
    assert (
        out["blocked_mortgage"].astype(str).isin(["no consent for any of its channels"])
        | (out["blocked_mortgage"].astype(str) != "")
    ).all()
    assert (out["blocked_savings_account"].astype(str) != "").all()


def test_a_costly_channel_loses_when_it_converts_no_better(catalog, spec, customers) -> None:
    data = catalog.to_dict()
    data["contact_costs"] = {"app": 0.0, "email": 0.0, "sms": 50.0, "web": 0.0}
    costly = xsell.Catalog.from_dict(data)
    out = xsell.Agent(costly, spec, choose_channel=True, policy=xsell.Greedy()).act(
        customers, at=AT
    )
    assert not (out["channel"] == "sms").any()
    assert out["product"].notna().any()


def test_the_agent_learns_which_channel_works_for_whom() -> None:
    """Young customers answer in the app, older ones by email: the agent finds out."""
    catalog = simple_catalog({"card": 0.02}, channel_options=["app", "email"])
    spec = xsell.FeatureSpec(numeric=("age",), propensity=None, consent=None)
    agent = xsell.Agent(
        catalog,
        spec,
        choose_channel=True,
        policy=xsell.ThompsonSampling(),
        seed=4,
        learn_opt_out=False,
    )
    rng = np.random.default_rng(0)

    def truth(age: np.ndarray, channel: np.ndarray) -> np.ndarray:
        young = age < 40
        return np.where((channel == "app") == young, 0.12, 0.02)

    for day in range(30):
        age = rng.uniform(20, 60, 500)
        customers = pd.DataFrame(
            {"customer_id": [f"d{day}c{i}" for i in range(500)], "age": age, "owns_card": False}
        )
        out = agent.act(customers, at=AT + pd.Timedelta(days=day))
        channel = out["channel"].astype(object).to_numpy()
        y = (rng.random(500) < truth(age, channel)) & out["product"].notna().to_numpy()
        agent.update(out.assign(conversion=y.astype(int)), at=AT + pd.Timedelta(days=day))
    young = customers["age"] < 40
    right = np.where(young, "app", "email") == out["channel"].astype(object).to_numpy()
    assert right[young].mean() > 0.8 and right[~young].mean() > 0.8


def test_channel_choice_survives_save_load(catalog, spec, customers, tmp_path: Path) -> None:
    agent = xsell.Agent(catalog, spec, choose_channel=True, seed=3)
    out = agent.act(customers, at=AT)
    agent.update(out.assign(conversion=0), at=AT)
    agent.save(str(tmp_path / "a.npz"))
    loaded = xsell.Agent.load(str(tmp_path / "a.npz"))
    assert loaded.arms.labels(catalog) == agent.arms.labels(catalog)
    later = AT + pd.Timedelta(days=1)
    pd.testing.assert_frame_equal(loaded.act(customers, at=later), agent.act(customers, at=later))


def test_replayed_rows_need_their_channel(catalog, spec, customers) -> None:
    agent = xsell.Agent(catalog, spec, choose_channel=True)
    agent.fit_features(customers)
    rows = customers.head(5).assign(product="mortgage", conversion=0)
    with pytest.raises(xsell.SchemaError, match="need a 'channel' column"):
        agent.update(rows)
    with pytest.raises(xsell.InputError, match="not a channel of that product"):
        agent.update(rows.assign(channel="carrier_pigeon"))
