"""Model versions: agent snapshots (the bytes ``Agent.save`` writes) stored in the log."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select

from xsell._time import as_utc, system_clock
from xsell.errors import InputError, PersistenceError
from xsell.store.engine import (
    hold_advisory_lock,
    make_engine,
    read_transaction,
    write_transaction,
)
from xsell.store.tables import ModelVersion

if TYPE_CHECKING:
    from xsell.agent import Agent
    from xsell.guardrails.contact_history import ContactHistory

__all__ = ["ModelRegistry", "agent_from_bytes", "agent_to_bytes"]

_REGISTER_LOCK_KEY = 0x7853_454C_4C_02  # PostgreSQL advisory lock: one registration at a time


def agent_to_bytes(agent: Agent) -> bytes:
    """The agent as :meth:`~xsell.Agent.save` writes it (npz, no pickle)."""
    with tempfile.TemporaryDirectory(prefix="xsell-") as d:
        path = Path(d) / "agent.npz"
        agent.save(str(path))
        return path.read_bytes()


def agent_from_bytes(data: bytes, *, history: ContactHistory | None = None) -> Agent:
    """An agent from :func:`agent_to_bytes`'s bytes."""
    from xsell.agent import Agent

    with tempfile.TemporaryDirectory(prefix="xsell-") as d:
        path = Path(d) / "agent.npz"
        path.write_bytes(data)
        return Agent.load(str(path), history=history)


class ModelRegistry:
    """The stored model versions: the base agent and every version the learner made.

    Version numbers are the agent's own ``model_version`` (what each decision records);
    the base version has no parent.

    Parameters
    ----------
    engine
        An engine from :func:`xsell.store.make_engine`, or a database URL.
    """

    def __init__(self, engine: Engine | str | None = None) -> None:
        self.engine = engine if isinstance(engine, Engine) else make_engine(engine)

    def register(self, agent: Agent, at: object = None) -> int:
        """Store ``agent`` as the base version (the log must hold none yet); its number.

        Workers starting together may all try: they take turns (an advisory lock on
        PostgreSQL, the write lock on SQLite), the first registers, the others get
        :class:`InputError`.
        """
        if not agent.is_fitted:
            raise InputError("`agent` must be fitted (act() or fit_features()) before registering")
        ts = as_utc(system_clock() if at is None else at).to_pydatetime()
        with write_transaction(self.engine) as conn:
            hold_advisory_lock(conn, _REGISTER_LOCK_KEY)
            if latest_version(conn) is not None:
                raise InputError(
                    "`agent` cannot be registered: the log holds model versions already "
                    "(the learner makes every later version)"
                )
            store_version(conn, agent, parent=None, created_at=ts, learned_at=None)
        return agent.model_version

    def latest(self) -> int | None:
        """The newest version's number, or ``None`` when nothing is registered."""
        with read_transaction(self.engine) as conn:
            return latest_version(conn)

    def load(self, version: int | None = None, *, history: ContactHistory | None = None) -> Agent:
        """The agent of ``version`` (default: the newest)."""
        with read_transaction(self.engine) as conn:
            v = latest_version(conn) if version is None else version
            data = None if v is None else load_snapshot(conn, v)
        if data is None:
            raise PersistenceError(f"`version` {version!r}: no such model version in the log")
        return agent_from_bytes(data, history=history)

    def versions(self) -> pd.DataFrame:
        """``version, parent_version, created_at, learned_at, n_learned`` of every version."""
        cols = [
            ModelVersion.version,
            ModelVersion.parent_version,
            ModelVersion.created_at,
            ModelVersion.learned_at,
            ModelVersion.n_learned,
        ]
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(*cols).order_by(ModelVersion.version)).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=[c.key for c in cols])


def latest_version(conn: Connection) -> int | None:
    """The newest stored version's number."""
    v = conn.execute(select(func.max(ModelVersion.version))).scalar()
    return None if v is None else int(v)


def load_snapshot(conn: Connection, version: int) -> bytes | None:
    """The stored bytes of ``version``."""
    stmt = select(ModelVersion.snapshot).where(ModelVersion.version == version)
    data = conn.execute(stmt).scalar()
    return None if data is None else bytes(data)


def store_version(
    conn: Connection,
    agent: Agent,
    *,
    parent: int | None,
    created_at: datetime,
    learned_at: datetime | None,
) -> int:
    """Insert ``agent`` as version ``agent.model_version``; a taken number raises IntegrityError."""
    conn.execute(
        insert(ModelVersion),
        {
            "version": agent.model_version,
            "created_at": created_at,
            "parent_version": parent,
            "learned_at": learned_at,
            "n_learned": agent.n_learned,
            "snapshot": agent_to_bytes(agent),
        },
    )
    return agent.model_version
