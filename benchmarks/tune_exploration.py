"""How xsell's learning schedule and exploration defaults were chosen (tuning seeds only).

Runs variants of xsell's agent and propensity-greedy on a bank scenario and prints, per seed,
each variant's total expected value (the true expected reward of its actions) and its
expected value over the first 5 % of decisions (the cold-start window). Variants differ in
when outcomes are learned (``hold``: at window close; otherwise conversions on arrival) and
in the policy (greedy, full-strength Thompson sampling, Thompson within a budget).

    .venv/bin/python benchmarks/tune_exploration.py --scenario bank --customers 20000 --seeds 11 12

With ``--feature-sds`` the variants are instead the default agent under priors whose
customer-feature standard deviation takes each value given::

    .venv/bin/python benchmarks/tune_exploration.py --scenario bank-cold --feature-sds 0.05 0.1 0.15 0.3
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

import pandas as pd

from xsell.agent import default_policy
from xsell.policies import Greedy, ThompsonSampling
from xsell.prior import WarmStartPrior
from xsell.simulation.contenders import PropensityGreedy, XsellAgent
from xsell.simulation.metrics import early
from xsell.simulation.runner import run_arena

VARIANTS: dict[str, dict[str, Any]] = {
    "greedy, learn on arrival": {"policy": Greedy(), "hold_conversions": False},
    "thompson 0.5 + 2 % floor, learn on arrival": {
        "policy": ThompsonSampling(),
        "hold_conversions": False,
    },
    "greedy, learn at window close": {"policy": Greedy()},
    "thompson 0.5 + 2 % floor, learn at window close": {"policy": ThompsonSampling()},
    "default (budget 0.5 %, floor 1 %, warm-up 5,000)": {"policy": default_policy()},
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="bank")
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--feature-sds", type=float, nargs="*", default=None)
    args = p.parse_args(argv)
    if any(s >= 1001 for s in args.seeds):
        raise SystemExit("tuning uses seeds below 1001 (those are kept for the reported runs)")
    factories = {"propensity-greedy": PropensityGreedy}
    variants = (
        {f"feature sd {sd:g}": {"prior": WarmStartPrior(feature_sd=sd)} for sd in args.feature_sds}
        if args.feature_sds
        else VARIANTS
    )
    for name, params in variants.items():
        factories[name] = partial(XsellAgent, name=name, **params)
    result = run_arena(
        args.scenario,
        seeds=args.seeds,
        contenders=factories,
        world_params={"customers": args.customers},
        jobs=args.jobs,
    )
    steps = result.steps
    total = steps.groupby(["contender", "seed"], sort=False)["expected_reward"].sum().unstack()
    first = early(steps, 0.05, "expected_reward").pivot(
        index="contender", columns="seed", values="expected_reward"
    )
    table = pd.concat({"total": total, "first 5 %": first.loc[total.index]}, axis=1)
    print(f"{args.scenario}, {args.customers:,} customers, seeds {args.seeds}")
    print(table.round(0).to_string())


if __name__ == "__main__":
    main()
