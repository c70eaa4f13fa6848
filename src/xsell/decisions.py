"""The decision table ``Agent.act`` returns: one row per offer, built column by column.

Categoricals are built from integer codes and ids arrive as Arrow strings: assembling a
table of 100,000s of decisions must not cost more than deciding them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from xsell.arms import Arms
from xsell.catalog.product import Catalog, Mode
from xsell.explain import N_DRIVERS, top_drivers
from xsell.features.featurizer import Design
from xsell.policies.base import Choice

__all__ = ["decision_frame", "top_drivers_of"]


def _categorical(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical[str]:
    """A categorical from integer codes (-1 = missing) without inferring anything."""
    return pd.Categorical.from_codes(np.asarray(codes), categories=pd.Index(list(categories)))


def decision_frame(
    customer_ids: Any,
    index: pd.Index,
    id_strings: pd.api.extensions.ExtensionArray,
    ts: pd.Timestamp,
    mode: Mode,
    placement: str,
    catalog: Catalog,
    arms: Arms,
    model_version: int,
    policy_version: str,
    choice: Choice,
    reason: np.ndarray,
    labels: Sequence[str],
    drivers: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> pd.DataFrame:
    """Assemble the decision rows (see :meth:`xsell.Agent.act` for the columns).

    Actions are 0 (no offer) and the ``arms`` (products, or product-channel pairs);
    ``reason`` holds the product-level guardrail verdict of these rows, shape (n, K), as
    codes into ``labels``; ``drivers`` the top features of each chosen arm.
    """
    n = len(id_strings)
    pids = list(catalog.product_ids)
    action = choice.action
    product_code = np.asarray([-1, *arms.product], dtype=np.int64)
    channels = arms.channels(catalog, mode)
    levels = list(dict.fromkeys(channels))
    channel_code = np.asarray([-1, *[levels.index(c) for c in channels]], dtype=np.int64)
    one = np.zeros(n, dtype=np.int8)
    cols: dict[str, Any] = {
        "customer_id": customer_ids,
        "decision_id": id_strings,
        "at": pd.DatetimeIndex(np.full(n, ts.value)).tz_localize("UTC"),
        "mode": _categorical(one, [mode]),
        "placement": _categorical(one, [placement]),
        "product": _categorical(product_code[action], pids),
        "channel": _categorical(channel_code[action], levels),
        "probability": choice.probability,
        "expected_value": choice.expected_value[np.arange(n), action],
        "explored": choice.explored,
        "model_version": np.full(n, model_version, dtype=np.int64),
        "policy_version": _categorical(one, [policy_version]),
        "p_none": choice.probabilities[:, 0],
    }
    for a, label in enumerate(arms.labels(catalog)):
        cols[f"p_{label}"] = choice.probabilities[:, a + 1]
    for k, pid in enumerate(pids):
        cols[f"blocked_{pid}"] = _categorical(reason[:, k], labels)
    drv_id, drv_eff, drv_val = drivers
    for j in range(N_DRIVERS):
        cols[f"driver_{j + 1}"] = drv_id[:, j].astype(np.int16)
        cols[f"driver_{j + 1}_effect"] = drv_eff[:, j]
        cols[f"driver_{j + 1}_value"] = drv_val[:, j]
    return pd.DataFrame(cols, index=index)


def top_drivers_of(
    model: Any, kind: str, design: Design, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature contributions to each chosen arm's score, the top ones kept.

    Features are the shared inputs (intercept excluded) and, last, the propensity score;
    logistic models weigh the propensity logit, the linear one the propensity itself, and
    a model without context (Beta-Bernoulli) has no drivers.
    """
    n, d = design.X.shape
    arm = np.where(action > 0, action - 1, 0)
    values = np.zeros((n, d + 1), dtype=np.float32)
    weights = np.zeros((model.n_arms, d + 1), dtype=np.float32)
    if kind != "beta_bernoulli":
        values[:, :d] = design.X
        mean = np.asarray(model.mean_)
        weights[:, :d] = mean[:, :d]
        if design.E.shape[2] > 0:
            weights[:, d] = mean[:, d]
            if kind == "ridge":
                p = design.propensity[np.arange(n), arm]
                centre = np.asarray(model.propensity_centre_)[arm]
                values[:, d] = np.where(np.isfinite(p), p - centre, 0.0)
            else:
                values[:, d] = design.E[np.arange(n), arm, 0]
    contrib = weights[arm] * values
    contrib[:, 0] = -np.inf  # the intercept explains nothing
    contrib[action == 0] = -np.inf
    return top_drivers(contrib, values)
