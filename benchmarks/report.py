"""Render ``results/act.json`` and ``results/update.json`` as the Markdown the README quotes.

Usage::

    .venv/bin/python benchmarks/report.py            # prints Markdown to stdout
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from _common import RESULTS_DIR

POLICY_NAMES = {
    "greedy": "Greedy",
    "epsilon_greedy": "Epsilon-greedy",
    "thompson": "Thompson sampling",
}


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS_DIR / f"{name}.json").read_text())
    return data


def _verdict(row: dict[str, Any]) -> str:
    if "pass" not in row:
        return "—"
    return "**pass**" if row["pass"] else "**FAIL**"


def _provenance(data: dict[str, Any], path: Path) -> str:
    m = data["machine"]
    dirty = " + uncommitted changes" if m.get("src_uncommitted_changes") else ""
    return (
        f"`{data['command']}` → `{path.relative_to(RESULTS_DIR.parent.parent)}`, "
        f"{m['date']}, commit `{m['git_commit']}`{dirty} (src digest `{m['src_sha256_12']}`), "
        f"{m['cpu_count']} × {m['cpu_model']}, Python {m['python']}, NumPy {m['numpy']}, "
        f"pandas {m['pandas']}"
    )


def act_section(data: dict[str, Any]) -> str:
    cfg, lim = data["config"], data["machine_limit"]
    t_tr = lim["transform_seconds"]["median"] * 1e3
    t_pass = lim["x_e_pass_seconds"]["median"] * 1e3
    lines = [
        f"`act`, {cfg['customers']:,} customers × {cfg['products']} products, median of "
        f"{cfg['repeats']} calls (best in brackets); *trained* = after learning "
        f"{cfg['trained_outcomes']:,} outcomes:",
        "",
        "| policy | state | median ms | customers/s (median) | customers/s (best) "
        "| × transform | × one pass over X, E | target | |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in data["results"]:
        target = r.get("target_customers_per_s")
        lines.append(
            f"| {POLICY_NAMES.get(r['policy'], r['policy'])} | {r['state']} "
            f"| {r['seconds']['median'] * 1e3:.0f} | {r['customers_per_s_median']:,} "
            f"| {r['customers_per_s_best']:,} | {r['x_transform']:.1f} "
            f"| {r['x_matrix_pass']:.0f} | {'' if target is None else f'≥ {target:,.0f}'} "
            f"| {_verdict(r)} |"
        )
    X, E = lim["X_shape"], lim["E_shape"]
    lines += [
        "",
        f"Machine limit: building the feature matrices from the customer table "
        f"(`agent.featurizer.transform`) takes **{t_tr:.0f} ms** "
        f"({lim['transform_customers_per_s']:,} customers/s); one pass over the resulting "
        f"floats (X {X[0]:,}×{X[1]} and E {'×'.join(f'{v:,}' for v in E)}, "
        f"{lim['X_E_bytes'] / 1e6:.0f} MB, `X.sum()` + `E.sum()`) takes **{t_pass:.1f} ms** "
        f"({lim['x_e_pass_gb_per_s']} GB/s).",
    ]
    ex = data.get("explain")
    if ex:
        lines += [
            "",
            f"Rendering explanations as text (`agent.explain`, on demand, not part of `act`): "
            f"{ex['decisions_per_s']:,} decisions/s ({ex['rows']:,} decisions in "
            f"{ex['seconds']:.2f} s).",
        ]
    return "\n".join(lines)


def update_section(data: dict[str, Any]) -> str:
    cfg, tp = data["config"], data["batch_throughput"]
    rates = ", ".join(f"{r['outcomes_per_s']:,}" for r in tp["rounds"])
    bl = tp["batch_latency_ms"]
    lines = [
        f"`update` by decision id ({cfg['products']} products, every outcome still pending):",
        "",
        "| measurement | result | target | |",
        "|---|---|---|---|",
        f"| batches of {tp['batch']:,} (DataFrame), {cfg['rounds']} rounds of "
        f"{cfg['outcomes_per_round']:,} outcomes | **{tp['outcomes_per_s_median']:,} outcomes/s** "
        f"median round (rounds: {rates}); per batch p50 {bl['median']:.2f} ms, "
        f"p99 {bl['p99']:.2f} ms | ≥ {tp['target_outcomes_per_s']:,.0f} outcomes/s "
        f"| {_verdict(tp)} |",
    ]
    for s in data["single_outcome"]:
        ms = s["latency_ms"]
        form = {
            "offer_result_list": "`[OfferResult(...)]`",
            "one_row_dataframe": "one-row DataFrame",
        }.get(s["form"], s["form"])
        lines.append(
            f"| single outcome as {form}, {ms['n']:,} calls | p50 {ms['median']:.3f} ms, "
            f"**p99 {ms['p99']:.3f} ms**, max {ms['max']:.3f} ms "
            f"| p99 ≤ {s['target_p99_ms']} ms | {_verdict(s)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    act, update = _load("act"), _load("update")
    print(act_section(act))
    print()
    print(f"<sub>{_provenance(act, RESULTS_DIR / 'act.json')}</sub>")
    print()
    print(update_section(update))
    print()
    print(f"<sub>{_provenance(update, RESULTS_DIR / 'update.json')}</sub>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
