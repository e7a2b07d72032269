"""version metadata stored once per distinct value (version_meta), versions.meta_id refers to it;
stored diffs fold their runs of unchanged paragraphs

Revision ID: 0011_meta
Revises: 0010_template
Create Date: 2026-12-06 19:20:00

The metadata columns of ``versions`` (title, byline, published, language, canonical_url,
lead_image, lead_caption, extractor) move to ``version_meta``, one row per distinct
combination keyed by its content address (``db.meta.meta_id``, computed here with the same
rule, frozen to these columns). ``updated`` stays: a site changes it with nearly every edit. Columns are added and dropped in place, never by a
batch copy: on SQLite a copy of ``versions`` and a drop of the old table would delete or null
what refers to it (checks, diffs, bodies, events). The downgrade puts the values back on
every version row.

The stored diffs are stored again with their runs of unchanged paragraphs folded
(``db.diffdata.fold_equal``), and unfolded by the downgrade for the code before it.
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from db.diff_queries import refold

revision: str = "0011_meta"
down_revision: str | None = "0010_template"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def columns(**extractor: Any) -> list[sa.Column[Any]]:
    """The columns moved, in version_meta's order (the order the content address hashes them
    in); ``extractor``: more arguments of the one NOT NULL column."""
    return [
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("byline", sa.Text(), nullable=True),
        sa.Column("published", sa.String(40), nullable=True),
        sa.Column("language", sa.String(20), nullable=True),
        sa.Column("canonical_url", sa.Text(), nullable=True),
        sa.Column("lead_image", sa.Text(), nullable=True),
        sa.Column("lead_caption", sa.Text(), nullable=True),
        sa.Column("extractor", sa.String(200), nullable=False, **extractor),
    ]


NAMES = tuple(c.name for c in columns())
BATCH = 1000


def meta_id(values: Sequence[Any]) -> int:
    """``db.meta.meta_id`` of these values (in ``NAMES`` order)."""
    text = json.dumps(list(values), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def upgrade() -> None:
    op.create_table(
        "version_meta",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        *columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_meta")),
    )
    # NOT NULL needs a default to be added in place on SQLite; every row gets its value below.
    op.add_column("versions", sa.Column("meta_id", sa.BigInteger(), nullable=False,
                                        server_default="0"))
    _move_to_meta(op.get_bind())
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("versions", "meta_id", server_default=None)
    for name in NAMES:
        op.drop_column("versions", name)  # in place (SQLite >= 3.35), see the docstring
    refold(op.get_bind(), fold=True)


def _move_to_meta(connection: sa.Connection) -> None:
    versions = sa.table("versions", sa.column("id"), sa.column("meta_id"),
                        *(sa.column(name) for name in NAMES))
    meta = sa.table("version_meta", sa.column("id"), *(sa.column(name) for name in NAMES))
    set_meta = (sa.update(versions).where(versions.c.id == sa.bindparam("version_id"))
                .values(meta_id=sa.bindparam("meta")))
    stored: set[int] = set()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(versions.c.id, *(versions.c[name] for name in NAMES))
            .where(versions.c.id > last).order_by(versions.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        keys = [(row.id, meta_id(row[1:])) for row in rows]
        new = {key: dict(zip(NAMES, row[1:], strict=True))
               for (_, key), row in zip(keys, rows, strict=True) if key not in stored}
        if new:
            connection.execute(sa.insert(meta), [{"id": k, **v} for k, v in new.items()])
            stored.update(new)
        connection.execute(set_meta, [{"version_id": i, "meta": k} for i, k in keys])
        last = rows[-1].id


def downgrade() -> None:
    refold(op.get_bind(), fold=False)
    for column in columns(server_default=""):  # NOT NULL in place needs one; filled below
        op.add_column("versions", column)
    versions = sa.table("versions", sa.column("meta_id"), *(sa.column(name) for name in NAMES))
    meta = sa.table("version_meta", sa.column("id"), *(sa.column(name) for name in NAMES))
    op.get_bind().execute(sa.update(versions).values({
        name: sa.select(meta.c[name]).where(meta.c.id == versions.c.meta_id).scalar_subquery()
        for name in NAMES
    }))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("versions", "extractor", server_default=None)
    op.drop_column("versions", "meta_id")
    op.drop_table("version_meta")
