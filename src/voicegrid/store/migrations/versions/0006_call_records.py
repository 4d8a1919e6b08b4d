"""call_records: every finished call's record, with the columns lists and rollups filter on

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_records",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("business_id", sa.String(40), nullable=True),
        sa.Column("agent_id", sa.String(40), nullable=True),
        sa.Column("sip_call_id", sa.String(300), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("cost_total", sa.Float(), nullable=False),
        sa.Column("billable_total", sa.Float(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
    )
    op.create_index("ix_call_records_business_created", "call_records", ["business_id", "created_at"])
    op.create_index(
        "ix_call_records_business_agent_created", "call_records", ["business_id", "agent_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_call_records_business_agent_created", table_name="call_records")
    op.drop_index("ix_call_records_business_created", table_name="call_records")
    op.drop_table("call_records")
