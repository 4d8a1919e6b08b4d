"""post-call analysis: agents' plans, records' analysis state, extracted fields, rollup sums

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch_op:
        batch_op.add_column(sa.Column("analysis", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("call_records") as batch_op:
        batch_op.add_column(sa.Column("analysis_state", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("analysis_due_at", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("analysis_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("analysis_success", sa.Boolean(), nullable=True))
    op.create_index("ix_call_records_analysis_due", "call_records", ["analysis_state", "analysis_due_at"])
    op.create_table(
        "call_fields",
        sa.Column("call_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("business_id", sa.String(40), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "name", name="pk_call_fields"),
    )
    op.create_index("ix_call_fields_business_name_value", "call_fields", ["business_id", "name", "value"])
    with op.batch_alter_table("call_rollups") as batch_op:
        batch_op.add_column(sa.Column("analyzed", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("succeeded", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("analyzed_cost", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("analysis_cost", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("intents", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("intents_answered", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("call_rollups") as batch_op:
        for name in (
            "intents_answered",
            "intents",
            "analysis_cost",
            "analyzed_cost",
            "succeeded",
            "analyzed",
        ):
            batch_op.drop_column(name)
    op.drop_table("call_fields")
    op.drop_index("ix_call_records_analysis_due", table_name="call_records")
    with op.batch_alter_table("call_records") as batch_op:
        for name in ("analysis_success", "analysis_attempts", "analysis_due_at", "analysis_state"):
            batch_op.drop_column(name)
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("analysis")
