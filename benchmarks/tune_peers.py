"""How the peers' second knobs were chosen (tuning seeds only).

Runs each open-source peer with its first (exploration) knob at its default and its second
knob at each value given, and prints each variant's total expected value (the true expected
reward of its actions) per seed and the mean. Second knobs: Vowpal Wabbit's learning rate
``-l`` (both configurations) and MABWiser's ridge penalty ``l2_lambda`` (LinUCB, LinTS).

    .venv/bin/python benchmarks/tune_peers.py --customers 20000 --seeds 11 12
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from xsell.simulation.contenders import MABWiserBandit, VowpalWabbitBandit
from xsell.simulation.runner import run_arena


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="bank")
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--learning-rates", type=float, nargs="*", default=[0.02, 0.1, 0.5, 2.0])
    p.add_argument("--l2-lambdas", type=float, nargs="*", default=[0.1, 1.0, 10.0, 100.0])
    p.add_argument(
        "--peers",
        nargs="+",
        default=["vw-squarecb", "vw-epsilon", "mabwiser-linucb", "mabwiser-lints"],
    )
    args = p.parse_args(argv)
    if any(s >= 1001 for s in args.seeds):
        raise SystemExit("tuning uses seeds below 1001 (those are kept for the reported runs)")
    factories: dict[str, Any] = {}
    for peer in args.peers:
        if peer.startswith("vw-"):
            exploration = peer.removeprefix("vw-")
            for lr in args.learning_rates:
                factories[f"{peer} learning_rate {lr:g}"] = partial(
                    VowpalWabbitBandit, exploration=exploration, learning_rate=lr
                )
        else:
            policy = peer.removeprefix("mabwiser-")
            for lam in args.l2_lambdas:
                factories[f"{peer} l2_lambda {lam:g}"] = partial(
                    MABWiserBandit, policy=policy, l2_lambda=lam
                )
    result = run_arena(
        args.scenario,
        seeds=args.seeds,
        contenders=factories,
        world_params={"customers": args.customers},
        jobs=args.jobs,
        on_run=lambda name, seed, sec: print(
            f"  done {name} seed {seed} ({sec:.0f} s)", flush=True
        ),
    )
    table = result.steps.groupby(["contender", "seed"])["expected_reward"].sum().unstack("seed")
    table["mean"] = table.mean(axis=1)
    print(table.loc[list(factories)].round(0).to_string())


if __name__ == "__main__":
    main()
