"""One test per alignment step and per threshold of ``tracker.align``, at both edges.

The paragraphs are built word by word so that each pair sits exactly at the similarity the
test is about; ``similarity`` below recomputes it with a plain LCS table, independently of the
bit-parallel one in the aligner, and every construction asserts it before the diff runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tracker.align import word_keys
from tracker.diff import diff_paragraphs, diff_words

Change = tuple[str, tuple[int, ...], tuple[int, ...]]
# The documented values (tracker/align.py's docstring), written out rather than read from the
# module: a test that reads them would follow a wrong value instead of catching it.
MODIFY_MIN, MOVE_MIN, SEED_MIN, PIECE_MIN, MAX_PARTS, MAX_PARTNERS = 0.45, 0.6, 0.3, 0.5, 4, 8


def words(stem: str, count: int, start: int = 0) -> str:
    """``count`` distinct words: stem0 stem1 …"""
    return " ".join(f"{stem}{k}" for k in range(start, start + count))


def anchor(k: int) -> str:
    """A paragraph unique in both versions, unlike any other: it pins the alignment."""
    return f"Anker{k} steht fest {words(f'a{k}w', 4)}"


def changes(old: Sequence[str], new: Sequence[str]) -> set[Change]:
    return {(op.op, op.old, op.new) for op in diff_paragraphs(old, new) if op.op != "equal"}


def similarity(a: str, b: str) -> float:
    """2·LCS / (words of both), the aligner's similarity, from a plain dynamic programme."""
    x, y = word_keys(a), word_keys(b)
    row = [0] * (len(y) + 1)
    for key in x:
        diagonal = 0
        for k, other in enumerate(y, 1):
            diagonal, row[k] = row[k], diagonal + 1 if key == other else max(row[k], row[k - 1])
    return 2 * row[-1] / (len(x) + len(y))


def pair_at(shared: int, total: int, stem: str = "x") -> tuple[str, str]:
    """Two paragraphs of ``total`` words each with ``shared`` words in common, in order."""
    return (words(stem, total),
            f"{words(stem, shared)} {words(stem + 'neu', total - shared)}".strip())


# --- step 1: anchors and unique text that crossed them ----------------------------------------


def test_unique_paragraph_crossing_anchors_is_a_move_though_an_edit_stands_in_its_place() -> None:
    body = words("p", 20)
    edited = body.replace("p7", "geändert")
    old = [body, anchor(0), anchor(1), anchor(2)]
    new = [edited, anchor(0), anchor(1), anchor(2), body]
    # Its text is unique in both versions: the paragraph itself moved; the edit is new text.
    assert changes(old, new) == {("move", (0,), (4,)), ("insert", (), (0,))}


def test_identical_neighbours_of_an_anchor_are_anchored_too() -> None:
    old = [anchor(0), "CNN", "—", words("p", 10), "CNN", "—", anchor(1)]
    new = [anchor(0), "CNN", "—", words("q", 10), "CNN", "—", anchor(1)]
    assert changes(old, new) == {("delete", (3,), ()), ("insert", (), (3,))}


def test_copy_next_to_an_anchor_stays_in_place_and_the_later_copy_moves() -> None:
    # "Getty" after the anchor is the same paragraph in both versions (grown anchor); the
    # other copy, behind two "Putin", is the one that moved up.
    old = ["Anfang", "Getty", "Putin", "Putin", "Getty", "Ende"]
    new = ["Anfang", "Getty", "Getty", "Putin", "Putin", "Ende"]
    assert changes(old, new) == {("move", (4,), (2,))}


def test_copy_before_an_anchor_stays_in_place_and_the_earlier_copy_moves() -> None:
    # The mirror image: anchors grow backwards over identical neighbours too.
    old = ["Ende", "Getty", "Putin", "Putin", "Getty", "Anfang"]
    new = ["Ende", "Putin", "Putin", "Getty", "Getty", "Anfang"]
    assert changes(old, new) == {("move", (1,), (3,))}


# --- step 2: distant moves ----------------------------------------------------------------------


def test_near_identical_paragraph_moved_across_anchors_is_a_move_with_words() -> None:
    body = words("p", 20)
    old = [body, anchor(0), anchor(1), anchor(2), anchor(3)]
    new = [anchor(0), anchor(1), body.replace("p3", "neu"), anchor(2), anchor(3)]
    (move,) = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert (move.op, move.old, move.new, move.similarity) == ("move", (0,), (2,), 0.95)
    assert move.words == (("=", words("p", 3)), ("-", "p3"), ("+", "neu"),
                          ("=", words("p", 16, start=4)))


