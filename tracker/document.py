"""What extraction yields: an article as paragraphs plus metadata. Plain data, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str  # normalised (tracker.normalize.normalize_text)
    kind: str = "text"  # text | heading | caption | credit | quote | item | time (a live blog's)


@dataclass(frozen=True, slots=True)
class Metadata:
    title: str | None = None
    byline: str | None = None
    published: str | None = None  # ISO 8601, with time of day when the page gives it
    updated: str | None = None
    language: str | None = None
    canonical_url: str | None = None
    lead_image: str | None = None  # absolute URL, without sizing/cache-busting parameters
    lead_caption: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # not dataclasses.asdict: it copies each value deeply, a plain string too
        return {name: getattr(self, name) for name in _METADATA}


_METADATA = tuple(f.name for f in fields(Metadata))


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    paragraphs: tuple[Paragraph, ...]
    metadata: Metadata = field(default_factory=Metadata)
    # e.g. "trafilatura 2.3.1; figures 3; structure 1; noise 2": a change means a re-baseline
    extractor: str = ""

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.paragraphs]
