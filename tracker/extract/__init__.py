"""From a page to an ``Article``: the article's own paragraphs in reading order, with their
kinds (text, heading, item, quote, caption, credit, and a live blog's time stamps), figure
captions and photo credits where they stand, the metadata, and nothing of the page's furniture.

The package by concept:

- ``page``: the text made safe to parse, the tree, JSON-LD and meta tags read once;
- ``metadata``: title, byline, dates, language, canonical URL;
- ``images``: figures' captions and credits, the lead image, image URL normalisation;
- ``structure``: paragraph boundaries from the page's markup;
- ``markup``: what class names and attributes say (dates, bylines, credits, hidden text);
- ``body``: where the body is when a selector or the page says so;
- ``generic``: trafilatura's text, cut at the page's boundaries, for all other pages;
- ``furniture``: what the markup gives away as furniture (date lines, bylines, link lists);
- ``selectors``: users' CSS selectors;
- ``pipeline``: the order of work, the extractor name, and the refusals (no text, interstitial).

Text-level boilerplate rules live in ``tracker.noise``. Nothing here touches the network, the
database or the environment.
"""

from tracker.extract.images import IMAGE_SIZE_PARAMS, normalize_image_url, read_lead_image
from tracker.extract.metadata import read_metadata
from tracker.extract.pipeline import (
    FIGURES_VERSION,
    INTERSTITIAL_MAX_CHARS,
    MIN_ARTICLE_CHARS,
    STRUCTURE_VERSION,
    Dropped,
    Extraction,
    explain_html,
    explain_page,
    extract_html,
    extract_page,
    extract_plain_text,
    extractor_name,
)

__all__ = [
    "FIGURES_VERSION",
    "IMAGE_SIZE_PARAMS",
    "INTERSTITIAL_MAX_CHARS",
    "MIN_ARTICLE_CHARS",
    "STRUCTURE_VERSION",
    "Dropped",
    "Extraction",
    "explain_html",
    "explain_page",
    "extract_html",
    "extract_page",
    "extract_plain_text",
    "extractor_name",
    "normalize_image_url",
    "read_lead_image",
    "read_metadata",
]
