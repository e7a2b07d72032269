"""stored diffs count their word runs in the new version's paragraphs (format 2); summary counts
stored as a list

Revision ID: 0012_storage
Revises: 0011_meta
Create Date: 2026-12-06 22:30:00

Every stored diff is stored again in format 2 (``db.diffdata``): the words a modified
paragraph keeps or gains are counts of the new version's words rather than a copy of its text,
and the summary counts leave the blob; ``version_diffs.summary`` becomes a list of the seven
counts. The downgrade stores them as before (format 1, the summary a mapping), for the code of
before it; both columns keep their types.

``ix_checks_version_id`` indexes only the checks that stored a version (most store none),
``ix_events_dispatched_at`` only the events not dispatched yet (what the dispatcher looks up),
and ``ix_events_created_at``, which no query used, is dropped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.diff_queries import repack

revision: str = "0012_storage"
down_revision: str | None = "0011_meta"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# (table, index, column, the rows it keeps)
PARTIAL = (
    ("checks", "ix_checks_version_id", "version_id", "version_id IS NOT NULL"),
    ("events", "ix_events_dispatched_at", "dispatched_at", "dispatched_at IS NULL"),
)


def upgrade() -> None:
    repack(op.get_bind(), counted=True)
    for table, index, column, where in PARTIAL:
        op.drop_index(index, table_name=table)
        op.create_index(index, table, [column], postgresql_where=sa.text(where),
                        sqlite_where=sa.text(where))
    op.drop_index("ix_events_created_at", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_created_at", "events", ["created_at"])
    for table, index, column, _ in PARTIAL:
        op.drop_index(index, table_name=table)
        op.create_index(index, table, [column])
    repack(op.get_bind(), counted=False)
