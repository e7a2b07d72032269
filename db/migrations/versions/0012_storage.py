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

``ix_checks_version_id`` indexes only the checks that stored a version (most store none).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.diff_queries import repack

revision: str = "0012_storage"
down_revision: str | None = "0011_meta"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


STORED = "version_id IS NOT NULL"


def upgrade() -> None:
    repack(op.get_bind(), counted=True)
    op.drop_index("ix_checks_version_id", table_name="checks")
    op.create_index("ix_checks_version_id", "checks", ["version_id"],
                    postgresql_where=sa.text(STORED), sqlite_where=sa.text(STORED))


def downgrade() -> None:
    op.drop_index("ix_checks_version_id", table_name="checks")
    op.create_index("ix_checks_version_id", "checks", ["version_id"])
    repack(op.get_bind(), counted=False)
