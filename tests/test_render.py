"""Diffs rendered for people (tracker.render): terminal text, colour and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracker.diff import Diff, diff_documents
from tracker.normalize import split_lines
from tracker.render import escape_markdown, render_diff_markdown, render_diff_text

STORY = Path(__file__).parent / "fixtures" / "story_de"


def version(number: int) -> list[str]:
    with (STORY / f"v{number}.txt").open(encoding="utf-8", newline="") as file:
        return split_lines(file.read())


@pytest.fixture(scope="module")
def story() -> tuple[Diff, list[str], list[str]]:
    old, new = version(2), version(3)
    diff = diff_documents(old, new, {"title": old[0]}, {"title": new[0]})
    return diff, old, new


def test_plain_text_marks_words_the_wdiff_way(story: Any) -> None:
    text = render_diff_text(*story, color=False)
    marked = "[-empfing Nordkorea unter großem Getöse-] {+und Kim unterzeichnen Beistandspakt+}"
    assert marked in text
    assert "\x1b" not in text


def test_plain_text_headers_use_paragraph_numbers_from_one(story: Any) -> None:
    lines = render_diff_text(*story, color=False).splitlines()
    for header in [
        "~ modified ¶1 (similarity 0.65)",
        "+ inserted ¶9",
        "- deleted (was ¶21)",
        "↕ moved ¶24 → ¶15",
        "⑂ split ¶18 → ¶20–21 (similarity 0.98)",
        "⋈ merged ¶11–12 → ¶13",
        "~ modified ¶10 → ¶12 (similarity 0.68)",
    ]:
        assert header in lines


def test_metadata_comes_first_and_skipped_count_last(story: Any) -> None:
    lines = render_diff_text(*story, color=False).splitlines()
    assert lines[0].startswith("title: Putin empfing Nordkorea")
    assert " → Putin und Kim" in lines[0]
    assert lines[-1] == "16 unchanged paragraphs not shown"


def test_equal_paragraphs_are_not_shown(story: Any) -> None:
    diff, old, new = story
    text = render_diff_text(diff, old, new, color=False)
    assert old[1] not in text  # the photo credit, unchanged


def test_long_unchanged_runs_are_cut_around_the_change(story: Any) -> None:
    text = render_diff_text(*story, color=False)
    split_line = next(line for line in text.splitlines()
                      if "[-ihnen und-] {+ihnen. Sie+}" in line)
    assert split_line.strip() == (
        "… klares Zeichen für die Ausweitung der Beziehungen zwischen "
        "[-ihnen und-] {+ihnen. Sie+} stellt auch einen großen Aufschwung für Kim dar, …"
    )


def test_colour_uses_ansi_codes_without_wdiff_marks(story: Any) -> None:
    text = render_diff_text(*story, color=True)
    assert "\x1b[" in text
    assert "[-" not in text
    assert "{+" not in text
    assert "empfing Nordkorea unter großem Getöse" in text


def test_no_change_renders_only_the_count() -> None:
    old = version(4)
    text = render_diff_text(diff_documents(old, version(5)), old, version(5), color=False)
    assert text == "27 unchanged paragraphs not shown\n"


def test_markdown_marks_deleted_and_inserted_words(story: Any) -> None:
    markdown = render_diff_markdown(*story)
    assert ("Putin ~~empfing Nordkorea unter großem Getöse~~ "
            "**und Kim unterzeichnen Beistandspakt**") in markdown
    assert "_16 unchanged paragraphs not shown_" in markdown


def test_markdown_escapes_the_article_text() -> None:
    article = "# Eilmeldung: *Putin* trifft_ein [Liveblog](x) <b> 1 | 2 ~ 3"
    old, new = [article + " heute", "Schluss"], [article + " morgen", "1. Nachtrag"]
    markdown = render_diff_markdown(diff_documents(old, new), old, new)
    assert (r"\# Eilmeldung: \*Putin\* trifft\_ein \[Liveblog\](x) \<b\> 1 \| 2 \~ 3 "
            "~~heute~~ **morgen**") in markdown.splitlines()
    assert "**1. Nachtrag**" in markdown.splitlines()
    assert "~~Schluss~~" in markdown.splitlines()


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("# heading", r"\# heading"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("> quote", r"\> quote"),
        ("19. Juni", r"19\. Juni"),
        ("a_b*c`d", r"a\_b\*c\`d"),
        ("Fish & Chips", r"Fish \& Chips"),
        ("Putin (r.) und Kim", "Putin (r.) und Kim"),
    ],
)
def test_escape_markdown(text: str, escaped: str) -> None:
    assert escape_markdown(text) == escaped


def test_markdown_metadata_lists_old_and_new_values() -> None:
    diff = diff_documents(["a"], ["a"], {"title": "*alt*", "byline": None},
                          {"title": "neu", "byline": "CNN"})
    markdown = render_diff_markdown(diff, ["a"], ["a"])
    assert markdown.startswith("- **title**: \\*alt\\* → neu\n- **byline**: (none) → CNN\n")
