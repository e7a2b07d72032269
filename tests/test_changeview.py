"""The presentation model of a change, on the fixture story's real edits: what the web page,
the feeds and the HTML report all show."""

from __future__ import annotations

from tests.conftest import STORY
from tracker.changeview import Block, build_change, summary_line
from tracker.diff import diff_documents
from tracker.normalize import split_lines


def story_change(old: int, new: int):  # type: ignore[no-untyped-def]
    before = split_lines((STORY / f"v{old}.txt").read_text(encoding="utf-8"))
    after = split_lines((STORY / f"v{new}.txt").read_text(encoding="utf-8"))
    diff = diff_documents(before[1:], after[1:], {"title": before[0]}, {"title": after[0]})
    view = build_change(diff, [("text", t) for t in before[1:]], [("text", t) for t in after[1:]])
    return diff, view


def kinds(blocks: tuple[Block, ...]) -> list[str]:
    return [b.kind for b in blocks]


def test_every_paragraph_of_both_versions_is_in_exactly_one_block() -> None:
    for old, new in ((1, 2), (2, 3), (3, 4), (4, 5)):
        diff, view = story_change(old, new)
        real = [b for b in view.blocks if b.kind != "moved-away"]
        olds = sorted(p.number for b in real for p in b.old)
        news = sorted(p.number for b in real for p in b.new)
        assert olds == list(range(1, diff.old_paragraphs + 1))
        assert news == list(range(1, diff.new_paragraphs + 1))


def test_consecutive_inserted_paragraphs_are_one_run() -> None:
    _, view = story_change(1, 2)
    inserts = [b for b in view.blocks if b.kind == "insert"]
    assert [b.label for b in inserts] == [
        "inserted ¶5–7", "inserted ¶10–16", "inserted ¶20", "inserted ¶22–24",
    ]
    assert sum(len(b.new) for b in inserts) == 14  # the diff's 14 inserted paragraphs


def test_a_move_is_shown_at_both_ends_and_each_names_the_other() -> None:
    _, view = story_change(2, 3)
    move = next(b for b in view.blocks if b.kind == "move")
    away = next(b for b in view.blocks if b.kind == "moved-away")
    assert move.label == "moved ¶23 → ¶14"
    assert (move.link, away.link) == (away.anchor, move.anchor)
    # the marker stands where the paragraph was: after old ¶22, before the edit of old ¶24
    after = view.blocks[view.blocks.index(away) + 1]
    assert after.kind == "modify"
    assert after.old[0].number == 24
    before = view.blocks[view.blocks.index(away) - 1]
    assert before.kind == "same"
    assert before.old[-1].number == 22


def test_split_and_merge_each_stay_one_block_with_all_their_paragraphs() -> None:
    _, view = story_change(2, 3)
    split = next(b for b in view.blocks if b.kind == "split")
    merge = next(b for b in view.blocks if b.kind == "merge")
    assert ([p.number for p in split.old], [p.number for p in split.new]) == ([17], [19, 20])
    assert ([p.number for p in merge.old], [p.number for p in merge.new]) == ([10, 11], [12])


def test_unchanged_runs_are_folded_with_their_count() -> None:
    _, view = story_change(3, 4)
    assert kinds(view.blocks) == ["same", "modify", "same", "modify", "insert"]
    assert view.blocks[0].label == "17 unchanged paragraphs"
    assert view.unchanged == 23


def test_summary_first_and_headline_as_a_word_diff() -> None:
    _, view = story_change(2, 3)
    assert view.summary == (
        "2 inserted, 2 deleted, 3 modified, 1 moved, 1 split, 1 merged · headline changed"
    )
    assert view.headline is not None
    deleted = " ".join(r.text for r in view.headline if r.tag == "-")
    inserted = " ".join(r.text for r in view.headline if r.tag == "+")
    assert deleted == "empfing Nordkorea unter großem Getöse"
    assert "unterzeichnen Beistandspakt" in inserted
    assert view.headline[0].text == "Putin"
    assert view.headline[0].tag == "="


def test_noise_only_version_has_no_differences() -> None:
    _, view = story_change(4, 5)
    assert view.summary == "no differences"
    assert view.changes == ()


def test_metadata_rows_keep_urls_apart_and_the_headline_out_of_the_table() -> None:
    diff = diff_documents(["a"], ["a"], {"title": "A", "lead_image": "https://x/1.jpg"},
                          {"title": "B", "lead_image": "https://x/2.jpg", "byline": "Kim"})
    view = build_change(diff, [("text", "a")], [("text", "a")])
    assert [(r.field, r.is_url) for r in view.metadata] == [("byline", False),
                                                            ("lead_image", True)]
    assert summary_line(diff.summary.to_json(), diff.metadata_keys) == (
        "headline, byline, lead image changed"
    )


def test_side_by_side_runs_split_the_word_diff_between_the_sides() -> None:
    _, view = story_change(3, 4)
    edit = view.blocks[1]
    assert all(r.tag in "=-" for r in edit.old_runs)
    assert all(r.tag in "=+" for r in edit.new_runs)
    assert " ".join(r.text for r in edit.new_runs) == edit.new[0].text
