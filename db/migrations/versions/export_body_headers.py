"""raw bodies keep the response's status, headers and final URL (for WARC export); captures
of new versions by a web archive (Save Page Now)

Revision ID: 0005_export
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_export"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bodies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("headers", sa.JSON(), nullable=True))
    op.create_table(
        "archive_captures",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capture_url", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"],
                                name=op.f("fk_archive_captures_version_id_versions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_archive_captures")),
    )
    op.create_index("ix_archive_captures_state_next_attempt_at", "archive_captures",
                    ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_archive_captures_state_next_attempt_at", table_name="archive_captures")
    op.drop_table("archive_captures")
    with op.batch_alter_table("bodies", schema=None) as batch_op:
        batch_op.drop_column("headers")
        batch_op.drop_column("status")
        batch_op.drop_column("url")
