"""Deciding slot by slot: from a customer table to the offers drawn for each rank.

``Agent.act`` (a DataFrame) and ``Agent.act_records`` (records) share this core: it reads
the customers (features, guardrails), values every action, and draws each customer's
ranked list one slot at a time, remembering the offers' model inputs. The callers build
the decision table, or the decision records, from the slots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xsell._rng import hash_keys, keyed_uniform, mix64
from xsell.catalog.product import Mode
from xsell.decision_ids import IdParts, make_id_parts
from xsell.decisions import top_drivers_of
from xsell.features.featurizer import Design
from xsell.features.records import CustomerRecords
from xsell.guardrails.rules import GuardrailResult, consent_flags, evaluate_guardrails
from xsell.models.base import Prediction
from xsell.policies.base import ActionValues, Choice, choose

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["Slot", "decide_slots", "screen"]


@dataclass(frozen=True, slots=True)
class Slot:
    """One slot (rank) of the decided lists: the rows it decided and what was drawn.

    ``rows`` are customer positions; for ranks above 1, ``keep`` marks the rows whose
    list goes on (an offer was drawn), the only ones kept in the decision table.
    """

    rank: int
    rows: np.ndarray
    keep: np.ndarray | None
    id_parts: IdParts
    choice: Choice
    reason: np.ndarray
    labels: tuple[str, ...]
    drivers: tuple[np.ndarray, np.ndarray, np.ndarray]
    design: Design


def screen(
    agent: Agent,
    customers: pd.DataFrame | CustomerRecords,
    ts: pd.Timestamp,
    mode: Mode,
    blocked: Mapping[str, np.ndarray] | None = None,
) -> tuple[Design, GuardrailResult, np.ndarray, ActionValues]:
    """The arms' features, guardrail verdicts, each arm's eligibility and the action values.

    What every decision starts from, and what ``Agent.product_values`` ranks by. With
    channel choice, a product no consented channel reaches is marked unreachable.
    """
    design = agent.featurizer.transform(customers)
    by_channel = agent.arms.by_channel
    guard = evaluate_guardrails(
        customers,
        agent.catalog,
        agent.spec,
        at=ts,
        mode=mode,
        history=agent.history,
        check_consent=not by_channel,
    )
    if blocked:
        guard = guard.with_blocks(blocked)
    arm_eligible = guard.eligible[:, agent.arms.product]
    if by_channel:
        channels = agent.arms.channels(agent.catalog, mode)
        consent = consent_flags(customers, agent.spec, channels)
        arm_eligible &= np.column_stack([consent[c] for c in channels])
        guard = guard.with_unreachable(agent.arms.product, arm_eligible)
    arm_design = agent._arm_design(design)
    values = agent._action_values(design, arm_design, arm_eligible, mode)
    return arm_design, guard, arm_eligible, values


def decide_slots(
    agent: Agent,
    customers: pd.DataFrame | CustomerRecords,
    customer_ids: Callable[[], np.ndarray],
    duplicated: Callable[[], None],
    ts: pd.Timestamp,
    mode: Mode,
    placement: str,
    top_n: int,
    blocked: Mapping[str, np.ndarray] | None = None,
) -> list[Slot]:
    """Read the customers, then draw every slot of every customer's list.

    Everything is read (a reader may raise :class:`NotExact`) before anything is
    remembered; ``duplicated`` raises when two customers share an id.
    """
    arm_design, guard, arm_eligible, values = screen(agent, customers, ts, mode, blocked)
    ids = customer_ids()
    keys = hash_keys(ids, ts.value, placement)
    sorted_keys = np.sort(keys)  # a sort: several times faster than np.unique's hashing
    if (sorted_keys[1:] == sorted_keys[:-1]).any():  # 64-bit keys collide only for equal ids
        duplicated()
    slots = []
    rows = np.arange(len(ids))
    eligible = arm_eligible
    slot_values = values
    action = np.zeros(len(ids), dtype=np.int64)
    keep = np.ones(len(ids), dtype=bool)
    for rank in range(1, top_n + 1):
        if rank > 1:
            # what is left: earlier slots are taken, the contact limit may cut the list
            rows, eligible = rows[keep], eligible[keep].copy()
            # a product appears once per list, whichever channel it went through
            taken = agent.arms.product[action[keep] - 1]
            eligible &= agent.arms.product[None, :] != taken[:, None]
            eligible &= (guard.contacts_left[rows] >= rank)[:, None]
            live = eligible.any(axis=1)
            rows, eligible = rows[live], eligible[live]
            if len(rows) == 0:
                break
            pred = values.prediction
            slot_values = ActionValues(
                Prediction(
                    pred.loc[rows], None if pred.scale is None else pred.scale[rows], pred.link
                ),
                values.value,
                values.penalty[rows],
                eligible,
            )
        slot_keys = keys[rows] if rank == 1 else mix64(keys[rows] ^ np.uint64(rank))
        u = keyed_uniform(agent.seed, keys[rows], rank - 1)
        choice = choose(agent.policy, slot_values, u, n_learned=agent.n_learned)
        action = choice.action
        keep = action > 0
        slots.append(
            _slot(
                agent,
                ids[rows],
                slot_keys,
                ts,
                rank,
                arm_design.rows(rows) if rank > 1 else arm_design,
                choice,
                guard,
                rows,
                keep if rank > 1 else None,
                mode,
            )
        )
        if not keep.any():
            break
    return slots


def _slot(
    agent: Agent,
    ids: np.ndarray,
    keys: np.ndarray,
    ts: pd.Timestamp,
    rank: int,
    design: Design,
    choice: Choice,
    guard: GuardrailResult,
    rows: np.ndarray,
    keep: np.ndarray | None,
    mode: Mode,
) -> Slot:
    """One slot's decisions; remember the offered ones' inputs and record contacts."""
    id_parts = make_id_parts(ts, keys, agent.seed)
    drivers = top_drivers_of(agent.model, agent.model_kind, design, choice.action)
    offered = np.flatnonzero(choice.action > 0)
    if len(offered):
        arm = choice.action[offered] - 1
        if agent.pending.capacity:  # (a memory of no decisions: nothing to copy)
            agent.pending.add(
                IdParts(id_parts.ms[offered], id_parts.key[offered], id_parts.tail[offered]),
                design.X[offered],
                design.E[offered, arm, :],
                arm,
                design.propensity[offered, arm],
            )
        if agent.history is not None and agent.record_contacts:
            channels = np.asarray(agent.arms.channels(agent.catalog, mode), dtype=object)
            pids = np.asarray(agent.arms.product_ids(agent.catalog), dtype=object)
            agent.history.record(
                pd.DataFrame(
                    {
                        "customer_id": ids[offered],
                        "product_id": pids[arm],
                        "channel": channels[arm],
                        "at": pd.DatetimeIndex(np.full(len(offered), ts.value)).tz_localize("UTC"),
                    }
                )
            )
    return Slot(
        rank, rows, keep, id_parts, choice, guard.reason[rows], guard.labels, drivers, design
    )
