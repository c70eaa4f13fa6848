"""The service's tables: served explanations and idempotent decision requests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "explanations",
        sa.Column(
            "decision_id",
            sa.String(64),
            sa.ForeignKey("decisions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_table(
        "decision_requests",
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_ids", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    """Drop the tables."""
    op.drop_table("decision_requests")
    op.drop_table("explanations")
