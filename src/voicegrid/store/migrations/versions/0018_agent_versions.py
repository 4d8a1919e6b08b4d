"""agent versions: the published configuration's number, a draft, and every published version kept

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a version holds, as of this revision (the columns of an agent that shape its calls).
CONFIG = (
    "name", "kind", "language", "greeting", "system_prompt", "knowledge_base", "voice", "stt", "llm",
    "tts", "tools", "turn", "max_call_seconds", "recording", "amd", "voicemail_message", "analysis",
)  # fmt: skip
_TYPES: dict[str, Any] = {
    **dict.fromkeys(("knowledge_base", "stt", "llm", "tts", "tools", "turn", "analysis"), sa.JSON),
    "max_call_seconds": sa.Integer,
    "recording": sa.Boolean,
}


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("draft", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("draft_updated_at", sa.DateTime(timezone=True), nullable=True))
    versions = op.create_table(
        "agent_versions",
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.String(40), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(320), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=True),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_agent_versions_agent_id_agents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agent_id", "number", name="pk_agent_versions"),
    )
    op.create_index("ix_agent_versions_business_id", "agent_versions", ["business_id"])
    # Each agent as it is today is its version 1.
    agents = sa.table(
        "agents",
        sa.column("id", sa.String),
        sa.column("business_id", sa.String),
        sa.column("updated_at", sa.DateTime),
        *(sa.column(name, _TYPES.get(name, sa.String)) for name in CONFIG),
    )
    rows = op.get_bind().execute(sa.select(agents)).mappings().all()
    if rows:
        now = datetime.now(UTC)
        op.bulk_insert(
            versions,
            [_first_version(row, now) for row in rows],
        )


def _first_version(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "agent_id": row["id"], "number": 1, "business_id": row["business_id"],
        "config": {name: row[name] for name in CONFIG}, "published_at": row["updated_at"] or now,
        "published_by": "before versions", "user_id": None, "key_id": None, "restored_from": None,
    }  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_agent_versions_business_id", table_name="agent_versions")
    op.drop_table("agent_versions")
    with op.batch_alter_table("agents") as batch_op:
        for name in ("draft_updated_at", "draft", "version"):
            batch_op.drop_column(name)
