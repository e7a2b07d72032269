"""each version's diff against its predecessor, stored once (version_diffs), filled for the
versions already stored; the minor flag moves there from the checks log

Revision ID: 0007_diffstore
Revises: 0006_web
Create Date: 2026-12-06 13:30:00

The fill is ``tracker.diffstore.fill_missing`` (also run by ``tracker import``): a batch of
articles at a time, each article's paragraphs read once, one diff per stored version, the
minor flags from the checks that recorded them. It is the one import of ``tracker`` under
``db/``, allowed by the import contract in pyproject.toml for this data migration alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_diffstore"
down_revision: str | None = "0006_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "version_diffs",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"],
                                name=op.f("fk_version_diffs_version_id_versions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_version_diffs")),
    )
    from tracker.diffstore import fill_missing  # see the docstring

    fill_missing(op.get_bind())


def downgrade() -> None:
    op.drop_table("version_diffs")
