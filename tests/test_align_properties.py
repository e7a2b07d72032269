"""Properties of the diff on generated paragraph lists (Hypothesis), hostile shapes included.

For any two lists of paragraphs, ``diff_paragraphs`` raises nothing, links every old and every
new index exactly once in ops of the shapes their kind allows, lists the ops in reading order,
and gives word entries that rebuild both sides. Inputs mix unicode text, empty and blank
paragraphs, duplicates, near-duplicates and long paragraphs. The second half builds large
hostile inputs (long paragraphs, many paragraphs, all distinct or all equal) from drawn sizes
and checks that the work stays bounded: CPU time and the peak of Python allocations.
"""

from __future__ import annotations

import os
import random
import time
import tracemalloc
from collections.abc import Sequence

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracker.diff import Op, diff_paragraphs
from tracker.normalize import normalize_text

# benchmarks/mutate.py runs fewer examples per mutant.
EXAMPLES = int(os.environ.get("TRACKER_PROPERTY_EXAMPLES", "100"))
VOCABULARY = ["Putin", "Kim", "der", "die", "und", "—", "CNN", "„Hallo“", "Pjöngjang,", "19.",
              "Juni", "2024", "Getty", "Images", "ß", "İ", "ﬁ", "e\u0301", "\u00a0", "a.", ""]

vocabulary_paragraph = st.lists(st.sampled_from(VOCABULARY), max_size=30).map(" ".join)
any_paragraph = st.one_of(
    vocabulary_paragraph,
    st.text(max_size=60),
    st.sampled_from(["", " ", "\t", "CNN", "—", "\u200b", "Foto: Getty Images"]),
)
paragraph_lists = st.lists(any_paragraph, max_size=25)


@st.composite
def edited_pairs(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """An old list and a new one made from it by random edits (so that many ops are fuzzy)."""
    old = draw(paragraph_lists)
    new = list(old)
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["insert", "delete", "modify", "move", "split", "merge"]))
        if not new:
            new.append(draw(any_paragraph))
            continue
        k = draw(st.integers(0, len(new) - 1))
        if kind == "insert":
            new.insert(k, draw(any_paragraph))
        elif kind == "delete":
            del new[k]
        elif kind == "modify":
            tokens = new[k].split() or [""]
            tokens[draw(st.integers(0, len(tokens) - 1))] = draw(st.sampled_from(VOCABULARY))
            new[k] = " ".join(tokens)
        elif kind == "move":
            new.insert(draw(st.integers(0, len(new) - 1)), new.pop(k))
        elif kind == "split":
            cut = draw(st.integers(0, len(new[k])))
            new[k : k + 1] = [new[k][:cut], new[k][cut:]]
        elif k + 1 < len(new):
            new[k : k + 2] = [f"{new[k]} {new[k + 1]}"]
    return old, new


def assert_complete_alignment(ops: Sequence[Op], old_count: int, new_count: int) -> None:
    assert sorted(i for op in ops for i in op.old) == list(range(old_count))
    assert sorted(j for op in ops for j in op.new) == list(range(new_count))
    shapes = {"insert": (0, 1), "delete": (1, 0), "equal": (1, 1), "modify": (1, 1),
              "move": (1, 1)}
    for op in ops:
        if op.op in shapes:
            assert (len(op.old), len(op.new)) == shapes[op.op]
        elif op.op == "split":
            assert len(op.old) == 1
            assert list(op.new) == list(range(op.new[0], op.new[0] + len(op.new)))
            assert len(op.new) >= 2
        else:
            assert op.op == "merge"
            assert len(op.new) == 1
            assert list(op.old) == list(range(op.old[0], op.old[0] + len(op.old)))
            assert len(op.old) >= 2


def assert_reading_order(ops: Sequence[Op]) -> None:
    """Ops by first new index; a delete right after the latest in-sequence op before it."""
    place_after = {}  # old index -> the largest new index of the in-sequence op holding it
    for op in ops:
        if op.op != "move" and op.new:
            place_after.update(dict.fromkeys(op.old, max(op.new)))
    for position, op in enumerate(ops):
        if op.new:
            later = [min(o.new) for o in ops[position + 1 :] if o.new]
            assert all(first >= min(op.new) for first in later)
            continue
        (i,) = op.old
        earlier_old = [k for k in place_after if k < i]
        after = place_after[max(earlier_old)] if earlier_old else -1
        assert all(min(o.new) <= after for o in ops[:position] if o.new)
        assert all(min(o.new) > after for o in ops[position + 1 :] if o.new)


