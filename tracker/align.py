"""Paragraph alignment: decide which old paragraphs became which new ones.

``tracker.diff`` turns the links found here into operations with word-level detail. Pure
functions over lists of normalised strings; depends on nothing but the standard library.

How paragraphs are linked:

1. **Anchors** (patience diff). Paragraphs whose text occurs exactly once in each version,
   kept in their longest order-preserving chain, then grown over identical neighbours.
   Short repeated paragraphs ("CNN", "—", photo credits) are never anchored on their own, so
   they cannot pin the alignment in a wrong place: step 3 weighs them against the words of
   the paragraphs around them. The anchors cut both versions into *gaps*. A paragraph unique
   in both versions but left out of the chain crossed it: a move.
2. **Candidates.** Unanchored old × new pairs with similarity ≥ ``SEED_MIN``, found with a
   prefix filter (below) instead of scoring every pair, and identical pairs within a gap. A
   pair in different gaps that is the best partner of both its paragraphs and reaches
   ``MOVE_MIN`` becomes a move now, so that step 3 cannot give either paragraph a weaker
   partner in its own gap.
3. **Heaviest chain.** Items are pairs within a gap (equal, or modify if similarity ≥
   ``MODIFY_MIN``) and 1:k splits and k:1 merges (k ≤ ``MAX_PARTS`` consecutive paragraphs)
   grown around pairs that are each other's best partner, as a split's largest piece and
   its source are. An item weighs its common words; the order-preserving, non-overlapping
   items of largest total weight come from one sweep with a Fenwick tree, O(items · log n).
   With no gap-size-squared table, big gaps need no cap or fallback.
4. **Leftovers.** Unpaired paragraphs that are identical or reach ``MOVE_MIN`` crossed
   other paragraphs: moves, most similar first. The rest are deletes and inserts.

Similarity is 2·LCS / (words of both), with the longest common subsequence of word keys
(whitespace tokens, case-folded, edge punctuation dropped, so the reworded seam "ihnen und" /
"ihnen. Sie" costs one word). It is computed bit-parallel (Allison–Dix, Hyyrö): 8 µs for two
35-word paragraphs against 107 µs for difflib's ratio, which was tried first and gives the
same value on every fixture pair below (its matching is a heuristic, never above the LCS).

Thresholds, from the story_de fixtures (similarities rounded):

- Paragraphs that are not edits of each other score at most 0.28 (v2→v3 old 5 vs new 0,
  both about the visit); v1→v2 old 7 scores at most 0.09 against new 10–16.
- Edits score 0.59 (v1→v2 old 9 → new 18, a heavily extended sentence), 0.62, 0.65, 0.67
  (v2→v3 old 5 → new 5, a heavy rewrite), 0.68, 0.96, 0.98 and 0.98.
- ``MODIFY_MIN`` = 0.45 lies between the groups: 0.17 above the first, 0.14 below the second.
- ``MOVE_MIN`` = 0.6: a pair far apart has no position to vouch for it, so most words must
  match. The fixtures' move (v2→v3 old 23 → new 14) is identical.
- A split or merge needs every piece to bring ``PIECE_MIN`` = 0.5 of its words as common
  words that the run would lose without it, and similarity ≥ ``MODIFY_MIN`` overall. v2→v3
  old 17 → new 19 + 20: the pieces bring 13 of 13 and 32 of 33 words; old 10 + 11 → new 12:
  48 of 48 and 39 of 39. An unrelated neighbour of a modified paragraph brings next to
  nothing (v1→v2 old 9 → new 18 with new 17 or 19: 0 of 46, 0 of 19), so it stays an insert.
  Asking instead that the joined run beat its best piece's similarity by a margin misses
  a credit merged into its caption: v2 15 + 16 (2 + 25 words) gain only 0.04 over 16.
- ``SEED_MIN`` = 0.3 only admits candidates; the largest of k pieces of a split scores
  about 2/(k+1) (0.4 for four) against the original.

Prefix filter: for similarity ≥ t, paragraphs of x and y words share at least t·x/(2−t)
words (as multisets), so with words ordered rarest first they share one of the first
x − ⌈t·x/(2−t)⌉ + 1 words of each, and only such pairs are looked at. Each new paragraph
gathers partners rarest word first and, for a word shared by many, closest to where it would
stand in the old version first, at most ``4 · MAX_PARTNERS``; it scores only the
``MAX_PARTNERS`` with the largest multiset overlap (an upper bound of the LCS). The work
stays linear when every paragraph shares vocabulary with every other (the benchmark's
300 × 300 worst cases), at the price of exactness in such pathological input.

Bounds. Every byte compared comes from the web, so time and memory are bounded for any input
within the body cap (10 MiB a version), at the price of exactness only where no news page
goes (``benchmarks/bench_diff_bounds.py`` measures the worst cases we could build):

- The bit masks of a comparison take (distinct words) × (words of the new run) bits: for
  one 1.2 MB paragraph that was 2 GB. A pair is compared without its common head and tail
  (which keeps the LCS exact), and only up to ``_EXACT_CELLS_MAX`` word pairs; a whole
  alignment spends at most ``_LCS_BUDGET`` steps on exact comparison. Past either, the
  common words of the rest are counted as their multiset overlap, an upper bound: an edited
  long paragraph stays a modify, a shuffled one looks more similar than it is.
- A version of more than ``LARGE_VERSION_CHARS`` characters is compared in sentences of 8
  to 64 words instead of words (in both versions), so that no more than about 200,000 units
  a side are ever held: thresholds then count sentences.
- Repeated paragraphs: each new paragraph is offered at most ``MAX_PARTNERS`` identical
  copies in its gap (two where a gap holds more than ``_GATHER_MAX``), and gathering its
  similar partners stops after ``_SKIP_MAX`` copies of itself, so that a page of thousands
  of equal paragraphs stays linear.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice, pairwise
from typing import NamedTuple

MODIFY_MIN = 0.45
MOVE_MIN = 0.6
SEED_MIN = 0.3
PIECE_MIN = 0.5
MAX_PARTS = 4
MAX_PARTNERS = 8

# Partners sharing the rarest words are gathered first, and no more than this many are ranked
# by overlap: true edits keep their rare words (names, numbers), and it bounds the work when
# every paragraph shares some vocabulary with every other.
_GATHER_MAX = 4 * MAX_PARTNERS
# Gathering stops after passing this many copies of the paragraph itself (a copy turns up
# once per word): a page of thousands of equal paragraphs must not make each one slow.
_SKIP_MAX = _GATHER_MAX

# Work limits (see "Bounds" above): far above any news page, they only act on hostile input.
# Versions of more characters than this (about 150,000 words; a long read has 10,000) are
# compared sentence by sentence instead of word by word.
LARGE_VERSION_CHARS = 1_000_000
# Exact common words of one pair only up to this many unit pairs (after the common head and
# tail are set aside): it bounds the bit masks of one comparison to 2 MiB.
_EXACT_CELLS_MAX = 1 << 24
# Steps of exact comparison for a whole alignment, one per unit of the old run and 64 of the
# new (about 0.15 µs each): the 300 × 300 worst cases of bench_diff take 2 % of it.
_LCS_BUDGET = 1 << 23
# An equal pair outweighs a fuzzy pair with as many common words.
_EQUAL_BONUS = 0.5
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
_COMMON_PUNCTUATION = ".,;:!?\"'()[]{}„“”‚‘’«»‹›–—-…/*"

Indices = tuple[int, ...]
Pair = tuple[int, int]
Anchoring = Callable[[Sequence[str], Sequence[str]], list[Pair]]


class Link(NamedTuple):
    """One alignment decision; ``similarity`` is unrounded, 1.0 for identical text."""

    op: str
    old: Indices
    new: Indices
    similarity: float | None = None


class _Item(NamedTuple):
    weight: float
    link: Link


def word_keys(text: str) -> tuple[str, ...]:
    """Comparison form of each whitespace token: case-folded, edge punctuation dropped."""
    keys = []
    for token in text.casefold().split():
        # str.strip of the usual marks settles nearly every token without the expression.
        key = token.strip(_COMMON_PUNCTUATION)
        if not (key[:1].isalnum() and key[-1:].isalnum()):
            # A token of punctuation only ("—", "…") keeps it, less sentence marks ("—.").
            key = _EDGE_PUNCTUATION.sub("", key) or token.strip(".,;:!?") or token
        keys.append(key)
    return tuple(keys)


# A sentence of at least 8 words (at most 64) ending in a mark, or else 64 words: the unit of
# comparison of very large versions. Each repetition must end at a space, so no backtracking
# beyond one unit.
_SENTENCE = re.compile(r"(?:\S+ ){7,63}?\S*[.!?…:;][\"'”“’»)]*(?= |$)|(?:\S+ ){0,63}\S+")


def sentence_keys(text: str) -> tuple[str, ...]:
    """Comparison form of a very large version's paragraph: its sentences, case-folded."""
    return tuple(_SENTENCE.findall(text.casefold()))