def distant_move_with_weaker_partner(shared_with_moved: int) -> tuple[list[str], list[str]]:
    """Old paragraph X (50 words) moved behind three anchors as X', and in X's own gap a
    new paragraph W sharing 25 words with X (0.5: a modify if X had no better partner)."""
    x, moved = pair_at(shared_with_moved, 50)
    _, weaker = pair_at(25, 50, stem="x")
    weaker = weaker.replace("xneu", "wneu")
    assert similarity(x, weaker) == 0.5
    return [x, anchor(0), anchor(1), anchor(2)], [weaker, anchor(0), anchor(1), anchor(2), moved]


def test_distant_move_wins_over_a_weaker_partner_in_its_own_gap() -> None:
    old, new = distant_move_with_weaker_partner(47)
    assert similarity(old[0], new[4]) == 0.94
    assert changes(old, new) == {("move", (0,), (4,)), ("insert", (), (0,))}


def test_distant_move_at_move_min_is_taken() -> None:
    old, new = distant_move_with_weaker_partner(30)
    assert similarity(old[0], new[4]) == MOVE_MIN
    assert changes(old, new) == {("move", (0,), (4,)), ("insert", (), (0,))}


def test_distant_pair_just_below_move_min_leaves_the_paragraph_to_its_gap() -> None:
    old, new = distant_move_with_weaker_partner(29)
    assert similarity(old[0], new[4]) == 0.58
    assert changes(old, new) == {("modify", (0,), (0,)), ("insert", (), (4,))}


# --- step 3: pairs, splits and merges in a gap --------------------------------------------------


@pytest.mark.parametrize(("shared", "total"), [(9, 20), (45, 100)])
def test_pair_at_modify_min_is_a_modify(shared: int, total: int) -> None:
    before, after = pair_at(shared, total)
    assert similarity(before, after) == MODIFY_MIN
    old, new = [anchor(0), before, anchor(1)], [anchor(0), after, anchor(1)]
    assert changes(old, new) == {("modify", (1,), (1,))}


@pytest.mark.parametrize(("shared", "total"), [(11, 25), (8, 20)])
def test_pair_below_modify_min_is_delete_and_insert(shared: int, total: int) -> None:
    before, after = pair_at(shared, total)
    assert similarity(before, after) < MODIFY_MIN
    old, new = [anchor(0), before, anchor(1)], [anchor(0), after, anchor(1)]
    assert changes(old, new) == {("delete", (1,), ()), ("insert", (), (1,))}


def test_split_whose_small_piece_is_a_credit() -> None:
    caption = words("bild", 20)
    credit = "Foto: Getty Images"
    old = [anchor(0), f"{caption} {credit}", anchor(1), credit, anchor(2), credit, anchor(3)]
    new = [anchor(0), caption, credit, anchor(1), credit, anchor(2), credit, anchor(3)]
    assert changes(old, new) == {("split", (1,), (1, 2))}


def test_merge_of_a_credit_into_its_caption() -> None:
    caption = words("bild", 20)
    credit = "Foto: Getty Images"
    old = [anchor(0), credit, caption, anchor(1), credit, anchor(2)]
    new = [anchor(0), f"{credit} {caption}", anchor(1), credit, anchor(2)]
    assert changes(old, new) == {("merge", (1, 2), (1,))}


def split_piece(piece_words: int) -> tuple[list[str], list[str]]:
    """A paragraph split in two whose second piece brings two of its ``piece_words`` words."""
    head = words("h", 20)
    piece = f"t0 t1 {words('neu', piece_words - 2)}"
    return [anchor(0), f"{head} t0 t1", anchor(1)], [anchor(0), head, piece, anchor(1)]


def test_split_piece_bringing_piece_min_of_its_words_is_part_of_the_split() -> None:
    assert changes(*split_piece(4)) == {("split", (1,), (1, 2))}


def test_split_piece_bringing_less_than_piece_min_is_an_insert() -> None:
    assert changes(*split_piece(5)) == {("modify", (1,), (1,)), ("insert", (), (2,))}


def merge_piece(piece_words: int) -> tuple[list[str], list[str]]:
    """Two paragraphs merged, the second bringing two of its ``piece_words`` words."""
    head = words("h", 20)
    piece = f"t0 t1 {words('alt', piece_words - 2)}"
    return [anchor(0), head, piece, anchor(1)], [anchor(0), f"{head} t0 t1", anchor(1)]


