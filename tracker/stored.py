"""Reading stored versions back as the plain data the diff and the reports work on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker.document import Metadata

if TYPE_CHECKING:  # the read commands use version_metadata without SQLAlchemy (db.reads)
    from sqlalchemy.orm import Session

    from db.models import Version
    from db.reads import Row


def version_metadata(version: Version | Row) -> dict[str, Any]:
    return Metadata(
        title=version.title, byline=version.byline, published=version.published,
        updated=version.updated, language=version.language, canonical_url=version.canonical_url,
        lead_image=version.lead_image, lead_caption=version.lead_caption,
    ).to_dict()


def version_texts(session: Session, version: Version) -> list[str]:
    from db import queries

    return [text for _, text in queries.paragraphs_of(session, version)]
