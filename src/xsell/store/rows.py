"""The rows the decision log stores for decisions, built from decision records.

``Agent.act`` returns a DataFrame, ``Agent.act_records`` records; both become the same
rows of the ``decisions`` and ``protected_attributes`` tables here (one Python dict per
row, ready for one multi-row INSERT per table).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from xsell.decisions import RecordDecisions, pending_inputs
from xsell.errors import InputError
from xsell.features.records import CustomerRecords
from xsell.features.spec import FeatureSpec

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["decision_rows", "pending_inputs", "protected_rows", "spec_version"]


def spec_version(agent: Agent) -> str:
    """Short hash of the agent's feature specification."""
    return _spec_hash(agent.spec)


@lru_cache(maxsize=64)
def _spec_hash(spec: FeatureSpec) -> str:  # specs are frozen: hashed once each
    body = json.dumps(spec.to_dict(), sort_keys=True, default=str).encode()
    return hashlib.sha256(body).hexdigest()[:12]


def decision_rows(
    decisions: Sequence[Mapping[str, Any]],
    inputs: Sequence[Mapping[str, Any] | None],
    agent: Agent,
    *,
    traffic_group: str,
    reward_rules_version: str,
) -> list[dict[str, Any]]:
    """One row of the ``decisions`` table per decision record.

    ``decisions`` are records as :func:`xsell.decisions.decision_records` gives them (a
    ``traffic_group`` key overrides ``traffic_group``); ``inputs`` the model inputs of
    each (``None`` for no offer).
    """
    labels = agent.arms.labels(agent.catalog)
    pids = list(agent.catalog.product_ids)
    p_cols = ["p_none", *[f"p_{a}" for a in labels]]
    p_keys = ["none", *labels]
    b_cols = [f"blocked_{p}" for p in pids]
    versions = {
        "policy_version": str(agent.policy_version),
        "catalog_version": str(agent.catalog.version),
        "feature_spec_version": spec_version(agent),
        "reward_rules_version": reward_rules_version,
    }
    # every row has every key: an INSERT of many rows takes its columns from the first
    no_inputs = {"arm": None, "input_x": None, "input_e": None, "input_p": None}
    rows = []
    for d, x in zip(decisions, inputs, strict=True):
        reasons = {p: str(d[c]) for p, c in zip(pids, b_cols, strict=True) if d[c]}
        rows.append(
            {
                "id": str(d["decision_id"]),
                "at": pd.Timestamp(d["at"]).to_pydatetime(),
                "customer_id": str(d["customer_id"]),
                "rank": int(d["rank"]),
                "channel": d["channel"],
                "placement": str(d["placement"]),
                "traffic_group": str(d["traffic_group"]) if "traffic_group" in d else traffic_group,
                "mode": str(d["mode"]),
                "product": d["product"],
                "probability": float(d["probability"]),
                "probabilities": {k: float(d[c]) for k, c in zip(p_keys, p_cols, strict=True)},
                "expected_value": float(d["expected_value"]),
                "explored": bool(d["explored"]),
                "eligible": [p for p in pids if p not in reasons],
                "blocked": reasons,
                "model_version": int(d["model_version"]),
                **versions,
                **(x if x is not None else no_inputs),
            }
        )
    return rows


def protected_rows(
    decisions: pd.DataFrame | RecordDecisions,
    agent: Agent,
    customers: pd.DataFrame | None,
    ids: Sequence[str],
) -> list[dict[str, Any]]:
    """The ``protected_attributes`` rows of these decisions (none without protected columns).

    For a decision table, ``customers`` is the table given to ``act`` (same index); record
    decisions carry the customers they were made for.
    """
    cols = list(agent.spec.protected)
    if not cols:
        return []
    if isinstance(decisions, RecordDecisions):
        table = decisions.customers
        positions = decisions.positions
        customer_ids = [str(d["customer_id"]) for d in decisions.decisions]
        if isinstance(table, CustomerRecords):  # read as pandas reads them (act_records checks)
            columns = [table.text(c) for c in cols]
            values = [[col[p] for col in columns] for p in positions]
            return [
                {"decision_id": i, "customer_id": c, "attributes": dict(zip(cols, v, strict=True))}
                for i, c, v in zip(ids, customer_ids, values, strict=True)
            ]
        frame: pd.DataFrame = table
        index = frame.index[positions]
    else:
        if customers is None:
            return []
        frame, index = customers, decisions.index
        customer_ids = [str(c) for c in decisions["customer_id"]]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"`customers` is missing the protected columns {missing}")
    vals = frame.loc[index, cols].astype(object)
    vals = vals.where(vals.notna(), None)
    return [
        {"decision_id": i, "customer_id": c, "attributes": dict(zip(cols, v, strict=True))}
        for i, c, v in zip(ids, customer_ids, vals.itertuples(index=False), strict=True)
    ]
