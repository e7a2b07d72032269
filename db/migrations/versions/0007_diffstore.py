"""each version's diff against its predecessor, stored once (version_diffs), filled for the
versions already stored; the minor flag moves there from the checks log

Revision ID: 0007_diffstore
Revises: 0006_web
Create Date: 2026-12-06 13:30:00

The fill reads every article's versions in number order, a batch of articles at a time,
decodes their paragraph lists one after the other (``db.refs.advance``), reads each article's
distinct paragraphs once, computes each diff with ``tracker.diff`` (pure: the one import of
``tracker`` under ``db/``, allowed by the import contract in pyproject.toml for this data
migration alone) and inserts the rows in bulk. Memory is one article's paragraphs and one
batch of rows; time is one diff per stored version.
"""

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from db import diff_queries, refs

revision: str = "0007_diffstore"
down_revision: str | None = "0006_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Articles per batch of the fill.
BATCH = 100
# The metadata of a version as tracker.stored.version_metadata gives it, in that order (the
# diff lists changed fields in the old version's order). tests/test_migrations.py compares the
# filled diffs with the ones tracker computes, so a drift fails there.
_METADATA = ("title", "byline", "published", "updated", "language", "canonical_url",
             "lead_image", "lead_caption")

_versions = sa.table(
    "versions", sa.column("id", sa.Integer), sa.column("article_id", sa.Integer),
    sa.column("number", sa.Integer), sa.column("paragraph_refs", sa.LargeBinary),
    *(sa.column(name, sa.Text) for name in _METADATA),
)
_paragraphs = sa.table("paragraphs", sa.column("id", sa.BigInteger),
                       sa.column("text", sa.Text))
_checks = sa.table("checks", sa.column("version_id", sa.Integer),
                   sa.column("outcome", sa.String))


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
    fill(op.get_bind())


def downgrade() -> None:
    op.drop_table("version_diffs")


def fill(connection: sa.Connection, batch: int = BATCH) -> int:
    """Store the diff of every version that has a predecessor; returns how many."""
    minor = set(connection.scalars(
        sa.select(_checks.c.version_id).where(_checks.c.outcome == "minor")
    ))
    articles = list(connection.scalars(
        sa.select(_versions.c.article_id).distinct().order_by(_versions.c.article_id)
    ))
    stored = 0
    for start in range(0, len(articles), batch):
        rows = list(_diff_rows(connection, articles[start : start + batch], minor))
        diff_queries.insert_rows(connection, rows)
        stored += len(rows)
    return stored


def _diff_rows(
    connection: sa.Connection, article_ids: list[int], minor: set[int]
) -> Iterator[dict[str, Any]]:
    versions = connection.execute(
        sa.select(_versions).where(_versions.c.article_id.in_(article_ids))
        .order_by(_versions.c.article_id, _versions.c.number)
    ).all()
    for _, group in itertools.groupby(versions, key=lambda v: v.article_id):
        yield from _article_rows(connection, list(group), minor)


def _article_rows(
    connection: sa.Connection, versions: list[Any], minor: set[int]
) -> Iterator[dict[str, Any]]:
    """The rows of one article's versions (in number order)."""
    from tracker.diff import diff_documents  # see the docstring: the pure diff, nothing else

    ids: list[list[int]] = []
    for version in versions:  # a delta follows its predecessor (numbers are dense)
        data = version.paragraph_refs
        ids.append(refs.decode([data]) if refs.is_keyframe(data) else refs.advance(ids[-1], data))
    texts = _texts(connection, {i for version_ids in ids for i in version_ids})
    for k in range(1, len(versions)):
        old, new = versions[k - 1], versions[k]
        if old.number != new.number - 1:
            continue
        diff = diff_documents([texts[i] for i in ids[k - 1]], [texts[i] for i in ids[k]],
                              _metadata(old), _metadata(new))
        yield diff_queries.row(new.id, diff.to_json(), minor=new.id in minor)


def _metadata(version: Any) -> dict[str, Any]:
    return {name: getattr(version, name) for name in _METADATA}


def _texts(connection: sa.Connection, wanted: set[int]) -> dict[int, str]:
    """The text of each paragraph id wanted, 500 ids a query."""
    found: dict[int, str] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        found.update((row.id, row.text) for row in connection.execute(
            sa.select(_paragraphs.c.id, _paragraphs.c.text).where(_paragraphs.c.id.in_(chunk))
        ))
    return found
