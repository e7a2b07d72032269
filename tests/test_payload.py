"""Webhook message bodies (tracker.webhooks.payload), their JSON Schema and docs/webhooks.md.

The example in the docs is the body built here from the story fixtures; when the diff changes on
purpose, print the new one with ``python -m tests.test_payload`` and paste it into the docs.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tracker.diff import Diff, diff_documents
from tracker.normalize import split_lines
from tracker.webhooks import payload as payload_module
from tracker.webhooks.payload import (
    PayloadTooLarge,
    article_changed_data,
    build_payload,
    changes_from_diff,
)
from tracker.webhooks.signing import headers, new_secret

ROOT = Path(__file__).parent.parent
STORY = Path(__file__).parent / "fixtures" / "story_de"
DOC = ROOT / "docs" / "webhooks.md"
SCHEMA = ROOT / "docs" / "webhook-payload.schema.json"
URL = "https://news.example/2024/06/19/putin-kim-pjoengjang"
EVENT_TIME = dt.datetime(2024, 6, 19, 15, 5, 14, tzinfo=dt.UTC)  # just after v3 was fetched


def version(number: int) -> list[str]:
    with (STORY / f"v{number}.txt").open(encoding="utf-8", newline="") as file:
        return split_lines(file.read())


def version_ref(number: int) -> dict[str, Any]:
    fetched = dt.datetime(2024, 6, 18, 21, 5, 12, tzinfo=dt.UTC) + dt.timedelta(hours=6 * number)
    return {"number": number, "fetched_at": fetched.isoformat().replace("+00:00", "Z")}


def changed_data(old_number: int, new_number: int) -> dict[str, Any]:
    """article.changed data for two fixture versions, their headlines as title metadata."""
    return copy.deepcopy(_changed_data(old_number, new_number))


@cache
def _changed_data(old_number: int, new_number: int) -> dict[str, Any]:
    old, new = version(old_number), version(new_number)
    diff = diff_documents(old, new, {"title": old[0]}, {"title": new[0]})
    return article_changed_data(
        URL, new[0], version_ref(old_number), version_ref(new_number), diff, old, new
    )


def changed_body(old_number: int, new_number: int, **options: Any) -> bytes:
    data = changed_data(old_number, new_number)
    return build_payload("article.changed", EVENT_TIME, data["article"], data, **options)


def example_body() -> bytes:
    """The article.changed example shown in docs/webhooks.md."""
    return changed_body(2, 3)


def synthetic_diff(ops: list[dict[str, Any]]) -> Diff:
    """A diff from its JSON form, for inputs the real diff would take long over."""
    sides = {"paragraphs": 0}  # not read by the payload
    return Diff.from_json({"old": sides, "new": sides, "ops": ops, "metadata": {}})


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(body: bytes | dict[str, Any]) -> dict[str, Any]:
    message = json.loads(body) if isinstance(body, bytes) else body
    errors = [
        f"{list(error.absolute_path)}: {error.message}"
        for top in validator().iter_errors(message)
        for error in (top.context or [top])  # oneOf: say what failed inside each branch
    ]
    assert not errors, errors
    return message


# --- shape ------------------------------------------------------------------------------------


def test_body_is_the_standard_webhooks_envelope() -> None:
    message = json.loads(example_body())
    assert list(message) == ["type", "timestamp", "data"]
    assert message["type"] == "article.changed"
    assert message["timestamp"] == "2024-06-19T15:05:14Z"
    assert list(message["data"]) == [
        "article", "from_version", "to_version", "summary", "metadata", "changes"
    ]
    assert message["data"]["article"] == {"url": URL, "title": version(3)[0]}
    assert message["data"]["from_version"]["number"] == 2


def test_body_is_compact_utf8() -> None:
    body = example_body()
    assert body == json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()
    assert "Pjöngjang".encode() in body


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (dt.datetime(2024, 6, 19, 15, 42, 33), "2024-06-19T15:42:33Z"),  # naive: stored UTC
        (dt.datetime(2024, 6, 19, 17, 42, 33, tzinfo=dt.timezone(dt.timedelta(hours=2))),
         "2024-06-19T15:42:33Z"),
        (dt.datetime(2024, 6, 19, 15, 42, 33, 250000, tzinfo=dt.UTC),
         "2024-06-19T15:42:33.250000Z"),
    ],
)
def test_timestamp_is_utc_with_z(moment: dt.datetime, expected: str) -> None:
    body = build_payload("article.restored", moment, {"url": URL, "title": None}, {"version": 3})
    assert json.loads(body)["timestamp"] == expected


def test_changes_hold_only_changed_paragraphs_with_their_texts() -> None:
    old, new = version(2), version(3)
    diff = diff_documents(old, new).to_json()
    changes = changes_from_diff(Diff.from_json(diff), old, new)
    assert [c["op"] for c in changes] == [op["op"] for op in diff["ops"] if op["op"] != "equal"]
    assert len(changes) == sum(diff["summary"].values()) - diff["summary"]["unchanged"]
    for change in changes:
        assert change["old_text"] == ("\n\n".join(old[i] for i in change["old"]) or None)
        assert change["new_text"] == ("\n\n".join(new[j] for j in change["new"]) or None)


def test_a_merge_joins_its_old_paragraphs_with_a_blank_line() -> None:
    old, new = ["Erster Satz.", "Zweiter Satz.", "Ende."], ["Erster Satz. Zweiter Satz.", "Ende."]
    changes = changes_from_diff(diff_documents(old, new), old, new)
    assert changes == [{
        "op": "merge", "old": [0, 1], "new": [0],
        "old_text": "Erster Satz.\n\nZweiter Satz.", "new_text": "Erster Satz. Zweiter Satz.",
        "similarity": 1.0,
    }]


def test_inserts_and_deletes_have_one_text_and_no_similarity() -> None:
    old, new = ["Bleibt.", "Geht."], ["Bleibt.", "Kommt ganz neu hinzu."]
    by_op = {c["op"]: c for c in changes_from_diff(diff_documents(old, new), old, new)}
    assert by_op["delete"] == {"op": "delete", "old": [1], "new": [],
                               "old_text": "Geht.", "new_text": None}
    assert by_op["insert"]["old_text"] is None
    assert "similarity" not in by_op["insert"]


def test_modify_carries_similarity_and_words() -> None:
    change = next(c for c in json.loads(example_body())["data"]["changes"] if c["op"] == "modify")
    assert 0 < change["similarity"] < 1
    assert {tag for tag, _ in change["words"]} <= {"=", "-", "+"}


def test_article_argument_wins_over_data() -> None:
    body = build_payload("article.changed", EVENT_TIME, {"url": URL, "title": "Neu"},
                         {**changed_data(2, 3), "article": {"url": "x", "title": "Alt"}})
    assert json.loads(body)["data"]["article"] == {"url": URL, "title": "Neu"}


# --- schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [(1, 2), (2, 3), (3, 4), (4, 5), (1, 5)])
def test_fixture_payloads_match_the_schema(old: int, new: int) -> None:
    assert_valid(changed_body(old, new))


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("article.first_seen", {"version": version_ref(1), "paragraphs": 27}),
        ("article.unavailable", {"status": 410, "version": version_ref(4)}),
        ("article.restored", {"version": None}),
        ("article.discovered", {"source": "https://news.example/feeds/world", "title": "Titel",
                                "published": "2024-06-19T04:00:00Z"}),
        ("article.discovered", {"source": "https://news.example/sitemap.xml", "title": None,
                                "published": None}),
    ],
)
def test_other_event_payloads_match_the_schema(event_type: str, data: dict[str, Any]) -> None:
    body = build_payload(event_type, EVENT_TIME, {"url": URL, "title": "Titel"}, data)
    assert json.loads(body)["data"] == {"article": {"url": URL, "title": "Titel"}, **data}
    assert_valid(body)


def test_a_source_event_has_no_article_block() -> None:
    data = {"source": {"url": "https://news.example/feed", "kind": "feed"}, "failures": 5,
            "outcome": "failed", "error": "HTTP 503 Service Unavailable"}
    body = build_payload("source.failing", EVENT_TIME, None, data)
    assert json.loads(body)["data"] == data
    assert_valid(body)
    with_article = {**json.loads(body)}
    with_article["data"] = {"article": {"url": URL, "title": None}, **data}
    assert not validator().is_valid(with_article)
    recovered = {**json.loads(body), "type": "source.recovered"}
    recovered["data"] = {**data, "outcome": "failed"}  # a recovery is a good poll
    assert not validator().is_valid(recovered)


@pytest.mark.parametrize(
    "broken",
    [
        {"type": "article.changed", "timestamp": "2024-06-19T15:42:33+02:00", "data": {}},
        {"type": "article.deleted", "timestamp": "2024-06-19T15:42:33Z", "data": {}},
        {"type": "article.restored", "timestamp": "2024-06-19T15:42:33Z",
         "data": {"article": {"url": URL, "title": None}, "version": "4"}},
        {"type": "article.discovered", "timestamp": "2024-06-19T15:42:33Z",
         "data": {"article": {"url": URL, "title": None}, "title": "ohne Quelle"}},
        {"type": "article.discovered", "timestamp": "2024-06-19T15:42:33Z",
         "data": {"article": {"url": URL, "title": None}, "source": "x",
                  "published": "19.06.2024"}},
    ],
)
def test_schema_refuses_malformed_bodies(broken: dict[str, Any]) -> None:
    assert not validator().is_valid(broken)


def test_schema_refuses_an_insert_with_old_text() -> None:
    message = json.loads(example_body())
    insert = next(c for c in message["data"]["changes"] if c["op"] == "insert")
    insert["old_text"] = "erfunden"
    assert not validator().is_valid(message)


# --- size cap -----------------------------------------------------------------------------------


def test_a_body_under_the_cap_is_not_marked() -> None:
    assert "truncated" not in json.loads(changed_body(2, 3, max_bytes=len(example_body())))["data"]


def test_every_cap_is_respected_and_the_cut_is_marked() -> None:
    """Over caps from tiny to complete: never over, always valid, changes kept as a prefix."""
    full = json.loads(example_body())["data"]["changes"]
    kept_before = -1
    for max_bytes in range(1000, len(example_body()) + 200, 97):
        body = changed_body(2, 3, max_bytes=max_bytes)
        assert len(body) <= max_bytes
        data = assert_valid(body)["data"]
        kept = data["changes"]
        assert len(kept) >= kept_before  # a larger cap never keeps less
        kept_before = len(kept)
        if len(body) < len(example_body()):
            marker = data["truncated"]
            assert marker["omitted_changes"] + len(kept) == len(full)
            assert f"tracker diff {URL}@2 {URL}@3" in marker["reason"]
            assert f"exceeds {max_bytes} bytes" in marker["reason"]
        if "shortened_texts" not in data.get("truncated", {}):
            assert kept == full[: len(kept)]


def test_one_huge_paragraph_is_shortened_rather_than_dropped() -> None:
    text = "Sehr viel Text. " * 20_000
    old, new = ["Am Anfang. " + text, "Ende."], ["Zu Beginn. " + text, "Ende, neu."]
    words = [["-", "Am Anfang."], ["+", "Zu Beginn."], ["=", text.strip()]]
    diff = synthetic_diff([
        {"op": "modify", "old": [0], "new": [0], "similarity": 0.99, "words": words},
        {"op": "modify", "old": [1], "new": [1], "similarity": 0.8},
    ])
    data = article_changed_data(URL, "T", version_ref(1), version_ref(2), diff, old, new)
    body = build_payload("article.changed", EVENT_TIME, data["article"], data, max_bytes=4000)
    assert len(body) <= 4000
    message = assert_valid(body)["data"]
    assert message["truncated"]["shortened_texts"] is True
    assert message["truncated"]["omitted_changes"] == 1
    [change] = message["changes"]
    assert change["op"] == "modify"
    assert change["new_text"].endswith("…")
    assert "words" not in change


def test_huge_metadata_is_dropped_last() -> None:
    data = {**changed_data(2, 3), "metadata": {"description": {"old": "a" * 50_000, "new": "b"}}}
    body = build_payload("article.changed", EVENT_TIME, data["article"], data, max_bytes=5000)
    assert len(body) <= 5000
    message = assert_valid(body)["data"]
    assert message["metadata"] == {}
    assert message["truncated"]["omitted_metadata"] is True
    assert message["truncated"]["omitted_changes"] == len(changed_data(2, 3)["changes"])


def test_a_cap_too_small_for_anything_is_an_error() -> None:
    with pytest.raises(PayloadTooLarge, match="does not fit in 200 bytes"):
        changed_body(2, 3, max_bytes=200)


def test_cutting_a_large_diff_encodes_logarithmically_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cut searches for the most changes that fit by halving (no timing: a count of the
    encodings, which a one-change-at-a-time cut of 1,000 changes would multiply by ~100)."""
    new = [f"Absatz {i}: " + "neuer Text " * 100 for i in range(1000)]
    diff = synthetic_diff([{"op": "insert", "old": [], "new": [j]} for j in range(len(new))])
    data = article_changed_data(URL, "T", version_ref(1), version_ref(2), diff, [], new)
    encodings = 0
    real_encode = payload_module.encode

    def counting(body: Any) -> bytes:
        nonlocal encodings
        encodings += 1
        return real_encode(body)

    monkeypatch.setattr(payload_module, "encode", counting)
    body = build_payload("article.changed", EVENT_TIME, data["article"], data)
    assert len(body) <= 256_000
    assert json.loads(body)["data"]["truncated"]["omitted_changes"] > 0
    assert encodings <= 1 + 2 * math.ceil(math.log2(len(new)))  # the whole, then halvings


