"""Paragraph, word and metadata diffs (tracker.diff, tracker.align) on the story fixtures."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pytest

from tracker.diff import (
    Diff,
    MetadataChange,
    Op,
    WordRun,
    diff_documents,
    diff_metadata,
    diff_paragraphs,
    diff_words,
    summarize,
)
from tracker.normalize import split_lines

STORY = Path(__file__).parent / "fixtures" / "story_de"
PAIRS = ["v1_v2", "v2_v3", "v3_v4", "v4_v5"]
Change = tuple[str, tuple[int, ...], tuple[int, ...]]


def pairs(words: Sequence[WordRun] | None) -> tuple[tuple[str, str], ...]:
    """Word runs as (tag, text) pairs, to compare with literals."""
    return tuple((run.tag, run.text) for run in words or ())


def meta_json(metadata: Sequence[MetadataChange]) -> dict[str, dict[str, object]]:
    """Metadata changes in their JSON form, to compare with literals."""
    return {change.key: {"old": change.old, "new": change.new} for change in metadata}


def version(number: int | str) -> list[str]:
    # newline="" keeps v5's CRLF line ends for split_lines to deal with.
    with (STORY / f"v{number}.txt").open(encoding="utf-8", newline="") as file:
        return split_lines(file.read())


def expected_changes(pair: str) -> set[Change]:
    expected = json.loads((STORY / "expected_ops.json").read_text(encoding="utf-8"))
    return {(op["op"], tuple(op["old"]), tuple(op["new"])) for op in expected[pair]}


def changes(ops: Sequence[Op]) -> set[Change]:
    return {(op.op, op.old, op.new) for op in ops if op.op != "equal"}


def assert_complete(ops: Sequence[Op], old_count: int, new_count: int) -> None:
    """Every index in exactly one op, and each op of a shape its kind allows."""
    assert sorted(i for op in ops for i in op.old) == list(range(old_count))
    assert sorted(j for op in ops for j in op.new) == list(range(new_count))
    for op in ops:
        sizes = (len(op.old), len(op.new))
        if op.op == "insert":
            assert sizes == (0, 1)
        elif op.op == "delete":
            assert sizes == (1, 0)
        elif op.op == "split":
            assert sizes[0] == 1
            assert sizes[1] >= 2
            assert list(op.new) == list(range(op.new[0], op.new[-1] + 1))
        elif op.op == "merge":
            assert sizes[0] >= 2
            assert sizes[1] == 1
            assert list(op.old) == list(range(op.old[0], op.old[-1] + 1))
        else:
            assert op.op in {"equal", "modify", "move"}
            assert sizes == (1, 1)


# --- the story fixtures ---------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS)
def test_story_pair_matches_expected_ops(pair: str) -> None:
    old, new = pair.split("_")
    assert changes(diff_paragraphs(version(old[1:]), version(new[1:]))) == expected_changes(pair)


@pytest.mark.parametrize("pair", PAIRS)
def test_story_pair_aligns_every_paragraph_once(pair: str) -> None:
    old, new = (version(v[1:]) for v in pair.split("_"))
    assert_complete(diff_paragraphs(old, new), len(old), len(new))


def test_noise_only_version_is_not_a_change() -> None:
    diff = diff_documents(version(4), version(5))
    assert not diff.is_change
    assert diff.summary.unchanged == 27


def test_story_summary_counts_each_kind_of_op() -> None:
    assert summarize(diff_paragraphs(version(2), version(3))).to_json() == {
        "inserted": 2, "deleted": 2, "modified": 4, "moved": 1,
        "split": 1, "merged": 1, "unchanged": 16,
    }


def test_identical_move_has_similarity_one_and_no_words() -> None:
    move = next(op for op in diff_paragraphs(version(2), version(3)) if op.op == "move")
    assert (move.similarity, move.words) == (1.0, None)


def test_split_words_compare_the_joined_paragraphs() -> None:
    split = next(op for op in diff_paragraphs(version(2), version(3)) if op.op == "split")
    assert split.similarity == 0.98
    assert ("-", "ihnen und") in pairs(split.words)
    assert ("+", "ihnen. Sie") in pairs(split.words)


def test_ops_follow_the_new_version_with_deletes_where_they_stood() -> None:
    ops = diff_paragraphs(version(2), version(3))
    positions = [(op.op, op.old, op.new) for op in ops]
    # old 19 is new 22; old 20 was deleted between it and old 21 (new 23).
    assert positions.index(("delete", (20,), ())) == positions.index(("equal", (19,), (22,))) + 1
    firsts = [op.new[0] for op in ops if op.new]
    assert firsts == sorted(firsts)


# --- random edits of the fixture paragraphs -------------------------------------------------


def reworded(rng: random.Random, paragraph: str) -> str:
    words = paragraph.split()
    words[rng.randrange(len(words))] = rng.choice(["laut", "rund", "erneut", "Donnerstag"])
    return " ".join(words)


def cut(paragraph: str) -> list[str]:
    """Split at the middle word, rewording the seam as an editor would."""
    words = paragraph.split()
    middle = len(words) // 2
    second = " ".join(words[middle:])
    return [" ".join(words[:middle]).rstrip(",") + ".", second[:1].upper() + second[1:]]


def randomly_edited(rng: random.Random, doc: list[str], pool: list[str], edits: int) -> list[str]:
    new = list(doc)
    for _ in range(edits):
        kind = rng.choice(["insert", "delete", "modify", "move", "split", "merge"])
        k = rng.randrange(len(new))
        if kind == "insert":
            new.insert(k, rng.choice(pool))
        elif kind == "delete" and len(new) > 1:
            del new[k]
        elif kind == "modify":
            new[k] = reworded(rng, new[k])
        elif kind == "move":
            new.insert(rng.randrange(len(new)), new.pop(k))
        elif kind == "split" and len(new[k].split()) >= 4:
            new[k : k + 1] = cut(new[k])
        elif kind == "merge" and k + 1 < len(new):
            new[k : k + 2] = [new[k] + " " + new[k + 1]]
    return new


@pytest.mark.parametrize("seed", range(60))
def test_random_edits_align_every_paragraph_once(seed: int) -> None:
    rng = random.Random(seed)
    doc = version(rng.choice([2, 3, 4]))
    pool = version(1) + version(2)
    new = randomly_edited(rng, doc, pool, rng.randint(1, 8))
    assert_complete(diff_paragraphs(doc, new), len(doc), len(new))


def test_documents_of_repeated_short_paragraphs_align_every_paragraph_once() -> None:
    vocabulary = ["CNN", "—", "Getty Images", "Putin", "Kim", "und", "der", ",", "„", "“"]
    rng = random.Random(7)
    for _ in range(300):
        old = [" ".join(rng.choices(vocabulary, k=rng.randint(0, 5)))
               for _ in range(rng.randint(0, 12))]
        new = [p for p in old if rng.random() < 0.8] + rng.choices(vocabulary, k=3)
        rng.shuffle(new)
        assert_complete(diff_paragraphs(old, new), len(old), len(new))


@pytest.mark.parametrize(("moved", "to"), [(23, 14), (2, 20), (25, 0), (8, 3), (0, 25)])
def test_known_move_is_found(moved: int, to: int) -> None:
    old = version(2)
    new = list(old)
    new.insert(to, new.pop(moved))
    assert changes(diff_paragraphs(old, new)) == {("move", (moved,), (to,))}


def test_known_edited_move_is_a_move_with_words() -> None:
    old = version(2)
    new = list(old)
    new.insert(3, reworded(random.Random(1), new.pop(17)))
    (move,) = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert (move.op, move.old, move.new) == ("move", (17,), (3,))
    assert move.similarity is not None
    assert move.similarity < 1
    assert move.words is not None
    assert any(run.tag == "+" for run in move.words)


@pytest.mark.parametrize("index", [5, 8, 12, 17, 24])
def test_known_split_is_found(index: int) -> None:
    old = version(2)
    new = old[:index] + cut(old[index]) + old[index + 1 :]
    assert changes(diff_paragraphs(old, new)) == {("split", (index,), (index, index + 1))}


def test_split_into_three_paragraphs_is_one_op() -> None:
    old = version(2)
    words = old[12].split()
    thirds = [" ".join(words[:15]), " ".join(words[15:30]), " ".join(words[30:])]
    new = [*old[:12], *thirds, *old[13:]]
    assert changes(diff_paragraphs(old, new)) == {("split", (12,), (12, 13, 14))}


@pytest.mark.parametrize("index", [3, 10, 13, 19, 21])
def test_known_merge_is_found(index: int) -> None:
    old = version(2)
    new = [*old[:index], old[index] + " " + old[index + 1], *old[index + 2 :]]
    assert changes(diff_paragraphs(old, new)) == {("merge", (index, index + 1), (index,))}


def test_unrelated_paragraph_after_a_modified_one_is_no_split() -> None:
    old = version(2)
    new = list(old)
    new[8] = reworded(random.Random(2), old[8])
    new.insert(9, version(3)[8])
    assert changes(diff_paragraphs(old, new)) == {
        ("modify", (8,), (8,)), ("insert", (), (9,))
    }


def test_paragraph_replaced_by_an_unrelated_one_is_delete_and_insert() -> None:
    old = version(1)
    new = [*old[:7], version(3)[9], *old[8:]]
    assert changes(diff_paragraphs(old, new)) == {("delete", (7,), ()), ("insert", (), (7,))}


def test_paragraph_replaced_by_one_on_the_same_topic_is_delete_and_insert() -> None:
    # The closest pair of the fixtures that is no edit: 0.28 similar, both about the visit.
    old = version(2)
    new = [*old[:5], version(3)[0], *old[6:]]
    assert changes(diff_paragraphs(old, new)) == {("delete", (5,), ()), ("insert", (), (5,))}


# --- edge cases -----------------------------------------------------------------------------


def test_empty_old_version_is_all_inserts() -> None:
    assert [(op.op, op.new) for op in diff_paragraphs([], ["a", "b"])] == [
        ("insert", (0,)), ("insert", (1,))
    ]


def test_empty_new_version_is_all_deletes() -> None:
    assert [(op.op, op.old) for op in diff_paragraphs(["a", "b"], [])] == [
        ("delete", (0,)), ("delete", (1,))
    ]


def test_two_empty_versions_have_no_ops() -> None:
    assert diff_paragraphs([], []) == []
    assert not diff_documents([], []).is_change


def test_repeated_short_paragraphs_pair_up_in_order() -> None:
    old = ["CNN", "Erster Absatz über den Besuch.", "CNN"]
    new = ["CNN", "Erster Absatz über den Besuch.", "CNN", "CNN"]
    ops = diff_paragraphs(old, new)
    assert [(op.op, op.old, op.new) for op in ops] == [
        ("equal", (0,), (0,)), ("equal", (1,), (1,)), ("equal", (2,), (2,)),
        ("insert", (), (3,)),
    ]


def test_repeated_credit_does_not_pull_an_edited_paragraph_apart() -> None:
    body = version(2)[5:10]
    old = [body[0], "Getty Images", body[1], body[2], "Getty Images", body[3]]
    new = [body[0], reworded(random.Random(3), body[1]), "Getty Images", body[2],
           "Getty Images", body[3]]
    assert changes(diff_paragraphs(old, new)) == {
        ("modify", (2,), (1,)), ("move", (1,), (2,))
    }


def test_paragraphs_are_compared_normalised() -> None:
    ops = diff_paragraphs(["Kim\u00a0Jong  Un\u00ad"], ["Kim Jong Un"])
    assert [op.op for op in ops] == ["equal"]


def test_edit_of_punctuation_only_is_a_modify_below_one() -> None:
    (op,) = diff_paragraphs(["Er sagte März"], ["Er sagte: März."])
    assert (op.op, op.similarity) == ("modify", 0.99)


# --- words ----------------------------------------------------------------------------------


def test_word_diff_groups_runs_of_the_same_tag() -> None:
    assert pairs(diff_words(
        "Putin empfing Nordkorea unter großem Getöse beim ersten Besuch",
        "Putin und Kim unterzeichnen Beistandspakt beim ersten Besuch",
    )) == (
        ("=", "Putin"),
        ("-", "empfing Nordkorea unter großem Getöse"),
        ("+", "und Kim unterzeichnen Beistandspakt"),
        ("=", "beim ersten Besuch"),
    )


def test_word_diff_keeps_punctuation_on_its_word() -> None:
    words = diff_words("zwischen ihnen und stellt auch", "zwischen ihnen. Sie stellt auch")
    assert pairs(words) == (
        ("=", "zwischen"), ("-", "ihnen und"), ("+", "ihnen. Sie"), ("=", "stellt auch"),
    )


def test_word_diff_folds_a_lone_shared_word_into_the_changes() -> None:
    assert pairs(diff_words("alte Worte der alten Zeit", "neue Sätze der neuen Welt")) == (
        ("-", "alte Worte der alten Zeit"), ("+", "neue Sätze der neuen Welt"),
    )


def test_word_entries_rebuild_random_texts_and_alternate_tags() -> None:
    rng = random.Random(11)
    vocabulary = ["der", "die", "Kim", "Putin", "Moskau", "und", ".", ","]
    for _ in range(300):
        old = " ".join(rng.choices(vocabulary[:6], k=rng.randint(0, 12)))
        new = " ".join(rng.choices(vocabulary[2:], k=rng.randint(0, 12)))
        words = pairs(diff_words(old, new))
        assert " ".join(text for tag, text in words if tag != "+") == old
        assert " ".join(text for tag, text in words if tag != "-") == new
        tags = [tag for tag, _ in words]
        assert all(a != b for a, b in pairwise(tags))


def test_word_diff_of_empty_sides() -> None:
    assert pairs(diff_words("", "neu hier")) == (("+", "neu hier"),)
    assert pairs(diff_words("weg damit", "")) == (("-", "weg damit"),)
    assert diff_words("", "") == ()
    assert pairs(diff_words("gleich", "gleich")) == (("=", "gleich"),)


@pytest.mark.parametrize("pair", PAIRS[:3])
def test_word_entries_rebuild_both_paragraphs(pair: str) -> None:
    old, new = (version(v[1:]) for v in pair.split("_"))
    for op in diff_paragraphs(old, new):
        if op.words is not None:
            kept_old = [text for tag, text in pairs(op.words) if tag in "=-"]
            kept_new = [text for tag, text in pairs(op.words) if tag in "=+"]
            assert " ".join(kept_old) == " ".join(old[i] for i in op.old)
            assert " ".join(kept_new) == " ".join(new[j] for j in op.new)


# --- metadata, summary, JSON ----------------------------------------------------------------


def test_metadata_diff_lists_changed_added_and_removed_keys() -> None:
    old = {"title": "Putin trifft ein", "byline": "CNN", "section": "Welt"}
    new = {"title": "Putin und Kim", "byline": "CNN", "updated": "2024-06-20"}
    assert meta_json(diff_metadata(old, new)) == {
        "title": {"old": "Putin trifft ein", "new": "Putin und Kim"},
        "section": {"old": "Welt", "new": None},
        "updated": {"old": None, "new": "2024-06-20"},
    }


def test_metadata_diff_reports_whole_nested_values() -> None:
    old = {"authors": ["Anna", "Ben"]}
    new = {"authors": ["Anna", "Cem"]}
    assert meta_json(diff_metadata(old, new)) == {
        "authors": {"old": ["Anna", "Ben"], "new": ["Anna", "Cem"]}
    }


def test_metadata_diff_compares_nested_values_and_their_types() -> None:
    old = {"image": {"url": "a.jpg", "size": [640, 480]}, "rating": 1, "tags": ("x", "y")}
    def keys(changes: tuple[MetadataChange, ...]) -> set[str]:
        return {change.key for change in changes}

    assert diff_metadata(old, {"image": {"url": "a.jpg", "size": [640, 480]}, "rating": 1,
                               "tags": ["x", "y"]}) == ()
    new = {"image": {"url": "a.jpg", "size": [640, 481]}, "rating": 1.0, "tags": ["x", "y"]}
    assert keys(diff_metadata(old, new)) == {"image", "rating"}  # 1 → 1.0 reads differently
    assert keys(diff_metadata(old, {**old, "image": {"url": "a.jpg"}})) == {"image"}
    assert keys(diff_metadata(old, {**old, "tags": ["x"]})) == {"tags"}
    assert keys(diff_metadata(old, {"rating": 1})) == {"image", "tags"}  # removed keys


def test_metadata_noise_is_no_change() -> None:
    assert diff_metadata({"title": "Kim\u00a0Jong Un "}, {"title": "Kim Jong Un"}) == ()


def test_metadata_change_alone_is_a_change() -> None:
    diff = diff_documents(["a"], ["a"], {"title": "alt"}, {"title": "neu"})
    assert diff.is_change
    assert diff.to_json()["metadata"] == {"title": {"old": "alt", "new": "neu"}}


def test_summary_counts_ops_by_kind() -> None:
    ops = [Op("equal", (0,), (0,)), Op("equal", (1,), (1,)), Op("insert", (), (2,)),
           Op("merge", (2, 3), (3,), 0.9)]
    assert summarize(ops).to_json() == {
        "inserted": 1, "deleted": 0, "modified": 0, "moved": 0,
        "split": 0, "merged": 1, "unchanged": 2,
    }


def test_op_json_leaves_out_empty_fields() -> None:
    assert Op("equal", (1,), (1,)).to_json() == {"op": "equal", "old": [1], "new": [1]}
    modify = Op("modify", (0,), (0,), 0.65, (WordRun("=", "Putin"), WordRun("+", "und Kim")))
    assert modify.to_json() == {
        "op": "modify", "old": [0], "new": [0], "similarity": 0.65,
        "words": [["=", "Putin"], ["+", "und Kim"]],
    }


def test_document_diff_has_the_json_contract_shape() -> None:
    old, new = version(2), version(3)
    typed = diff_documents(old, new, {"title": old[0]}, {"title": new[0]})
    diff = typed.to_json()
    assert set(diff) == {"old", "new", "ops", "metadata", "summary"}
    assert diff["old"] == {"paragraphs": 26}
    assert diff["new"] == {"paragraphs": 26}
    assert json.loads(json.dumps(diff)) == diff
    kinds = Counter(op["op"] for op in diff["ops"])
    assert kinds["equal"] == diff["summary"]["unchanged"]
    assert typed.is_change
    assert Diff.from_json(json.loads(json.dumps(diff))) == typed


def test_metadata_key_set_to_none_counts_as_missing() -> None:
    assert diff_metadata({"byline": None, "title": "a"}, {"title": "a"}) == ()
    assert meta_json(diff_metadata({"byline": None}, {"byline": "CNN"})) == {
        "byline": {"old": None, "new": "CNN"}
    }
