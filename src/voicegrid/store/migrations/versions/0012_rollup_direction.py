"""call_rollups: direction (inbound, outbound) joins the key

Rows summed before this revision keep direction "" (not known): their calls were not told apart,
and the API reports them as direction "unknown".

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ["business_id", "day", "agent_id"]


def upgrade() -> None:
    with op.batch_alter_table("call_rollups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("direction", sa.String(8), nullable=False, server_default=""))
        batch_op.drop_constraint("pk_call_rollups", type_="primary")
        batch_op.create_primary_key("pk_call_rollups", [*KEY, "direction"])


SUMS = ("calls", "answered", "minutes", "cost", "billable", "turns", "failovers", "interruptions")
FLOATS = ("minutes", "cost", "billable")


def _rollups(*key: str) -> sa.TableClause:
    return sa.table(
        "call_rollups",
        *(sa.column(k, sa.String()) for k in key),
        *(sa.column(n, sa.Float() if n in FLOATS else sa.Integer()) for n in SUMS),
        sa.column("outcomes", sa.JSON()),
        sa.column("latency", sa.JSON()),
    )


def downgrade() -> None:
    # Rows of the same business, day and agent are added together first: the key loses direction.
    table = _rollups(*KEY, "direction")
    sums: dict[tuple[str, ...], dict[str, float]] = {}
    outcomes: dict[tuple[str, ...], dict[str, int]] = {}
    latency: dict[tuple[str, ...], dict[str, dict[str, int]]] = {}
    for row in op.get_bind().execute(sa.select(table)).mappings():
        key = tuple(row[k] for k in KEY)
        into = sums.setdefault(key, dict.fromkeys(SUMS, 0.0))
        for name in SUMS:
            into[name] += row[name]
        _add(outcomes.setdefault(key, {}), _json(row["outcomes"]))
        for part, hist in _json(row["latency"]).items():
            _add(latency.setdefault(key, {}).setdefault(part, {}), hist if isinstance(hist, dict) else {})
    op.execute(table.delete())
    with op.batch_alter_table("call_rollups", schema=None) as batch_op:
        batch_op.drop_constraint("pk_call_rollups", type_="primary")
        batch_op.drop_column("direction")
        batch_op.create_primary_key("pk_call_rollups", KEY)
    rows = [
        {
            **dict(zip(KEY, key, strict=True)),
            **{n: v if n in FLOATS else int(v) for n, v in sums[key].items()},
            "outcomes": outcomes[key],
            "latency": latency.get(key, {}),
        }
        for key in sums
    ]
    if rows:
        op.bulk_insert(_rollups(*KEY), rows)


def _json(value: object) -> dict[str, object]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {}


def _add(into: dict[str, int], more: dict[str, object]) -> None:
    for key, count in more.items():
        if isinstance(count, int | float):
            into[key] = into.get(key, 0) + int(count)
