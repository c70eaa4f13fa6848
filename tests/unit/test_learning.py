"""Learning: the agent corrects a propensity model that is wrong for one product."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import Agent, Catalog, SampleBank

N_DECISIONS = 20_000
BATCH = 500


def _equal_value_catalog() -> Catalog:
    """The sample catalog with one value and no opt-out cost, so value = conversions."""
    data = Catalog.sample().to_dict()
    for p in data["products"]:
        p["value"]["amount"] = 100.0
        p["opt_out_cost"] = 0.0
    return Catalog.from_dict(data)


def _run(seed: int, policy: xsell.Policy, learn: bool) -> tuple[int, Agent]:
    catalog = _equal_value_catalog()
    bank = SampleBank(seed=seed, catalog=catalog, wrong_products=("travel_insurance",))
    agent = Agent(catalog, xsell.sample_feature_spec(), policy=policy, seed=seed)
    start = pd.Timestamp("2026-01-01T00:00:00Z")
    conversions = 0
    for b in range(N_DECISIONS // BATCH):
        customers = bank.customers(BATCH, start=b * BATCH)
        at = start + pd.Timedelta(hours=b)
        out = agent.act(customers, at=at)
        y = bank.respond(customers, out["product"].tolist(), at)
        conversions += int(y.sum())
        if learn:
            agent.update(out.assign(conversion=y))
    return conversions, agent


@pytest.mark.slow
def test_agent_beats_propensity_greedy_and_unlearns_the_wrong_score() -> None:
    diffs, weights = [], []
    for seed in range(5):
        baseline, _ = _run(seed, xsell.Greedy(), learn=False)
        ours, agent = _run(seed, xsell.ThompsonSampling(), learn=True)
        diffs.append(ours - baseline)
        co = agent.coefficients()
        w = co[
            (co["outcome"] == "conversion")
            & (co["product"] == "travel_insurance")
            & (co["feature"] == "propensity score")
        ]
        weights.append(float(w["weight"].iloc[0]))
    d = np.array(diffs, dtype=float)
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert d.mean() > 3 * se, f"paired differences {d} (mean {d.mean():.1f}, se {se:.1f})"
    assert max(weights) < 0.5, f"propensity weight of the wrong product: {weights}"