def test_merge_piece_bringing_piece_min_of_its_words_is_part_of_the_merge() -> None:
    assert changes(*merge_piece(4)) == {("merge", (1, 2), (1,))}


def test_merge_piece_bringing_less_than_piece_min_is_a_delete() -> None:
    assert changes(*merge_piece(5)) == {("modify", (1,), (1,)), ("delete", (2,), ())}


def split_into(parts: int, piece_words: int = 8, dropped: int = 0) -> tuple[list[str], list[str]]:
    """One paragraph cut into ``parts`` pieces; ``dropped`` words of its end left out."""
    pieces = [words(f"s{k}w", piece_words) for k in range(parts)]
    whole = " ".join([*pieces, words("weg", dropped)]).strip()
    return [anchor(0), whole, anchor(1)], [anchor(0), *pieces, anchor(1)]


def test_split_into_max_parts_is_one_split() -> None:
    parts = MAX_PARTS
    assert changes(*split_into(parts)) == {("split", (1,), tuple(range(1, parts + 1)))}


def test_split_into_more_than_max_parts_is_no_split_of_them_all() -> None:
    found = changes(*split_into(MAX_PARTS + 1))
    assert all(len(new) <= MAX_PARTS for _, _, new in found)
    assert ("insert", (), (MAX_PARTS + 1,)) in found


def test_split_whose_largest_piece_reaches_seed_min_is_found() -> None:
    old, new = split_into(4, piece_words=6, dropped=10)
    assert similarity(old[1], new[1]) == SEED_MIN
    assert changes(old, new) == {("split", (1,), (1, 2, 3, 4))}


def test_split_whose_largest_piece_is_below_seed_min_is_not_seen() -> None:
    old, new = split_into(4, piece_words=6, dropped=11)
    assert similarity(old[1], new[1]) < SEED_MIN
    inserts = {("insert", (), (j,)) for j in (1, 2, 3, 4)}
    assert changes(old, new) == {("delete", (1,), ()), *inserts}


# --- candidates: how many partners each new paragraph scores ----------------------------------


def with_decoys(decoys: int) -> tuple[list[str], list[str]]:
    """New paragraph N and its edit T (0.85), behind ``decoys`` deleted paragraphs holding all of
    N's words in reverse order: a larger multiset overlap than T's, and a similarity of 0.05."""
    target = words("n", 20)
    edit = target.replace("n3 ", "t3 ").replace("n9 ", "t9 ").replace("n15 ", "t15 ")
    decoy = " ".join(reversed(target.split()))
    assert (similarity(edit, target), similarity(decoy, target)) == (0.85, 0.05)
    old = [anchor(0), *[decoy] * decoys, edit, anchor(1)]
    return old, [anchor(0), target, anchor(1)]


def test_partner_ranked_max_partners_by_overlap_is_scored() -> None:
    old, new = with_decoys(MAX_PARTNERS - 1)
    found = changes(old, new)
    assert ("modify", (MAX_PARTNERS,), (1,)) in found


def test_partner_ranked_past_max_partners_by_overlap_is_not_scored() -> None:
    old, new = with_decoys(MAX_PARTNERS)
    found = changes(old, new)
    assert ("insert", (), (1,)) in found
    assert ("delete", (MAX_PARTNERS + 1,), ()) in found


# --- step 4: leftovers --------------------------------------------------------------------------


def crossed_in_one_gap(shared: int) -> tuple[list[str], list[str]]:
    """X (50 words) and its edit X' on either side of a repeated heavy paragraph Y, in a gap
    without anchors: the chain keeps Y's two equal pairs, so X and X' are left over."""
    x, edited = pair_at(shared, 50)
    heavy = words("y", 30)
    return [x, heavy, heavy], [heavy, heavy, edited]


def test_leftover_pair_at_move_min_is_a_move() -> None:
    old, new = crossed_in_one_gap(30)
    assert similarity(old[0], new[2]) == MOVE_MIN
    assert changes(old, new) == {("move", (0,), (2,))}


def test_leftover_pair_below_move_min_is_delete_and_insert() -> None:
    old, new = crossed_in_one_gap(29)
    assert changes(old, new) == {("delete", (0,), ()), ("insert", (), (2,))}


