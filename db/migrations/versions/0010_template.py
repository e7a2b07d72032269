"""template: host_templates (each site's learned article template), versions.extraction_path

Revision ID: 0010_template
Revises: 0009_claim
Create Date: 2026-12-06 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_template"
down_revision: str | None = "0009_claim"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "host_templates",
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("template", sa.JSON(), nullable=True),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.Text(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_host_templates")),
    )
    # In place, not in a batch: on SQLite a batch copies the versions table and drops the old
    # one, which would null or delete what refers to it (checks, diffs).
    op.add_column("versions", sa.Column("extraction_path", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("versions", "extraction_path")  # SQLite >= 3.35 drops a plain column in place
    op.drop_table("host_templates")
