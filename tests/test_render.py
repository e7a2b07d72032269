"""Changes rendered for people (tracker.render): terminal text, colour and Markdown, from the
same model of a change (tracker.changeview) as the web view, the feeds and the HTML report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from tracker.changeview import ChangeView
from tracker.diff import Diff, diff_documents
from tracker.normalize import split_lines
from tracker.render import (
    RUN_WORDS,
    change_view,
    escape_markdown,
    render_diff_markdown,
    render_diff_text,
    render_markdown,
    render_text,
)
from tracker.web.templating import environment

STORY = Path(__file__).parent / "fixtures" / "story_de"
PAIRS = ((1, 2), (2, 3), (3, 4), (4, 5))


def version(number: int) -> list[str]:
    with (STORY / f"v{number}.txt").open(encoding="utf-8", newline="") as file:
        return split_lines(file.read())


def story_pair(old_number: int, new_number: int) -> tuple[Diff, list[str], list[str]]:
    old, new = version(old_number), version(new_number)
    return diff_documents(old, new, {"title": old[0]}, {"title": new[0]}), old, new


@pytest.fixture(scope="module")
def story() -> tuple[Diff, list[str], list[str]]:
    return story_pair(2, 3)


def test_plain_text_marks_words_the_wdiff_way(story: Any) -> None:
    text = render_diff_text(*story, color=False)
    marked = "[-empfing Nordkorea unter großem Getöse-] {+und Kim unterzeichnen Beistandspakt+}"
    assert marked in text
    assert "\x1b" not in text


def test_plain_text_headers_use_paragraph_numbers_from_one(story: Any) -> None:
    lines = render_diff_text(*story, color=False).splitlines()
    for header in [
        "~ modified ¶1 (similarity 0.65)",
        "+ inserted ¶9–10",
        "- deleted (was ¶21)",
        "↕ moved ¶24 → ¶15",
        "⑂ split ¶18 → ¶20–21 (similarity 0.98)",
        "⋈ merged ¶11–12 → ¶13",
        "~ modified ¶10 → ¶12 (similarity 0.68)",
    ]:
        assert header in lines


def test_the_headline_is_a_word_diff_shown_first_and_the_count_last(story: Any) -> None:
    lines = render_diff_text(*story, color=False).splitlines()
    assert lines[0] == (
        "headline: Putin [-empfing Nordkorea unter großem Getöse-] "
        "{+und Kim unterzeichnen Beistandspakt+} beim ersten Besuch des russischen Staatschefs "
        "{+in Nordkorea+} seit 24 Jahren"
    )
    assert not any(" → Putin und Kim" in line for line in lines)  # not two whole headlines
    assert lines[-1] == "16 unchanged paragraphs not shown"


def test_other_metadata_changes_are_old_then_new() -> None:
    diff = diff_documents(["a"], ["a"], {"byline": None, "lead_image": "https://x/1.jpg"},
                          {"byline": "CNN", "lead_image": "https://x/2.jpg"})
    assert render_diff_text(diff, ["a"], ["a"], color=False).splitlines()[:2] == [
        "byline: (none) → {+CNN+}",
        "lead image: [-https://x/1.jpg-] → {+https://x/2.jpg+}",
    ]


def test_consecutive_inserted_paragraphs_are_one_numbered_run_cut_where_long() -> None:
    diff, old, new = story_pair(1, 2)
    text = render_diff_text(diff, old, new, color=False)
    lines = text.splitlines()
    headers = [line for line in lines if line.startswith("+ ")]
    assert headers == ["+ inserted ¶6–8", "+ inserted ¶11–17", "+ inserted ¶21",
                       "+ inserted ¶23–25"]
    run = lines[lines.index("+ inserted ¶11–17") + 1:lines.index("+ inserted ¶11–17") + 8]
    assert [line.split()[0] for line in run] == [f"¶{n}" for n in range(11, 18)]
    long = run[0]  # ¶11 has more than RUN_WORDS words: cut, the cut marked
    assert long.endswith(" …+}")
    assert len(long.split()) == RUN_WORDS + 2  # "¶11", the words, "…+}"
    assert new[10].startswith(long.removeprefix("  ¶11 {+").removesuffix(" …+}"))
    assert run[3] == f"  ¶14 {{+{new[13]}+}}"  # a short one whole
    alone = lines[lines.index("+ inserted ¶21") + 1]
    assert alone == f"  {{+{new[20]}+}}"  # a single paragraph is shown whole


def test_consecutive_deleted_paragraphs_are_one_run() -> None:
    old, new = ["a", "b", "c", "d"], ["a", "d"]
    lines = render_diff_text(diff_documents(old, new), old, new, color=False).splitlines()
    assert lines[:3] == ["- deleted (was ¶2–3)", "  ¶2 [-b-]", "  ¶3 [-c-]"]


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
    assert text.startswith("\x1b[1mheadline:\x1b[0m Putin ")  # only the field name is bold


def test_no_change_says_no_differences() -> None:
    old = version(4)
    diff = diff_documents(old, version(5))
    assert render_diff_text(diff, old, version(5), color=False) == "no differences\n"
    assert render_diff_text(diff, old, version(5), color=True) == "no differences\n"
    assert render_diff_markdown(diff, old, version(5)) == "_no differences_\n"


def test_markdown_marks_deleted_and_inserted_words(story: Any) -> None:
    markdown = render_diff_markdown(*story)
    assert ("Putin ~~empfing Nordkorea unter großem Getöse~~ "
            "**und Kim unterzeichnen Beistandspakt**") in markdown
    assert "_16 unchanged paragraphs not shown_" in markdown


def test_markdown_block_labels_are_headings_never_bold(story: Any) -> None:
    lines = render_diff_markdown(*story).splitlines()
    assert r"#### \~ modified ¶1 (similarity 0.65)" in lines
    assert "#### + inserted ¶9–10" in lines
    assert "#### - deleted (was ¶21)" in lines
    # Bold is inserted text only: every bold span is one the word diff inserted.
    inserted = {text for tag, text in _all_words(story[0]) if tag == "+"}
    inserted |= {story[2][8], story[2][9]}  # the inserted paragraphs ¶9 and ¶10
    for line in lines:
        for bold in re.findall(r"\*\*(.+?)\*\*", line):
            assert bold.replace("\\", "") in inserted, line


def _all_words(diff: Diff) -> list[tuple[str, str]]:
    return [(run.tag, run.text) for op in diff.ops for run in op.words or ()]


def test_markdown_runs_number_each_paragraph() -> None:
    diff, old, new = story_pair(1, 2)
    lines = render_diff_markdown(diff, old, new).splitlines()
    start = lines.index("#### + inserted ¶11–17")
    assert lines[start + 2].startswith("¶11 **")
    assert lines[start + 8] == f"¶14 **{escape_markdown(new[13])}**"


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
    assert markdown.startswith("- _headline_: ~~\\*alt\\*~~ **neu**\n"
                               "- _byline_: (none) → **CNN**\n")


HOSTILE = "\x1b]0;owned\x07 \x9b2J \u202egpj.exe [bold]fett[/bold]"


@pytest.mark.parametrize("color", [False, True])
def test_hostile_text_prints_as_visible_escapes(color: bool) -> None:
    old, new = ["a", "Kim kommt"], ["a", f"Kim {HOSTILE} kommt", HOSTILE, HOSTILE]
    diff = diff_documents(old, new, {"title": "x"}, {"title": HOSTILE, "byline": HOSTILE})
    text, markdown = render_diff_text(diff, old, new, color=color), render_diff_markdown(
        diff, old, new)
    for output in (text, markdown):
        for raw in ("\x1b]", "\x07", "\x9b", "\u202e"):
            assert raw not in output
    assert text.count("\\x1b]0;owned\\x07") == 4  # headline, byline, inserted paragraphs
    assert "[bold]fett[/bold]" in text
    # In Markdown the visible escape's own backslash is escaped, so it reads the same.
    assert markdown.count(r"\\x1b\]0;owned\\x07") == 4


# --- one model: the terminal lists what the web view and the HTML report list ---------------


def terminal_labels(view: ChangeView) -> list[str]:
    """Each block header of the terminal report, without its symbol."""
    text = render_text(view, color=False)
    return [line.split(" ", 1)[1] for line in text.splitlines()
            if line[:2] in {"~ ", "+ ", "- ", "↕ ", "⑂ ", "⋈ "}]


def html_labels(view: ChangeView) -> list[str]:
    """Each block label of the web view's diff (the macro the page, feeds and report use)."""
    template = environment().from_string(
        '{% from "_macros.html" import change_body %}{{ change_body(view) }}')
    tree = lxml.html.fromstring(template.render(view=view))
    labels = []
    for h3 in tree.xpath('//h3[@class="label"]'):
        for symbol in h3.xpath('./span[@class="sym"]'):
            symbol.drop_tree()
        for jump in h3.xpath('./a[@class="jump"]'):
            jump.drop_tree()
        labels.append(" ".join(h3.text_content().split()))
    return labels


@pytest.mark.parametrize("pair", PAIRS)
def test_terminal_and_html_list_the_same_operations(pair: tuple[int, int]) -> None:
    view = change_view(*story_pair(*pair))
    assert terminal_labels(view) == html_labels(view)
    assert len(terminal_labels(view)) == len(view.changes)


def test_the_story_pair_lists_every_kind_of_operation() -> None:
    labels = terminal_labels(change_view(*story_pair(2, 3)))
    assert labels == html_labels(change_view(*story_pair(2, 3)))
    assert {label.split()[0] for label in labels} == {
        "modified", "inserted", "deleted", "moved", "split", "merged"}


def test_summary_and_headline_come_from_the_model(story: Any) -> None:
    view = change_view(*story)
    markdown = render_markdown(view)
    assert view.headline is not None
    assert "headline" in view.summary
    assert markdown.startswith("- _headline_: Putin ~~empfing")