def assert_words_rebuild(ops: Sequence[Op], old: Sequence[str], new: Sequence[str]) -> None:
    for op in ops:
        if op.words is None:
            continue
        # A paragraph that normalises to nothing holds no word.
        old_text = " ".join(filter(None, (normalize_text(old[i]) for i in op.old)))
        new_text = " ".join(filter(None, (normalize_text(new[j]) for j in op.new)))
        assert " ".join(text for tag, text in op.words if tag in "=-") == old_text
        assert " ".join(text for tag, text in op.words if tag in "=+") == new_text
        assert all(text for _, text in op.words)


def check_diff(old: list[str], new: list[str]) -> None:
    ops = diff_paragraphs(old, new)
    assert_complete_alignment(ops, len(old), len(new))
    assert_reading_order(ops)
    assert_words_rebuild(ops, old, new)


@settings(max_examples=EXAMPLES, deadline=None)
@given(paragraph_lists, paragraph_lists)
def test_diff_of_any_two_paragraph_lists_is_a_complete_alignment(
    old: list[str], new: list[str]
) -> None:
    check_diff(old, new)


@settings(max_examples=EXAMPLES, deadline=None)
@given(edited_pairs())
# Found by this test: an empty paragraph merged into others doubled a space in the old text.
@example((["Putin Putin Putin", "", "Putin Putin", "Putin Putin"],
          ["Putin", "Putin Putin Putin Putin"]))
def test_diff_of_an_edited_list_is_a_complete_alignment(pair: tuple[list[str], list[str]]) -> None:
    check_diff(*pair)


# --- hostile shapes: bounded work ---------------------------------------------------------------


def distinct_words(rng: random.Random, count: int) -> list[str]:
    return [f"{rng.choice(['kim', 'putin', 'moskau', 'seoul'])}{k}" for k in range(count)]


def hostile_input(shape: str, size: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Inputs that made the unbounded diff quadratic in time or memory, at ``size``."""
    if shape == "one long paragraph, edited":
        words = distinct_words(rng, size)
        edited = list(words)
        edited[rng.randrange(size)] = "geändert"
        return [" ".join(words)], [" ".join(edited)]
    if shape == "one long paragraph, shuffled":
        words = distinct_words(rng, size)
        shuffled = rng.sample(words, len(words))
        return [" ".join(words)], [" ".join(shuffled)]
    if shape == "neighbours swapped":
        words = distinct_words(rng, size // 4)
        return [" ".join(words)], [" ".join(words[k ^ 1] for k in range(len(words) - 1))]
    if shape == "equal paragraphs alternating":
        return ["ja", "nein"] * (size // 16), ["nein", "ja"] * (size // 16)
    texts = [" ".join(distinct_words(rng, 30)) for _ in range(3)]
    old = [texts[k % 3] for k in range(size // 20)]
    return old, old[1:] + old[:1]


SHAPES = ["one long paragraph, edited", "one long paragraph, shuffled", "neighbours swapped",
          "equal paragraphs alternating", "repeated paragraphs shifted"]


@settings(max_examples=max(EXAMPLES // 20, 3), deadline=None)
@given(st.sampled_from(SHAPES), st.integers(40_000, 60_000), st.integers(0, 2**32))
def test_diff_of_hostile_input_stays_bounded_in_time_and_memory(
    shape: str, size: int, seed: int
) -> None:
    old, new = hostile_input(shape, size, random.Random(seed))
    tracemalloc.start()
    started = time.process_time()
    try:
        ops = diff_paragraphs(old, new)
        cpu = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_complete_alignment(ops, len(old), len(new))
    assert_words_rebuild(ops, old, new)
    # CPU time, not wall time: other processes on the machine do not count. The unbounded
    # diff took 3 GiB and minutes on the largest of these; they now take well under a second.
    assert cpu < 10.0
    assert peak < 64 * 2**20
