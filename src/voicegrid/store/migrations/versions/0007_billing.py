"""businesses: negotiated_rates; resellers: markup (what a call costs a business, and what it bills)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("negotiated_rates", sa.JSON(), nullable=True))
    with op.batch_alter_table("resellers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("markup", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resellers", schema=None) as batch_op:
        batch_op.drop_column("markup")
    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.drop_column("negotiated_rates")
