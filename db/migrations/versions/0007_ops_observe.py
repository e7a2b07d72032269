"""checks.lag_ms: how late each check started after its article fell due (tracker status)

Revision ID: 0007_ops_observe
Revises: 0006_web
Create Date: 2026-12-06 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007_ops_observe"
down_revision: str | None = "0007_diffstore"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Milliseconds from the article's next_check_at to the check's start (0 when checked
    # early, None for checks stored before this column); status reads the recent ones by time.
    with op.batch_alter_table("checks") as batch:
        batch.add_column(sa.Column("lag_ms", sa.Integer(), nullable=True))
    op.create_index("ix_checks_started_at", "checks", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_checks_started_at", table_name="checks")
    with op.batch_alter_table("checks") as batch:
        batch.drop_column("lag_ms")
