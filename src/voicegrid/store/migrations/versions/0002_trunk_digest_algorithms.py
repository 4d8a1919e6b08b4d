"""trunks: digest algorithms offered to inbound callers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "inbound_digest_algorithms", sa.JSON(), nullable=False, server_default='["SHA-256", "MD5"]'
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.drop_column("inbound_digest_algorithms")