def test_leftover_identical_paragraphs_pair_in_order() -> None:
    heavy = words("y", 30)
    old = ["CNN", heavy, heavy, "CNN"]
    new = [heavy, heavy, "CNN", "CNN"]
    assert changes(old, new) == {("move", (0,), (2,))}


def gathered_after(decoys: int) -> tuple[list[str], list[str]]:
    """New paragraph N shares one word each with ``decoys`` deleted paragraphs, words that
    sort before the 20 it shares with its edit T (all as rare): the decoys are gathered first."""
    shared = [f"z{k:02d}" for k in range(20)]
    rare = [f"a{k:02d}" for k in range(decoys)]
    target = " ".join([*rare, *shared])
    edit = " ".join([*shared, "eigen1", "eigen2"])
    # Two words of their own each, so that no decoy could be a piece of a merge into N.
    old = [anchor(0), *(f"{word} d{word} e{word}" for word in rare), edit, anchor(1)]
    return old, [anchor(0), target, anchor(1)]


def test_partner_gathered_as_the_32nd_is_scored() -> None:
    old, new = gathered_after(31)
    assert ("modify", (32,), (1,)) in changes(old, new)


def test_partner_past_32_gathered_is_not_seen() -> None:
    old, new = gathered_after(32)
    found = changes(old, new)
    assert ("insert", (), (1,)) in found
    assert ("delete", (33,), ()) in found


def crossing_equal_pairs(common: int) -> tuple[list[str], list[str]]:
    """Paragraph X (12 words) crosses seven repeated one-word paragraphs to become X' with
    ``common`` words kept: the chain holds either the seven equal pairs or the one modify."""
    x = words("x", 12)
    edited = f"{words('x', common)} {words('neu', 12 - common)}"
    return [x, *["y"] * 7], [*["y"] * 7, edited]


def test_seven_equal_pairs_outweigh_a_modify_of_ten_common_words() -> None:
    # Half a word of bonus each: 7 × 1.5 = 10.5 > 10. The edit is left over: a move.
    assert changes(*crossing_equal_pairs(10)) == {("move", (0,), (7,))}


def test_seven_equal_pairs_do_not_outweigh_a_modify_of_eleven_common_words() -> None:
    # 10.5 < 11: the modify is kept, and the repeated paragraphs crossed it.
    found = changes(*crossing_equal_pairs(11))
    assert ("modify", (0,), (7,)) in found
    assert {op for op, _, _ in found} == {"modify", "move"}


# --- word diff: coincidences folded ---------------------------------------------------------


def test_two_shared_words_between_changes_of_two_words_are_folded() -> None:
    assert diff_words("alt eins der die neu zwei", "xa xb der die xc xd") == (
        ("-", "alt eins der die neu zwei"), ("+", "xa xb der die xc xd"),
    )


def test_three_shared_words_between_changes_are_kept() -> None:
    assert diff_words("alt eins der die das neu zwei", "xa xb der die das xc xd") == (
        ("-", "alt eins"), ("+", "xa xb"), ("=", "der die das"), ("-", "neu zwei"),
        ("+", "xc xd"),
    )


def test_shared_words_longer_than_a_change_beside_them_are_kept() -> None:
    assert diff_words("alt der die neu", "xa der die xc") == (
        ("-", "alt"), ("+", "xa"), ("=", "der die"), ("-", "neu"), ("+", "xc"),
    )
    # A change counts its longer side: two inserted words against one deleted.
    assert diff_words("alt eins der die neu", "xa der die xc xd") == (
        ("-", "alt eins der die neu"), ("+", "xa der die xc xd"),
    )


def test_partners_sharing_the_rarest_words_are_gathered_first() -> None:
    # N shares eight words with 40 deleted paragraphs (five each, so each word is common) and
    # twenty with its edit T (each only there): T's words are rarer, T is gathered first.
    common = [f"a{k}" for k in range(8)]
    shared = [f"z{k:02d}" for k in range(20)]
    decoys = [f"{word} d{word}{n} e{word}{n}" for word in common for n in range(5)]
    edit = " ".join([*shared, "eigen1", "eigen2"])
    old = [anchor(0), *decoys, edit, anchor(1)]
    new = [anchor(0), " ".join([*common, *shared]), anchor(1)]
    assert ("modify", (41,), (1,)) in changes(old, new)


