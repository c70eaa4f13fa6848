"""Deciding for customers given as records (JSON objects), exactly as ``Agent.act`` would.

The HTTP service receives one customer, or a few, per request: building a DataFrame for
them costs more than deciding. These functions (behind ``Agent.act_records`` and
``Agent.act_together``) read the records straight into NumPy when that reading is
exactly pandas' (:mod:`xsell.features.records`), share ``act``'s core
(:mod:`xsell.slots`), and give the decisions as records; otherwise they run ``act`` on
the DataFrame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell.catalog.product import Mode
from xsell.decision_ids import format_ids
from xsell.decisions import (
    RecordDecisions,
    decision_records,
    model_inputs,
    pending_inputs,
    slot_records,
)
from xsell.errors import InputError, XsellError
from xsell.features.records import CustomerRecords, NotExact, RecordParts
from xsell.policies.base import Choice
from xsell.slots import decide_slots

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["act_records", "act_together"]


def act_records(
    agent: Agent,
    customers: Sequence[Mapping[str, Any]],
    at: object,
    mode: Mode,
    placement: str,
    top_n: int,
    blocked: Mapping[str, np.ndarray] | None = None,
) -> RecordDecisions:
    """See :meth:`xsell.Agent.act_records`."""
    if not isinstance(customers, Sequence) or not all(isinstance(c, Mapping) for c in customers):
        raise InputError("`customers` must be a list of records (mappings of column to value)")
    if agent.is_fitted:
        try:
            return _act_exact(
                agent, CustomerRecords(customers), at, mode, placement, top_n, blocked
            )
        except NotExact:
            pass
    frame = pd.DataFrame.from_records(list(customers))
    decided = agent.act(frame, at, mode=mode, placement=placement, top_n=top_n, blocked=blocked)
    records = decision_records(decided)
    inputs = pending_inputs(agent, records)
    positions = frame.index.get_indexer(decided.index).tolist()
    return RecordDecisions(records, inputs, frame, positions)


def act_together(
    agent: Agent,
    requests: Sequence[Sequence[Mapping[str, Any]]],
    at: object,
    mode: Mode,
    placement: str,
    top_n: int,
    blocked: Mapping[str, np.ndarray] | None = None,
) -> list[RecordDecisions] | None:
    """See :meth:`xsell.Agent.act_together`."""
    if not agent.is_fitted or not requests:
        return None
    tables = [CustomerRecords(r) for r in requests]
    parts = RecordParts(tables)
    try:
        together = _act_exact(agent, parts, at, mode, placement, top_n, blocked)
    except (NotExact, XsellError):
        return None  # refused (before deciding anything): each alone says why
    # split by request: a decision's customer position says whose it is
    which = np.searchsorted(parts.bounds, together.positions, side="right") - 1
    out = []
    for k, table in enumerate(tables):
        mine = np.flatnonzero(which == k).tolist()
        start = int(parts.bounds[k])
        out.append(
            RecordDecisions(
                [together.decisions[i] for i in mine],
                [together.inputs[i] for i in mine],
                table,
                [together.positions[i] - start for i in mine],
            )
        )
    return out


def _act_exact(
    agent: Agent,
    table: CustomerRecords,
    at: object,
    mode: Mode,
    placement: str,
    top_n: int,
    blocked: Mapping[str, np.ndarray] | None,
) -> RecordDecisions:
    """:func:`act_records` read without pandas, or :class:`NotExact` before deciding."""
    ids = table.ids(agent.spec.customer_id)
    if len(set(ids.tolist())) != len(ids):
        raise NotExact(agent.spec.customer_id)  # pandas names the duplicate
    for col in agent.spec.protected:  # stored with the decisions: read them as pandas does
        table.text(col)
    ts = agent._check_call(at, mode, top_n)
    slots = decide_slots(agent, table, lambda: ids, _never, ts, mode, placement, top_n, blocked)
    decisions: list[dict[str, Any]] = []
    inputs: list[dict[str, Any] | None] = []
    positions: list[int] = []
    for slot in slots:
        idx = np.arange(len(slot.rows)) if slot.keep is None else np.flatnonzero(slot.keep)
        choice = _take(slot.choice, idx)
        decisions += slot_records(
            ids[slot.rows[idx]],
            format_ids(slot.id_parts.take(idx)),
            ts,
            mode,
            placement,
            agent.catalog,
            agent.arms,
            agent.model_version,
            agent.policy_version,
            choice,
            slot.reason[idx],
            slot.labels,
            (slot.drivers[0][idx], slot.drivers[1][idx], slot.drivers[2][idx]),
            slot.rank,
        )
        design = slot.design.rows(idx)
        for i, a in enumerate(choice.action.tolist()):
            arm = a - 1
            inputs.append(
                None
                if a == 0
                else model_inputs(arm, design.X[i], design.E[i, arm], design.propensity[i, arm])
            )
        positions += slot.rows[idx].tolist()
    if len(slots) > 1:  # by customer, then rank, as act orders its rows
        order = sorted(range(len(decisions)), key=lambda i: (positions[i], decisions[i]["rank"]))
        decisions = [decisions[i] for i in order]
        inputs = [inputs[i] for i in order]
        positions = [positions[i] for i in order]
    return RecordDecisions(decisions, inputs, table, positions)


def _take(choice: Choice, idx: np.ndarray) -> Choice:
    return Choice(
        choice.action[idx],
        choice.probability[idx],
        choice.probabilities[idx],
        choice.greedy[idx],
        choice.expected_value[idx],
    )


def _never() -> None:
    """Records with duplicated ids never reach the draw (they go the DataFrame way)."""
