"""The learner: closed outcomes → ``Agent.update`` → a new model version, exactly once.

One learning step is one database transaction: it takes the learner lock, loads the
newest version, reads the decisions whose window closed and that no version learned,
updates the agent, and stores the new version together with one learned-outcome row per
decision (``decision_id`` unique, naming that version). A crash anywhere before the commit
leaves nothing behind; after it, everything. Replaying the base version with the learned
rows, version by version, rebuilds every later version bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, exists, insert, select, text

from xsell._time import Clock, as_utc, system_clock
from xsell.errors import InputError, PersistenceError
from xsell.store.engine import is_postgres, make_engine, read_transaction, write_transaction
from xsell.store.registry import agent_from_bytes, latest_version, load_snapshot, store_version
from xsell.store.rules import RewardRules
from xsell.store.tables import Contact, Decision, LearnedOutcome, ModelVersion, OutcomeEvent

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from xsell.agent import Agent

__all__ = ["CRASH_POINTS", "LearnResult", "Learner", "apply_outcomes", "rebuild"]

#: where a test may make the learner fail (``crash_hook`` is called with each name)
CRASH_POINTS = ("before_update", "after_update", "before_commit", "after_commit")
_LOCK_KEY = 0x7853_454C_4C  # "xSELL": the PostgreSQL advisory lock of the learner
_INPUTS = ("decision_id", "conversion", "opt_out", "arm", "input_x", "input_e", "input_p")


@dataclass(frozen=True, slots=True)
class LearnResult:
    """What one learning step did: the version it stored (``None``: nothing to learn)."""

    version: int | None
    learned: int
    conversions: int
    busy: bool = False


def apply_outcomes(agent: Agent, rows: pd.DataFrame, at: datetime) -> None:
    """Teach ``agent`` these learned-outcome rows (columns of ``learned_outcomes``), in order.

    The rows' stored model inputs become the agent's only pending decisions, then the
    agent learns them by decision id: the same rows on the same agent give the same model.
    """
    pend = agent.pending
    if len(rows) > pend.capacity:
        raise InputError(
            f"`rows` has {len(rows)} outcomes; the agent keeps at most {pend.capacity} pending"
        )
    pend.forget(np.flatnonzero(pend.live))
    X = np.stack([np.frombuffer(b, dtype=np.float64) for b in rows["input_x"]])
    E = np.stack([np.frombuffer(b, dtype=np.float64) for b in rows["input_e"]])
    P = rows["input_p"].astype(np.float64).fillna(np.nan).to_numpy()
    pend.add(rows["decision_id"].tolist(), X, E, rows["arm"].to_numpy(dtype=np.int64), P)
    labels = rows[["decision_id", "conversion", "opt_out"]].astype(
        {"conversion": np.int64, "opt_out": np.int64}
    )
    agent.update(labels.reset_index(drop=True), at=at)


def closed_outcomes(
    conn: Connection, rules: RewardRules, now: datetime, limit: int
) -> pd.DataFrame:
    """Decisions whose window closed (or a conversion closed early), not learned yet, with labels."""
    conv_types = list(rules.labels["conversion"])
    counted = and_(
        OutcomeEvent.decision_id == Contact.decision_id,
        OutcomeEvent.event_at >= Contact.at,
        OutcomeEvent.event_at <= Contact.window_ends_at,
        OutcomeEvent.received_at <= Contact.closes_at,
        OutcomeEvent.received_at <= now,
    )
    converted = exists().where(counted, OutcomeEvent.type.in_(conv_types))
    learned = exists().where(LearnedOutcome.decision_id == Contact.decision_id)
    stmt = (
        select(
            Contact.decision_id,
            Decision.arm,
            Decision.input_x,
            Decision.input_e,
            Decision.input_p,
        )
        .join(Decision, Decision.id == Contact.decision_id)
        .where(~learned, Decision.arm.is_not(None), (Contact.closes_at <= now) | converted)
        .order_by(Contact.decision_id)
        .limit(limit)
    )
    rows = pd.DataFrame(
        [tuple(r) for r in conn.execute(stmt)], columns=list(_INPUTS[:1] + _INPUTS[3:])
    )
    if rows.empty:
        return pd.DataFrame(columns=list(_INPUTS))
    label_types = {t: label for label, ts in rules.labels.items() for t in ts}
    ev = select(OutcomeEvent.decision_id, OutcomeEvent.type).where(
        counted,
        Contact.decision_id.in_(rows["decision_id"].tolist()),
        OutcomeEvent.type.in_(list(label_types)),
    )
    hits: dict[str, set[str]] = {}
    for did, typ in conn.execute(ev):
        hits.setdefault(did, set()).add(label_types[typ])
    for label in ("conversion", "opt_out"):
        rows[label] = [int(label in hits.get(d, ())) for d in rows["decision_id"]]
    return rows[list(_INPUTS)]


class Learner:
    """Learns closed outcomes into new model versions, exactly once.

    Parameters
    ----------
    engine
        An engine from :func:`xsell.store.make_engine`, or a database URL.
    rules
        The reward rules (which events set which label).
    batch_size
        Most decisions learned per version (capped by the agent's pending capacity).
    clock
        Where "now" comes from when a step is not given one.
    crash_hook
        Called with each name in :data:`CRASH_POINTS` as the step passes it (tests make
        it raise there).
    """

    def __init__(
        self,
        engine: Engine | str | None = None,
        *,
        rules: RewardRules | None = None,
        batch_size: int = 10_000,
        clock: Clock | None = None,
        crash_hook: Callable[[str], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise InputError(f"`batch_size` must be >= 1, got {batch_size!r}")
        self.engine = engine if isinstance(engine, Engine) else make_engine(engine)
        self.rules = rules if rules is not None else RewardRules()
        self.batch_size = int(batch_size)
        self.clock: Clock = clock if clock is not None else system_clock
        self.crash_hook = crash_hook

    def _hook(self, point: str) -> None:
        if self.crash_hook is not None:
            self.crash_hook(point)

    def run_once(self, now: object = None) -> LearnResult:
        """One learning step: learn up to ``batch_size`` closed outcomes as one new version."""
        ts = as_utc(self.clock() if now is None else now, name="now").to_pydatetime()
        with write_transaction(self.engine) as conn:
            if is_postgres(conn):
                got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
                if not got.scalar():
                    return LearnResult(None, 0, 0, busy=True)
            parent = latest_version(conn)
            if parent is None:
                raise PersistenceError("no model version in the log: register the agent first")
            snapshot = load_snapshot(conn, parent)
            assert snapshot is not None
            agent = agent_from_bytes(snapshot)
            rows = closed_outcomes(
                conn, self.rules, ts, min(self.batch_size, agent.pending_capacity)
            )
            if rows.empty:
                return LearnResult(None, 0, 0)
            self._hook("before_update")
            apply_outcomes(agent, rows, ts)
            self._hook("after_update")
            version = store_version(conn, agent, parent=parent, created_at=ts, learned_at=ts)
            learned = rows.assign(model_version=version, position=np.arange(len(rows)))
            learned["input_p"] = (
                learned["input_p"].astype(object).where(learned["input_p"].notna(), None)
            )
            conn.execute(
                insert(LearnedOutcome), cast("list[dict[str, Any]]", learned.to_dict("records"))
            )
            self._hook("before_commit")
        self._hook("after_commit")
        return LearnResult(version, len(rows), int(rows["conversion"].sum()))

    def run_until_idle(self, now: object = None, max_steps: int = 1_000) -> list[LearnResult]:
        """Learning steps until nothing closed is left (or ``max_steps``)."""
        out = []
        for _ in range(max_steps):
            r = self.run_once(now)
            if r.version is None:
                break
            out.append(r)
        return out


def rebuild(engine: Engine, version: int | None = None) -> Agent:
    """Replay the base version and the learned outcomes up to ``version`` (default: newest)."""
    with read_transaction(engine) as conn:
        versions = conn.execute(
            select(
                ModelVersion.version, ModelVersion.parent_version, ModelVersion.learned_at
            ).order_by(ModelVersion.version)
        ).all()
        if not versions:
            raise PersistenceError("no model version in the log to rebuild from")
        base = versions[0]
        data = load_snapshot(conn, base.version)
        assert data is not None
        agent = agent_from_bytes(data)
        for v in versions[1:]:
            if version is not None and v.version > version:
                break
            stmt = (
                select(*(getattr(LearnedOutcome, c) for c in _INPUTS))
                .where(LearnedOutcome.model_version == v.version)
                .order_by(LearnedOutcome.position)
            )
            rows: Any = pd.DataFrame([tuple(r) for r in conn.execute(stmt)], columns=list(_INPUTS))
            apply_outcomes(agent, rows, v.learned_at)
    return agent
