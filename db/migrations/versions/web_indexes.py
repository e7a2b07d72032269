"""indexes for the web view: articles by last change, changes by time, minor checks by version

Revision ID: 0006_web
Revises: 0005_export
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0006_web"
down_revision: str | None = "0005_export"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The articles page sorts by last change, the recent-changes stream and the feeds by the
    # time a version was fetched (both paged by keyset on (time, id)); a version's minor flag
    # is read from the check that stored it.
    op.create_index("ix_articles_last_changed_at_id", "articles", ["last_changed_at", "id"])
    op.create_index("ix_versions_fetched_at_id", "versions", ["fetched_at", "id"])
    op.create_index("ix_checks_version_id", "checks", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_checks_version_id", table_name="checks")
    op.drop_index("ix_versions_fetched_at_id", table_name="versions")
    op.drop_index("ix_articles_last_changed_at_id", table_name="articles")
