"""Where ``act`` and ``update`` spend their time: cProfile hotspots, for whoever optimizes.

Profiles, on a warmed-up agent:

* one Thompson-sampling ``act`` call on ``--customers`` customers, as it runs (the
  integration blocks run in worker threads, which cProfile does not see: their time shows
  up as waiting on a lock in the main thread), and once more with the integration forced
  onto the main thread (``xsell.policies.thompson._WORKERS = 1``, patched at run time) so
  the work inside the blocks is attributed;
* ``--batches`` (default 1) ``update`` calls of ``--batch`` outcomes each (DataFrame of
  ``decision_id`` and ``conversion``);
* ``--single-calls`` single-outcome updates (one-element lists of ``OfferResult``).

For each, the top ``--top`` functions by own time and by cumulative time are written to
``benchmarks/results/profile_<what>[_<--tag>].txt``. cProfile adds overhead per Python call, so
the absolute times are inflated; compare the shares.

``--model`` profiles another reward model (default ``bayes_logistic``); its files get the
model's name as the tag unless ``--tag`` is given. A model without uncertainty (``sgd``)
cannot run Thompson sampling: its ``act`` is profiled with epsilon-greedy, once.

Usage::

    .venv/bin/python benchmarks/profile_hotspots.py
    .venv/bin/python benchmarks/profile_hotspots.py --model sgd   # → profile_*_sgd.txt
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import xsell
import xsell.policies.thompson as thompson
from _common import RESULTS_DIR, decision_times

#: the agent's default model; its profiles are written without a tag
DEFAULT_MODEL = "bayes_logistic"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=100_000, help="customers per act call")
    p.add_argument("--batch", type=int, default=1_000, help="outcomes per profiled update")
    p.add_argument("--batches", type=int, default=1, help="batch updates profiled together")
    p.add_argument("--single-calls", type=int, default=200, help="single-outcome updates")
    p.add_argument("--top", type=int, default=10, help="functions listed per ranking")
    p.add_argument("--seed", type=int, default=1, help="seed of customers and agent")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        choices=("bayes_logistic", "ridge", "sgd", "beta_bernoulli"),
        help="reward model to profile",
    )
    p.add_argument(
        "--tag", default=None, help="suffix of the report file names (default: the model's name)"
    )
    args = p.parse_args(argv)
    if args.tag is None:
        args.tag = "" if args.model == DEFAULT_MODEL else args.model
    return args


def profile(fn: Callable[[], Any]) -> tuple[pstats.Stats, float]:
    """Run ``fn`` under cProfile; its statistics and total profiled time (seconds)."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats = pstats.Stats(prof)
    return stats, float(stats.total_tt)  # type: ignore[attr-defined]


def render(title: str, stats: pstats.Stats, total: float, top: int) -> str:
    out = io.StringIO()
    out.write(f"# {title}\n# total profiled time {total * 1e3:.1f} ms\n")
    for key in ("tottime", "cumulative"):
        stats.stream = out  # type: ignore[attr-defined]
        out.write(f"\n## top {top} by {key}\n")
        stats.sort_stats(key).print_stats(top)
    return out.getvalue()


def write(name: str, text: str, tag: str = "") -> Path:
    """Write the report to ``results/profile_<name>.txt`` and echo it."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"profile_{name}{'_' + tag if tag else ''}.txt"
    path.write_text(text)
    print(text)
    print(f"wrote {path}\n", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    customers = xsell.make_customers(args.customers, seed=args.seed)
    catalog, spec = xsell.Catalog.sample(), xsell.sample_feature_spec()
    policy: xsell.Policy = xsell.ThompsonSampling()
    try:
        agent = xsell.Agent(
            catalog,
            spec,
            model=args.model,
            policy=policy,
            seed=args.seed,
            pending_capacity=4 * args.customers,
        )
    except xsell.InputError:  # the model reports no uncertainty
        policy = xsell.EpsilonGreedy()
        agent = xsell.Agent(
            catalog,
            spec,
            model=args.model,
            policy=policy,
            seed=args.seed,
            pending_capacity=4 * args.customers,
        )
    times = iter(decision_times(0, 10))
    agent.act(customers, at=next(times))  # warm-up, fits the features

    stats, total = profile(lambda: agent.act(customers, at=next(times)))
    if policy.name != "thompson":
        title = f"{policy.name} act, model {args.model}"
        write(f"act_{policy.name}", render(title, stats, total, args.top), args.tag)
        decisions: pd.DataFrame = agent.act(customers, at=next(times))
    else:
        title = f"Thompson act, threaded (as run), model {args.model}"
        write("act_thompson", render(title, stats, total, args.top), args.tag)
        workers = thompson._WORKERS
        thompson._WORKERS = 1
        try:
            decisions = agent.act(customers, at=next(times))
            stats, total = profile(lambda: agent.act(customers, at=next(times)))
        finally:
            thompson._WORKERS = workers
        title = f"Thompson act, integration on the main thread, model {args.model}"
        write("act_thompson_single_thread", render(title, stats, total, args.top), args.tag)

    offered = decisions[decisions["product"].notna()]
    ids = offered["decision_id"]
    n, nb = args.batch, args.batches
    if len(ids) < (nb + 1) * n + args.single_calls:
        raise SystemExit(f"{len(ids):,} offers are too few: raise --customers or lower --batches")
    warm = pd.DataFrame({"decision_id": ids.iloc[:n].to_numpy(), "conversion": 0})
    agent.update(warm)  # warm-up
    rng = np.random.default_rng(args.seed)
    batches = [
        pd.DataFrame(
            {
                "decision_id": ids.iloc[(b + 1) * n : (b + 2) * n].to_numpy(),
                "conversion": (rng.random(n) < 0.05).astype(np.int64),
            }
        )
        for b in range(nb)
    ]

    def run_batches() -> None:
        for b in batches:
            agent.update(b)

    stats, total = profile(run_batches)
    title = f"update, {nb} batch{'es' if nb > 1 else ''} of {n:,}, model {args.model}"
    write("update_batch", render(title, stats, total, args.top), args.tag)

    first = (nb + 1) * n
    singles = [[xsell.OfferResult(str(i), 0)] for i in ids.iloc[first : first + args.single_calls]]

    def run_singles() -> None:
        for s in singles:
            agent.update(s)

    stats, total = profile(run_singles)
    title = f"update, {len(singles)} single outcomes (list of one OfferResult), model {args.model}"
    write("update_single", render(title, stats, total, args.top), args.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