# --- the docs -----------------------------------------------------------------------------------


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_documented_example_is_what_tracker_sends() -> None:
    [example] = doc_blocks("json")
    assert json.loads(example) == json.loads(example_body()), (
        "docs/webhooks.md is out of date: python -m tests.test_payload prints the new example"
    )
    assert_valid(json.loads(example))


def test_the_documented_verification_code_works() -> None:
    """Each Python block defines verify(body, headers, secret) -> parsed body or None."""
    secret = new_secret()
    body = example_body()
    good = headers([secret], "evt_doc", int(time.time()), body)
    blocks = doc_blocks("python")
    assert len(blocks) == 2
    for block in blocks:
        namespace: dict[str, Any] = {}
        exec(compile(block, str(DOC), "exec"), namespace)
        verify = namespace["verify"]
        assert verify(body, good, secret) == json.loads(body)
        assert verify(body + b" ", good, secret) is None
        assert verify(body, good, new_secret()) is None
        assert verify(body, {**good, "webhook-timestamp": "1"}, secret) is None


def readable(value: Any, indent: str = "") -> str:
    """JSON for reading: objects one key a line, short lists (indices, words) on one line."""
    compact = json.dumps(value, ensure_ascii=False)
    if not value or not isinstance(value, dict | list) or (
        isinstance(value, list) and len(indent) + len(compact) <= 96
    ):
        return compact
    inner = indent + "  "
    if isinstance(value, list):
        items = [inner + readable(item, inner) for item in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {readable(v, inner)}"
             for k, v in value.items()]
    return "{\n" + ",\n".join(items) + f"\n{indent}}}"


if __name__ == "__main__":
    print(readable(json.loads(example_body())))
