"""The decision log: decisions, protected attributes, contacts, events, model versions.

Revision ID: 0001
Revises:
Create Date: 2026-01-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TIME = sa.DateTime(timezone=True)

_PG_NO_UPDATE = """
CREATE FUNCTION xsell_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: rows are never changed', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("placement", sa.String(128), nullable=False),
        sa.Column("traffic_group", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("product", sa.String(128), nullable=True),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("expected_value", sa.Float(), nullable=False),
        sa.Column("explored", sa.Boolean(), nullable=False),
        sa.Column("eligible", sa.JSON(), nullable=False),
        sa.Column("blocked", sa.JSON(), nullable=False),
        sa.Column("arm", sa.Integer(), nullable=True),
        sa.Column("input_x", sa.LargeBinary(), nullable=True),
        sa.Column("input_e", sa.LargeBinary(), nullable=True),
        sa.Column("input_p", sa.Float(), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.String(128), nullable=False),
        sa.Column("catalog_version", sa.String(128), nullable=False),
        sa.Column("feature_spec_version", sa.String(128), nullable=False),
        sa.Column("reward_rules_version", sa.String(128), nullable=False),
    )
    op.create_index("ix_decisions_at", "decisions", ["at"])
    op.create_index("ix_decisions_customer_id", "decisions", ["customer_id"])
    op.create_table(
        "protected_attributes",
        sa.Column(
            "decision_id",
            sa.String(64),
            sa.ForeignKey("decisions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_protected_attributes_customer_id", "protected_attributes", ["customer_id"])
    op.create_table(
        "contacts",
        sa.Column(
            "decision_id",
            sa.String(64),
            sa.ForeignKey("decisions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("product", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("window_ends_at", _TIME, nullable=False),
        sa.Column("closes_at", _TIME, nullable=False),
    )
    op.create_index("ix_contacts_customer_at", "contacts", ["customer_id", "at"])
    op.create_index("ix_contacts_closes_at", "contacts", ["closes_at"])
    op.create_table(
        "outcome_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column(
            "decision_id",
            sa.String(64),
            sa.ForeignKey("decisions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("event_at", _TIME, nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
    )
    op.create_index("ix_outcome_events_decision_id", "outcome_events", ["decision_id"])
    op.create_table(
        "model_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column(
            "parent_version",
            sa.Integer(),
            sa.ForeignKey("model_versions.version"),
            nullable=True,
        ),
        sa.Column("learned_at", _TIME, nullable=True),
        sa.Column("n_learned", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "learned_outcomes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "model_version",
            sa.Integer(),
            sa.ForeignKey("model_versions.version"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("conversion", sa.SmallInteger(), nullable=False),
        sa.Column("opt_out", sa.SmallInteger(), nullable=False),
        sa.Column("arm", sa.Integer(), nullable=False),
        sa.Column("input_x", sa.LargeBinary(), nullable=False),
        sa.Column("input_e", sa.LargeBinary(), nullable=False),
        sa.Column("input_p", sa.Float(), nullable=True),
    )
    op.create_index("ix_learned_outcomes_model_version", "learned_outcomes", ["model_version"])
    op.create_table(
        "customer_locks",
        sa.Column("customer_id", sa.String(128), primary_key=True),
    )
    _append_only(("decisions", "outcome_events", "learned_outcomes"))


def _append_only(tables: tuple[str, ...]) -> None:
    """Triggers that refuse any UPDATE of these tables (deletes stay: retention, erasure)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_NO_UPDATE)
        for t in tables:
            op.execute(
                f"CREATE TRIGGER {t}_append_only BEFORE UPDATE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION xsell_append_only()"
            )
    else:
        for t in tables:
            op.execute(
                f"CREATE TRIGGER {t}_append_only BEFORE UPDATE ON {t} BEGIN "
                f"SELECT RAISE(ABORT, '{t} is append-only: rows are never changed'); END"
            )


def downgrade() -> None:
    """Drop the tables."""
    for t in (
        "customer_locks",
        "learned_outcomes",
        "model_versions",
        "outcome_events",
        "contacts",
        "protected_attributes",
        "decisions",
    ):
        op.drop_table(t)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS xsell_append_only()")
