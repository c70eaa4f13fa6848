"""Render ``results/act.json`` and ``results/update.json`` as the Markdown the README quotes.

One table row per model, policy and state for ``act`` (with a model × policy overview
first), and per model and measurement for ``update``. Results written before the benchmarks
measured several models (no ``model`` field) are read as the default model's.

Usage::

    .venv/bin/python benchmarks/report.py            # prints Markdown to stdout
    .venv/bin/python benchmarks/report.py --act act_quick --update update_quick
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
    "ucb": "UCB",
}

#: the model the targets apply to, in results written before the benchmarks had models
DEFAULT_MODEL = "bayes_logistic"

FORMS = {
    "offer_result_list": "`[OfferResult(...)]`",
    "one_row_dataframe": "one-row DataFrame",
}


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS_DIR / f"{name}.json").read_text())
    return data


def _verdict(row: dict[str, Any]) -> str:
    if "pass" not in row:
        return "—"
    return "**pass**" if row["pass"] else "**FAIL**"


def _model(name: str, default: str) -> str:
    return f"`{name}` (default)" if name == default else f"`{name}`"


def _provenance(data: dict[str, Any], path: Path) -> str:
    m = data["machine"]
    dirty = " + uncommitted changes" if m.get("src_uncommitted_changes") else ""
    wall = f", {data['wall_seconds']:.0f} s" if "wall_seconds" in data else ""
    return (
        f"`{data['command']}` → `{path.relative_to(RESULTS_DIR.parent.parent)}`{wall}, "
        f"{m['date']}, commit `{m['git_commit']}`{dirty} (src digest `{m['src_sha256_12']}`), "
        f"{m['cpu_count']} × {m['cpu_model']}, Python {m['python']}, NumPy {m['numpy']}, "
        f"pandas {m['pandas']}"
    )


def _in_order(names: list[str], order: list[str]) -> list[str]:
    """``names`` without repeats, those in ``order`` first and in its order."""
    unique = list(dict.fromkeys(names))
    return [n for n in order if n in unique] + [n for n in unique if n not in order]


def _calls(cfg: dict[str, Any], models: list[str], default: str) -> str:
    repeats, other = cfg["repeats"], cfg.get("other_repeats", cfg["repeats"])
    if other == repeats or all(m == default for m in models):
        return f"median of {repeats} calls"
    if default not in models:
        return f"median of {other} calls"
    return f"median of {repeats} calls for `{default}` and {other} for the other models"


def act_overview(data: dict[str, Any]) -> str:
    """customers/s (median) by model and policy, untrained / trained, in one small table."""
    rows = data["results"]
    default = data["config"].get("default_model", DEFAULT_MODEL)
    models = _in_order([r.get("model", default) for r in rows], [default])
    policies = _in_order([r["policy"] for r in rows], list(POLICY_NAMES))
    cell: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        key = (r.get("model", default), r["policy"])
        cell.setdefault(key, {})[r["state"]] = r["customers_per_s_median"]
    skipped = {(s["model"], s["policy"]) for s in data.get("skipped", [])}
    lines = [
        "| model | " + " | ".join(POLICY_NAMES.get(p, p) for p in policies) + " |",
        "|---|" + "---:|" * len(policies),
    ]
    for m in models:
        cells = []
        for p in policies:
            c = cell.get((m, p))
            if c is None:
                cells.append("refused" if (m, p) in skipped else "")
            else:
                cells.append(
                    " / ".join(f"{c[s] / 1e3:,.0f}k" for s in ("untrained", "trained") if s in c)
                )
        lines.append(f"| {_model(m, default)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def act_section(data: dict[str, Any]) -> str:
    cfg, lim = data["config"], data["machine_limit"]
    default = cfg.get("default_model", DEFAULT_MODEL)
    models = _in_order([r.get("model", default) for r in data["results"]], [default])
    t_tr = lim["transform_seconds"]["median"] * 1e3
    t_pass = lim["x_e_pass_seconds"]["median"] * 1e3
    trained = (
        f"*trained* = after learning {cfg['trained_outcomes']:,} outcomes"
        if cfg.get("trained_outcomes")
        else "no trained measurement"
    )
    lines = [
        f"`act`, {cfg['customers']:,} customers × {cfg['products']} products, customers/s "
        f"(thousands, median of the calls), untrained / trained:",
        "",
        act_overview(data),
    ]
    skipped = data.get("skipped", [])
    if skipped:
        pairs = ", ".join(
            f"`{s['model']}` × {POLICY_NAMES.get(s['policy'], s['policy'])}" for s in skipped
        )
        lines += [
            "",
            f"*refused*: the agent does not allow {pairs} (these policies need a model that "
            "reports its uncertainty), so they are not measured.",
        ]
    lines += [
        "",
        f"In detail, {_calls(cfg, models, default)} (the fastest call in its own column); "
        f"{trained}. The targets apply to the default model:",
        "",
        "| model | policy | state | median ms | customers/s (median) | customers/s (best) "
        "| × transform | × one pass over X, E | target | |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in data["results"]:
        target = r.get("target_customers_per_s")
        lines.append(
            f"| {_model(r.get('model', default), default)} "
            f"| {POLICY_NAMES.get(r['policy'], r['policy'])} | {r['state']} "
            f"| {r['seconds']['median'] * 1e3:.0f} | {r['customers_per_s_median']:,} "
            f"| {r['customers_per_s_best']:,} | {r['x_transform']:.1f} "
            f"| {r['x_matrix_pass']:.0f} | {'—' if target is None else f'≥ {target:,.0f}'} "
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


def _update_models(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-model results; a file written before the benchmark had models holds one."""
    if "models" in data:
        models: list[dict[str, Any]] = data["models"]
        return models
    return [{"model": DEFAULT_MODEL, **data}]


