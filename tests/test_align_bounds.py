"""The diff's work limits: what happens at and past each bound, and that the shortcuts taken
inside the bounds (common head and tail, characters instead of words) change nothing.

Limits are lowered with monkeypatch so that small inputs cross them; the large inputs
themselves are measured by ``benchmarks/bench_diff_bounds.py`` and by the hostile-shape
property test.
"""

from __future__ import annotations

import random
import time

import pytest

from tracker import align, diff
from tracker.align import sentence_keys
from tracker.diff import Diff, diff_paragraphs, diff_words


def words(stem: str, count: int) -> list[str]:
    return [f"{stem}{k}" for k in range(count)]


def changes(old: list[str], new: list[str]) -> set[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    return {(op.op, op.old, op.new) for op in diff_paragraphs(old, new) if op.op != "equal"}


def anchored(old: str, new: str) -> tuple[list[str], list[str]]:
    """``old`` → ``new`` between two fixed paragraphs."""
    first, last = "Anfang des Artikels steht", "Ende des Artikels steht"
    return [first, old, last], [first, new, last]


# --- the aligner's exact comparison and its budget ----------------------------------------------


def reordered_pair() -> tuple[str, str]:
    """300 words and the same words with their halves swapped: LCS 150, overlap 300."""
    text = words("w", 300)
    return " ".join(text), " ".join(text[150:] + text[:150])


def test_reordered_long_paragraph_is_compared_exactly_within_the_budget() -> None:
    old, new = anchored(*reordered_pair())
    (op,) = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert (op.op, op.similarity) == ("modify", 0.5)


def test_past_the_budget_common_words_are_counted_as_their_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(align, "_LCS_BUDGET", 0)
    old, new = anchored(*reordered_pair())
    (op,) = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert (op.op, op.similarity) == ("modify", 0.99)


def test_past_the_exact_cells_common_words_are_counted_as_their_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(align, "_EXACT_CELLS_MAX", 300 * 300 - 1)
    old, new = anchored(*reordered_pair())
    (op,) = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert (op.op, op.similarity) == ("modify", 0.99)


def test_common_head_and_tail_keep_the_comparison_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # 300 words, two edits, and the 99 words between them in another order: only the 101
    # words between the edits go through the masks, and the count stays exact (the overlap
    # of all 300 would say 0.99).
    text = words("w", 300)
    middle = text[101:200]
    edited = [*text[:100], "neu", *middle[50:], *middle[:50], "auch", *text[201:]]
    monkeypatch.setattr(align, "_EXACT_CELLS_MAX", 101 * 101)
    old, new = anchored(" ".join(text), " ".join(edited))
    (op,) = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert (op.op, op.similarity) == ("modify", round(2 * (100 + 99 + 50) / 600, 2))


def test_past_the_exact_cells_the_common_head_and_tail_still_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As above, with the 101 words between the edits over the limit: head (100) and tail (99)
    # are counted exactly, the middle by its overlap (99 of 101).
    text = words("w", 300)
    middle = text[101:200]
    edited = [*text[:100], "neu", *middle[50:], *middle[:50], "auch", *text[201:]]
    monkeypatch.setattr(align, "_EXACT_CELLS_MAX", 100 * 100)
    old, new = anchored(" ".join(text), " ".join(edited))
    (op,) = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert (op.op, op.similarity) == ("modify", 0.99)


def test_long_paragraph_against_a_short_one_is_not_similar() -> None:
    old, new = anchored(" ".join(words("w", 400)), " ".join(words("w", 10)))
    assert changes(old, new) == {("delete", (1,), ()), ("insert", (), (1,))}


# --- very large versions: sentences as units ----------------------------------------------------


def test_sentence_units_hold_eight_to_sixty_four_words() -> None:
    text = "Eins zwei drei. Vier fünf sechs sieben acht neun zehn elf. Zwölf „dreizehn.“ Vierzehn"
    assert sentence_keys(text) == (
        "eins zwei drei. vier fünf sechs sieben acht neun zehn elf.",
        "zwölf „dreizehn.“ vierzehn",
    )
    units = sentence_keys(" ".join(words("W", 150)))
    assert [len(unit.split()) for unit in units] == [64, 64, 22]


def test_large_version_is_compared_by_sentences(monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = [" ".join(words(f"s{k}w", 9)) + "." for k in range(3)]
    edited = [sentences[0], sentences[1].replace("s1w4", "anders"), sentences[2]]
    old, new = anchored(" ".join(sentences), " ".join(edited))
    monkeypatch.setattr(align, "LARGE_VERSION_CHARS", 10**6)
    by_words = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    monkeypatch.setattr(align, "LARGE_VERSION_CHARS", 100)
    by_sentences = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    # 26 of 27 words kept; 2 of 3 sentences kept: still a modify, scored by sentences.
    assert [(op.op, op.similarity) for op in by_words] == [("modify", 0.96)]
    assert [(op.op, op.similarity) for op in by_sentences] == [("modify", 0.67)]
    assert by_sentences[0].words == by_words[0].words


# --- repeated paragraphs --------------------------------------------------------------------------


@pytest.mark.parametrize("pairs", [10, 20, 200])
def test_alternating_equal_paragraphs_shifted_by_one_are_one_move(pairs: int) -> None:
    # 10 pairs: under _GATHER_MAX copies a gap; 200: past it, two copies offered each.
    old, new = ["ja", "nein"] * pairs, ["nein", "ja"] * pairs
    assert changes(old, new) == {("move", (2 * pairs - 1,), (0,))}


def test_edited_copy_of_a_paragraph_repeated_many_times_is_still_found() -> None:
    body = " ".join(words("p", 20))
    edited = body.replace("p5", "geändert")
    old = [*[body] * 40, "Schluss"]
    new = [*[body] * 39, edited, "Schluss"]
    assert changes(old, new) == {("modify", (39,), (39,))}


# --- word diff bounds -------------------------------------------------------------------------


def edited_text(rng: random.Random, size: int) -> tuple[str, str]:
    text = [rng.choice(["der", "die", "und", "Kim", "Putin", "2024", "Moskau,"])
            for _ in range(size)]
    new = list(text)
    for _ in range(rng.randint(1, 4)):
        k = rng.randrange(len(new))
        new[k : k + rng.randint(0, 3)] = rng.choices(["neu", "der", "Kim", "x"], k=2)
    return " ".join(text), " ".join(new)


@pytest.mark.parametrize("seed", range(40))
def test_long_text_path_gives_the_same_words(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    old, new = edited_text(random.Random(seed), random.Random(seed).randint(1, 80))
    expected = diff_words(old, new)
    monkeypatch.setattr(diff, "_LONG_TEXT_CHARS", 20)
    assert diff_words(old, new) == expected


def test_long_text_path_reads_any_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diff, "_LONG_TEXT_CHARS", 5)
    assert diff_words(" Kim  und\tPutin ", "Kim und Xi\n") == (
        ("=", "Kim und"), ("-", "Putin"), ("+", "Xi"),
    )
    assert diff_words("a b c", "a b c") == (("=", "a b c"),)
    assert diff_words("ab", "abc") == (("-", "ab"), ("+", "abc"))
    assert diff_words("a bc", "a b") == (("=", "a"), ("-", "bc"), ("+", "b"))


def test_long_changed_middle_is_one_deletion_and_one_insertion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(diff, "_LONG_TEXT_CHARS", 30)
    monkeypatch.setattr(diff, "_MIDDLE_CHARS_MAX", 30)
    old = "Anfang " + " ".join(words("a", 20)) + " Ende"
    new = "Anfang " + " ".join(words("b", 20)) + " Ende"
    assert diff_words(old, new) == (
        ("=", "Anfang"), ("-", " ".join(words("a", 20))), ("+", " ".join(words("b", 20))),
        ("=", "Ende"),
    )


def test_word_matching_past_its_work_limit_is_one_change(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = "Kim traf Putin in Moskau", "Kim traf Xi in Moskau heute"
    assert diff_words(old, new) == (
        ("=", "Kim traf"), ("-", "Putin"), ("+", "Xi"), ("=", "in Moskau"), ("+", "heute"),
    )
    work = diff._matching_work(["Putin", "in", "Moskau"], ["Xi", "in", "Moskau", "heute"])
    assert work == (3 + 2) * 4 + 4
    monkeypatch.setattr(diff, "WORD_DIFF_PAIR_MAX", work - 1)
    assert diff_words(old, new) == (
        ("=", "Kim traf"), ("-", "Putin in Moskau"), ("+", "Xi in Moskau heute"),
    )
    monkeypatch.setattr(diff, "WORD_DIFF_PAIR_MAX", work)
    assert len(diff_words(old, new)) == 5


def test_word_matching_budget_is_shared_by_the_ops_of_one_diff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two edits of two words each and a budget for one of them: the other is one change.
    first = ("Kim traf Putin in Moskau", "Xi traf Putin in Peking")
    second = ("Seoul sah zu und schwieg", "Tokio sah zu und sprach")
    old = [first[0], "fest", second[0]]
    new = [first[1], "fest", second[1]]
    work = diff._matching_work(first[0].split(), first[1].split())
    assert work == diff._matching_work(second[0].split(), second[1].split())
    monkeypatch.setattr(diff, "WORD_DIFF_BUDGET", work)
    ops = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert sorted(len(op.words or ()) for op in ops) == [2, 5]
    monkeypatch.setattr(diff, "WORD_DIFF_BUDGET", 2 * work)
    ops = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    assert sorted(len(op.words or ()) for op in ops) == [5, 5]


def test_middle_of_exactly_the_limit_is_still_cut_into_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = "Anfang alt a b c eins Ende", "Anfang neu a b c zwei Ende"
    middle = len("alt a b c eins") + len("neu a b c zwei")
    monkeypatch.setattr(diff, "_LONG_TEXT_CHARS", 10)
    monkeypatch.setattr(diff, "_MIDDLE_CHARS_MAX", middle)
    assert diff_words(old, new) == (
        ("=", "Anfang"), ("-", "alt"), ("+", "neu"), ("=", "a b c"), ("-", "eins"),
        ("+", "zwei"), ("=", "Ende"),
    )
    monkeypatch.setattr(diff, "_MIDDLE_CHARS_MAX", middle - 1)
    assert diff_words(old, new) == (
        ("=", "Anfang"), ("-", "alt a b c eins"), ("+", "neu a b c zwei"), ("=", "Ende"),
    )


def test_change_of_a_long_run_is_never_minor_and_is_not_matched() -> None:
    # The diff gives a long changed middle whole; counting its words would match it again.
    from tracker.diff import Op, WordRun
    from tracker.significance import changed_words

    def modify(*words: WordRun) -> Diff:
        return Diff(1, 1, (Op("modify", (0,), (0,), 0.5, words),))

    long_text = " ".join(words("w", 20_000))
    diff = modify(WordRun("=", "Anfang"), WordRun("-", long_text), WordRun("+", long_text + " x"))
    assert changed_words(diff) is None
    short = modify(WordRun("=", "Anfang"), WordRun("-", "alt"), WordRun("+", "neu"))
    assert changed_words(short) == 1


@pytest.mark.parametrize(("extra", "similarity"), [(0, 0.96), (1, 0.67)])
def test_versions_over_a_million_characters_are_compared_by_sentences(
    extra: int, similarity: float
) -> None:
    sentences = [" ".join(words(f"s{k}w", 9)) + "." for k in range(3)]
    edited = [sentences[0], sentences[1].replace("s1w4", "anders"), sentences[2]]
    old, new = anchored(" ".join(sentences), " ".join(edited))
    # An unchanged paragraph (anchored, never compared) brings the new version to exactly
    # 1,000,000 characters, or one more.
    filler = "x" * (1_000_000 - sum(map(len, new)) + extra)
    (op,) = [op for op in diff_paragraphs([*old, filler], [*new, filler]) if op.op != "equal"]
    assert (op.op, op.similarity) == ("modify", similarity)


@pytest.mark.parametrize(("new_words", "similarity"), [(4096, 0.5), (4097, 0.99)])
def test_pairs_up_to_2_to_the_24_word_pairs_are_compared_exactly(
    new_words: int, similarity: float
) -> None:
    text = words("w", 4096)
    reordered = text[2048:] + text[:2048] + ["dazu"] * (new_words - 4096)
    old, new = anchored(" ".join(text), " ".join(reordered))
    (op,) = [op for op in diff_paragraphs(old, new) if op.op != "equal"]
    # Exact: 2048 common words of 4096 + 4096 (4097 + 4096 rounds to the same 0.5); past
    # 2**24 pairs, the overlap counts all 4096.
    assert (op.op, op.similarity) == ("modify", similarity)


def test_long_run_of_one_repeated_word_is_compared_exactly() -> None:
    # The bit masks of 300,000 copies of one word, against a two-word paragraph. Or-ing bit
    # after bit into an int grows with the square of the run (0.4 s here, four times that for
    # twice the words); byte arrays take 0.05 s.
    scorer = align._Scorer(["x ab"], [" ".join(["ab"] * 300_000) + " x"])
    started = time.process_time()
    assert scorer.common((0,), (0,)) == 1
    assert time.process_time() - started < 2  # CPU time: other processes do not count
