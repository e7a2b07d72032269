"""How many words a change changes (tracker.significance), and which changes are minor."""

from __future__ import annotations

import json

import pytest

from tests.conftest import STORY
from tracker.diff import diff_documents
from tracker.normalize import split_lines
from tracker.significance import changed_words, is_minor

STORY_TEXT = [
    "Putin traf in den frühen Morgenstunden des Mittwochs zu einem seltenen Besuch ein.",
    "Mehrere Regierungen haben Pjöngjang beschuldigt, Waffen an Moskau zu liefern.",
    "Die Diplomatie ist ein klares Zeichen für die Ausweitung der Beziehungen.",
]


def edited(index: int, text: str) -> list[str]:
    return [text if i == index else p for i, p in enumerate(STORY_TEXT)]


def words(old: list[str], new: list[str], old_meta: dict[str, str] | None = None,
          new_meta: dict[str, str] | None = None) -> int | None:
    return changed_words(diff_documents(old, new, old_meta, new_meta))


@pytest.mark.parametrize(
    ("new", "count"),
    [
        # One word replaced; one added; two replaced; six rewritten as two (the larger side)
        ("Putin traf in den frühen Morgenstunden des Mittwochs zu einem kurzen Besuch ein.", 1),
        ("Putin traf in den sehr frühen Morgenstunden des Mittwochs zu einem seltenen Besuch ein.",
         1),
        ("Putin kam in den frühen Morgenstunden des Mittwochs zu einem seltenen Besuch an.", 2),
        ("Putin traf am Mittwoch zu einem seltenen Besuch ein.", 6),
    ],
)
def test_changed_words_are_counted(new: str, count: int) -> None:
    assert words(STORY_TEXT, edited(0, new)) == count


@pytest.mark.parametrize(
    "new",
    [
        "Putin traf in den frühen Morgenstunden des Mittwochs zu einem seltenen Besuch ein!",
        "Putin traf in den frühen Morgenstunden des Mittwochs, zu einem seltenen Besuch ein.",
        "Putin traf in den Frühen Morgenstunden des Mittwochs zu einem seltenen Besuch ein.",
        "Putin traf in den frühen Morgenstunden des Mittwochs zu einem „seltenen“ Besuch ein.",
        "Putin traf in den frühen Morgenstunden des Mittwochs – zu einem seltenen Besuch ein.",
        "PUTIN traf in den frühen Morgenstunden des Mittwochs zu einem seltenen Besuch ein.",
    ],
    ids=["punctuation", "comma", "case", "quotes", "dash", "capitals"],
)
def test_punctuation_and_case_edits_count_nothing(new: str) -> None:
    assert words(STORY_TEXT, edited(0, new)) == 0


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (STORY_TEXT, STORY_TEXT[:2]),  # delete
        (STORY_TEXT, [*STORY_TEXT, "Dies ist eine sich entwickelnde Geschichte."]),  # insert
        (STORY_TEXT, [STORY_TEXT[1], STORY_TEXT[0], STORY_TEXT[2]]),  # move
        (STORY_TEXT, [STORY_TEXT[0], "Mehrere Regierungen haben Pjöngjang beschuldigt.",
                      "Waffen an Moskau zu liefern.", STORY_TEXT[2]]),  # split
        (STORY_TEXT, [" ".join(STORY_TEXT[:2]), STORY_TEXT[2]]),  # merge
    ],
    ids=["delete", "insert", "move", "split", "merge"],
)
def test_paragraph_operations_are_never_minor(old: list[str], new: list[str]) -> None:
    diff = diff_documents(old, new)
    assert changed_words(diff) is None
    assert not is_minor(diff, 1000)


def test_a_changed_number_is_never_minor() -> None:
    old = ["Russland erhielt mehr als 10.000 Schiffscontainer mit Munition."]
    new = ["Russland erhielt mehr als 11.000 Schiffscontainer mit Munition."]
    assert words(old, new) is None
    # ... though the same number written differently is no change at all
    assert words(old, ["Russland erhielt mehr als 10000 Schiffscontainer mit Munition."]) == 0


def test_title_and_caption_edits_count_their_words() -> None:
    old = {"title": "Putin trifft in Nordkorea ein", "lead_caption": "Putin und Kim (r.)",
           "updated": "2024-06-19T04:00:00Z"}
    new = {"title": "Putin trifft in Pjöngjang ein", "lead_caption": "Putin und Kim (rechts)",
           "updated": "2024-06-19T06:30:00Z"}
    assert words(STORY_TEXT, STORY_TEXT, old, new) == 2


@pytest.mark.parametrize("key", ["lead_image", "byline", "published", "canonical_url"])
def test_other_metadata_changes_are_never_minor(key: str) -> None:
    assert words(STORY_TEXT, STORY_TEXT, {key: "a"}, {key: "b"}) is None


def test_threshold_zero_makes_nothing_minor() -> None:
    diff = diff_documents(STORY_TEXT, edited(0, STORY_TEXT[0].replace("seltenen", "kurzen")))
    assert not is_minor(diff, 0)
    assert is_minor(diff, 2)
    assert not is_minor(diff, 1)  # one word is not fewer than one


def test_fixture_story_steps() -> None:
    expected = json.loads((STORY / "expected_ops.json").read_text(encoding="utf-8"))
    versions = [split_lines((STORY / f"v{n}.txt").read_text(encoding="utf-8")) for n in range(1, 6)]
    for number in range(1, 4):
        # Every real step of the story inserts or deletes paragraphs: never minor.
        assert expected[f"v{number}_v{number + 1}"]
        assert changed_words(diff_documents(versions[number - 1], versions[number])) is None
    assert changed_words(diff_documents(versions[3], versions[4])) == 0  # v5: noise only
