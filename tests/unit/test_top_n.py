"""Top-N offers: ranked lists with each slot's conditional probability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare
from tests.catalogs import simple_catalog

import xsell

AT = "2026-01-05T09:00:00Z"


def _catalog(k: int = 3, max_offers: int = 4) -> xsell.Catalog:
    return simple_catalog({f"p{i}": 0.02 for i in range(k)}, max_offers=max_offers)


SPEC = xsell.FeatureSpec(numeric=("x",), consent=None)


def _customers(n: int, props=(0.05, 0.03, 0.02)) -> pd.DataFrame:
    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "x": 0.0})
    for i, p in enumerate(props):
        df[f"propensity_p{i}"] = p
        df[f"owns_p{i}"] = False
    return df


def test_top_1_is_the_single_decision(catalog, spec, customers) -> None:
    a = xsell.Agent(catalog, spec, seed=3).act(customers, at=AT)
    b = xsell.Agent(catalog, spec, seed=3).act(customers, at=AT, top_n=1)
    pd.testing.assert_frame_equal(a, b)
    assert (a["rank"] == 1).all()


def test_lists_are_ranked_without_repeats(catalog, spec, customers) -> None:
    out = xsell.Agent(catalog, spec, seed=3).act(customers, at=AT, top_n=3)
    offered = out[out["product"].notna()]
    assert not offered.duplicated(["customer_id", "product"]).any()
    assert out["decision_id"].is_unique
    ranks = out.groupby("customer_id", sort=False)["rank"].apply(list)
    assert all(r == list(range(1, len(r) + 1)) for r in ranks)
    assert ranks.map(len).max() == 3
    # every slot's distribution sums to 1 and puts nothing on earlier slots' products
    pcols = ["p_none"] + [f"p_{p}" for p in catalog.product_ids]
    np.testing.assert_allclose(out[pcols].sum(axis=1), 1.0)
    for _, group in offered.groupby("customer_id"):
        for k in range(1, len(group)):
            taken = group["product"].astype(str).iloc[:k]
            assert (group.iloc[k][[f"p_{t}" for t in taken]] == 0).all()


def test_slot_probabilities_match_exact_enumeration() -> None:
    """Epsilon-greedy over 3 products: P(list) by hand equals the logged probabilities."""
    eps = 0.3
    agent = xsell.Agent(
        _catalog(),
        SPEC,
        policy=xsell.EpsilonGreedy(epsilon=eps, floor=eps, decay_outcomes=0),
        seed=1,
        learn_opt_out=False,
    )
    out = agent.act(_customers(1), at=AT, top_n=3)
    # greedy order by propensity x value: p0 > p1 > p2; actions none, p0, p1, p2
    slot1 = {"none": eps / 4, "p0": 1 - eps + eps / 4, "p1": eps / 4, "p2": eps / 4}
    first = out.iloc[0]
    assert first[["p_none", "p_p0", "p_p1", "p_p2"]].tolist() == pytest.approx(list(slot1.values()))
    if len(out) > 1:
        taken = out["product"].astype(str).iloc[0]
        left = [p for p in ("p0", "p1", "p2") if p != taken]
        best = left[0]  # the remaining product with the highest propensity
        expect = {
            "none": eps / 3,
            **{p: (1 - eps if p == best else 0) + eps / 3 for p in left},
            taken: 0.0,
        }
        second = out.iloc[1]
        for action, p in expect.items():
            assert second[f"p_{action}"] == pytest.approx(p)


def test_ordered_lists_follow_the_product_of_slot_probabilities() -> None:
    agent = xsell.Agent(
        _catalog(),
        SPEC,
        policy=xsell.ThompsonSampling(posterior_scale=1.0),
        seed=2,
        learn_opt_out=False,
    )
    n = 20_000
    out = agent.act(_customers(n), at=AT, top_n=2)
    lists = out.groupby("customer_id", sort=False)["product"].apply(
        lambda s: tuple(s.astype(object).fillna("none"))
    )
    first = out[out["rank"] == 1].iloc[0]
    p1 = {a: first[f"p_{a}"] for a in ("none", "p0", "p1", "p2")}
    # slot-2 distributions, from any customer whose first slot was that product (all identical)
    p2 = {}
    for a in ("p0", "p1", "p2"):
        rows = out[
            (out["rank"] == 2)
            & out["customer_id"].isin(lists[lists.map(lambda t, a=a: t[0] == a)].index)
        ]
        if len(rows):
            p2[a] = {b: rows.iloc[0][f"p_{b}"] for b in ("none", "p0", "p1", "p2")}
    expected, observed = [], []
    counts = lists.value_counts()
    for a in ("p0", "p1", "p2"):
        for b in ("none", "p0", "p1", "p2"):
            if a == b or a not in p2:
                continue
            prob = p1[a] * p2[a][b]
            if prob * n < 5:
                continue
            key = (a,) if b == "none" else (a, b)
            expected.append(prob * n)
            observed.append(counts.get(key, 0))
    scale = sum(observed) / sum(expected)
    _, pvalue = chisquare(observed, np.array(expected) * scale)
    assert len(expected) >= 4 and pvalue > 1e-3


def test_the_contact_limit_cuts_the_list() -> None:
    agent = xsell.Agent(_catalog(max_offers=2), SPEC, policy=xsell.Greedy(), learn_opt_out=False)
    out = agent.act(_customers(3), at=AT, top_n=3)
    assert out.groupby("customer_id")["rank"].max().max() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_top_n(bad) -> None:
    agent = xsell.Agent(_catalog(), SPEC)
    with pytest.raises(xsell.InputError, match="`top_n` must be an integer >= 1"):
        agent.act(_customers(2), at=AT, top_n=bad)


def test_every_offer_can_be_learned_by_its_own_id() -> None:
    agent = xsell.Agent(_catalog(), SPEC, seed=4, learn_opt_out=False)
    out = agent.act(_customers(50), at=AT, top_n=3)
    offered = out[out["product"].notna()]
    summary = agent.update(offered.assign(conversion=0))
    assert summary.learned == len(offered) and len(offered) > 50


def test_every_slot_carries_its_own_customers_guardrail_verdict(catalog, spec, customers) -> None:
    out = xsell.Agent(catalog, spec, seed=8).act(customers, at=AT, top_n=3)
    blocked = [f"blocked_{p}" for p in catalog.product_ids]
    first = out[out["rank"] == 1].set_index("customer_id")[blocked].astype(str)
    later = out[out["rank"] > 1]
    assert len(later) > 100
    np.testing.assert_array_equal(
        later[blocked].astype(str).to_numpy(), first.loc[later["customer_id"]].to_numpy()
    )