def test_split_needs_modify_min_overall_though_each_piece_brings_its_words() -> None:
    # X is pieces a (20 words) and b (4) and 70 words more; a alone scores 0.35 (a seed), the
    # split only 48 / 118 = 0.41: no split, and no modify either.
    a, b = words("a", 20), words("b", 4)
    old = [anchor(0), f"{a} {b} {words('weg', 70)}", anchor(1)]
    new = [anchor(0), a, b, anchor(1)]
    assert changes(old, new) == {("delete", (1,), ()), ("insert", (), (1,)),
                                 ("insert", (), (2,))}


def test_split_whose_pieces_bring_exactly_piece_min_in_all_is_a_split() -> None:
    # Each piece brings two of its four words, 4 common words of 8: exactly what is needed.
    old = [anchor(0), "a0 a1 b0 b1", anchor(1)]
    new = [anchor(0), "a0 a1 x0 x1", "b0 b1 y0 y1", anchor(1)]
    assert changes(old, new) == {("split", (1,), (1, 2))}


def test_edited_paragraph_twice_in_a_row_is_one_modify_and_one_insert() -> None:
    body = words("p", 20)
    old = [anchor(0), body, anchor(1)]
    new = [anchor(0), body.replace("p3", "neu"), body.replace("p3", "neu"), anchor(1)]
    ops = diff_paragraphs(old, new)
    assert sorted(i for op in ops for i in op.old) == [0, 1, 2]
    assert changes(old, new) == {("modify", (1,), (1,)), ("insert", (), (2,))}


def test_paragraph_merged_into_its_neighbour_is_not_also_the_source_of_an_edit() -> None:
    # P + Q became one paragraph, and an edited copy of Q follows it: Q is used once.
    p, q = words("p", 10), words("q", 10)
    old = [anchor(0), p, q, anchor(1)]
    new = [anchor(0), f"{p} {q}", q.replace("q4", "neu"), anchor(1)]
    assert changes(old, new) == {("merge", (1, 2), (1,)), ("insert", (), (2,))}


def test_folding_goes_on_along_a_row_of_coincidences() -> None:
    assert diff_words("alt der neu das weg", "xa der xb das xc") == (
        ("-", "alt der neu das weg"), ("+", "xa der xb das xc"),
    )


def test_doubled_spaces_alone_are_no_change() -> None:
    assert [op.op for op in diff_paragraphs(["Kim  Jong Un"], ["Kim Jong Un"])] == ["equal"]


# Pages of repeated short paragraphs where the order of the steps decides the reading. Found
# by a random search against mutants of the anchor growth and of the seed rule; each output
# was read and is the natural one (a paragraph moved past its copies, copies inserted, edits).
P, K, G, GA, F = "Putin sagte etwas", "Kim nickte", "Getty Images", "Getty Images/AFP", "Foto: AFP"
PN, KH = "Putin sagte etwas Neues", "Kim nickte heute"
REPEATED_CASES = [
    ([P, P, K, "CNN", P, "A", "A", F, "CNN", G, GA, PN, P, PN],
     [P, K, "CNN neu", P, P, "A", "A", F, "CNN", G, GA, PN, P, PN],
     {("modify", (3,), (2,)), ("move", (1,), (3,))}),
    (["A", GA, GA, F, "A", K, K, "—", GA, "A", KH, "—"],
     ["A", GA, GA, G, F, "A", G, K, "—", GA, "A", KH, "—"],
     {("delete", (5,), ()), ("insert", (), (3,)), ("insert", (), (6,))}),
    ([G, "A", "A", "—", GA, F, "—", "B b", "CNN", F, KH, "CNN", KH, GA],
     [G, GA, "A", "A neu", "—", GA, F, "B b", "CNN", F, "—", KH, "CNN", f"{KH} {GA}"],
     {("modify", (2,), (3,)), ("modify", (12,), (13,)), ("move", (6,), (10,)),
      ("move", (13,), (1,))}),
]


@pytest.mark.parametrize(("old", "new", "expected"), REPEATED_CASES)
def test_pages_of_repeated_short_paragraphs(
    old: list[str], new: list[str], expected: set[Change]
) -> None:
    assert changes(old, new) == expected


def test_split_piece_whose_shared_words_are_out_of_order_is_an_insert() -> None:
    # The piece holds both words X lost, but in the other order: it brings one, not two.
    head = words("h", 20)
    old = [anchor(0), f"{head} t0 t1", anchor(1)]
    new = [anchor(0), head, "t1 t0 n0 n1", anchor(1)]
    assert changes(old, new) == {("modify", (1,), (1,)), ("insert", (), (2,))}
