"""Explanations: why this product, in plain words, and why not the others."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

__all__ = ["N_DRIVERS", "describe_feature", "explanation", "render_explanations", "top_drivers"]

#: number of drivers kept per decision
N_DRIVERS = 3
#: smallest contribution (logit units, about 2 % of the odds) worth calling a driver
MIN_EFFECT = 0.02


def top_drivers(
    contrib: np.ndarray, values: np.ndarray, k: int = N_DRIVERS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` features that raised each row's score most (by at least :data:`MIN_EFFECT`).

    ``contrib`` and ``values`` have shape (n, F); returns feature ids (n, k) with -1 where
    fewer than ``k`` features raised the score, their contributions and their values.
    """
    n, F = contrib.shape
    if k > F:  # fewer features than drivers asked for: pad with "no feature"
        pad = np.full((n, k - F), -np.inf, dtype=contrib.dtype)
        contrib = np.hstack([contrib, pad])
        values = np.hstack([values, np.zeros_like(pad)])
        F = k
    work = contrib.copy()
    rows = np.arange(n)[:, None]
    ids = np.empty((n, k), dtype=np.int64)
    # k passes of argmax beat a full argpartition when k is 3 and F is a few dozen
    for j in range(k):
        ids[:, j] = np.argmax(work, axis=1)
        work[rows[:, 0], ids[:, j]] = -np.inf
    c = contrib[rows, ids]
    v = values[rows, ids]
    weak = ~(c >= MIN_EFFECT)
    return np.where(weak, -1, ids), np.where(weak, np.nan, c), np.where(weak, np.nan, v)


def describe_feature(name: str, value: float) -> str:
    """A feature and its (standardized) value in plain words.

    Examples
    --------
    >>> describe_feature("income", 1.4)
    'income is well above average'
    >>> describe_feature("segment=traveller", 1.0)
    'segment is traveller'
    >>> describe_feature("propensity score", 0.7)
    'the propensity model scores this product above its average'
    """
    if name == "propensity score":
        side = "above" if value > 0 else "below"
        return f"the propensity model scores this product {side} its average"
    if "=" in name:
        col, lvl = name.split("=", 1)
        return f"{col} is {lvl}"
    if value in (0.0, 1.0) and name.startswith(("owns_", "has_", "is_")):
        return f"{name} is {'yes' if value else 'no'}"
    size = "well " if abs(value) >= 1 else ""
    side = "above" if value > 0 else "below"
    return f"{name} is {size}{side} average"


def render_explanations(
    decisions: pd.DataFrame,
    feature_names: Sequence[str],
    product_names: dict[str, str],
    currency: str,
) -> pd.Series:
    """Plain-language explanation of each decision row (see :meth:`xsell.Agent.explain`)."""
    blocked_cols = [c for c in decisions.columns if c.startswith("blocked_")]
    texts = [
        explanation(row, feature_names, product_names, currency, blocked_cols)
        for row in cast(list[dict[str, Any]], decisions.to_dict("records"))
    ]
    return pd.Series(texts, index=decisions.index, name="explanation")


def explanation(
    row: Mapping[str, Any],
    feature_names: Sequence[str],
    product_names: dict[str, str],
    currency: str,
    blocked_cols: Sequence[str],
) -> str:
    """The explanation of one decision, given as a record of the decision table's columns.

    Examples
    --------
    >>> row = {"product": "card", "channel": "app", "probability": 0.9, "expected_value": 2.5,
    ...        "explored": False, "blocked_loan": "customer is under 18",
    ...        "driver_1": 0, "driver_1_effect": 0.4, "driver_1_value": 1.2,
    ...        "driver_2": -1, "driver_3": -1}
    >>> explanation(row, ["income"], {"card": "Card", "loan": "Loan"}, "EUR", ["blocked_loan"])
    'Offered Card via app (chosen with probability 0.90, expected value 2.50 EUR) because income is well above average (+0.40). Not allowed: Loan (customer is under 18).'
    """
    pid = row["product"]
    if pid is None or (isinstance(pid, float) and np.isnan(pid)):
        head = "No offer: nothing was worth offering or allowed"
    else:
        head = (
            f"Offered {product_names.get(pid, pid)} via {row['channel']} "
            f"(chosen with probability {row['probability']:.2f}, expected value "
            f"{row['expected_value']:.2f} {currency}"
            + (", exploring" if row["explored"] else "")
            + ")"
        )
        reasons = []
        for j in range(1, N_DRIVERS + 1):
            fid = int(row[f"driver_{j}"])
            if fid < 0:
                continue
            name = feature_names[fid]
            reasons.append(
                f"{describe_feature(name, float(row[f'driver_{j}_value']))} (+{row[f'driver_{j}_effect']:.2f})"
            )
        if reasons:
            head += " because " + "; ".join(reasons)
    blocked = [
        f"{product_names.get(c[len('blocked_') :], c[len('blocked_') :])} ({row[c]})"
        for c in blocked_cols
        if isinstance(row[c], str) and row[c]
    ]
    if blocked:
        head += ". Not allowed: " + ", ".join(blocked)
    return head + "."
