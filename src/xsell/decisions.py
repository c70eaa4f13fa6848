"""The decision table ``Agent.act`` returns: one row per offer, built column by column.

Categoricals are built from integer codes and ids arrive as Arrow strings: assembling a
table of 100,000s of decisions must not cost more than deciding them.

The same decisions can also be plain records (one dict per row, Python values): what
``Agent.act_records`` returns for a few customers (building a DataFrame would cost more
than deciding), and what the decision log stores. :func:`decision_records` turns a table
into such records, :func:`slot_records` builds them straight from the arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell.arms import Arms
from xsell.catalog.product import Catalog, Mode
from xsell.explain import N_DRIVERS, top_drivers
from xsell.features.featurizer import Design
from xsell.policies.base import Choice

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = [
    "RecordDecisions",
    "decision_frame",
    "decision_records",
    "model_inputs",
    "pending_inputs",
    "slot_records",
    "top_drivers_of",
]


def _categorical(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical[str]:
    """A categorical from integer codes (-1 = missing) without inferring anything."""
    dtype: Any = _categories(tuple(categories))  # (the stubs type `dtype` as int categories)
    out: pd.Categorical[str] = pd.Categorical.from_codes(
        np.asarray(codes), dtype=dtype, validate=False
    )
    return out


@lru_cache(maxsize=256)
def _categories(categories: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical type of these categories (checking them costs more than filling a
    column of a chunk; the same few sets come back for every chunk)."""
    return pd.CategoricalDtype(pd.Index(list(categories)))


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


def slot_records(
    customer_ids: Sequence[str] | np.ndarray,
    id_strings: Sequence[str] | np.ndarray,
    at: pd.Timestamp,
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
    rank: int,
) -> list[dict[str, Any]]:
    """:func:`decision_frame`'s rows as records (see :func:`decision_records` for the values)."""
    pids = list(catalog.product_ids)
    arm_pid = [pids[k] for k in arms.product]
    channels = arms.channels(catalog, mode)
    p_cols = ["p_none", *[f"p_{a}" for a in arms.labels(catalog)]]
    b_cols = [f"blocked_{p}" for p in pids]
    d_cols = [
        (f"driver_{j + 1}", f"driver_{j + 1}_effect", f"driver_{j + 1}_value")
        for j in range(N_DRIVERS)
    ]
    drv_id, drv_eff, drv_val = (d.tolist() for d in drivers)
    action = choice.action.tolist()
    probability = choice.probability.tolist()
    probs = choice.probabilities.tolist()
    ev = choice.expected_value.tolist()
    greedy = choice.greedy.tolist()
    out = []
    for i, a in enumerate(action):
        rec: dict[str, Any] = {
            "customer_id": str(customer_ids[i]),
            "decision_id": str(id_strings[i]),
            "rank": rank,
            "at": at,
            "mode": mode,
            "placement": placement,
            "product": arm_pid[a - 1] if a > 0 else None,
            "channel": channels[a - 1] if a > 0 else None,
            "probability": probability[i],
            "expected_value": ev[i][a],
            "explored": a != greedy[i],
            "model_version": model_version,
            "policy_version": policy_version,
        }
        rec.update(zip(p_cols, probs[i], strict=True))
        rec.update((c, labels[r]) for c, r in zip(b_cols, reason[i].tolist(), strict=True))
        for j, (c_id, c_eff, c_val) in enumerate(d_cols):
            rec[c_id] = drv_id[i][j]
            rec[c_eff] = drv_eff[i][j]
            rec[c_val] = drv_val[i][j]
        out.append(rec)
    return out


def decision_records(decisions: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a decision table as records of Python values.

    ``customer_id``, ``decision_id``, ``mode``, ``placement`` and ``policy_version`` are
    ``str``; ``product`` and ``channel`` ``str`` or ``None`` (no offer); ``at`` a
    ``pandas.Timestamp``; ``blocked_<product>`` the rule's text or ``""``; the numbers
    ``int``/``float``/``bool`` (NaN where a driver is missing). Columns are converted
    whole, then zipped into rows.
    """
    lists = []
    for c in decisions.columns:
        values = decisions[c].astype(object).tolist() if c != "at" else decisions[c].tolist()
        if c in _TEXT:
            values = [str(v) for v in values]
        elif c in ("product", "channel"):
            values = [None if v is None or pd.isna(v) else str(v) for v in values]
        elif c.startswith("blocked_"):
            values = [str(v) if v else "" for v in values]
        lists.append(values)
    names = list(decisions.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]


_TEXT = frozenset(
    ("customer_id", "decision_id", "mode", "placement", "policy_version", "traffic_group")
)


def model_inputs(arm: int, X: np.ndarray, E: np.ndarray, P: float) -> dict[str, Any]:
    """The model inputs of an offer (its arm, shared and arm inputs, propensity) as the
    decision log stores them."""
    p = float(P)
    return {
        "arm": int(arm),
        "input_x": np.ascontiguousarray(X, dtype=np.float64).tobytes(),
        "input_e": np.ascontiguousarray(E, dtype=np.float64).tobytes(),
        "input_p": None if np.isnan(p) else p,
    }


def pending_inputs(
    agent: Agent, decisions: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any] | None]:
    """The model inputs of each offer, read from the agent's pending decisions (``None``
    for no offer); raises :class:`~xsell.UnknownDecisionError` for an offer not pending."""
    offered = [i for i, d in enumerate(decisions) if d["product"] is not None]
    out: list[dict[str, Any] | None] = [None] * len(decisions)
    if not offered:
        return out
    pend = agent.pending
    slots = pend.lookup([str(decisions[i]["decision_id"]) for i in offered])
    for i, s in zip(offered, slots.tolist(), strict=True):
        out[i] = model_inputs(pend.arm[s], pend.X[s], pend.E[s], pend.P[s])
    return out


@dataclass(frozen=True, slots=True)
class RecordDecisions:
    """Decisions as records (what ``Agent.act_records`` returns), in ``act``'s row order.

    Attributes
    ----------
    decisions
        One record per row of the decision table (see :func:`decision_records`).
    inputs
        Per decision, the model inputs of the offered arm as the decision log stores them
        (``arm``, ``input_x``, ``input_e``, ``input_p``), ``None`` for no offer.
    customers
        The customer table the decisions were made on: the records, or the DataFrame
        built from them when pandas had to read them.
    positions
        Per decision, the position of its customer in ``customers``.
    """

    decisions: list[dict[str, Any]]
    inputs: list[dict[str, Any] | None]
    customers: Any
    positions: list[int]

    def __len__(self) -> int:
        return len(self.decisions)

    @property
    def decision_ids(self) -> list[str]:
        """The decision ids, in order."""
        return [str(d["decision_id"]) for d in self.decisions]
