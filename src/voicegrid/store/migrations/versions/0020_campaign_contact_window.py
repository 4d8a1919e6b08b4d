"""campaign contacts: the window opening a contact's next_at was moved to, so a window changed
later makes the contacts that were waiting for the old one due again

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_contacts") as batch_op:
        batch_op.add_column(sa.Column("window_at", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("campaign_contacts") as batch_op:
        batch_op.drop_column("window_at")
