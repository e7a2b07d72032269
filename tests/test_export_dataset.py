"""``tracker export`` as a dataset: JSON Lines, CSV and Parquet read back with plain tools."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from db import export_queries, queries
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker
from tests.conftest import STORY
from tests.export_story import read_jsonl, store_history, track_story
from tracker.app import App
from tracker.diff import diff_documents
from tracker.export import Selection, export_dataset, select
from tracker.export.schema import RESOURCES
from tracker.stored import version_metadata

EXPECTED = json.loads((STORY / "expected_ops.json").read_text(encoding="utf-8"))


def stored_texts(app: App, url: str) -> dict[int, list[tuple[str, str]]]:
    with session_scope(app.reader) as session:
        article = queries.article_by_url(session, url)
        assert article is not None
        return {v.number: queries.paragraphs_of(session, v)
                for v in queries.versions_of(session, article.id)}


@pytest.fixture
def story(app: App, article_server: ArticleServer) -> str:
    return track_story(app, article_server, tags=["korea"])


def test_jsonl_versions_hold_every_stored_paragraph_in_order(
    app: App, story: str, tmp_path: Path
) -> None:
    summary = export_dataset(app, tmp_path / "out", "jsonl", Selection())
    versions = read_jsonl(tmp_path / "out" / "versions.jsonl")
    stored = stored_texts(app, story)
    assert [v["version"] for v in versions] == sorted(stored)
    for row in versions:
        assert row["article_url"] == story
        assert list(zip(row["paragraph_kinds"], row["paragraphs"], strict=True)) == \
            stored[row["version"]]
        assert row["fetched_at"].endswith("Z")
    assert versions[0]["title"]
    assert versions[0]["published"]
    assert summary.counts["versions"] == len(versions)
    [article] = read_jsonl(tmp_path / "out" / "articles.jsonl")
    assert (article["url"], article["tags"]) == (story, ["korea"])


def test_jsonl_changes_are_the_ops_of_each_diff_with_their_text(
    app: App, story: str, tmp_path: Path
) -> None:
    export_dataset(app, tmp_path / "out", "jsonl", Selection())
    changes = read_jsonl(tmp_path / "out" / "changes.jsonl")
    texts = {n: [t for _, t in pairs] for n, pairs in stored_texts(app, story).items()}
    for number in range(1, max(texts)):
        rows = [c for c in changes if c["new_version"] == number + 1]
        assert {c["old_version"] for c in rows} == {number}
        assert [c["position"] for c in rows] == list(range(len(rows)))
        # The headline (fixture line 0) is the title, so body indices are one lower.
        expected = {(op["op"], tuple(i - 1 for i in op["old"]), tuple(i - 1 for i in op["new"]))
                    for op in EXPECTED[f"v{number}_v{number + 1}"] if op["old"] != [0]}
        got = {(c["op"], tuple(c["old_indices"]), tuple(c["new_indices"]))
               for c in rows if c["op"] != "metadata"}
        assert got == expected, f"v{number}→v{number + 1}"
        headline_changed = any(op["old"] == [0] for op in EXPECTED[f"v{number}_v{number + 1}"])
        assert headline_changed == any(c["field"] == "title" for c in rows)
        for change in rows:
            if change["op"] == "metadata":
                continue
            old = [texts[number][i] for i in change["old_indices"]]
            new = [texts[number + 1][i] for i in change["new_indices"]]
            assert change["old_text"] == ("\n\n".join(old) if old else None)
            assert change["new_text"] == ("\n\n".join(new) if new else None)
            if change["op"] == "modify":
                words = change["words"]
                assert " ".join(t for tag, t in words if tag != "+") == " ".join(old)
                assert " ".join(t for tag, t in words if tag != "-") == " ".join(new)


def test_changes_use_the_op_shapes_of_tracker_diff_json(
    app: App, story: str, tmp_path: Path, database_url: str
) -> None:
    export_dataset(app, tmp_path / "out", "jsonl", Selection())
    changes = [c for c in read_jsonl(tmp_path / "out" / "changes.jsonl")
               if c["new_version"] == 2 and c["op"] != "metadata"]
    diff = json.loads(tracker(database_url, "diff", f"{story}@1", f"{story}@2",
                              "--format", "json").stdout)
    ops = [op for op in diff["ops"] if op["op"] != "equal"]
    assert [(c["op"], c["old_indices"], c["new_indices"], c["similarity"], c["words"])
            for c in changes] == \
        [(op["op"], op["old"], op["new"], op.get("similarity"), op.get("words")) for op in ops]


def test_csv_and_parquet_hold_the_same_rows_as_jsonl(
    app: App, story: str, tmp_path: Path
) -> None:
    for fmt in ("jsonl", "csv", "parquet"):
        export_dataset(app, tmp_path / fmt, fmt, Selection())
    for resource, fields in RESOURCES.items():
        expected = read_jsonl(tmp_path / "jsonl" / f"{resource}.jsonl")
        with (tmp_path / "csv" / f"{resource}.csv").open(encoding="utf-8", newline="") as handle:
            from_csv = [
                {f.name: _from_cell(row[f.name], f.type) for f in fields}
                for row in csv.DictReader(handle)
            ]
        from_parquet = [
            {k: (v.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(v, dt.datetime) else v)
             for k, v in row.items()}
            for row in pq.read_table(tmp_path / "parquet" / f"{resource}.parquet").to_pylist()
        ]
        assert from_csv == expected, resource
        assert from_parquet == expected, resource
        assert expected, resource


def _from_cell(cell: str, kind: str) -> object:
    if cell == "":
        return None
    if kind == "integer":
        return int(cell)
    if kind == "number":
        return float(cell)
    if kind == "boolean":
        return cell == "true"
    if kind == "array":
        return json.loads(cell)
    return cell


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_datapackage_describes_every_column_of_every_file(
    app: App, story: str, tmp_path: Path, fmt: str
) -> None:
    export_dataset(app, tmp_path / "out", fmt, Selection())
    package = json.loads((tmp_path / "out" / "datapackage.json").read_text(encoding="utf-8"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["datapackage.json", *(r["path"] for r in package["resources"])]
    )
    for resource in package["resources"]:
        names = [f["name"] for f in resource["schema"]["fields"]]
        path = tmp_path / "out" / resource["path"]
        if fmt == "jsonl":
            assert all(list(row) == names for row in read_jsonl(path))
        elif fmt == "csv":
            with path.open(encoding="utf-8", newline="") as handle:
                assert next(csv.reader(handle)) == names
        else:
            assert pq.read_schema(path).names == names
        assert set(resource["schema"]["primaryKey"]) <= set(names)


def test_since_starts_at_a_delta_and_still_diffs_against_the_version_before(
    app: App, tmp_path: Path
) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    store_history(app, "https://example.org/long", 80, start=start)
    export_dataset(app, tmp_path / "all", "jsonl", Selection())
    # Version 40 is a delta (key frames: 1, 33, 65); its predecessor is not exported.
    since = start + dt.timedelta(minutes=40)
    export_dataset(app, tmp_path / "since", "jsonl", Selection(since=since))
    full = read_jsonl(tmp_path / "all" / "versions.jsonl")
    part = read_jsonl(tmp_path / "since" / "versions.jsonl")
    assert [v["version"] for v in part] == list(range(40, 81))
    assert part == full[39:]
    changes = read_jsonl(tmp_path / "since" / "changes.jsonl")
    assert changes == [c for c in read_jsonl(tmp_path / "all" / "changes.jsonl")
                       if c["new_version"] >= 40]
    assert any(c["new_version"] == 40 for c in changes)


def test_small_batches_and_key_frames_rebuild_every_version_exactly(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_queries, "BATCH", 7)
    urls = [f"https://example.org/a{i}" for i in range(9)]
    for seed, url in enumerate(urls):
        store_history(app, url, 40 + seed * 3, seed=seed)
    export_dataset(app, tmp_path / "out", "jsonl", Selection())
    versions = read_jsonl(tmp_path / "out" / "versions.jsonl")
    changes = read_jsonl(tmp_path / "out" / "changes.jsonl")
    assert len(versions) == sum(40 + s * 3 for s in range(9))
    for url in urls:
        stored = stored_texts(app, url)
        rows = [v for v in versions if v["article_url"] == url]
        assert {v["version"]: list(zip(v["paragraph_kinds"], v["paragraphs"], strict=True))
                for v in rows} == stored
    # Every diff is the one of the stored neighbours, computed here independently.
    with session_scope(app.reader) as session:
        article = queries.article_by_url(session, urls[4])
        assert article is not None
        stored_versions = queries.versions_of(session, article.id)
        for old, new in itertools.pairwise(stored_versions):
            diff = diff_documents(
                [t for _, t in queries.paragraphs_of(session, old)],
                [t for _, t in queries.paragraphs_of(session, new)],
                version_metadata(old), version_metadata(new),
            ).to_json()
            got = [(c["op"], c["old_indices"], c["new_indices"]) for c in changes
                   if c["article_id"] == article.id and c["new_version"] == new.number
                   and c["op"] != "metadata"]
            assert got == [(op["op"], op["old"], op["new"]) for op in diff["ops"]
                           if op["op"] != "equal"]


def test_article_and_tag_filters_select_articles(
    app: App, article_server: ArticleServer, tmp_path: Path
) -> None:
    first = track_story(app, article_server, "first", tags=["a"])
    second = track_story(app, article_server, "second", tags=["b"])
    third = track_story(app, article_server, "third", tags=["a", "c"])
    cases = {
        "tag": (select(app, tags=["a"]), {first, third}),
        "article": (select(app, urls=[second]), {second}),
        "both": (select(app, urls=[first, second], tags=["a"]), {first}),
    }
    for name, (selection, urls) in cases.items():
        export_dataset(app, tmp_path / name, "jsonl", selection)
        assert {a["url"] for a in read_jsonl(tmp_path / name / "articles.jsonl")} == urls
        assert {v["article_url"] for v in read_jsonl(tmp_path / name / "versions.jsonl")} == urls


def test_an_existing_export_is_never_overwritten(app: App, story: str, tmp_path: Path) -> None:
    from tracker.errors import TrackerError

    target = tmp_path / "exports" / "out"
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(TrackerError, match="exists already"):
        export_dataset(app, target, "jsonl", Selection())
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert [p.name for p in target.parent.iterdir()] == ["out"]  # no temporary left behind
    export_dataset(app, target.parent / "empty", "jsonl", Selection(article_ids=frozenset()))
    assert (target.parent / "empty" / "versions.jsonl").read_text(encoding="utf-8") == ""


def test_cli_export_writes_the_directory_and_reports_counts(
    sqlite_url: str, article_server: ArticleServer, tmp_path: Path
) -> None:
    from tracker.config import load_settings

    app = App(load_settings(database_url=sqlite_url))
    try:
        url = track_story(app, article_server)
    finally:
        app.close()
    result = tracker(sqlite_url, "export", "--format", "csv", "-o", str(tmp_path / "out"),
                     "--article", url, "--since", "7d")
    assert "1 articles" in result.stdout
    assert "changes" in result.stdout
    assert (tmp_path / "out" / "versions.csv").is_file()
    unknown = tracker(sqlite_url, "export", "-o", str(tmp_path / "x"), "--article",
                      "https://nowhere.example/", check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.count("\n") == 1
    assert "is not tracked" in unknown.stderr
    assert not (tmp_path / "x").exists()


HOSTILE = ['=HYPERLINK("http://evil.example","click")', 'quote " and, comma\r\nnew line',
           "\x1b[31mred\x1b[0m \u202eevil\u202c", "\x07bell and \ud7ff \U0001f600", "+1", ""]


def test_hostile_text_survives_every_format_unchanged(app: App, tmp_path: Path) -> None:
    add_articles_and_store(app, "https://example.org/hostile", HOSTILE)
    for fmt in ("jsonl", "csv", "parquet"):
        export_dataset(app, tmp_path / fmt, fmt, Selection())
    [row] = read_jsonl(tmp_path / "jsonl" / "versions.jsonl")
    assert row["paragraphs"] == HOSTILE
    with (tmp_path / "csv" / "versions.csv").open(encoding="utf-8", newline="") as handle:
        [cells] = list(csv.DictReader(handle))
    assert json.loads(cells["paragraphs"]) == HOSTILE
    [from_parquet] = pq.read_table(tmp_path / "parquet" / "versions.parquet").to_pylist()
    assert from_parquet["paragraphs"] == HOSTILE


def add_articles_and_store(app: App, url: str, texts: list[str]) -> None:
    from tracker.articles import add_articles

    add_articles(app, [url])
    with session_scope(app.writer) as session:
        article = queries.article_by_url(session, url)
        assert article is not None
        queries.store_version(
            session, article, paragraphs=[("text", t) for t in texts],
            fields={"content_hash": "0" * 32, "extractor": "test", "rebaseline": False},
            previous=None, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )


def test_a_corrupt_version_fails_the_export_clearly_and_writes_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from db.models import versions_table
    from tracker.config import load_settings

    app = App(load_settings(database_url=sqlite_url))
    try:
        store_history(app, "https://example.org/a", 5)
        with session_scope(app.writer) as session:
            session.execute(update(versions_table).where(versions_table.c.number == 3)
                            .values(paragraph_refs=b"D\xff"))
    finally:
        app.close()
    result = tracker(sqlite_url, "export", "-o", str(tmp_path / "out"), check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("tracker: error: corrupt paragraph reference list")
    assert result.stderr.count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if "out" in p.name]  # no temporary left
