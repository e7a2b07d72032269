"""Reading stored versions back as the plain data the diff and the reports work on."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from db import queries
from db.models import Version
from tracker.document import Metadata


def version_metadata(version: Version) -> dict[str, Any]:
    return Metadata(
        title=version.title, byline=version.byline, published=version.published,
        updated=version.updated, language=version.language, canonical_url=version.canonical_url,
        lead_image=version.lead_image, lead_caption=version.lead_caption,
    ).to_dict()


def version_texts(session: Session, version: Version) -> list[str]:
    return [text for _, text in queries.paragraphs_of(session, version)]
