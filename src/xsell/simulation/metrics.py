"""From per-step arena metrics to the numbers a bank reads: totals with intervals, paired.

Every interval is a 95 % Student-t interval over seeds (one world per seed). Differences
between contenders are paired by seed: both met the same customers with the same luck, so
the paired interval is much tighter than the two totals' intervals suggest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from xsell.errors import InputError

__all__ = ["METRICS", "cumulative", "early", "fairness", "interval", "paired", "summary", "totals"]

#: what each per-step metric counts
METRICS: dict[str, str] = {
    "decisions": "customers decided",
    "offers": "offers made",
    "conversions": "offers converted within the observation window",
    "value": "value of those conversions (currency of the catalog)",
    "reward": "value - opt-out costs - contact costs",
    "expected_reward": "true expected reward of the actions taken",
    "oracle_reward": "true expected reward of the oracle's action on the same customers",
    "regret": "oracle_reward - expected_reward",
    "explored": "decisions that were not the policy's best guess",
    "opt_outs": "customers who withdrew consent after an offer",
    "purchases": "purchases of any product, organic ones included",
    "incremental_expected": "expected value the offers caused beyond organic uptake",
}

_SUMMED = list(METRICS)


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t interval of ``values`` (half-width 0 for one value).

    Examples
    --------
    >>> m, h = interval(np.array([1.0, 2.0, 3.0]))
    >>> m, round(h, 3)
    (2.0, 2.484)
    """
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), 0.0
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(half)


def totals(steps: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, contender): the metrics summed over the run, plus conversion rate."""
    t = steps.groupby(["seed", "contender"], sort=False)[_SUMMED].sum()
    t["conversion_rate"] = t["conversions"] / t["offers"].where(t["offers"] > 0)
    return t.reset_index()


def summary(steps: pd.DataFrame, reference: str | None = "xsell") -> pd.DataFrame:
    """One row per contender: means over seeds with 95 % intervals, and paired differences.

    Columns: ``<metric>`` and ``<metric>_ci`` (half-width) for conversions, conversion
    rate, value, reward, expected reward, regret, opt-outs, incremental value and
    purchases; and, when ``reference`` ran, ``reward_vs_<reference>`` and
    ``expected_reward_vs_<reference>`` with their paired intervals. The expected reward
    (the true value of the actions taken) is what tells policies apart: realized rewards
    add the luck of a few thousand Bernoulli draws.
    """
    t = totals(steps)
    rows = []
    keys = [
        "decisions",
        "offers",
        "conversions",
        "conversion_rate",
        "value",
        "reward",
        "expected_reward",
        "regret",
        "opt_outs",
        "purchases",
        "incremental_expected",
    ]
    for name, g in t.groupby("contender", sort=False):
        row: dict[str, object] = {"contender": name, "seeds": len(g)}
        for k in keys:
            row[k], row[f"{k}_ci"] = interval(g[k].to_numpy())
        rows.append(row)
    out = pd.DataFrame(rows)
    if reference is not None and reference in set(t["contender"]):
        for metric in ("reward", "expected_reward"):
            diff = paired(steps, reference, metric)
            out = out.merge(
                diff.rename(
                    columns={
                        "difference": f"{metric}_vs_{reference}",
                        "ci": f"{metric}_vs_{reference}_ci",
                    }
                ),
                on="contender",
                how="left",
            )
    return out


def paired(steps: pd.DataFrame, reference: str, metric: str = "reward") -> pd.DataFrame:
    """Each contender's total ``metric`` minus the reference's, paired by seed, with intervals."""
    t = totals(steps).pivot(index="seed", columns="contender", values=metric)
    if reference not in t.columns:
        raise InputError(f"reference contender {reference!r} did not run; ran: {list(t.columns)}")
    rows = []
    for name in t.columns:
        d = (t[name] - t[reference]).to_numpy()
        mean, half = interval(d)
        rows.append({"contender": name, "difference": mean, "ci": half})
    return pd.DataFrame(rows)


def early(steps: pd.DataFrame, share: float = 0.05, metric: str = "reward") -> pd.DataFrame:
    """Per (seed, contender): ``metric`` over the first ``share`` of decisions (by step)."""
    if not 0 < share <= 1:
        raise InputError(f"`share` must be in (0, 1], got {share!r}")
    out = []
    for (seed, name), g in steps.groupby(["seed", "contender"], sort=False):
        g = g.sort_values("step")
        done = g["decisions"].cumsum().to_numpy()
        upto = int(np.searchsorted(done, share * done[-1])) + 1
        out.append({"seed": seed, "contender": name, metric: float(g[metric].iloc[:upto].sum())})
    return pd.DataFrame(out)


def cumulative(
    steps: pd.DataFrame, metrics: Sequence[str] = ("conversions", "regret")
) -> pd.DataFrame:
    """Per (contender, step): cumulative metrics, mean over seeds (for plots)."""
    s = steps.sort_values(["seed", "contender", "step"]).copy()
    for m in metrics:
        s[f"cum_{m}"] = s.groupby(["seed", "contender"])[m].cumsum()
    cols = ["at", *[f"cum_{m}" for m in metrics]]
    return (
        s.groupby(["contender", "step"], sort=False)[cols]
        .agg({"at": "first", **{c: "mean" for c in cols[1:]}})
        .reset_index()
    )


def fairness(steps: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
    """Offer and conversion rates per protected group and contender (pooled over seeds)."""
    rows = []
    for name, g in steps.groupby("contender", sort=False):
        for level in groups:
            dec = g[f"decisions_{level}"].sum()
            off = g[f"offers_{level}"].sum()
            conv = g[f"conversions_{level}"].sum()
            rows.append(
                {
                    "contender": name,
                    "group": level,
                    "decisions": int(dec),
                    "offer_rate": off / dec if dec else np.nan,
                    "conversion_rate": conv / off if off else np.nan,
                }
            )
    return pd.DataFrame(rows)
