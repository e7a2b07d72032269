"""The aligner's and word diff's building blocks against plain reference implementations.

Each helper is checked on seeded random input against the simplest code that states what it
computes (a dynamic programme for the LCS, brute force for the heaviest chain, a sort for
"closest first"), so that a change of an edge or an offset inside it shows.
"""

from __future__ import annotations

import random
from itertools import combinations, pairwise

import pytest

from tracker import align, diff
from tracker.align import Link, _Item


def lcs(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    row = [0] * (len(b) + 1)
    for key in a:
        diagonal = 0
        for k, other in enumerate(b, 1):
            diagonal, row[k] = row[k], diagonal + 1 if key == other else max(row[k], row[k - 1])
    return row[-1]


def random_text(rng: random.Random, size: int) -> str:
    return " ".join(rng.choice(["der", "die", "Kim", "Putin", "und", "Moskau", "neu", "x"])
                    for _ in range(size))


def edited(rng: random.Random, text: str) -> str:
    words = text.split()
    for _ in range(rng.randint(0, 6)):
        k = rng.randrange(len(words) + 1)
        if rng.random() < 0.5 and k < len(words):
            del words[k]
        else:
            words.insert(k, rng.choice(["neu", "Kim", "alt"]))
    return " ".join(words)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("path", ["short", "long", "long, limited"])
def test_common_words_are_the_lcs_on_every_path(
    seed: int, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    old = random_text(rng, rng.randint(1, 300) if path != "short" else rng.randint(1, 60))
    new = edited(rng, old)
    if path != "short":
        monkeypatch.setattr(align, "_SHORT_UNITS", 0)
    if path == "long, limited":  # the middle only just fits
        monkeypatch.setattr(align, "_EXACT_CELLS_MAX", 10**9)
    scorer = align._Scorer([old], [new])
    expected = lcs(align.word_keys(old), align.word_keys(new))
    assert scorer.common((0,), (0,)) == expected


@pytest.mark.parametrize("seed", range(20))
def test_overlap_estimate_is_head_tail_and_multiset_overlap(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    old = random_text(rng, rng.randint(1, 80))
    new = edited(rng, old)
    monkeypatch.setattr(align, "_LCS_BUDGET", 0)
    a, b = align.word_keys(old), align.word_keys(new)
    head = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))
    rest_a, rest_b = a[head:], b[head:]
    tail = next((k for k, (x, y) in enumerate(zip(rest_a[::-1], rest_b[::-1], strict=False))
                 if x != y), min(len(rest_a), len(rest_b)))
    middle_a, middle_b = rest_a[: len(rest_a) - tail], rest_b[: len(rest_b) - tail]
    overlap = sum(min(middle_a.count(w), middle_b.count(w)) for w in set(middle_a))
    assert align._Scorer([old], [new]).common((0,), (0,)) == head + tail + overlap


def test_bag_intersection_is_the_multiset_overlap() -> None:
    rng = random.Random(3)
    for _ in range(200):
        a = tuple(rng.choices("abcd", k=rng.randint(0, 12)))
        b = tuple(rng.choices("abcd", k=rng.randint(0, 12)))
        expected = sum(min(a.count(w), b.count(w)) for w in set(a))
        assert len(align._bag(a) & align._bag(b)) == expected


@pytest.mark.parametrize("seed", range(10))
def test_closest_first_orders_by_distance_earlier_first(seed: int) -> None:
    rng = random.Random(seed)
    positions = sorted(rng.sample(range(60), rng.randint(0, 20)))
    target = rng.randint(-5, 65)
    expected = sorted(positions, key=lambda p: (abs(p - target), p))
    assert list(align._closest_first(positions, target)) == expected


@pytest.mark.parametrize("seed", range(10))
def test_longest_increasing_is_longest(seed: int) -> None:
    rng = random.Random(seed)
    news = rng.sample(range(30), rng.randint(0, 12))
    pairs = list(enumerate(news))
    chain = align._longest_increasing(pairs)
    assert all(a[1] < b[1] and a[0] < b[0] for a, b in pairwise(chain))
    assert set(chain) <= set(pairs)
    best = max((len(c) for n in range(len(pairs) + 1) for c in combinations(pairs, n)
                if all(x[1] < y[1] for x, y in pairwise(c))), default=0)
    assert len(chain) == best


def test_expected_positions_follow_the_last_anchor() -> None:
    anchors = [(2, 0), (5, 4), (9, 6)]
    # Before any anchor, the stretch starts at (-1, -1); after (2, 0), new j is old j + 2 …
    assert align._expected_positions(anchors, 9) == [2, 3, 4, 5, 5, 6, 9, 10, 11]
    assert align._expected_positions([], 3) == [0, 1, 2]


def test_gap_numbers_count_the_anchors_before() -> None:
    assert align._gap_numbers(6, [1, 4]) == [0, 0, 1, 1, 1, 2]


def chain_items(rng: random.Random) -> list[_Item]:
    items = []
    for _ in range(rng.randint(0, 7)):
        i, j = rng.randrange(6), rng.randrange(6)
        old = tuple(range(i, i + rng.choice([1, 1, 2])))
        new = tuple(range(j, j + (1 if len(old) > 1 else rng.choice([1, 1, 2]))))
        items.append(_Item(rng.choice([1.0, 1.5, 2.0, 3.0, 4.5]), Link("modify", old, new)))
    return items


def compatible(chain: tuple[_Item, ...]) -> bool:
    return all(a.link.old[-1] < b.link.old[0] and a.link.new[-1] < b.link.new[0]
               for a, b in pairwise(chain))


@pytest.mark.parametrize("seed", range(40))
def test_heaviest_chain_is_the_heaviest_order_preserving_set(seed: int) -> None:
    items = chain_items(random.Random(seed))
    ordered = sorted(items, key=lambda item: (item.link.old, item.link.new))
    best = max((sum(item.weight for item in c) for n in range(len(ordered) + 1)
                for c in combinations(ordered, n) if compatible(c)), default=0.0)
    chain = align._heaviest_chain(list(items))
    assert compatible(tuple(chain))
    assert sum(item.weight for item in chain) == best


def test_word_keys_fold_case_and_edge_punctuation() -> None:
    assert align.word_keys("„Hallo Putin“, sagte KIM. — … (r.) e-mail") == (
        "hallo", "putin", "sagte", "kim", "—", "…", "r", "e-mail",
    )
    # Marks outside the usual set, on one edge or both, go too.
    assert align.word_keys("hallo† ¿qué ‡x‡ §") == ("hallo", "qué", "x", "§")


@pytest.mark.parametrize("seed", range(30))
def test_word_head_is_the_longest_common_start_of_whole_words(seed: int) -> None:
    rng = random.Random(seed)
    a = " ".join(rng.choices(["ab", "a", "b", "abc"], k=rng.randint(0, 6)))
    b = " ".join(rng.choices(["ab", "a", "b", "abc"], k=rng.randint(0, 6)))
    words_a, words_b = a.split(), b.split()
    same = next((k for k, (x, y) in enumerate(zip(words_a, words_b, strict=False)) if x != y),
                min(len(words_a), len(words_b)))
    head = diff._word_head(a, b)
    assert a[:head] == b[:head]
    assert a[:head].strip() == " ".join(words_a[:same])


@pytest.mark.parametrize("block", [1, 2, 3, 4096])
def test_common_chars_is_the_common_prefix_length(block: int) -> None:
    rng = random.Random(block)
    for _ in range(200):
        a = "".join(rng.choices("ab", k=rng.randint(0, 12)))
        b = "".join(rng.choices("ab", k=rng.randint(0, 12)))
        expected = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                        min(len(a), len(b)))
        assert diff._common_chars(a, b, block) == expected
