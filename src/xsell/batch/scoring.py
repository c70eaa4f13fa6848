"""Scoring one chunk of a batch run: a pure function of the chunk and the run's settings.

:func:`score_chunk` is all a worker needs, whatever runs it: the local runner calls it on
each chunk of a file, a Spark job on each partition (``mapInPandas``, the agent
broadcast). Its result depends only on (agent, run, the chunk's customers, their contact
snapshot rows): every random draw is keyed by (agent seed, customer, run), decision ids
by (run time, run id, customer), control membership by (salt, customer) and capacity by
thresholds fixed before the first decision. So any chunking or partitioning of the same
customers gives the same decisions, and a retried chunk gives the same decision ids.

Examples
--------
>>> import xsell
>>> agent = xsell.Agent(xsell.Catalog.sample(), xsell.sample_feature_spec(), seed=3)
>>> customers = xsell.make_customers(200, seed=3)
>>> agent = agent.fit_features(xsell.make_customers(1_000, seed=4))
>>> run = RunContext("nightly-2026-01-05", at="2026-01-05T02:00:00Z",
...                  control=ControlGroup(0.1, salt="2026"))
>>> whole = score_chunk(agent, customers, run)
>>> parts = [score_chunk(agent, customers.iloc[i:i + 70], run) for i in range(0, 200, 70)]
>>> import pandas as pd
>>> pd.concat([p.decisions for p in parts]).equals(whole.decisions)
True
>>> whole.log.decisions.num_rows, sorted(set(whole.decisions["traffic_group"]))
(200, ['control', 'treatment'])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xsell._blas import single_threaded_blas
from xsell._pending import PendingDecisions
from xsell._time import as_utc
from xsell.batch.capacity import CAPACITY_REASON, CapacityPlan, CapacityThresholds, capacity_keys
from xsell.batch.log_rows import LogRows, log_rows
from xsell.batch.snapshot import ContactSnapshot
from xsell.catalog.product import Mode
from xsell.control_group import CONTROL, CONTROL_REASON, TREATMENT, ControlGroup
from xsell.errors import InputError
from xsell.store.rules import RewardRules

if TYPE_CHECKING:
    from xsell.agent import Agent

__all__ = ["RunContext", "ScoredChunk", "capacity_candidates", "score_chunk"]

#: the decision mode of every batch decision (each product goes through its batch channel)
MODE: Mode = "batch"


@dataclass(frozen=True)
class RunContext:
    """What every chunk of one batch run shares.

    Parameters
    ----------
    run_id
        The run's id; it is the decisions' placement and part of their key, so a rerun or
        a retried chunk of the same run makes the same decisions with the same ids.
    at
        The run's decision time (fixed when the run is created; timezone-aware).
    rules
        Reward rules (contact windows, which modes are contacts at decision time).
    control
        The control group, or ``None`` for none.
    thresholds
        Campaign capacity thresholds (pass one's result), or ``None`` for no capacity.
    """

    run_id: str
    at: pd.Timestamp
    rules: RewardRules = field(default_factory=RewardRules)
    control: ControlGroup | None = None
    thresholds: CapacityThresholds | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.run_id, str) or not 0 < len(self.run_id) <= 128:
            raise InputError(
                f"`run_id` must be a string of 1 to 128 characters, got {self.run_id!r}"
            )
        object.__setattr__(self, "at", as_utc(self.at, name="at"))

    @property
    def placement(self) -> str:
        """The placement recorded with each decision: the run id."""
        return self.run_id


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk's decisions (``Agent.act``'s table plus ``traffic_group``) and its log rows."""

    decisions: pd.DataFrame
    log: LogRows


def _snapshot_for(
    snapshot: ContactSnapshot | pd.DataFrame | None, at: pd.Timestamp
) -> ContactSnapshot:
    if snapshot is None:
        return ContactSnapshot.empty(at)
    if isinstance(snapshot, ContactSnapshot):
        return snapshot
    return ContactSnapshot(snapshot, at)


@contextmanager
def _reading(agent: Agent, snapshot: ContactSnapshot, rows: int) -> Iterator[None]:
    """For the block's time, the agent reads contacts from the snapshot, records none,
    keeps the model inputs of its decisions in a memory of its own (the chunk's log rows
    read them there; the agent's memory of its real-time decisions is left alone, and a
    long run does not accumulate anything) and BLAS runs on one thread."""
    if not agent.is_fitted:
        # fitting on a chunk would make the features, hence the decisions, depend on chunking
        raise InputError(
            "`agent` must be fitted (fit_features on a reference table, or a registered "
            "model version) before it scores a batch"
        )
    saved = agent.history, agent.record_contacts, agent.pending
    agent.history, agent.record_contacts = snapshot, False
    f = agent.featurizer
    agent.pending = PendingDecisions(rows, f.n_features, f.n_arm_inputs)
    try:
        # BLAS on one thread: a product's last bits depend on how BLAS splits it among its
        # threads, so a chunk decided in a worker process (one thread each) and the same
        # chunk decided here must use the same split
        with single_threaded_blas():
            yield
    finally:
        agent.history, agent.record_contacts, agent.pending = saved


def _ids(agent: Agent, customers: pd.DataFrame, *, needed: bool = True) -> np.ndarray | None:
    """The customer ids as strings (``None`` when not ``needed``: only checked)."""
    col = agent.spec.customer_id
    if col not in customers.columns:
        raise InputError(f"`customers` is missing the customer id column {col!r}")
    if not needed:
        return None
    return np.asarray(customers[col].astype(str).to_numpy(dtype=object))


def _control_blocks(run: RunContext, ids: np.ndarray) -> dict[str, np.ndarray]:
    return {} if run.control is None else {CONTROL_REASON: run.control.mask(ids)}


def _blocks(
    agent: Agent, customers: pd.DataFrame, run: RunContext, ids: np.ndarray | None
) -> dict[str, np.ndarray]:
    if ids is None:  # neither a control group nor capacity
        return {}
    blocks = _control_blocks(run, ids)
    if run.thresholds is not None:
        values = agent.product_values(customers, run.at, mode=MODE, blocked=blocks)
        blocks[CAPACITY_REASON] = run.thresholds.blocks(
            agent.catalog.product_ids, values, capacity_keys(ids, run.run_id)
        )
    return blocks


def score_chunk(
    agent: Agent,
    customers: pd.DataFrame,
    run: RunContext,
    snapshot: ContactSnapshot | pd.DataFrame | None = None,
    *,
    with_log: bool = True,
) -> ScoredChunk:
    """Decide for one chunk of a batch run and build its decision-log rows.

    Parameters
    ----------
    agent
        The agent (the same model version for every chunk of a run). Its history is
        replaced by ``snapshot`` for the call; nothing is recorded anywhere.
    customers
        The chunk's customers (unique ids).
    run
        The run's settings.
    snapshot
        The contact snapshot of the run (or only its rows for these customers, as a
        summary table); ``None`` for a log without contacts.
    with_log
        Build the log rows (``False``: a dry run, ``log`` is empty).

    Returns
    -------
    ScoredChunk
        ``decisions``: ``Agent.act``'s table (mode ``"batch"``, placement = run id) plus a
        ``traffic_group`` column; ``log``: the rows to add to the decision log.
    """
    snap = _snapshot_for(snapshot, run.at)
    ids = _ids(agent, customers, needed=run.control is not None or run.thresholds is not None)
    # the log rows read the offers' model inputs from the agent's memory: none without them
    with _reading(agent, snap, len(customers) if with_log else 0):
        blocks = _blocks(agent, customers, run, ids)
        decisions = agent.act(
            customers, run.at, mode=MODE, placement=run.placement, blocked=blocks or None
        )
        if run.control is None:
            codes, names = np.zeros(len(decisions), np.int8), ["default"]
        else:
            # one decision per customer, in their order: the control group's own block
            held = blocks[CONTROL_REASON]
            codes, names = held.astype(np.int8), [TREATMENT, CONTROL]
        groups = pd.Categorical.from_codes(codes, categories=pd.Index(names))
        at_col = list(decisions.columns).index("placement") + 1
        decisions.insert(at_col, "traffic_group", pd.Series(groups, index=decisions.index))
        rows = log_rows(agent, decisions, customers, run.rules) if with_log else LogRows.empty()
    return ScoredChunk(decisions, rows)


def capacity_candidates(
    agent: Agent,
    customers: pd.DataFrame,
    run: RunContext,
    limits: Mapping[str, int],
    snapshot: ContactSnapshot | pd.DataFrame | None = None,
) -> CapacityPlan:
    """Pass one of campaign capacity for one chunk: its best candidates per capped product.

    Merge the chunks' plans (:meth:`CapacityPlan.merge`) and take
    :meth:`CapacityPlan.thresholds` for the run's :attr:`RunContext.thresholds`.
    """
    plan = CapacityPlan.for_catalog(limits, agent.catalog)
    snap = _snapshot_for(snapshot, run.at)
    ids = _ids(agent, customers)
    assert ids is not None
    with _reading(agent, snap, 0):
        values = agent.product_values(
            customers, run.at, mode=MODE, blocked=_control_blocks(run, ids) or None
        )
    plan.add(values, capacity_keys(ids, run.run_id))
    return plan
