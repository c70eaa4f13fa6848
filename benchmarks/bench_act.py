"""Throughput of ``Agent.act``: customers decided per second, per model and policy, and the limit.

For each allowed combination of reward model (``bayes_logistic``, ``ridge``, ``sgd``,
``beta_bernoulli``) and policy (greedy, epsilon-greedy, Thompson sampling, UCB) the benchmark

1. builds an agent and warms it up with one ``act`` call on all customers (this also fits
   the features);
2. times ``--repeats`` ``act`` calls on the same customers, each with its own decision time
   (the time is part of the decision key, so every call makes fresh decision ids);
3. teaches the agent ``--trained-outcomes`` outcomes of its last decisions (conversions
   drawn from the sample bank's true response, in batches of 1,000) and times ``act``
   again: posteriors narrow with learning, which changes Thompson sampling's work.

Thompson sampling and UCB need a model that reports its uncertainty; the agent refuses them
with ``sgd`` (``InputError``), and the benchmark records those combinations as skipped. The
targets (epsilon-greedy and Thompson sampling) apply to the default model,
``bayes_logistic``, which is timed ``--repeats`` times per measurement; the other models are
reported without a target, ``--other-repeats`` times each.

Every timed call returns the full decision table: decision ids, the exact probability of
every action (``p_none``, ``p_<product>``), blocked reasons and the top explanation
drivers; the benchmark checks those columns are there. Rendering the drivers as text
(``Agent.explain``) is on demand and timed separately, on ``--explain-rows`` decisions.

The machine's limit is the time to read the feature matrix once: building it from the
customer table (``agent.featurizer.transform``) and a single pass over the float matrices
(``X.sum()`` and ``E.sum()``); ``act`` is reported as a multiple of both.

Results go to ``benchmarks/results/<--output>.json`` (default ``act.json``).

Usage::

    .venv/bin/python benchmarks/bench_act.py                       # full run
    .venv/bin/python benchmarks/bench_act.py --customers 10000 --repeats 2 --output act_quick
    .venv/bin/python benchmarks/bench_act.py --models ridge --policies ucb thompson \
        --output act_ridge
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import xsell
from _common import (
    command_line,
    decision_times,
    machine_info,
    per_second,
    result_name,
    summarize,
    time_calls,
    timed,
    write_result,
)

#: the model the targets apply to (the agent's default)
DEFAULT_MODEL = "bayes_logistic"

#: reward models, by the name ``Agent(model=...)`` takes
MODELS = ("bayes_logistic", "ridge", "sgd", "beta_bernoulli")

#: targets of the acceptance criteria for DEFAULT_MODEL, customers per second (median)
TARGETS: dict[str, float] = {"epsilon_greedy": 250_000.0, "thompson": 100_000.0}

POLICIES: dict[str, Callable[[], xsell.Policy]] = {
    "greedy": xsell.Greedy,
    "epsilon_greedy": xsell.EpsilonGreedy,
    "thompson": xsell.ThompsonSampling,
    "ucb": xsell.UCB,
}

UPDATE_BATCH = 1_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=100_000, help="customers per act call")
    p.add_argument(
        "--repeats",
        type=int,
        default=5,
        help=f"timed act calls per measurement of the default model ({DEFAULT_MODEL})",
    )
    p.add_argument(
        "--other-repeats",
        type=int,
        default=None,
        help="timed act calls per measurement of the other models (default: 3, at most --repeats)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="reward models to measure",
    )
    p.add_argument(
        "--policies",
        nargs="+",
        choices=list(POLICIES),
        default=list(POLICIES),
        help="policies to measure (with every model that allows them)",
    )
    p.add_argument(
        "--trained-outcomes",
        type=int,
        default=20_000,
        help="outcomes learned before the 'trained' measurement (0: skip it)",
    )
    p.add_argument(
        "--explain-rows",
        type=int,
        default=10_000,
        help="decisions rendered as text by Agent.explain, timed once (0: skip)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of customers, agent and outcomes")
    p.add_argument(
        "--output", type=result_name, default="act", help="results file name (without .json)"
    )
    args = p.parse_args(argv)
    if args.other_repeats is None:
        args.other_repeats = min(3, args.repeats)
    if args.repeats < 1 or args.other_repeats < 1:
        p.error("--repeats and --other-repeats must be >= 1")
    # measure in the order of MODELS and POLICIES, whatever order they were given in
    args.models = [m for m in MODELS if m in args.models]
    args.policies = [q for q in POLICIES if q in args.policies]
    return args


def check_decisions(decisions: pd.DataFrame, agent: xsell.Agent, n: int) -> None:
    """The timed output is the complete one: ids, exact probabilities, drivers, reasons."""
    pids = agent.catalog.product_ids
    probs = ["p_none", *(f"p_{p}" for p in pids)]
    needed = [
        "decision_id",
        "product",
        "probability",
        *probs,
        *(f"blocked_{p}" for p in pids),
        *(f"driver_{j}{s}" for j in (1, 2, 3) for s in ("", "_effect", "_value")),
    ]
    missing = [c for c in needed if c not in decisions.columns]
    if missing:
        raise RuntimeError(f"act output lacks {missing}")
    if len(decisions) != n or not decisions["decision_id"].is_unique:
        raise RuntimeError("act must return one row and one unique decision id per customer")
    total = decisions[probs].to_numpy().sum(axis=1)
    if not np.allclose(total, 1.0, atol=1e-9):
        raise RuntimeError("action probabilities do not sum to 1")


def time_act(
    agent: xsell.Agent, customers: pd.DataFrame, times: list[pd.Timestamp]
) -> tuple[list[float], pd.DataFrame, pd.Timestamp]:
    """Seconds of each ``act`` call (one per decision time), the last decisions and time."""
    last: dict[str, Any] = {}

    def call(at: pd.Timestamp) -> Callable[[], None]:
        def run() -> None:
            last["decisions"] = agent.act(customers, at=at)

        return run

    seconds = time_calls([call(at) for at in times])
    decisions: pd.DataFrame = last["decisions"]
    check_decisions(decisions, agent, len(customers))
    return seconds, decisions, times[-1]


def train(
    agent: xsell.Agent,
    customers: pd.DataFrame,
    decisions: pd.DataFrame,
    at: pd.Timestamp,
    outcomes: int,
    seed: int,
) -> dict[str, Any]:
    """Teach the agent ``outcomes`` outcomes of ``decisions`` (still pending), in batches."""
    offered = np.flatnonzero(decisions["product"].notna().to_numpy())[:outcomes]
    products: list[str] = decisions["product"].astype(object).to_numpy()[offered].tolist()
    conversion = xsell.SampleBank(seed=seed).respond(customers.iloc[offered], products, at)
    ids = decisions["decision_id"].to_numpy()[offered]
    seconds = 0.0
    for s in range(0, len(offered), UPDATE_BATCH):
        batch = pd.DataFrame(
            {
                "decision_id": ids[s : s + UPDATE_BATCH],
                "conversion": conversion[s : s + UPDATE_BATCH],
            }
        )
        t0 = time.perf_counter()
        agent.update(batch)
        seconds += time.perf_counter() - t0
    return {
        "outcomes": len(offered),
        "conversions": int(conversion.sum()),
        "update_seconds": seconds,
        "n_learned": agent.n_learned,
        "model_version": agent.model_version,
    }


def machine_limit(agent: xsell.Agent, customers: pd.DataFrame, repeats: int) -> dict[str, Any]:
    """Time to read the feature matrix once: build it, and one pass over its floats."""
    f = agent.featurizer
    transform = time_calls([lambda: f.transform(customers)] * max(repeats, 5))
    design = f.transform(customers)
    X, E = design.X, design.E
    x_pass = time_calls([lambda: X.sum()] * 51)
    xe_pass = time_calls([lambda: (X.sum(), E.sum())] * 51)
    nbytes = X.nbytes + E.nbytes
    xe_median = float(np.median(xe_pass))
    return {
        "transform_seconds": summarize(transform),
        "x_pass_seconds": summarize(x_pass),
        "x_e_pass_seconds": summarize(xe_pass),
        "X_shape": list(X.shape),
        "E_shape": list(E.shape),
        "X_E_bytes": nbytes,
        "x_e_pass_gb_per_s": round(nbytes / xe_median / 1e9, 2),
        "transform_customers_per_s": per_second(len(customers), float(np.median(transform))),
    }


def measure(
    model: str,
    name: str,
    state: str,
    seconds: list[float],
    decisions: pd.DataFrame,
    agent: xsell.Agent,
    limit: dict[str, Any],
) -> dict[str, Any]:
    n = len(decisions)
    med, best = float(np.median(seconds)), float(np.min(seconds))
    offered = decisions["product"].notna().to_numpy()
    t_transform = limit["transform_seconds"]["median"]
    t_pass = limit["x_e_pass_seconds"]["median"]
    row: dict[str, Any] = {
        "model": model,
        "policy": name,
        "policy_version": agent.policy_version,
        "state": state,
        "n_learned": agent.n_learned,
        "customers": n,
        "products": len(agent.catalog.products),
        "seconds": summarize(seconds),
        "seconds_each": [round(t, 4) for t in seconds],
        "customers_per_s_median": per_second(n, med),
        "customers_per_s_best": per_second(n, best),
        "x_transform": round(med / t_transform, 1),
        "x_matrix_pass": round(med / t_pass, 1),
        "offered_share": round(float(offered.mean()), 4),
        "mean_probability_of_choice": round(float(decisions["probability"].mean()), 4),
    }
    target = TARGETS.get(name) if model == DEFAULT_MODEL else None
    if target is not None:
        row["target_customers_per_s"] = target
        row["pass"] = bool(row["customers_per_s_median"] >= target)
    return row


def explain_timing(agent: xsell.Agent, decisions: pd.DataFrame, rows: int) -> dict[str, Any]:
    sub = decisions.iloc[:rows]
    seconds, text = timed(lambda: agent.explain(sub))
    return {
        "rows": len(sub),
        "seconds": seconds,
        "decisions_per_s": per_second(len(sub), seconds),
        "example": str(text.iloc[0]),
    }


def make_agent(
    catalog: xsell.Catalog, spec: xsell.FeatureSpec, model: str, policy: str, seed: int
) -> xsell.Agent | str:
    """A fresh agent (default ``pending_capacity``), or why the agent refuses the pair."""
    try:
        return xsell.Agent(catalog, spec, model=model, policy=POLICIES[policy](), seed=seed)
    except xsell.InputError as exc:
        return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    customers = xsell.make_customers(args.customers, seed=args.seed)
    catalog, spec = xsell.Catalog.sample(), xsell.sample_feature_spec()
    print(
        f"act benchmark: {len(customers):,} customers x {len(catalog.products)} products; "
        f"models {', '.join(args.models)}; policies {', '.join(args.policies)}; "
        f"{args.repeats} repeats ({DEFAULT_MODEL}), {args.other_repeats} (others)",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    limit: dict[str, Any] = {}
    explain: dict[str, Any] | None = None
    clock = 0  # seconds after BASE_TIME of the next decision time
    pending_capacity = 0
    t_start = time.perf_counter()
    for model in args.models:
        repeats = args.repeats if model == DEFAULT_MODEL else args.other_repeats
        for name in args.policies:
            agent = make_agent(catalog, spec, model, name, args.seed)
            if isinstance(agent, str):
                skipped.append({"model": model, "policy": name, "reason": agent})
                print(f"  {model:<14} {name:<14} skipped: {agent}", flush=True)
                continue
            pending_capacity = agent.pending_capacity  # the default: act at steady state
            at = decision_times(clock, 1)[0]
            clock += 1
            t0 = time.perf_counter()
            agent.act(customers, at=at)  # warm-up; fits the features
            warm = time.perf_counter() - t0
            if not limit:
                limit = machine_limit(agent, customers, args.repeats)
                limit["first_act_seconds_incl_fit"] = warm
            times = decision_times(clock, repeats)
            clock += repeats
            seconds, decisions, at = time_act(agent, customers, times)
            results.append(measure(model, name, "untrained", seconds, decisions, agent, limit))
            report(results[-1])
            if explain is None and args.explain_rows > 0:
                explain = explain_timing(agent, decisions, args.explain_rows)
                explain["model"], explain["policy"] = model, name
            if args.trained_outcomes > 0:
                training = train(agent, customers, decisions, at, args.trained_outcomes, args.seed)
                times = decision_times(clock, repeats)
                clock += repeats
                seconds, decisions, _ = time_act(agent, customers, times)
                results.append(measure(model, name, "trained", seconds, decisions, agent, limit))
                results[-1]["training"] = training
                report(results[-1])
    elapsed = time.perf_counter() - t_start
    if not results:
        print("nothing measured: every requested combination was refused", file=sys.stderr)
        return 1
    targets = [
        {
            "model": r["model"],
            "policy": r["policy"],
            "state": r["state"],
            "target_customers_per_s": r["target_customers_per_s"],
            "customers_per_s_median": r["customers_per_s_median"],
            "pass": r["pass"],
        }
        for r in results
        if "pass" in r
    ]
    payload = {
        "benchmark": "act",
        "command": command_line(),
        "machine": machine,
        "config": {
            "customers": len(customers),
            "products": len(catalog.products),
            "default_model": DEFAULT_MODEL,
            "models": args.models,
            "policies": args.policies,
            "repeats": args.repeats,
            "other_repeats": args.other_repeats,
            "seed": args.seed,
            "pending_capacity": pending_capacity,
            "trained_outcomes": args.trained_outcomes,
            "update_batch": UPDATE_BATCH,
            "mode": "realtime",
        },
        "machine_limit": limit,
        "results": results,
        "skipped": skipped,
        "targets": targets,
        "all_targets_pass": all(t["pass"] for t in targets),
        "explain": explain,
        "wall_seconds": round(elapsed, 1),
    }
    path = write_result(args.output, payload)
    print(
        f"machine limit: transform {limit['transform_seconds']['median'] * 1e3:.1f} ms, "
        f"one pass over X and E {limit['x_e_pass_seconds']['median'] * 1e3:.2f} ms"
    )
    for t in targets:
        verdict = "PASS" if t["pass"] else "FAIL"
        print(
            f"{verdict} {t['model']} {t['policy']} ({t['state']}): "
            f"{t['customers_per_s_median']:,} customers/s "
            f"(target {t['target_customers_per_s']:,.0f})"
        )
    print(f"measured {len(results)} rows in {elapsed:.0f} s; wrote {path}")
    return 0


def report(row: dict[str, Any]) -> None:
    s = row["seconds"]
    print(
        f"  {row['model']:<14} {row['policy']:<14} {row['state']:<9} "
        f"median {s['median'] * 1e3:7.1f} ms (best {s['min'] * 1e3:7.1f}): "
        f"{row['customers_per_s_median']:>9,} customers/s, "
        f"{row['x_transform']:.1f}x transform, {row['x_matrix_pass']:.0f}x one matrix pass",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