def update_section(data: dict[str, Any]) -> str:
    cfg = data["config"]
    default = cfg.get("default_model", DEFAULT_MODEL)
    lines = [
        f"`update` by decision id ({cfg['products']} products, every outcome still pending), "
        f"per model; the targets apply to the default model:",
        "",
        "| model | measurement | result | target | |",
        "|---|---|---|---|---|",
    ]
    for r in _update_models(data):
        model = _model(r["model"], default)
        tp = r["batch_throughput"]
        rates = ", ".join(f"{x['outcomes_per_s']:,}" for x in tp["rounds"])
        bl = tp["batch_latency_ms"]
        target = tp.get("target_outcomes_per_s")
        lines.append(
            f"| {model} | batches of {tp['batch']:,} (DataFrame), {cfg['rounds']} "
            f"round{'s' if cfg['rounds'] != 1 else ''} of "
            f"{cfg['outcomes_per_round']:,} outcomes "
            f"| **{tp['outcomes_per_s_median']:,} outcomes/s** median round (rounds: {rates}); "
            f"per batch p50 {bl['median']:.2f} ms, p99 {bl['p99']:.2f} ms "
            f"| {'—' if target is None else f'≥ {target:,.0f} outcomes/s'} | {_verdict(tp)} |"
        )
        for s in r["single_outcome"]:
            ms = s["latency_ms"]
            target = s.get("target_p99_ms")
            lines.append(
                f"| {model} | single outcome as {FORMS.get(s['form'], s['form'])}, "
                f"{ms['n']:,} calls | p50 {ms['median']:.3f} ms, **p99 {ms['p99']:.3f} ms**, "
                f"max {ms['max']:.3f} ms | {'—' if target is None else f'p99 ≤ {target} ms'} "
                f"| {_verdict(s)} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--act", default="act", help="act results file name (without .json)")
    p.add_argument("--update", default="update", help="update results file name (without .json)")
    args = p.parse_args(argv)
    act, update = _load(args.act), _load(args.update)
    print(act_section(act))
    print()
    print(f"<sub>{_provenance(act, RESULTS_DIR / f'{args.act}.json')}</sub>")
    print()
    print(update_section(update))
    print()
    print(f"<sub>{_provenance(update, RESULTS_DIR / f'{args.update}.json')}</sub>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
