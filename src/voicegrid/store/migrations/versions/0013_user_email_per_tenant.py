"""users: an email is unique within its tenant (owner), not across the platform

So that creating a user never tells one tenant whether an email is used by another. `owner` is the
business's id, else the reseller's, else "platform".

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(40), nullable=True))
    op.execute("UPDATE users SET owner = COALESCE(business_id, reseller_id, 'platform')")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("owner", existing_type=sa.String(40), nullable=False)
        batch_op.drop_constraint("uq_users_email", type_="unique")
        batch_op.create_unique_constraint("uq_users_email_owner", ["email", "owner"])
        batch_op.create_index("ix_users_email", ["email"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_email")
        batch_op.drop_constraint("uq_users_email_owner", type_="unique")
        batch_op.create_unique_constraint("uq_users_email", ["email"])
        batch_op.drop_column("owner")
