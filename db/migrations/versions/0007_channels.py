"""notification channels: endpoints of kind "channel" (Apprise URLs), filter lists, digests

Revision ID: 0007_channels
Revises: 0007_ops_observe (re-chained when merging main)
Create Date: 2026-12-06 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_channels"
down_revision: str | None = "0007_ops_observe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A channel is a subscriber like a webhook endpoint: same outbox, deliveries and attempts.
    # Its Apprise URL is sealed in "secret" (it carries credentials); "url" holds it masked.
    op.add_column("endpoints", sa.Column("kind", sa.String(16), nullable=False,
                                         server_default="webhook"))
    op.add_column("endpoints", sa.Column("name", sa.String(100), nullable=True))
    op.add_column("endpoints", sa.Column("filters", sa.JSON(), nullable=True))
    op.add_column("endpoints", sa.Column("min_words", sa.Integer(), nullable=True))
    op.add_column("endpoints", sa.Column("digest_seconds", sa.Integer(), nullable=True))
    op.create_index("ix_endpoints_name", "endpoints", ["name"], unique=True)
    # A digest: the deliveries of one period ride along with the first one (their carrier).
    op.add_column("deliveries", sa.Column("digest_of", sa.Integer(), nullable=True))
    op.create_index("ix_deliveries_digest_of", "deliveries", ["digest_of"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_digest_of", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("digest_of")
    op.drop_index("ix_endpoints_name", table_name="endpoints")
    with op.batch_alter_table("endpoints") as batch:
        for column in ("digest_seconds", "min_words", "filters", "name", "kind"):
            batch.drop_column(column)
