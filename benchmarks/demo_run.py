"""What ``make run`` (``xsell run``) shows, measured: wall time, traffic, conversions, versions.

Runs :func:`xsell.demo.run_demo` with ``xsell run``'s defaults (a fresh SQLite log, the
service in a child process, the simulated bank, the learner) and writes every day's line
plus the summary to ``benchmarks/results/demo_run.json``::

    .venv/bin/python benchmarks/demo_run.py [--start 2099-03-02] [--days 30] ...
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from _common import command_line, machine_info, result_name, write_result
from xsell.demo import DemoResult, run_demo
from xsell.simulation.traffic import DayStats


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--visitors", type=int, default=400)
    p.add_argument("--per-request", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", default=None, help="first simulated day, UTC (default: today)")
    p.add_argument("--output", type=result_name, default="demo_run")
    return p.parse_args(argv)


def _day(s: DayStats) -> dict[str, Any]:
    return {
        "day": s.day + 1,
        "date": s.at.date().isoformat(),
        "requests": s.requests,
        "customers": s.customers,
        "offers": s.offers,
        "conversions": s.conversions,
        "conversion_rate": round(s.rate, 4),
        "value_eur": s.value,
        "expected_value_eur": round(s.expected, 2),
        "propensity_model_expected_value_eur": round(s.baseline, 2),
        "lift_vs_propensity_model": round(s.lift, 4),
        "forbidden_offers": s.forbidden,
        "outcome_events_sent": s.events,
        "learned_at_day_end": s.learned,
        "versions_answered": list(s.versions),
        "version_after_learning": s.version,
        "latency_ms_p50": round(s.latency_ms(50), 1),
        "latency_ms_p99": round(s.latency_ms(99), 1),
    }


def _part(days: list[DayStats]) -> dict[str, Any]:
    offers = sum(d.offers for d in days)
    base = sum(d.baseline for d in days)
    return {
        "days": [days[0].day + 1, days[-1].day + 1],
        "offers": offers,
        "conversions": sum(d.conversions for d in days),
        "conversion_rate": round(sum(d.conversions for d in days) / offers, 4),
        "lift_vs_propensity_model": round(sum(d.expected for d in days) / base - 1, 4),
    }


def summarize(result: DemoResult) -> dict[str, Any]:
    d = result.days
    third = max(1, len(d) // 3)
    lat = np.concatenate([x.latencies_ms for x in d])
    return {
        "wall_seconds": round(result.seconds, 1),
        "days_played": len(d),
        "decision_requests": sum(x.requests for x in d),
        "customers_decided": sum(x.customers for x in d),
        "offers": sum(x.offers for x in d),
        "outcome_events_sent": sum(x.events for x in d),
        "first_third": _part(d[:third]),
        "middle": _part(d[third:-third]) if len(d) > 2 * third else None,
        "last_third": _part(d[-third:]),
        "model_version_first_day": d[0].versions[0],
        "model_version_at_end": d[-1].version,
        "outcomes_learned": sum(x.learned for x in d),
        "forbidden_offers": sum(x.forbidden for x in d),
        "propensity_weights": {k: round(v, 3) for k, v in result.propensity_weights.items()},
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(
            days=args.days,
            visitors=args.visitors,
            per_request=args.per_request,
            seed=args.seed,
            db=Path(tmp) / "demo.db",
            console=Console(stderr=True),
            start=None if args.start is None else f"{args.start}T00:00:00Z",
        )
    payload = {
        "benchmark": "demo_run",
        "command": command_line(),
        "machine": machine,
        "config": {k: v for k, v in vars(args).items() if k != "output"},
        "summary": summarize(result),
        "days": [_day(s) for s in result.days],
    }
    path = write_result(args.output, payload)
    s = payload["summary"]
    print(
        f"{s['days_played']} days in {s['wall_seconds']} s; conversion rate "
        f"{s['first_third']['conversion_rate']:.2%} -> {s['last_third']['conversion_rate']:.2%}; "
        f"lift vs propensity model {s['first_third']['lift_vs_propensity_model']:+.1%} -> "
        f"{s['last_third']['lift_vs_propensity_model']:+.1%}; versions "
        f"{s['model_version_first_day']} -> {s['model_version_at_end']}; wrote {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
