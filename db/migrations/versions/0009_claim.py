"""claim: the due time of leased rows kept apart, and the claim's partial index

Revision ID: 0009_claim
Revises: 0008_source_events (re-chained when merging main)
Create Date: 2026-12-06 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_claim"
down_revision: str | None = "0008_source_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEASED = ("articles", "sources", "deliveries")
# db.states.CHECKED_PREDICATE when this migration was written.
_CHECKED = "state IN ('active', 'unavailable', 'deleted')"


def upgrade() -> None:
    # A claim moves a row's due column to its lease's end and keeps the time it was due in
    # due_at (db/lease.py). Rows leased before this migration keep their due time in the due
    # column: copied, so that a takeover or a release of them still knows it.
    for table in _LEASED:
        op.add_column(table, sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE articles SET due_at = next_check_at WHERE lease_token IS NOT NULL")
    op.execute("UPDATE sources SET due_at = next_check_at WHERE lease_token IS NOT NULL")
    op.execute("UPDATE deliveries SET due_at = next_attempt_at WHERE lease_token IS NOT NULL")
    # The claim scans only the articles that are checked at all: settled, merged or paused
    # ones keep a past next_check_at but are never due.
    op.create_index("ix_articles_due", "articles", ["next_check_at", "id"],
                    postgresql_where=sa.text(_CHECKED), sqlite_where=sa.text(_CHECKED))


def downgrade() -> None:
    op.drop_index("ix_articles_due", table_name="articles")
    # Leased rows get their due time back in the due column.
    op.execute("UPDATE articles SET next_check_at = due_at "
               "WHERE lease_token IS NOT NULL AND due_at IS NOT NULL")
    op.execute("UPDATE sources SET next_check_at = due_at "
               "WHERE lease_token IS NOT NULL AND due_at IS NOT NULL")
    op.execute("UPDATE deliveries SET next_attempt_at = due_at "
               "WHERE lease_token IS NOT NULL AND due_at IS NOT NULL")
    for table in reversed(_LEASED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("due_at")
