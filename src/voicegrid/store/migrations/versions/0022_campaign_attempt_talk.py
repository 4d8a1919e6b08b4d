"""campaign attempts: how long the call talked (answer to hang-up), so a campaign's results are
summed from columns, not from each call record's JSON

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_attempts") as batch_op:
        batch_op.add_column(sa.Column("talk_s", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("campaign_attempts") as batch_op:
        batch_op.drop_column("talk_s")
