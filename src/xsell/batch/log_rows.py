"""The rows a batch of decisions adds to the decision log, as Arrow tables.

The tables have the decision log's columns (``decisions``, ``contacts`` and
``protected_attributes``), with JSON columns as JSON text and model inputs as raw bytes, so
they can be written to Parquet (a Spark job's output) and loaded into the log later, in
bulk and idempotently on the decision ids (:mod:`xsell.batch.bulk`). Everything is built
column-wise with Arrow compute: no Python object per decision.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xsell.decision_ids import parse_id_column, parse_ids
from xsell.store.log import spec_version
from xsell.store.rules import RewardRules

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = [
    "CONTACT_SCHEMA",
    "DECISION_SCHEMA",
    "PROTECTED_SCHEMA",
    "LogRows",
    "log_rows",
]

_TS = pa.timestamp("us", tz="UTC")

#: columns of the ``decisions`` table, in order
DECISION_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("at", _TS),
        ("customer_id", pa.string()),
        ("rank", pa.int16()),
        ("channel", pa.string()),
        ("placement", pa.string()),
        ("traffic_group", pa.string()),
        ("mode", pa.string()),
        ("product", pa.string()),
        ("probability", pa.float64()),
        ("probabilities", pa.string()),
        ("expected_value", pa.float64()),
        ("explored", pa.bool_()),
        ("eligible", pa.string()),
        ("blocked", pa.string()),
        ("arm", pa.int32()),
        ("input_x", pa.binary()),
        ("input_e", pa.binary()),
        ("input_p", pa.float64()),
        ("model_version", pa.int32()),
        ("policy_version", pa.string()),
        ("catalog_version", pa.string()),
        ("feature_spec_version", pa.string()),
        ("reward_rules_version", pa.string()),
    ]
)
#: columns of the ``contacts`` table, in order
CONTACT_SCHEMA = pa.schema(
    [
        ("decision_id", pa.string()),
        ("customer_id", pa.string()),
        ("product", pa.string()),
        ("channel", pa.string()),
        ("at", _TS),
        ("source", pa.string()),
        ("window_ends_at", _TS),
        ("closes_at", _TS),
    ]
)
#: columns of the ``protected_attributes`` table, in order
PROTECTED_SCHEMA = pa.schema(
    [("decision_id", pa.string()), ("customer_id", pa.string()), ("attributes", pa.string())]
)


@dataclass(frozen=True)
class LogRows:
    """What one batch of decisions adds to the decision log (see the module doc)."""

    decisions: pa.Table
    contacts: pa.Table
    protected: pa.Table

    @classmethod
    def empty(cls) -> LogRows:
        """No rows."""
        return cls(
            DECISION_SCHEMA.empty_table(),
            CONTACT_SCHEMA.empty_table(),
            PROTECTED_SCHEMA.empty_table(),
        )

    @classmethod
    def concat(cls, parts: Sequence[LogRows]) -> LogRows:
        """The rows of several batches together."""
        if not parts:
            return cls.empty()
        return cls(
            pa.concat_tables([p.decisions for p in parts]),
            pa.concat_tables([p.contacts for p in parts]),
            pa.concat_tables([p.protected for p in parts]),
        )


def _str(values: Sequence[str] | np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def _join(parts: list[pa.Array]) -> pa.Array:
    """Element-wise, comma-separated join of string arrays, skipping nulls.

    (Arrow's own null skipping drops rows where every part is null, so each part carries
    its own trailing comma instead and the last one is trimmed.)
    """
    filled = [pc.fill_null(pc.binary_join_element_wise(p, ",", ""), "") for p in parts]
    return pc.utf8_rtrim(pc.binary_join_element_wise(*filled, ""), characters=",")


def _wrap(values: pa.Array, left: str, right: str) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(left), values, pa.scalar(right), "")


def _fragments(codes: np.ndarray, texts: Sequence[str | None]) -> pa.Array:
    """``texts[code]`` per row (a null text, or code -1, gives null)."""
    dictionary = pa.array(list(texts), type=pa.string())
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pc.take(dictionary, indices)


def _number_object(keys: Sequence[str], values: np.ndarray) -> pa.Array:
    """One JSON object ``{"key": number, ...}`` per row (shortest round-trip numbers)."""
    n = len(values)
    frags = [
        pc.binary_join_element_wise(
            pa.array([json.dumps(k) + ":"] * n, type=pa.string()),
            pc.cast(pa.array(values[:, j]), pa.string()),
            "",
        )
        for j, k in enumerate(keys)
    ]
    return _wrap(_join(frags), "{", "}")


def _bytes_rows(matrix: np.ndarray, offered: np.ndarray) -> pa.Array:
    """Each row's float64 bytes where ``offered``, else null."""
    n = len(offered)
    width = 8 * (matrix.shape[1] if matrix.ndim == 2 else 0)
    full = np.zeros((n, width // 8), dtype=np.float64)
    full[offered] = matrix
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width) if width else pa.binary(0),
        n,
        [None, pa.py_buffer(np.ascontiguousarray(full).tobytes())],
    )
    out = fixed.cast(pa.binary())
    return pc.if_else(pa.array(offered), out, pa.scalar(None, pa.binary()))


