"""Guardrails on a few rows (all rules at once) and on many (rule by rule) agree."""

from __future__ import annotations

import numpy as np
import pandas as pd

import xsell
from xsell.guardrails.rules import _FEW

AT = pd.Timestamp("2026-03-02T10:00:00Z")


def test_few_and_many_rows_give_the_same_verdicts() -> None:
    customers = xsell.make_customers(12 * _FEW, seed=8)
    rng = np.random.default_rng(8)
    for col in [c for c in customers.columns if c.startswith(("owns_", "consent_"))]:
        customers[col] = rng.random(len(customers)) < 0.3  # many products blocked, varied
    customers.loc[rng.random(len(customers)) < 0.2, "age"] = 16
    catalog, spec = xsell.Catalog.sample(), xsell.sample_feature_spec()
    history = xsell.InMemoryContactHistory()
    history.record(
        pd.DataFrame(
            {
                "customer_id": customers["customer_id"].sample(300, random_state=1).to_numpy(),
                "product_id": rng.choice(catalog.product_ids, 300),
                "channel": "app",
                "at": AT - pd.to_timedelta(rng.uniform(0, 40, 300), unit="D"),
            }
        )
    )
    whole = xsell.evaluate_guardrails(customers, catalog, spec, at=AT, history=history)
    parts = [
        xsell.evaluate_guardrails(customers.iloc[i : i + 7], catalog, spec, at=AT, history=history)
        for i in range(0, len(customers), 7)
    ]
    assert len(customers) > _FEW >= 7
    np.testing.assert_array_equal(whole.reason, np.vstack([p.reason for p in parts]))
    np.testing.assert_array_equal(
        whole.contacts_left, np.concatenate([p.contacts_left for p in parts])
    )
    assert len(np.unique(whole.reason)) > 6  # owned, eligibility, consent and contact rules
