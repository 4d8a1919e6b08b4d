"""do_not_call: numbers a business, or every business of a reseller, must never call

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "do_not_call",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(40), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_do_not_call"),
        sa.UniqueConstraint("owner", "number", name="uq_do_not_call_owner_number"),
    )
    op.create_index("ix_do_not_call_number", "do_not_call", ["number"])


def downgrade() -> None:
    op.drop_index("ix_do_not_call_number", table_name="do_not_call")
    op.drop_table("do_not_call")