def log_rows(
    agent: Agent,
    decisions: pd.DataFrame,
    customers: pd.DataFrame | None,
    rules: RewardRules,
) -> LogRows:
    """The log rows of decisions ``agent.act`` just returned (its pending inputs are read).

    ``decisions`` may carry a ``traffic_group`` column (default ``"default"``);
    ``customers`` (the table given to ``act``, same index) supplies the protected
    attributes. Offers in a mode of ``rules.contact_at_decision_modes`` (a batch send) are
    contacts at the decision time.
    """
    n = len(decisions)
    if n == 0:
        return LogRows.empty()
    catalog = agent.catalog
    pids = list(catalog.product_ids)
    labels = agent.arms.labels(catalog)
    ids = decisions["decision_id"]
    id_arr = pa.array(ids.astype(str).to_numpy(dtype=object), type=pa.string())
    product = decisions["product"].astype(object)
    offered = product.notna().to_numpy()
    # model inputs of each offer, as the agent remembered them when it decided
    d, e = agent.featurizer.n_features, agent.featurizer.n_arm_inputs
    X, E = np.zeros((0, d)), np.zeros((0, e))
    arm_all = np.full(n, -1, dtype=np.int64)
    P_all = np.full(n, np.nan)
    if offered.any():
        off_ids = ids[offered]
        parsed = parse_id_column(off_ids)
        if parsed is None:
            parsed = parse_ids(off_ids.astype(str).tolist())
        pend = agent.pending
        slots = pend.lookup(cast(Sequence[str], off_ids.array), parsed)
        X, E = np.take(pend.X, slots, axis=0), np.take(pend.E, slots, axis=0)
        arm_all[offered] = np.take(pend.arm, slots)
        P_all[offered] = np.take(pend.P, slots)
    # guardrail verdicts: JSON list of eligible products, JSON object of the blocked ones
    reasons = decisions[[f"blocked_{p}" for p in pids]]
    elig_frags, block_frags = [], []
    for p in pids:
        col = reasons[f"blocked_{p}"]
        cat = col.astype("category") if not isinstance(col.dtype, pd.CategoricalDtype) else col
        cats = [str(c) for c in cat.cat.categories]
        codes = cat.cat.codes.to_numpy()
        texts = [None if c == "" else f"{json.dumps(p)}:{json.dumps(c)}" for c in cats]
        block_frags.append(_fragments(codes, texts))
        allowed = [json.dumps(p) if c == "" else None for c in cats]
        elig_frags.append(_fragments(codes, allowed))
    prob = decisions[["p_none", *[f"p_{a}" for a in labels]]].to_numpy(dtype=np.float64)
    at = pd.to_datetime(decisions["at"], utc=True)
    group = (
        decisions["traffic_group"].astype(str).to_numpy(dtype=object)
        if "traffic_group" in decisions.columns
        else np.full(n, "default", dtype=object)
    )
    channel = decisions["channel"].astype(object)
    versions = {
        "policy_version": str(agent.policy_version),
        "catalog_version": str(catalog.version),
        "feature_spec_version": spec_version(agent),
        "reward_rules_version": rules.fingerprint,
    }
    cols = {
        "id": id_arr,
        "at": pa.array(at.dt.as_unit("us"), type=_TS),
        "customer_id": _str(decisions["customer_id"].astype(str).to_numpy(dtype=object)),
        "rank": pa.array(decisions["rank"].to_numpy(dtype=np.int16)),
        "channel": pa.array(channel.where(channel.notna(), None).to_numpy(), type=pa.string()),
        "placement": _str(decisions["placement"].astype(str).to_numpy(dtype=object)),
        "traffic_group": _str(group),
        "mode": _str(decisions["mode"].astype(str).to_numpy(dtype=object)),
        "product": pa.array(product.where(offered, None).to_numpy(), type=pa.string()),
        "probability": pa.array(decisions["probability"].to_numpy(dtype=np.float64)),
        "probabilities": _number_object(["none", *labels], prob),
        "expected_value": pa.array(decisions["expected_value"].to_numpy(dtype=np.float64)),
        "explored": pa.array(decisions["explored"].to_numpy(dtype=bool)),
        "eligible": _wrap(_join(elig_frags), "[", "]"),
        "blocked": _wrap(_join(block_frags), "{", "}"),
        "arm": pa.array(arm_all.astype(np.int32), mask=~offered),
        "input_x": _bytes_rows(X, offered),
        "input_e": _bytes_rows(E, offered),
        "input_p": pa.array(P_all, mask=~np.isfinite(P_all)),
        "model_version": pa.array(decisions["model_version"].to_numpy(dtype=np.int32)),
        **{k: pa.array([v] * n, type=pa.string()) for k, v in versions.items()},
    }
    table = pa.Table.from_pydict(cols, schema=DECISION_SCHEMA)
    return LogRows(table, _contacts(table, rules), _protected(agent, decisions, customers, id_arr))


