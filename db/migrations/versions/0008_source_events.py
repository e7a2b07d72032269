"""source events: events and deliveries of a source (source.failing, source.recovered)

Revision ID: 0008_source_events
Revises: 0007_channels (re-chained when merging main)
Create Date: 2026-12-06 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_source_events"
down_revision: str | None = "0007_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An event is an article's or a source's: exactly one of article_id and source_id is set;
    # seq counts per article or per source. Its deliveries carry the same pair: the delivery
    # chain is per (endpoint, article) or per (endpoint, source).
    with op.batch_alter_table("events") as batch:
        batch.alter_column("article_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("source_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(batch.f("fk_events_source_id_sources"), "sources",
                                 ["source_id"], ["id"], ondelete="CASCADE")
        batch.create_unique_constraint(batch.f("uq_events_source_id_seq"), ["source_id", "seq"])
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("article_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("source_id", sa.Integer(), nullable=True))
        batch.create_index("ix_deliveries_endpoint_id_source_id_seq",
                           ["endpoint_id", "source_id", "seq"])


def downgrade() -> None:
    # Source events have no article: they go with the columns that held them.
    op.execute("DELETE FROM events WHERE article_id IS NULL")
    op.execute("DELETE FROM deliveries WHERE article_id IS NULL")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_endpoint_id_source_id_seq")
        batch.drop_column("source_id")
        batch.alter_column("article_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(batch.f("uq_events_source_id_seq"), type_="unique")
        batch.drop_constraint(batch.f("fk_events_source_id_sources"), type_="foreignkey")
        batch.drop_column("source_id")
        batch.alter_column("article_id", existing_type=sa.Integer(), nullable=False)
