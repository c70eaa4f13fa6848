"""The decision log's tables (SQLAlchemy 2 typed models); Alembic migrations create them.

``decisions``, ``outcome_events`` and ``learned_outcomes`` are append-only: rows are added,
never changed (triggers refuse an UPDATE of a decision); only retention and erasure delete.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xsell.store.engine import UTCDateTime

__all__ = [
    "Base",
    "BatchRun",
    "Contact",
    "CustomerLock",
    "Decision",
    "DecisionRequest",
    "Explanation",
    "LearnedOutcome",
    "ModelVersion",
    "OutcomeEvent",
    "ProtectedAttributes",
    "RefusedContact",
]

_ID = String(64)
_NAME = String(128)


class Base(DeclarativeBase):
    """Declarative base of the decision log's tables."""


class Decision(Base):
    """One decision (one offer slot) as ``Agent.act`` made it: the audit record."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    customer_id: Mapped[str] = mapped_column(_NAME, index=True)
    rank: Mapped[int] = mapped_column(SmallInteger)
    channel: Mapped[str | None] = mapped_column(String(32))
    placement: Mapped[str] = mapped_column(_NAME)
    traffic_group: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    product: Mapped[str | None] = mapped_column(_NAME)
    probability: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    expected_value: Mapped[float] = mapped_column(Float)
    explored: Mapped[bool] = mapped_column(Boolean)
    eligible: Mapped[list[Any]] = mapped_column(JSON)
    blocked: Mapped[dict[str, Any]] = mapped_column(JSON)
    arm: Mapped[int | None] = mapped_column(Integer)
    input_x: Mapped[bytes | None] = mapped_column(LargeBinary)
    input_e: Mapped[bytes | None] = mapped_column(LargeBinary)
    input_p: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[str] = mapped_column(_NAME)
    catalog_version: Mapped[str] = mapped_column(_NAME)
    feature_spec_version: Mapped[str] = mapped_column(_NAME)
    reward_rules_version: Mapped[str] = mapped_column(_NAME)


class ProtectedAttributes(Base):
    """Protected attributes of a decided customer: restricted, read only by fairness audits."""

    __tablename__ = "protected_attributes"

    decision_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(_NAME, index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)


class Contact(Base):
    """An offer delivered or shown: a contact for caps, and the start of its window."""

    __tablename__ = "contacts"

    decision_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(_NAME)
    product: Mapped[str] = mapped_column(_NAME)
    channel: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(32))
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (Index("ix_contacts_customer_at", "customer_id", "at"),)


class RefusedContact(Base):
    """An offer the contact rules kept from becoming a contact: a delivery or batch send
    refused under the customer's lock (cool-off, frequency cap or contact limit)."""

    __tablename__ = "refused_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("decisions.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str] = mapped_column(_NAME)
    product: Mapped[str] = mapped_column(_NAME)
    channel: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class OutcomeEvent(Base):
    """Something that happened after a decision; the idempotency key makes a retry a no-op."""

    __tablename__ = "outcome_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    decision_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("decisions.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ModelVersion(Base):
    """A stored agent: the snapshot ``Agent.save`` writes, and the version it came from."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    parent_version: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("model_versions.version")
    )
    learned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    n_learned: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[bytes] = mapped_column(LargeBinary)


class LearnedOutcome(Base):
    """A decision's outcome as learned, by the model version that learned it.

    It keeps its own copy of the model inputs, so replaying version 0 plus these rows
    rebuilds every version even after the decision itself was erased or expired.
    """

    __tablename__ = "learned_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(_ID, unique=True)
    model_version: Mapped[int] = mapped_column(
        Integer, ForeignKey("model_versions.version"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    conversion: Mapped[int] = mapped_column(SmallInteger)
    opt_out: Mapped[int] = mapped_column(SmallInteger)
    arm: Mapped[int] = mapped_column(Integer)
    input_x: Mapped[bytes] = mapped_column(LargeBinary)
    input_e: Mapped[bytes] = mapped_column(LargeBinary)
    input_p: Mapped[float | None] = mapped_column(Float)


class CustomerLock(Base):
    """One row per customer, locked (``SELECT ... FOR UPDATE``) around a cap check."""

    __tablename__ = "customer_locks"

    customer_id: Mapped[str] = mapped_column(_NAME, primary_key=True)


class Explanation(Base):
    """The plain-words explanation a decision was served with (the audit view shows it)."""

    __tablename__ = "explanations"

    decision_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)


class DecisionRequest(Base):
    """A decision request made with an idempotency key: a retry returns these decisions."""

    __tablename__ = "decision_requests"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision_ids: Mapped[list[Any]] = mapped_column(JSON)


class BatchRun(Base):
    """A batch run (``xsell score``): its decision time and settings, so a rerun or a resumed
    run of the same id makes the same decisions, with the same ids."""

    __tablename__ = "batch_runs"

    run_id: Mapped[str] = mapped_column(_NAME, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rows: Mapped[int | None] = mapped_column(Integer)
    offers: Mapped[int | None] = mapped_column(Integer)
