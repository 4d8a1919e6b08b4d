"""businesses, resellers: reserved_inbound_calls (concurrent calls kept for inbound)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("businesses", "resellers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("reserved_inbound_calls", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in ("businesses", "resellers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("reserved_inbound_calls")
