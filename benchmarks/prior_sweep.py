"""Why the warm-start prior and Thompson defaults are what they are.

Runs the learning test's problem (the sample bank, every product worth the same, the bank's
propensity model wrong for travel insurance; 20,000 decisions in batches of 500, 5 seeds)
for a few prior / posterior-scale variants and reports each one's extra conversions over
propensity-greedy on the same customers and luck. Writes ``results/prior_sweep.json``.

    .venv/bin/python benchmarks/prior_sweep.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import xsell
from xsell.simulation import run_rounds

VARIANTS = {
    "sds 0.5/0.3/0.15, scale 1.0": (
        {"intercept_sd": 0.5, "propensity_sd": 0.3, "feature_sd": 0.15},
        1.0,
    ),
    "sds 0.3/0.5/0.05, scale 1.0": (
        {"intercept_sd": 0.3, "propensity_sd": 0.5, "feature_sd": 0.05},
        1.0,
    ),
    "sds 0.3/0.5/0.05, scale 0.5 (default)": (
        {"intercept_sd": 0.3, "propensity_sd": 0.5, "feature_sd": 0.05},
        0.5,
    ),
}


def _catalog() -> xsell.Catalog:
    data = xsell.Catalog.sample().to_dict()
    for p in data["products"]:
        p["value"]["amount"] = 100.0
        p["opt_out_cost"] = 0.0
    return xsell.Catalog.from_dict(data)


def _conversions(seed: int, policy: xsell.Policy, prior: xsell.WarmStartPrior, learn: bool) -> int:
    catalog = _catalog()
    bank = xsell.SampleBank(seed=seed, catalog=catalog)
    agent = xsell.Agent(catalog, xsell.sample_feature_spec(), policy=policy, prior=prior, seed=seed)
    rounds = run_rounds(
        agent, bank, rounds=40, customers_per_round=500, step=pd.Timedelta(hours=1), learn=learn
    )
    return sum(r.conversions for r in rounds)


def main() -> None:
    results = {}
    for name, (sds, scale) in VARIANTS.items():
        prior = xsell.WarmStartPrior(**sds)
        diffs = [
            _conversions(s, xsell.ThompsonSampling(posterior_scale=scale), prior, True)
            - _conversions(s, xsell.Greedy(), prior, False)
            for s in range(5)
        ]
        d = np.asarray(diffs, dtype=float)
        results[name] = {
            "extra_conversions": diffs,
            "mean": d.mean(),
            "se": d.std(ddof=1) / np.sqrt(len(d)),
        }
        print(f"{name}: +{d.mean():.1f} conversions (se {results[name]['se']:.1f})", flush=True)
    out = Path(__file__).parent / "results" / "prior_sweep.json"
    out.write_text(
        json.dumps(
            {"command": ".venv/bin/python benchmarks/prior_sweep.py", "results": results}, indent=1
        )
    )


if __name__ == "__main__":
    main()
