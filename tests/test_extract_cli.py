"""``tracker extract``: what tracker would store for a page, as a user runs it (real processes,
a real site on 127.0.0.1), and its JSON as a contract (docs/extract-output.schema.json)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.clihelp import ROOT, tracker
from tests.pageserver import PageServer

PAGES = ROOT / "tests" / "fixtures" / "pages"
SCHEMA = json.loads((ROOT / "docs" / "extract-output.schema.json").read_text(encoding="utf-8"))


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def site() -> Iterator[PageServer]:
    with PageServer() as server:
        yield server


def extract_json(sqlite_url: str, *args: str) -> Any:
    data = json.loads(tracker(sqlite_url, "extract", *args, "--format", "json").stdout)
    jsonschema.validate(data, SCHEMA)
    return data


@pytest.mark.parametrize("name", ["bbc-2009-table", "guardian-live", "faz", "zeit"])
def test_a_fetched_page_gives_the_corpus_paragraphs_numbered_from_one(
    sqlite_url: str, site: PageServer, name: str
) -> None:
    url = site.put(f"/{name}", (PAGES / f"{name}.html").read_bytes(), "text/html")
    data = extract_json(sqlite_url, url)
    assert data["url"] == url
    assert data["source"] == expected(name)["source"]
    assert [[p["kind"], p["text"]] for p in data["paragraphs"]] == expected(name)["paragraphs"]
    assert [p["number"] for p in data["paragraphs"]] == list(range(1, len(data["paragraphs"]) + 1))
    assert data["metadata"]["title"] == expected(name)["title"]
    assert "dropped" not in data


def test_explain_says_which_rule_left_what_out(sqlite_url: str) -> None:
    data = extract_json(sqlite_url, str(PAGES / "bbc-2009-table.html"), "--explain")
    dropped = {(d["rule"], d["text"]) for d in data["dropped"]}
    assert ("navigation links", "Home | UK | World | Business") in dropped
    assert ("box label", "RELATED INTERNET LINKS") in dropped
    updated = "Page last updated at 15:47 GMT, Sunday, 12 April 2009 16:47 UK"
    assert ("timestamp", updated) in dropped
    text = tracker(sqlite_url, "extract", str(PAGES / "bbc-2009-table.html"), "--explain").stdout
    assert "left out (" in text
    assert "navigation links: Home | UK" in text


def test_text_output_numbers_paragraphs_like_the_report(sqlite_url: str) -> None:
    out = tracker(sqlite_url, "extract", str(PAGES / "faz.html")).stdout
    lines = out.splitlines()
    assert lines[0] == (PAGES / "faz.html").resolve().as_uri()
    assert lines[1].startswith("body from: json-ld body (covers ")
    assert "title: Zulieferer streicht 3000 Stellen in Deutschland" in lines
    assert "¶3 heading  Harte Verhandlungen erwartet" in lines


def test_paragraph_numbers_are_the_diffs(sqlite_url: str, tmp_path: Path) -> None:
    """The ¶N of ``tracker extract`` is the paragraph a diff of two versions calls ¶N."""
    old = (PAGES / "tagesschau.html").read_text(encoding="utf-8")
    new = old.replace("In mehreren Landkreisen gilt", "In sechs Landkreisen gilt")
    assert new != old
    (tmp_path / "old.html").write_text(old, encoding="utf-8")
    (tmp_path / "new.html").write_text(new, encoding="utf-8")
    diff = json.loads(tracker(sqlite_url, "diff", str(tmp_path / "old.html"),
                              str(tmp_path / "new.html"), "--format", "json").stdout)
    [modified] = [op for op in diff["ops"] if op["op"] != "equal"]
    assert modified["op"] == "modify"
    number = modified["new"][0] + 1
    paragraphs = extract_json(sqlite_url, str(tmp_path / "new.html"))["paragraphs"]
    assert "In sechs Landkreisen gilt" in paragraphs[number - 1]["text"]
    text = tracker(sqlite_url, "diff", str(tmp_path / "old.html"), str(tmp_path / "new.html"))
    assert f"¶{number}" in text.stdout


def test_a_selector_and_ignore_rules_are_tried_before_they_are_set(sqlite_url: str) -> None:
    page = str(PAGES / "explainer-lists.html")
    data = extract_json(sqlite_url, page, "--selector", "div.post-content",
                        "--ignore", "^This explainer", "--ignore-selector", "blockquote")
    assert data["source"] == "selector"
    assert data["extractor"].endswith("; selector div.post-content; ignore " +
                                      data["extractor"].rsplit("; ignore ", 1)[1])
    texts = [p["text"] for p in data["paragraphs"]]
    assert not any(t.startswith("This explainer") for t in texts)
    assert not any("big question" in t for t in texts)
    assert texts[0].startswith("Traces of the H5N1 bird flu virus")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(PAGES / "consent-wall.html")], "no article text found"),
        ([str(PAGES / "missing.html")], "no such file"),
        ([str(PAGES / "faz.html"), "--selector", "div["], "not a valid CSS selector"),
        ([str(PAGES / "faz.html"), "--ignore", "("], "not a valid regular expression"),
        ([str(PAGES / "faz.html"), "--selector", "table.none"], "matches nothing"),
    ],
    ids=["consent-wall", "missing-file", "bad-selector", "bad-pattern", "empty-selector"],
)
def test_bad_input_gives_one_clear_line(sqlite_url: str, args: list[str], message: str) -> None:
    result = tracker(sqlite_url, "extract", *args, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_a_page_that_is_gone_gives_one_clear_line(sqlite_url: str, site: PageServer) -> None:
    result = tracker(sqlite_url, "extract", f"{site.base_url}/nothing-here", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("tracker: error: ")
    assert "404" in result.stderr


def test_extract_opens_no_database(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    tracker(f"sqlite:///{database}", "extract", str(PAGES / "sz.html"))
    assert not database.exists()


def test_the_documented_json_example_is_what_the_command_prints(sqlite_url: str) -> None:
    docs = (ROOT / "docs" / "extract.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```json\n(.*?)```", docs, flags=re.DOTALL)
    documented = json.loads(example)
    jsonschema.validate(documented, SCHEMA)
    printed = extract_json(sqlite_url, str(PAGES / "faz.html"), "--explain")
    assert {**printed, "url": documented["url"]} == documented
