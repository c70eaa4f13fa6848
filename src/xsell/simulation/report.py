"""What ``xsell simulate`` writes: metrics as Parquet and CSV, PNG plots, one HTML report."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a screen

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from xsell.simulation.metrics import METRICS, cumulative, early, fairness, paired, summary
from xsell.simulation.runner import ArenaResult

__all__ = ["write_outputs"]


def _groups(steps: pd.DataFrame) -> list[str]:
    return sorted(c[len("decisions_") :] for c in steps.columns if c.startswith("decisions_"))


def _products(steps: pd.DataFrame) -> list[str]:
    return [
        c[len("offers_") :]
        for c in steps.columns
        if c.startswith("offers_") and f"decisions_{c[len('offers_') :]}" not in steps.columns
    ]


def plot_cumulative(result: ArenaResult, path: Path) -> Path:
    """Cumulative conversions and cumulative regret over time, one line per contender."""
    cum = cumulative(result.steps, ("conversions", "regret"))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    groups = list(cum.groupby("contender", sort=False))
    # more policies than the default ten colours: one distinct colour each
    colours = plt.get_cmap("tab20" if len(groups) > 10 else "tab10").colors  # type: ignore[attr-defined]
    for i, (name, g) in enumerate(groups):
        colour = colours[i % len(colours)]
        axes[0].plot(g["at"], g["cum_conversions"], label=name, color=colour)
        axes[1].plot(g["at"], g["cum_regret"], label=name, color=colour)
    axes[0].set_title("Cumulative conversions (mean over seeds)")
    axes[1].set_title("Cumulative regret against the oracle (expected value)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30)
    axes[1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_traffic(result: ArenaResult, path: Path) -> Path:
    """Traffic share over time per product, one panel per contender."""
    steps = result.steps
    products = _products(steps)
    names = list(dict.fromkeys(steps["contender"]))
    cols = 3
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        g = steps[steps["contender"] == name].groupby("step")
        offers = g[[f"offers_{p}" for p in products]].sum()
        decisions = g["decisions"].sum()
        share = offers.div(decisions.where(decisions > 0), axis=0).fillna(0.0)
        ax.stackplot(share.index, share.T.to_numpy(), labels=products)
        ax.set_title(name, fontsize=10)
        ax.set_ylim(0, 1)
        ax.set_xlabel("step")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes[0, 0].set_ylabel("share of decisions")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(products), 5), fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fmt(mean: float, half: float, digits: int = 0) -> str:
    return f"{mean:,.{digits}f} ± {half:,.{digits}f}"


def summary_table(result: ArenaResult, reference: str = "xsell") -> pd.DataFrame:
    """The results table (rendered strings) the README and HTML report show."""
    s = summary(result.steps, reference if reference in result.contenders else None)
    table = pd.DataFrame({"policy": s["contender"]})
    table["conversions"] = [
        _fmt(m, h) for m, h in zip(s["conversions"], s["conversions_ci"], strict=True)
    ]
    table["conversion rate %"] = [
        _fmt(100 * m, 100 * h, 2)
        for m, h in zip(s["conversion_rate"], s["conversion_rate_ci"], strict=True)
    ]
    table["value"] = [_fmt(m, h) for m, h in zip(s["value"], s["value_ci"], strict=True)]
    table["expected value"] = [
        _fmt(m, h) for m, h in zip(s["expected_reward"], s["expected_reward_ci"], strict=True)
    ]
    table["regret"] = [_fmt(m, h) for m, h in zip(s["regret"], s["regret_ci"], strict=True)]
    table["opt-outs"] = [_fmt(m, h) for m, h in zip(s["opt_outs"], s["opt_outs_ci"], strict=True)]
    if "no-offer" in result.contenders:
        extra = paired(result.steps, "no-offer", "purchases").set_index("contender")
        table["purchases vs no-offer (paired)"] = [
            _fmt(extra.loc[c, "difference"], extra.loc[c, "ci"]) for c in s["contender"]
        ]
    col = f"expected_reward_vs_{reference}"
    if col in s.columns:
        table[f"expected value vs {reference} (paired)"] = [
            _fmt(m, h) for m, h in zip(s[col], s[f"{col}_ci"], strict=True)
        ]
    return table


def write_outputs(
    result: ArenaResult, out: Path, *, command: str = "", reference: str = "xsell"
) -> dict[str, Path]:
    """Write metrics (Parquet + CSV), plots (PNG), the run's description (JSON) and the HTML report."""
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    steps = result.steps.copy()
    steps["at"] = pd.to_datetime(steps["at"], utc=True)
    paths["steps_parquet"] = out / "steps.parquet"
    steps.to_parquet(paths["steps_parquet"], index=False)
    paths["steps_csv"] = out / "steps.csv"
    steps.to_csv(paths["steps_csv"], index=False)
    ref = reference if reference in result.contenders else None
    s = summary(result.steps, ref)
    paths["summary_csv"] = out / "summary.csv"
    s.to_csv(paths["summary_csv"], index=False)
    groups = _groups(result.steps)
    fair = fairness(result.steps, groups) if groups else pd.DataFrame()
    if groups:
        paths["fairness_csv"] = out / "fairness.csv"
        fair.to_csv(paths["fairness_csv"], index=False)
    first = early(result.steps, 0.05)
    paths["cumulative_png"] = plot_cumulative(result, out / "cumulative.png")
    paths["traffic_png"] = plot_traffic(result, out / "traffic.png")
    run: dict[str, Any] = {
        "scenario": result.scenario,
        "seeds": result.seeds,
        "contenders": result.contenders,
        "seconds": round(result.seconds, 1),
        "command": command,
        "worlds": result.worlds,
        **result.meta,
    }
    paths["run_json"] = out / "run.json"
    paths["run_json"].write_text(json.dumps(run, indent=2, default=str))
    table = summary_table(result, reference)
    paths["report_html"] = out / "report.html"
    paths["report_html"].write_text(_html(result, table, fair, first, run, paths))
    return paths


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _html(
    result: ArenaResult,
    table: pd.DataFrame,
    fair: pd.DataFrame,
    first: pd.DataFrame,
    run: dict[str, Any],
    paths: dict[str, Path],
) -> str:
    world = result.worlds[0]
    first_mean = (
        first.groupby("contender", sort=False)["reward"]
        .mean()
        .round(0)
        .rename("reward, first 5 % of decisions")
    )
    defs = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in METRICS.items()
    )
    fair_html = (
        fair.to_html(index=False, float_format=lambda x: f"{x:.4f}", border=0)
        if len(fair)
        else "<p>No protected attribute in this world.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>xsell simulation: {html.escape(result.scenario)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} th, td {{ padding: 4px 10px; text-align: right; }}
th {{ background: #f0f0f0; }} tr:nth-child(even) td {{ background: #fafafa; }} td:first-child {{ text-align: left; }}
code {{ background: #f4f4f4; padding: 2px 4px; }}
</style></head><body>
<h1>Policy arena: {html.escape(result.scenario)}</h1>
<p>World <b>{html.escape(str(world["world"]))}</b> version {html.escape(str(world["version"]))}
(specification fingerprint <code>{html.escape(str(world["fingerprint"]))}</code>),
seeds {", ".join(str(s) for s in result.seeds)}; {len(result.contenders)} policies;
run time {result.seconds:,.0f} s. Every policy met the same customers with the same luck
(common random numbers). Intervals are 95 % over seeds. <i>Value</i> is what the
conversions earned; <i>expected value</i> is the true expected reward of the actions taken
(value minus expected opt-out and contact costs), free of the luck of the draws, and the
paired column compares it with xsell's default seed by seed. <i>Purchases vs no-offer</i> are
the purchases of any product (organic ones included) beyond those of the no-offer arm on the
same customers: the uptake the offers caused. <i>Regret</i> is the oracle's
expected reward on the same customers minus the policy's.</p>
<p>Command: <code>{html.escape(str(run.get("command", "")))}</code></p>
<h2>Results</h2>
{table.to_html(index=False, border=0)}
<h2>Over time</h2>
{_img(paths["cumulative_png"])}
<h2>Traffic share per product</h2>
{_img(paths["traffic_png"])}
<h2>First 5 % of decisions (cold start)</h2>
{first_mean.to_frame().to_html(border=0)}
<h2>Offers and conversions per protected group</h2>
{fair_html}
<h2>What the columns mean</h2><ul>{defs}</ul>
<h2>World parameters</h2><pre>{html.escape(json.dumps(world.get("spec", {}), indent=2, default=str))}</pre>
</body></html>
"""
