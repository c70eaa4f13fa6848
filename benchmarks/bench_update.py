"""Throughput and latency of ``Agent.update``, per reward model: learning outcomes by id.

Outcomes refer to decisions the agent made and still holds as pending: the benchmark
decides for ``--customers`` customers at a time (each call with its own decision time,
so ids are fresh), shuffles the offered decisions, draws each one's conversion from the
sample bank's true response, and sizes ``pending_capacity`` so every timed outcome is
still pending. Building the outcome tables is never timed.

* **Batch throughput**: ``--rounds`` rounds, each learning ``--outcomes`` outcomes in
  batches of ``--batch`` rows (a DataFrame with ``decision_id`` and ``conversion``);
  outcomes per second of each round (median and best over rounds), and the latency of
  each batch call.
* **Single-outcome latency**: ``--single-calls`` calls of one outcome each, both as a
  one-element list of ``OfferResult`` and as a one-row DataFrame, after
  ``--warmup-calls`` untimed calls: p50, p90, p99 and max in milliseconds.

Both are measured for each reward model (``--models``: ``bayes_logistic``, ``ridge``,
``sgd``, ``beta_bernoulli``), each on its own agent. The decisions come from Thompson
sampling, or epsilon-greedy for ``sgd`` (which reports no uncertainty, so the agent refuses
Thompson sampling with it); the policy only chooses which products the outcomes are for.

Targets, for the default model (``bayes_logistic``): at least 200,000 outcomes/s in batches
of 1,000 (median round), and p99 of at most 2 ms for a single outcome (each form is
checked). The other models are reported without a target. Results go to
``benchmarks/results/<--output>.json`` (default ``update.json``).

Usage::

    .venv/bin/python benchmarks/bench_update.py                    # full run
    .venv/bin/python benchmarks/bench_update.py --outcomes 10000 --rounds 1 \\
        --single-calls 200 --output update_quick
    .venv/bin/python benchmarks/bench_update.py --models sgd ridge --output update_some
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from functools import partial
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
    write_result,
)

#: the model the targets apply to (the agent's default)
DEFAULT_MODEL = "bayes_logistic"

#: reward models, by the name ``Agent(model=...)`` takes
MODELS = ("bayes_logistic", "ridge", "sgd", "beta_bernoulli")

TARGET_OUTCOMES_PER_S = 200_000.0
TARGET_SINGLE_P99_MS = 2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=100_000, help="customers per act call")
    p.add_argument("--outcomes", type=int, default=100_000, help="outcomes learned per round")
    p.add_argument("--batch", type=int, default=1_000, help="outcomes per update call")
    p.add_argument("--rounds", type=int, default=3, help="timed throughput rounds")
    p.add_argument("--single-calls", type=int, default=2_000, help="timed single-outcome calls")
    p.add_argument("--warmup-calls", type=int, default=50, help="untimed calls before those")
    p.add_argument("--seed", type=int, default=1, help="seed of customers, agent and outcomes")
    p.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="reward models to measure",
    )
    p.add_argument(
        "--output", type=result_name, default="update", help="results file name (without .json)"
    )
    args = p.parse_args(argv)
    args.models = [m for m in MODELS if m in args.models]
    return args


class PendingOutcomes:
    """Fresh offered decisions of the agent, with their true conversions, on demand."""

    def __init__(self, agent: xsell.Agent, customers: pd.DataFrame, seed: int) -> None:
        self.agent = agent
        self.customers = customers
        self.bank = xsell.SampleBank(seed=seed)
        self.rng = np.random.default_rng(seed)
        self.queue: deque[tuple[str, int]] = deque()
        self.clock = 0
        self.acts = 0
        self.id_dtype: Any = None

    def _decide(self) -> None:
        at = decision_times(self.clock, 1)[0]
        self.clock += 1
        decisions = self.agent.act(self.customers, at=at)
        self.acts += 1
        self.id_dtype = decisions["decision_id"].dtype
        offered = np.flatnonzero(decisions["product"].notna().to_numpy())
        self.rng.shuffle(offered)
        products: list[str] = decisions["product"].astype(object).to_numpy()[offered].tolist()
        conversion = self.bank.respond(self.customers.iloc[offered], products, at)
        ids = decisions["decision_id"].to_numpy(dtype=object)[offered]
        self.queue.extend(zip(ids.tolist(), conversion.tolist(), strict=True))

    def take(self, k: int) -> tuple[list[str], list[int]]:
        """``k`` pending decision ids, oldest decisions first, and their conversions."""
        while len(self.queue) < k:
            self._decide()
        pairs = [self.queue.popleft() for _ in range(k)]
        return [i for i, _ in pairs], [c for _, c in pairs]

    def frame(self, ids: list[str], conversion: list[int]) -> pd.DataFrame:
        """Outcomes as the DataFrame ``update`` takes (ids in the dtype ``act`` returned)."""
        return pd.DataFrame(
            {
                "decision_id": pd.array(ids, dtype=self.id_dtype),
                "conversion": np.asarray(conversion, dtype=np.int64),
            }
        )


def batch_throughput(
    agent: xsell.Agent,
    source: PendingOutcomes,
    outcomes: int,
    batch: int,
    rounds: int,
    *,
    with_target: bool,
) -> dict[str, Any]:
    per_round: list[dict[str, Any]] = []
    batch_seconds: list[float] = []
    for r in range(rounds):
        ids, conv = source.take(outcomes)
        frames = [
            source.frame(ids[s : s + batch], conv[s : s + batch]) for s in range(0, outcomes, batch)
        ]
        seconds = time_calls([partial(agent.update, f) for f in frames])
        total = float(np.sum(seconds))
        batch_seconds += seconds
        per_round.append(
            {
                "round": r + 1,
                "outcomes": outcomes,
                "seconds": round(total, 4),
                "outcomes_per_s": per_second(outcomes, total),
                "batch_ms_median": round(float(np.median(seconds)) * 1e3, 3),
                "batch_ms_p99": round(float(np.percentile(seconds, 99)) * 1e3, 3),
                "conversions": int(np.sum(conv)),
            }
        )
        print(
            f"  batches of {batch:,}, round {r + 1}: {outcomes:,} outcomes in {total:.2f} s = "
            f"{per_round[-1]['outcomes_per_s']:,} outcomes/s",
            flush=True,
        )
    rates = [p["outcomes_per_s"] for p in per_round]
    median = float(np.median(rates))
    out: dict[str, Any] = {
        "batch": batch,
        "rounds": per_round,
        "outcomes_per_s_median": round(median),
        "outcomes_per_s_best": max(rates),
        "batch_latency_ms": summarize(batch_seconds, unit="ms"),
    }
    if with_target:
        out["target_outcomes_per_s"] = TARGET_OUTCOMES_PER_S
        out["pass"] = bool(median >= TARGET_OUTCOMES_PER_S)
    return out


def single_latency(
    agent: xsell.Agent,
    source: PendingOutcomes,
    form: str,
    calls: int,
    warmup: int,
    *,
    with_target: bool,
) -> dict[str, Any]:
    ids, conv = source.take(warmup + calls)
    args: list[pd.DataFrame | list[xsell.OfferResult]]
    if form == "offer_result_list":
        args = [[xsell.OfferResult(i, c)] for i, c in zip(ids, conv, strict=True)]
    else:
        args = [source.frame([i], [c]) for i, c in zip(ids, conv, strict=True)]
    time_calls([partial(agent.update, a) for a in args[:warmup]])
    seconds = time_calls([partial(agent.update, a) for a in args[warmup:]])
    ms = summarize(seconds, unit="ms")
    print(
        f"  single outcome as {form}: p50 {ms['median']:.3f} ms, p99 {ms['p99']:.3f} ms, "
        f"max {ms['max']:.3f} ms",
        flush=True,
    )
    out: dict[str, Any] = {
        "form": form,
        "latency_ms": ms,
        "outcomes_per_s": per_second(calls, float(np.sum(seconds))),
    }
    if with_target:
        out["target_p99_ms"] = TARGET_SINGLE_P99_MS
        out["pass"] = bool(ms["p99"] <= TARGET_SINGLE_P99_MS)
    return out


def policy_for(model: str) -> xsell.Policy:
    """The policy that makes the decisions: Thompson sampling, if the model allows it."""
    return xsell.EpsilonGreedy() if model == "sgd" else xsell.ThompsonSampling()


def measure_model(
    model: str,
    args: argparse.Namespace,
    customers: pd.DataFrame,
    catalog: xsell.Catalog,
    spec: xsell.FeatureSpec,
    capacity: int,
) -> dict[str, Any]:
    """Batch throughput and single-outcome latency of one model, on a fresh agent."""
    agent = xsell.Agent(
        catalog,
        spec,
        model=model,
        policy=policy_for(model),
        seed=args.seed,
        pending_capacity=capacity,
    )
    source = PendingOutcomes(agent, customers, args.seed)
    print(f"{model} (decisions by {agent.policy.name}):", flush=True)
    with_target = model == DEFAULT_MODEL
    # warm-up: fits the features, and one untimed batch update
    ids, conv = source.take(args.batch)
    agent.update(source.frame(ids, conv))

    t0 = time.perf_counter()
    throughput = batch_throughput(
        agent, source, args.outcomes, args.batch, args.rounds, with_target=with_target
    )
    single = [
        single_latency(
            agent, source, form, args.single_calls, args.warmup_calls, with_target=with_target
        )
        for form in ("offer_result_list", "one_row_dataframe")
    ]
    elapsed = time.perf_counter() - t0
    targets: list[dict[str, Any]] = []
    if with_target:
        targets = [
            {
                "model": model,
                "what": f"update throughput, batches of {args.batch:,}",
                "target": f">= {TARGET_OUTCOMES_PER_S:,.0f} outcomes/s",
                "measured": f"{throughput['outcomes_per_s_median']:,} outcomes/s (median round)",
                "pass": throughput["pass"],
            },
            *(
                {
                    "model": model,
                    "what": f"single-outcome update latency, {s['form']}",
                    "target": f"p99 <= {TARGET_SINGLE_P99_MS} ms",
                    "measured": f"p99 {s['latency_ms']['p99']} ms",
                    "pass": s["pass"],
                }
                for s in single
            ),
        ]
    return {
        "model": model,
        "policy": agent.policy_version,
        "decision_id_dtype": str(source.id_dtype),
        "act_calls_to_make_decisions": source.acts,
        "batch_throughput": throughput,
        "single_outcome": single,
        "targets": targets,
        "n_learned_at_end": agent.n_learned,
        "model_version_at_end": agent.model_version,
        "wall_seconds_incl_preparation": round(elapsed, 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    customers = xsell.make_customers(args.customers, seed=args.seed)
    catalog, spec = xsell.Catalog.sample(), xsell.sample_feature_spec()
    # the ring buffer keeps the last `capacity` offers: what one take() returns is among the
    # last (take + one act call) offers, so this keeps every timed outcome pending
    largest_take = max(args.outcomes, args.warmup_calls + args.single_calls, args.batch)
    capacity = largest_take + 2 * args.customers
    print(
        f"update benchmark: outcomes of {len(catalog.products)} products, pending capacity "
        f"{capacity:,}; models {', '.join(args.models)}",
        flush=True,
    )
    t0 = time.perf_counter()
    per_model = [measure_model(m, args, customers, catalog, spec, capacity) for m in args.models]
    elapsed = time.perf_counter() - t0
    targets = [t for r in per_model for t in r["targets"]]
    payload = {
        "benchmark": "update",
        "command": command_line(),
        "machine": machine,
        "config": {
            "customers_per_act": len(customers),
            "products": len(catalog.products),
            "default_model": DEFAULT_MODEL,
            "models": args.models,
            "outcomes_per_round": args.outcomes,
            "batch": args.batch,
            "rounds": args.rounds,
            "single_calls": args.single_calls,
            "warmup_calls": args.warmup_calls,
            "seed": args.seed,
            "pending_capacity": capacity,
        },
        "models": per_model,
        "targets": targets,
        "all_targets_pass": all(t["pass"] for t in targets),
        "wall_seconds": round(elapsed, 1),
    }
    path = write_result(args.output, payload)
    for r in per_model:
        tp = r["batch_throughput"]
        p99 = ", ".join(f"{s['form']} p99 {s['latency_ms']['p99']} ms" for s in r["single_outcome"])
        print(f"{r['model']:<14} {tp['outcomes_per_s_median']:>9,} outcomes/s; {p99}")
    for t in targets:
        print(
            f"{'PASS' if t['pass'] else 'FAIL'} {t['model']} {t['what']}: {t['measured']} "
            f"({t['target']})"
        )
    print(f"measured {len(per_model)} models in {elapsed:.0f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
