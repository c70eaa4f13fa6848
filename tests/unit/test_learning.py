"""Learning: the agent corrects a propensity model that is wrong for one product."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xsell
from xsell import Agent, Catalog, SampleBank
from xsell.simulation import run_rounds

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
    rounds = run_rounds(
        agent,
        bank,
        rounds=N_DECISIONS // BATCH,
        customers_per_round=BATCH,
        step=pd.Timedelta(hours=1),
        learn=learn,
    )
    return sum(r.conversions for r in rounds), agent


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
