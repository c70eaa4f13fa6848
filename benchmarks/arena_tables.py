"""Turn ``xsell simulate`` output folders into the README's tables, and keep their summaries.

For each folder: the summary with 95 % intervals over seeds (paired for the comparison with
xsell's default), the first-5 %-of-decisions comparison with propensity-greedy, and for a
drifting world the days each policy spent behind propensity-greedy after the drift. Copies
each summary to ``results/arena_<scenario>.csv`` and prints Markdown.

    .venv/bin/xsell simulate --scenario bank --customers 50000 --seeds 5 --out runs/bank
    .venv/bin/python benchmarks/arena_tables.py runs/bank runs/bank-cold runs/bank-drift
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from xsell.simulation.metrics import early, interval, paired, summary

RESULTS = Path(__file__).parent / "results"


def _f(m: float, h: float, digits: int = 0) -> str:
    return f"{m:,.{digits}f} ± {h:,.{digits}f}"


def table(folder: Path) -> str:
    steps = pd.read_parquet(folder / "steps.parquet")
    run = json.loads((folder / "run.json").read_text())
    s = summary(steps, "xsell")
    RESULTS.mkdir(exist_ok=True)
    s.to_csv(RESULTS / f"arena_{run['scenario']}.csv", index=False)
    lines = [
        f"`{run['command']}` ({run['seconds']:,.0f} s, {len(run['seeds'])} seeds)",
        "",
        "| policy | conversions | conversion rate | value (EUR) | expected value (EUR) | regret (EUR) | expected value vs xsell, paired |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in s.itertuples(index=False):
        rate = (
            "–"
            if r.offers == 0
            else _f(100 * r.conversion_rate, 100 * r.conversion_rate_ci, 2) + " %"
        )
        lines.append(
            f"| {r.contender} | {_f(r.conversions, r.conversions_ci)} | {rate} | "
            f"{_f(r.value, r.value_ci)} | {_f(r.expected_reward, r.expected_reward_ci)} | "
            f"{_f(r.regret, r.regret_ci)} | {_f(r.expected_reward_vs_xsell, r.expected_reward_vs_xsell_ci)} |"
        )
    if "no-offer" in set(steps["contender"]):
        inc = paired(steps, "no-offer", "purchases").set_index("contender")
        lines += [
            "",
            "Purchases caused (any product, beyond the no-offer arm on the same customers, "
            "paired): "
            + ", ".join(
                f"{c} {_f(inc.loc[c, 'difference'], inc.loc[c, 'ci'])}"
                for c in inc.index
                if c != "no-offer"
            )
            + ".",
        ]
    first = early(steps, 0.05, "expected_reward").pivot(
        index="seed", columns="contender", values="expected_reward"
    )
    if "propensity-greedy" in first.columns:
        d, h = interval((first["xsell"] - first["propensity-greedy"]).to_numpy())
        base = first["propensity-greedy"].mean()
        lines += [
            "",
            f"First 5 % of decisions, xsell minus propensity-greedy (expected value): "
            f"{_f(d, h, 1)} EUR of {base:,.0f} ({100 * d / base:+.2f} %).",
        ]
    drift = run["worlds"][0]["spec"]["params"].get("drift_day")
    if drift is not None and "propensity-greedy" in set(steps["contender"]):
        after = steps[steps["step"] >= drift]
        base_cum = (
            after[after["contender"] == "propensity-greedy"]
            .set_index(["seed", "step"])["expected_reward"]
            .groupby(level="seed")
            .cumsum()
        )
        behind = []
        for name, g in after.groupby("contender", sort=False):
            mine = g.set_index(["seed", "step"])["expected_reward"].groupby(level="seed").cumsum()
            lag = (
                (mine < base_cum)
                .groupby(level="seed")
                .apply(lambda b: int(b.to_numpy().nonzero()[0].max()) + 1 if b.any() else 0)
            )
            behind.append(f"{name} {max(lag)}")
        lines += [
            "",
            f"Most days behind propensity-greedy after the drift (any seed): {', '.join(behind)}.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(table(Path(arg)))
        print()