def _contacts(decisions: pa.Table, rules: RewardRules) -> pa.Table:
    """Offers of a contact-at-decision mode are contacts at their decision time."""
    modes = pa.array(list(rules.contact_at_decision_modes), type=pa.string())
    keep = pc.and_(pc.is_valid(decisions["product"]), pc.is_in(decisions["mode"], value_set=modes))
    sub = decisions.filter(keep)
    if sub.num_rows == 0:
        return CONTACT_SCHEMA.empty_table()
    # a window is contact time + the product's days (+ grace): the same whole microseconds
    # RewardRules.window adds, per product
    names = pc.unique(sub["product"]).to_pylist()
    base = datetime(2000, 1, 1, tzinfo=UTC)
    end_us, close_us = [], []
    for name in names:
        end, close = rules.window(str(name), base)
        end_us.append((end - base) // timedelta(microseconds=1))
        close_us.append((close - base) // timedelta(microseconds=1))
    which = pc.index_in(sub["product"], value_set=pa.array(names, type=pa.string()))
    at_us = sub["at"].cast(pa.int64())
    ends = pc.add(at_us, pc.take(pa.array(end_us, type=pa.int64()), which))
    closes = pc.add(at_us, pc.take(pa.array(close_us, type=pa.int64()), which))
    channel = pc.fill_null(sub["channel"], "")
    return pa.Table.from_pydict(
        {
            "decision_id": sub["id"],
            "customer_id": sub["customer_id"],
            "product": sub["product"],
            "channel": channel,
            "at": sub["at"],
            "source": pa.array(["decision"] * sub.num_rows, type=pa.string()),
            "window_ends_at": ends.cast(_TS),
            "closes_at": closes.cast(_TS),
        },
        schema=CONTACT_SCHEMA,
    )


def _protected(
    agent: Agent, decisions: pd.DataFrame, customers: pd.DataFrame | None, ids: pa.Array
) -> pa.Table:
    cols = [c for c in agent.spec.protected if customers is not None and c in customers.columns]
    if customers is None or not cols or len(decisions) == 0:
        return PROTECTED_SCHEMA.empty_table()
    values = customers.loc[decisions.index, cols]
    # pandas' C JSON writer, one object per line; nulls stay null
    lines = values.to_json(orient="records", lines=True, double_precision=15)
    text = lines.rstrip("\n").split("\n")
    return pa.Table.from_pydict(
        {
            "decision_id": ids,
            "customer_id": _str(decisions["customer_id"].astype(str).to_numpy(dtype=object)),
            "attributes": pa.array(text, type=pa.string()),
        },
        schema=PROTECTED_SCHEMA,
    )
