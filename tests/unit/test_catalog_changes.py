"""A catalog that changes while the agent lives: launches and withdrawals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import xsell

AT = "2026-01-05T09:00:00Z"


def _with_launch(catalog: xsell.Catalog) -> xsell.Catalog:
    data = catalog.to_dict()
    launch = dict(data["products"][2], id="crypto_wallet", name="Crypto wallet", base_rate=0.01)
    data["products"].insert(0, launch)  # position in the file does not matter
    return xsell.Catalog.from_dict(data)


def _trained(catalog, spec, customers) -> xsell.Agent:
    agent = xsell.Agent(catalog, spec, seed=5)
    out = agent.act(customers, at=AT)
    y = xsell.SampleBank(seed=11).respond(customers, out["product"].tolist(), AT)
    agent.update(out.assign(conversion=y))
    return agent


def test_a_launch_starts_from_its_prior_and_touches_no_other_product(
    catalog, spec, customers
) -> None:
    agent = _trained(catalog, spec, customers)
    before_mean, before_cov = agent.model.mean_.copy(), agent.model.cov_.copy()
    launched = customers.assign(
        propensity_crypto_wallet=np.where(np.arange(len(customers)) % 2, 0.2, np.nan)
    )
    agent.update_catalog(_with_launch(catalog), reference=launched)
    assert agent.catalog.product_ids[-1] == "crypto_wallet"
    K = len(catalog.products)
    np.testing.assert_array_equal(agent.model.mean_[:K], before_mean)
    np.testing.assert_array_equal(agent.model.cov_[:K], before_cov)
    # untrained: its probability is its propensity, or its base rate where that is missing
    design = agent.featurizer.transform(launched.assign(owns_crypto_wallet=False))
    p = agent.model.predict(design).probability()[:, K]
    np.testing.assert_allclose(p[1::2], 0.2)
    np.testing.assert_allclose(p[0::2], 0.01)
    out = agent.act(launched.assign(owns_crypto_wallet=False), at="2026-01-06T09:00:00Z")
    assert (out["product"] == "crypto_wallet").any()


def test_a_withdrawn_product_is_never_offered_and_keeps_its_history(
    catalog, spec, customers
) -> None:
    agent = _trained(catalog, spec, customers)
    learned = agent.model.mean_[1].copy()
    data = catalog.to_dict()
    data["products"] = [p for p in data["products"] if p["id"] != "travel_credit_card"]
    agent.update_catalog(xsell.Catalog.from_dict(data))
    assert agent.catalog.product_ids == catalog.product_ids
    assert not agent.catalog.product("travel_credit_card").active
    out = agent.act(customers, at="2026-01-06T09:00:00Z", top_n=3)
    assert not (out["product"] == "travel_credit_card").any()
    assert (out["p_travel_credit_card"] == 0).all()
    assert (out["blocked_travel_credit_card"] == "product withdrawn").all()
    np.testing.assert_array_equal(agent.model.mean_[1], learned)


def test_save_load_keeps_launches_and_withdrawals(catalog, spec, customers, tmp_path: Path) -> None:
    agent = _trained(catalog, spec, customers)
    launched = customers.assign(propensity_crypto_wallet=0.05, owns_crypto_wallet=False)
    data = _with_launch(catalog).to_dict()
    data["products"] = [p for p in data["products"] if p["id"] != "mortgage"]
    agent.update_catalog(xsell.Catalog.from_dict(data), reference=launched)
    agent.save(str(tmp_path / "a.npz"))
    loaded = xsell.Agent.load(str(tmp_path / "a.npz"))
    assert loaded.catalog == agent.catalog
    later = "2026-01-07T09:00:00Z"
    pd.testing.assert_frame_equal(loaded.act(launched, at=later), agent.act(launched, at=later))
