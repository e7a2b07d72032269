"""The columns of the exported dataset, defined once: the JSONL keys, the CSV header, the
Parquet schema and the ``datapackage.json`` descriptor are all made from these lists.

Types are Frictionless Table Schema types. ``array`` columns hold JSON arrays (a JSON array in
a CSV cell, as Table Schema defines its lexical form; a list column in Parquet); ``item`` says
what they hold: ``string``, ``integer`` or ``pair`` (a two-string list, the word runs of
``tracker diff --format json``). Pure data: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from db.states import ArticleState


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str  # integer | number | string | boolean | datetime | array
    description: str
    item: str | None = None  # arrays: string | integer | pair
    required: bool = False


ARTICLES = (
    Field("article_id", "integer", "The article's id in the exporting database.", required=True),
    Field("url", "string", "The tracked URL.", required=True),
    Field("host", "string", "Host name of the URL."),
    Field("state", "string", f"One of {', '.join(ArticleState)} (docs/states.md)."),
    Field("tags", "array", "Tags given to the article.", item="string"),
    Field("selector", "string", "CSS selector of the article body, if one was set."),
    Field("base_interval", "integer", "Check interval asked for, in seconds."),
    Field("created_at", "datetime", "When tracking began (UTC)."),
)

VERSIONS = (
    Field("article_id", "integer", "The article (articles.article_id).", required=True),
    Field("article_url", "string", "The article's URL.", required=True),
    Field("version", "integer", "Version number, 1 for the first seen.", required=True),
    Field("fetched_at", "datetime", "When this version was fetched (UTC).", required=True),
    Field("title", "string", "Headline."),
    Field("byline", "string", "Author(s) as the page names them."),
    Field("published", "string", "Publication date as the page gives it (ISO 8601)."),
    Field("modified", "string", "Last-modified date as the page gives it (ISO 8601)."),
    Field("language", "string", "Language of the page."),
    Field("canonical_url", "string", "The page's canonical URL."),
    Field("lead_image", "string", "URL of the lead image."),
    Field("lead_caption", "string", "Caption of the lead image."),
    Field("extractor", "string", "Extractor and its settings; a change starts a new baseline."),
    Field("content_hash", "string", "Hash of the versioned text and metadata."),
    Field("rebaseline", "boolean",
          "True when this version starts a new baseline: not compared with the one before."),
    Field("paragraphs", "array", "The full text, one string per paragraph, in order.",
          item="string"),
    Field("paragraph_kinds", "array",
          "Kind of each paragraph: text, heading, caption, credit, quote or item.",
          item="string"),
)

CHANGES = (
    Field("article_id", "integer", "The article (articles.article_id).", required=True),
    Field("article_url", "string", "The article's URL.", required=True),
    Field("old_version", "integer", "The version compared from.", required=True),
    Field("new_version", "integer", "The version compared to.", required=True),
    Field("position", "integer", "Order of this change within its diff, from 0.", required=True),
    Field("op", "string",
          "insert, delete, modify, move, split, merge (paragraphs) or metadata.", required=True),
    Field("field", "string", "For metadata: the field that changed (title, byline …)."),
    Field("old_indices", "array", "Positions of the old paragraphs (0-based).", item="integer"),
    Field("new_indices", "array", "Positions of the new paragraphs (0-based).", item="integer"),
    Field("similarity", "number", "Similarity of old and new text, 0 to 1 (1: identical)."),
    Field("old_text", "string",
          "The old paragraph(s), separated by blank lines; or the old value."),
    Field("new_text", "string",
          "The new paragraph(s), separated by blank lines; or the new value."),
    Field("words", "array",
          'Word runs of a modify, move, split or merge: ["=", words] kept, ["-", words] '
          'deleted, ["+", words] inserted.', item="pair"),
)

RESOURCES: dict[str, tuple[Field, ...]] = {
    "articles": ARTICLES, "versions": VERSIONS, "changes": CHANGES,
}

_KEYS: dict[str, dict[str, Any]] = {
    "articles": {"primaryKey": ["article_id"]},
    "versions": {
        "primaryKey": ["article_id", "version"],
        "foreignKeys": [{"fields": ["article_id"],
                         "reference": {"resource": "articles", "fields": ["article_id"]}}],
    },
    "changes": {
        "primaryKey": ["article_id", "new_version", "position"],
        "foreignKeys": [{"fields": ["article_id", "new_version"],
                         "reference": {"resource": "versions",
                                       "fields": ["article_id", "version"]}}],
    },
}

FORMATS = {
    "jsonl": ("jsonl", "application/x-ndjson"),
    "csv": ("csv", "text/csv"),
    "parquet": ("parquet", "application/vnd.apache.parquet"),
}


def file_name(resource: str, fmt: str) -> str:
    return f"{resource}.{FORMATS[fmt][0]}"


def datapackage(fmt: str) -> dict[str, Any]:
    """The Frictionless Data Package descriptor of an export in ``fmt``.

    Nothing in it depends on when the export ran, so exporting the same data twice gives the
    same file."""
    extension, media_type = FORMATS[fmt]
    resources = []
    for name, fields in RESOURCES.items():
        resource: dict[str, Any] = {
            "name": name,
            "path": f"{name}.{extension}",
            "format": extension,
            "mediatype": media_type,
            "schema": {"fields": [_field_descriptor(f) for f in fields],
                       "missingValues": [""], **_KEYS[name]},
        }
        if fmt != "parquet":
            resource["encoding"] = "utf-8"
        resources.append(resource)
    return {
        "name": "tracker-export",
        "title": "Versions of tracked news articles and what changed between them",
        "description": "Exported by tracker: every stored version of each article (full text as "
                       "a list of paragraphs) and, for each version, the paragraph operations "
                       "of its diff against the version before it (unchanged paragraphs "
                       "omitted).",
        "resources": resources,
    }


def _field_descriptor(field: Field) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": field.name, "type": field.type,
                                  "description": field.description}
    if field.type == "datetime":
        descriptor["format"] = "%Y-%m-%dT%H:%M:%S.%fZ"
    if field.item == "pair":
        descriptor["arrayItem"] = {"type": "array"}
    elif field.item:
        descriptor["arrayItem"] = {"type": field.item}
    if field.required:
        descriptor["constraints"] = {"required": True}
    return descriptor


def datapackage_json(fmt: str) -> str:
    return json.dumps(datapackage(fmt), ensure_ascii=False, indent=2) + "\n"