def _bag(keys: Iterable[str]) -> frozenset[str]:
    """Keys as a set whose intersection size is the multiset overlap ("der", "der\\x001")."""
    seen: dict[str, int] = {}
    tagged = []
    for key in keys:
        count = seen.get(key, 0)
        tagged.append(f"{key}\x00{count}" if count else key)
        seen[key] = count + 1
    return frozenset(tagged)


def _common_words(old: Sequence[str], new_masks: dict[str, int], new_length: int) -> int:
    """Length of the longest common subsequence; bit k of a mask marks word k of new."""
    row = (1 << new_length) - 1
    for key in old:
        matches = row & new_masks.get(key, 0)
        row = (row + matches) | (row - matches)
    return new_length - (row & ((1 << new_length) - 1)).bit_count()


class _Scorer:
    """Similarity of runs of consecutive paragraphs, cached for one alignment.

    Keys and bags are kept for single paragraphs and short runs, bit masks for short runs:
    the runs of a split or merge of long paragraphs are scored a few times each, and caching
    their copies would multiply the memory that those paragraphs take.
    """

    def __init__(self, old: Sequence[str], new: Sequence[str]) -> None:
        self._texts = {"old": old, "new": new}
        self._split: Callable[[str], tuple[str, ...]] | None = None  # chosen on first use
        self._keys: dict[tuple[str, Indices], tuple[str, ...]] = {}
        self._bags: dict[tuple[str, Indices], frozenset[str]] = {}
        self._masks: dict[Indices, dict[str, int]] = {}
        self._common: dict[tuple[Indices, Indices], int] = {}
        self._budget = _LCS_BUDGET

    def keys(self, side: str, run: Indices) -> tuple[str, ...]:
        cached = self._keys.get((side, run))
        if cached is None:  # on demand: most paragraphs are anchors and never scored
            if len(run) == 1:
                cached = self._split_text(self._texts[side][run[0]])
            else:
                cached = tuple(key for index in run for key in self.keys(side, (index,)))
            if len(run) == 1 or len(cached) <= _SHORT_UNITS:
                self._keys[side, run] = cached
        return cached

    def _split_text(self, text: str) -> tuple[str, ...]:
        if self._split is None:
            large = max(sum(map(len, texts)) for texts in self._texts.values())
            self._split = sentence_keys if large > LARGE_VERSION_CHARS else word_keys
        return self._split(text)

    def length(self, side: str, run: Indices) -> int:
        if len(run) == 1:
            return len(self.keys(side, run))
        return sum(len(self.keys(side, (index,))) for index in run)

    def bag(self, side: str, run: Indices) -> frozenset[str]:
        cached = self._bags.get((side, run))
        if cached is None:
            cached = _bag(self.keys(side, run))
            if len(run) == 1 or len(cached) <= _SHORT_UNITS:
                self._bags[side, run] = cached
        return cached

    def identical(self, i: int, j: int) -> bool:
        return self._texts["old"][i] == self._texts["new"][j]

    def size(self, old: Indices, new: Indices) -> int:
        return self.length("old", old) + self.length("new", new)

    def overlap(self, old: Indices, new: Indices) -> int:
        """Multiset overlap of the words: an upper bound of ``common``."""
        return len(self.bag("old", old) & self.bag("new", new))

    def common(self, old: Indices, new: Indices) -> int:
        cached = self._common.get((old, new))
        if cached is None:
            cached = self._common[old, new] = self._count_common(old, new)
        return cached

    def _count_common(self, old: Indices, new: Indices) -> int:
        """Exact common words while the budget lasts, else an upper bound (see "Bounds")."""
        a, b = self.keys("old", old), self.keys("new", new)
        cost = len(a) * (1 + len(b) // 64)
        if len(b) <= _SHORT_UNITS and cost <= self._budget:
            self._budget -= cost
            return _common_words(a, self._short_masks(new, b), len(b))
        head = _common_head(a, b)
        tail = _common_head(a[head:][::-1], b[head:][::-1])
        a, b = a[head : len(a) - tail], b[head : len(b) - tail]
        cost = len(a) * (1 + len(b) // 64)
        if len(a) * len(b) <= _EXACT_CELLS_MAX and cost <= self._budget:
            self._budget -= cost
            return head + tail + _common_words(a, _masks(b, set(a)), len(b))
        return head + tail + sum((Counter(a) & Counter(b)).values())

    def _short_masks(self, new: Indices, keys: tuple[str, ...]) -> dict[str, int]:
        masks = self._masks.get(new)
        if masks is None:
            masks = self._masks[new] = {}
            for position, key in enumerate(keys):
                masks[key] = masks.get(key, 0) | 1 << position
        return masks

    def similarity(self, old: Indices, new: Indices) -> float:
        size = self.size(old, new)
        return 2.0 * self.common(old, new) / size if size else 1.0


# New runs up to this many units (nearly every news paragraph) are compared whole, with their
# masks cached (at most 4 KiB each); longer ones without their common head and tail.
_SHORT_UNITS = 256


def _masks(keys: Sequence[str], wanted: set[str]) -> dict[str, int]:
    """Bit k of ``masks[key]`` marks ``keys[k]``, for the keys in ``wanted`` only.

    Built in byte arrays: or-ing bit after bit into an int copies the int each time, which
    is quadratic in a long run of a repeated word.
    """
    positions: defaultdict[str, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        if key in wanted:
            positions[key].append(position)
    masks: dict[str, int] = {}
    for key, found in positions.items():
        bits = bytearray(len(keys) // 8 + 1)
        for position in found:
            bits[position >> 3] |= 1 << (position & 7)
        masks[key] = int.from_bytes(bits, "little")
    return masks


def _common_head(a: Sequence[str], b: Sequence[str]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def align(old: Sequence[str], new: Sequence[str], anchors: Anchoring | None = None) -> list[Link]:
    """Links covering every old and every new index exactly once, in no particular order.

    ``anchors`` replaces step 1 (``patience_anchors``); the benchmark compares matchers so.
    """
    found = (anchors or patience_anchors)(old, new)
    return _Aligner(old, new).run(found)


def patience_anchors(old: Sequence[str], new: Sequence[str]) -> list[Pair]:
    """Paragraphs unique in both versions in their longest chain, grown over equal neighbours."""
    old_once, new_once = _unique_positions(old), _unique_positions(new)
    pairs = sorted((i, new_once[text]) for text, i in old_once.items() if text in new_once)
    anchors: list[Pair] = []
    chain = [(-1, -1), *_longest_increasing(pairs), (len(old), len(new))]
    for (i0, j0), (i1, j1) in pairwise(chain):
        head = 1
        while i0 + head < i1 and j0 + head < j1 and old[i0 + head] == new[j0 + head]:
            head += 1
        tail = 1
        while i1 - tail > i0 + head - 1 and j1 - tail > j0 + head - 1 \
                and old[i1 - tail] == new[j1 - tail]:
            tail += 1
        anchors += [(i0 + k, j0 + k) for k in range(1, head)]
        anchors += [(i1 - k, j1 - k) for k in range(tail - 1, 0, -1)]
        if i1 < len(old):
            anchors.append((i1, j1))
    return anchors


def _unique_positions(paragraphs: Sequence[str]) -> dict[str, int]:
    counts = Counter(paragraphs)
    return {text: i for i, text in enumerate(paragraphs) if counts[text] == 1}


def _longest_increasing(pairs: list[Pair]) -> list[Pair]:
    """Longest subsequence of ``pairs`` (sorted by old) with increasing new indices."""
    tails: list[int] = []  # smallest new index ending a chain of each length
    tail_at: list[int] = []  # where in pairs that chain ends
    previous = [-1] * len(pairs)
    for position, (_, j) in enumerate(pairs):
        length = bisect_left(tails, j)
        if length == len(tails):
            tails.append(j)
            tail_at.append(position)
        else:
            tails[length] = j
            tail_at[length] = position
        previous[position] = tail_at[length - 1] if length else -1
    chain = []
    position = tail_at[-1] if tail_at else -1
    while position >= 0:
        chain.append(pairs[position])
        position = previous[position]
    return chain[::-1]


def _expected_positions(anchors: list[Pair], length: int) -> list[int]:
    """For each new index, its old index if the stretch since the last anchor were unchanged."""
    positions, last = [], (-1, -1)
    upcoming = iter(sorted(anchors))
    anchor = next(upcoming, None)
    for j in range(length):
        while anchor is not None and anchor[1] <= j:
            last, anchor = anchor, next(upcoming, None)
        positions.append(last[0] + j - last[1])
    return positions


def _gap_numbers(length: int, anchored: Iterable[int]) -> list[int]:
    """For each index, how many anchors come before it: equal numbers share a gap."""
    numbers, passed, anchor_set = [], 0, set(anchored)
    for index in range(length):
        numbers.append(passed)
        passed += index in anchor_set
    return numbers


def _similar_pairs(
    scorer: _Scorer, old: Sequence[int], new: Sequence[int], threshold: float,
    expected: Sequence[int],
) -> dict[Pair, float]:
    """Pairs with similarity ≥ threshold, each new paragraph's best MAX_PARTNERS by bound.

    ``expected[j]`` is where new paragraph j would stand in the old version if nothing
    moved; among equally good partners the closest to it wins.
    """
    frequency: Counter[str] = Counter()
    for side, indices in (("old", old), ("new", new)):
        for index in indices:
            frequency.update(scorer.bag(side, (index,)))

    def prefix(side: str, index: int) -> list[str]:
        # Rarest first; sorting by text first makes ties independent of string hashing.
        ordered = sorted(sorted(scorer.bag(side, (index,))), key=frequency.__getitem__)
        needed = math.ceil(threshold * len(ordered) / (2.0 - threshold) - 1e-9)
        return ordered[: len(ordered) - needed + 1]

    postings: defaultdict[str, list[int]] = defaultdict(list)
    for i in old:
        for key in prefix("old", i):
            postings[key].append(i)
    old_bags = {i: scorer.bag("old", (i,)) for i in old}
    found = {}
    for j in new:
        new_bag = scorer.bag("new", (j,))
        partners = _gather(postings, prefix("new", j), scorer.identical, j, expected[j])
        # Multiset overlap bounds the common words: the cheapest score worth sorting by.
        overlaps = sorted((-len(old_bags[i] & new_bag), abs(i - expected[j]), i)
                          for i in partners)
        for negative_overlap, _, i in overlaps[:MAX_PARTNERS]:
            if -2.0 * negative_overlap >= threshold * scorer.size((i,), (j,)):
                similarity = scorer.similarity((i,), (j,))
                if similarity >= threshold:
                    found[i, j] = similarity
    return found


def _gather(postings: Mapping[str, list[int]], keys: Iterable[str],
            identical: Callable[[int, int], bool], j: int, near: int) -> list[int]:
    """At most ``_GATHER_MAX`` old paragraphs, not identical to new j, sharing its keys.

    Rarest key first, then closest to ``near``, so that repeated paragraphs pair locally.
    """
    partners: dict[int, None] = {}
    skipped = 0  # copies of j itself: a page of repeated paragraphs must not make it slow
    for key in keys:
        for i in _closest_first(postings.get(key, []), near):
            if i in partners:
                continue
            if identical(i, j):
                skipped += 1
                if skipped == _SKIP_MAX:
                    return list(partners)
                continue
            partners[i] = None
            if len(partners) == _GATHER_MAX:
                return list(partners)
    return list(partners)


def _closest_first(positions: list[int], target: int) -> Iterable[int]:
    """The sorted ``positions`` in order of distance to ``target``."""
    after = bisect_left(positions, target)
    before = after - 1
    while before >= 0 or after < len(positions):
        if after >= len(positions) or (
            before >= 0 and target - positions[before] <= positions[after] - target
        ):
            yield positions[before]
            before -= 1
        else:
            yield positions[after]
            after += 1


class _Aligner:
    """One alignment in progress: what is taken, where the gaps are, the candidates."""

    def __init__(self, old: Sequence[str], new: Sequence[str]) -> None:
        self.old, self.new = old, new
        self.scorer = _Scorer(old, new)
        self.links: list[Link] = []
        self.old_free = set(range(len(old)))
        self.new_free = set(range(len(new)))

    def run(self, anchors: list[Pair]) -> list[Link]:
        for i, j in anchors:
            self._take(Link("equal", (i,), (j,), 1.0))
        self.old_gap = _gap_numbers(len(self.old), (i for i, _ in anchors))
        self.new_gap = _gap_numbers(len(self.new), (j for _, j in anchors))
        self._take_unique_moves()
        expected = _expected_positions(anchors, len(self.new))
        self.candidates = _similar_pairs(
            self.scorer, sorted(self.old_free), sorted(self.new_free), SEED_MIN, expected,
        )
        self.candidates.update(self._identical_pairs_in_gaps(expected))
        # Every step below takes candidates in this order; sorting once keeps huge gaps cheap.
        self.ranked = sorted(self.candidates, key=self._preference)
        self._take_distant_moves()
        for item in _heaviest_chain(self._chain_items()):
            self._take(item.link)
        self._take_leftover_moves()
        self.links += [Link("delete", (i,), ()) for i in sorted(self.old_free)]
        self.links += [Link("insert", (), (j,)) for j in sorted(self.new_free)]
        return self.links

    def _take_unique_moves(self) -> None:
        """Text unique in both versions but not anchored: it crossed the anchors."""
        old_once, new_once = _unique_positions(self.old), _unique_positions(self.new)
        for text, i in old_once.items():
            j = new_once.get(text)
            if j is not None and i in self.old_free and j in self.new_free:
                self._take(Link("move", (i,), (j,), 1.0))

    def _identical_pairs_in_gaps(self, expected: Sequence[int]) -> dict[Pair, float]:
        """Pairs of identical free paragraphs within a gap (repeated "CNN", credits).

        Each new paragraph is offered the ``MAX_PARTNERS`` copies closest to where it would
        stand in the old version, and only two where a gap holds more than ``_GATHER_MAX``
        copies (no news page does), so that a gap of thousands of equal paragraphs stays
        linear and small.
        """
        old_by_text: defaultdict[tuple[int, str], list[int]] = defaultdict(list)
        for i in sorted(self.old_free):
            old_by_text[self.old_gap[i], self.old[i]].append(i)
        pairs: dict[Pair, float] = {}
        for j in self.new_free:
            copies = old_by_text.get((self.new_gap[j], self.new[j]), [])
            offered = MAX_PARTNERS if len(copies) <= _GATHER_MAX else 2
            closest = islice(_closest_first(copies, expected[j]), offered)
            pairs.update(((i, j), 1.0) for i in closest)
        return pairs

    def _take(self, link: Link) -> None:
        self.links.append(link)
        self.old_free.difference_update(link.old)
        self.new_free.difference_update(link.new)

    def _preference(self, pair: Pair) -> tuple[float, bool, int, int, int]:
        """Total order of candidates: most similar, then same gap, then closest."""
        i, j = pair
        return (self.candidates[pair], self._same_gap(pair), -abs(i - j), -i, -j)

    def _same_gap(self, pair: Pair) -> bool:
        return self.old_gap[pair[0]] == self.new_gap[pair[1]]

    @staticmethod
    def _best_partners(ranked: Iterable[Pair]) -> tuple[dict[int, Pair], dict[int, Pair]]:
        """The preferred pair of each old and of each new paragraph among ``ranked`` pairs,
        given from the least preferred to the most."""
        best_of_old: dict[int, Pair] = {}
        best_of_new: dict[int, Pair] = {}
        for pair in ranked:
            best_of_old[pair[0]] = best_of_new[pair[1]] = pair
        return best_of_old, best_of_new

    def _take_distant_moves(self) -> None:
        """Pairs in different gaps, each the other's best partner, similar enough to move."""
        best_of_old, best_of_new = self._best_partners(self.ranked)
        for pair in sorted(best_of_old.values()):
            mutual = best_of_new[pair[1]] == pair
            if mutual and not self._same_gap(pair) and self.candidates[pair] >= MOVE_MIN:
                self._take(Link("move", *_singles(pair), self.candidates[pair]))

    def _chain_items(self) -> list[_Item]:
        in_gap = [pair for pair in self.ranked if self._free_in_gap(*_singles(pair))]
        items = [item for pair in in_gap if (item := self._pair_item(pair))]
        # A split's largest piece and the paragraph it came from are each other's best
        # partner (likewise for merges), so only mutual best pairs seed runs; an identical
        # pair leaves nothing for another piece to match.
        best_of_old, best_of_new = self._best_partners(in_gap)
        seeds = [pair for pair in best_of_old.values()
                 if best_of_new[pair[1]] == pair and not self.scorer.identical(*pair)]
        runs = {run for seed in seeds for run in self._runs_around(seed)}
        items += [item for run in sorted(runs) if (item := self._multi_item(*run))]
        return items

    def _runs_around(self, seed: Pair) -> Iterable[tuple[Indices, Indices]]:
        """Split and merge runs through a seed pair whose other pieces could contribute.

        A piece can only bring words of the single side that the seed pair left unmatched,
        so none may be longer than that slack over PIECE_MIN: a near-identical pair can only
        grow by a piece the size of a credit or a dateline.
        """
        i, j = seed
        common = self.scorer.common((i,), (j,))
        slack = {"new": len(self.scorer.keys("old", (i,))) - common,
                 "old": len(self.scorer.keys("new", (j,))) - common}
        runs = [*(_split_runs(i, j) if slack["new"] else ()),
                *(_merge_runs(i, j) if slack["old"] else ())]
        for old, new in runs:
            if not self._free_in_gap(old, new):
                continue
            side, others = ("new", set(new) - {j}) if len(new) > 1 else ("old", set(old) - {i})
            longest = max(len(self.scorer.keys(side, (k,))) for k in others)
            if PIECE_MIN * longest <= slack[side]:
                yield old, new

    def _free_in_gap(self, old: Indices, new: Indices) -> bool:
        if not (self.old_free.issuperset(old) and self.new_free.issuperset(new)):
            return False
        gaps = {self.old_gap[i] for i in old} | {self.new_gap[j] for j in new}
        return len(gaps) == 1

    def _pair_item(self, pair: Pair) -> _Item | None:
        old, new = _singles(pair)
        if self.old[pair[0]] == self.new[pair[1]]:
            weight = len(self.scorer.keys("old", old)) + _EQUAL_BONUS
            return _Item(weight, Link("equal", old, new, 1.0))
        if self.candidates[pair] >= MODIFY_MIN:
            weight = self.scorer.common(old, new)
            return _Item(weight, Link("modify", old, new, self.candidates[pair]))
        return None

    def _multi_item(self, old: Indices, new: Indices) -> _Item | None:
        scorer = self.scorer
        if not all(self._piece_may_contribute(old, new, k) for k in range(len(old) + len(new) - 1)):
            return None
        pieces = scorer.length("old", old) if len(old) > 1 else scorer.length("new", new)
        # What the pieces lose on removal adds up to at most the common words, so those
        # must reach PIECE_MIN of all pieces' words: the bag overlap bounds them cheaply.
        needed = max(MODIFY_MIN * scorer.size(old, new) / 2.0, PIECE_MIN * pieces)
        for bound in (scorer.overlap, scorer.common):
            if bound(old, new) < needed:
                return None
        if not all(self._piece_contributes(old, new, k) for k in range(len(old) + len(new) - 1)):
            return None
        op = "merge" if len(old) > 1 else "split"
        return _Item(scorer.common(old, new), Link(op, old, new, scorer.similarity(old, new)))

    def _piece_may_contribute(self, old: Indices, new: Indices, k: int) -> bool:
        """Cheap necessary condition of ``_piece_contributes``: enough shared words."""
        if len(old) > 1:
            piece, single = (old[k],), new
            shared, words = self.scorer.overlap(piece, single), len(self.scorer.keys("old", piece))
        else:
            piece, single = (new[k],), old
            shared, words = self.scorer.overlap(single, piece), len(self.scorer.keys("new", piece))
        return shared >= PIECE_MIN * words

    def _piece_contributes(self, old: Indices, new: Indices, k: int) -> bool:
        """True if piece k of the run brings PIECE_MIN of its words as common words."""
        if len(old) > 1:
            piece, rest = (old[k],), (old[:k] + old[k + 1 :], new)
            words = len(self.scorer.keys("old", piece))
        else:
            piece, rest = (new[k],), (old, new[:k] + new[k + 1 :])
            words = len(self.scorer.keys("new", piece))
        lost = self.scorer.common(old, new) - self.scorer.common(*rest)
        return lost >= PIECE_MIN * words

    def _take_leftover_moves(self) -> None:
        """Unpaired identical paragraphs in order, then similar ones, most similar first."""
        old_by_text: defaultdict[str, deque[int]] = defaultdict(deque)
        for i in sorted(self.old_free):
            old_by_text[self.old[i]].append(i)
        for j in sorted(self.new_free):
            if old_by_text[self.new[j]]:
                self._take(Link("move", (old_by_text[self.new[j]].popleft(),), (j,), 1.0))
        for pair in reversed(self.ranked):
            free = pair[0] in self.old_free and pair[1] in self.new_free
            if free and self.candidates[pair] >= MOVE_MIN:
                self._take(Link("move", *_singles(pair), self.candidates[pair]))


def _singles(pair: Pair) -> tuple[Indices, Indices]:
    return (pair[0],), (pair[1],)


def _split_runs(i: int, j: int) -> Iterable[tuple[Indices, Indices]]:
    """Old paragraph i against every run of 2..MAX_PARTS new paragraphs that includes j."""
    for parts in range(2, MAX_PARTS + 1):
        for first in range(max(j - parts + 1, 0), j + 1):
            yield (i,), tuple(range(first, first + parts))


def _merge_runs(i: int, j: int) -> Iterable[tuple[Indices, Indices]]:
    for new, old in _split_runs(j, i):
        yield old, new


def _heaviest_chain(items: list[_Item]) -> list[_Item]:
    """Heaviest set of items increasing in both old and new indices, without overlap.

    Items are swept by first old index. A Fenwick tree indexed by the end of an item's new
    run holds the best chain ending there, over the items whose old run has already ended.
    """
    items.sort(key=lambda item: (item.link.old, item.link.new))
    by_end = sorted(range(len(items)), key=lambda k: items[k].link.old[-1])
    tree = _MaxTree(max((item.link.new[-1] + 1 for item in items), default=0))
    best = [0.0] * len(items)
    previous = [-1] * len(items)
    ended = 0
    for k, item in enumerate(items):
        while ended < len(by_end) and items[by_end[ended]].link.old[-1] < item.link.old[0]:
            done = by_end[ended]
            tree.raise_to(items[done].link.new[-1] + 1, best[done], done)
            ended += 1
        score, previous[k] = tree.best_up_to(item.link.new[0])
        best[k] = score + item.weight
    chain = []
    k = max(range(len(items)), key=best.__getitem__, default=-1)
    while k >= 0:
        chain.append(items[k])
        k = previous[k]
    return chain[::-1]


class _MaxTree:
    """Fenwick tree of prefix maxima of (score, item) over positions 1..width."""

    def __init__(self, width: int) -> None:
        self._score = [0.0] * (width + 1)
        self._item = [-1] * (width + 1)

    def raise_to(self, position: int, score: float, item: int) -> None:
        while position < len(self._score):
            if score > self._score[position]:
                self._score[position], self._item[position] = score, item
            position += position & -position

    def best_up_to(self, position: int) -> tuple[float, int]:
        score, item = 0.0, -1
        while position > 0:
            if self._score[position] > score:
                score, item = self._score[position], self._item[position]
            position -= position & -position
        return score, item
