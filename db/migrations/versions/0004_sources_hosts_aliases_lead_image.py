"""sources, hosts, article aliases, lead image

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:01:40
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("hosts",
    sa.Column("host", sa.String(length=255), nullable=False),
    sa.Column("selector", sa.Text(), nullable=True),
    sa.Column("ignore_patterns", sa.JSON(), nullable=False),
    sa.Column("ignore_selectors", sa.JSON(), nullable=False),
    sa.Column("rate_per_minute", sa.Float(), nullable=True),
    sa.Column("notify_threshold", sa.Integer(), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("host", name=op.f("pk_hosts"))
    )
    op.create_table("sources",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("host", sa.String(length=255), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=True),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("match", sa.Text(), nullable=True),
    sa.Column("keywords", sa.JSON(), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("interval", sa.Integer(), nullable=False),
    sa.Column("article_interval", sa.Integer(), nullable=True),
    sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("etag", sa.Text(), nullable=True),
    sa.Column("last_modified", sa.Text(), nullable=True),
    sa.Column("body_digest", sa.String(length=64), nullable=True),
    sa.Column("failure_count", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("lease_token", sa.String(length=32), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("entry_count", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
    sa.UniqueConstraint("url", name=op.f("uq_sources_url"))
    )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sources_next_check_at"), ["next_check_at"], unique=False)

    op.create_table("article_aliases",
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("article_id", sa.Integer(), nullable=False),
    sa.Column("reason", sa.String(length=16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["article_id"], ["articles.id"], name=op.f("fk_article_aliases_article_id_articles"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("url", name=op.f("pk_article_aliases"))
    )
    with op.batch_alter_table("article_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_article_aliases_article_id"), ["article_id"], unique=False)

    op.create_table("source_entries",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("source_id", sa.Integer(), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("title", sa.Text(), nullable=True),
    sa.Column("article_id", sa.Integer(), nullable=True),
    sa.Column("listed", sa.Boolean(), nullable=False),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["article_id"], ["articles.id"], name=op.f("fk_source_entries_article_id_articles"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name=op.f("fk_source_entries_source_id_sources"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_source_entries")),
    sa.UniqueConstraint("source_id", "url", name=op.f("uq_source_entries_source_id_url"))
    )
    with op.batch_alter_table("source_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_entries_article_id"), ["article_id"], unique=False)

    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("developing", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f("ix_articles_source_id"), ["source_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_articles_source_id_sources"), "sources", ["source_id"], ["id"], ondelete="SET NULL")

    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lead_image", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lead_caption", sa.Text(), nullable=True))
        batch_op.alter_column("extractor",
               existing_type=sa.VARCHAR(length=120),
               type_=sa.String(length=200),
               existing_nullable=False)



def downgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.alter_column("extractor",
               existing_type=sa.String(length=200),
               type_=sa.VARCHAR(length=120),
               existing_nullable=False)
        batch_op.drop_column("lead_caption")
        batch_op.drop_column("lead_image")

    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_articles_source_id_sources"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_articles_source_id"))
        batch_op.drop_column("developing")
        batch_op.drop_column("source_id")

    with op.batch_alter_table("source_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_entries_article_id"))

    op.drop_table("source_entries")
    with op.batch_alter_table("article_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_article_aliases_article_id"))

    op.drop_table("article_aliases")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_next_check_at"))

    op.drop_table("sources")
    op.drop_table("hosts")
