"""A change as people read it: the presentation model behind the web diff page, the Atom feeds
and the HTML report, so that they always agree.

``build_change`` turns a ``tracker.diff.Diff`` and the paragraphs of both versions into plain
values:

- a summary line first ("2 inserted, 1 modified, 1 moved · headline changed", or "no
  differences");
- the headline as a word diff, and the other metadata changes as rows of a small table;
- blocks in reading order: runs of inserted or deleted paragraphs grouped into one block
  ("¶10–23 inserted"), modified paragraphs with their word runs, moves shown at their new place
  and marked at their old one (each naming the other's anchor), splits and merges as one block
  with every paragraph they involve, and runs of unchanged paragraphs as one ``same`` block that
  a renderer folds with its count.

A moved paragraph's old place is where a deleted paragraph would stand (``tracker.diff`` puts a
delete right after the nearest earlier old paragraph still in sequence); the marker goes there.

Pure: no I/O, no storage, no markup. Escaping is the renderer's job (Jinja2 autoescape).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.diff import Diff, Op, WordRun, diff_words

# The order summary counts are read in; "unchanged" is never part of the summary line.
COUNT_NAMES = ("inserted", "deleted", "modified", "moved", "split", "merged")
# Metadata fields as a reader calls them, in the order the table shows them.
META_LABELS = {
    "title": "headline",
    "byline": "byline",
    "published": "publication date",
    "updated": "update date",
    "lead_image": "lead image",
    "lead_caption": "lead image caption",
    "canonical_url": "canonical URL",
    "language": "language",
}
URL_FIELDS = frozenset({"lead_image", "canonical_url"})
_LABELS = {
    "insert": "inserted",
    "delete": "deleted",
    "modify": "modified",
    "move": "moved",
    "split": "split",
    "merge": "merged",
    "moved-away": "moved away",
    "same": "unchanged",
}


Run = WordRun  # a run of words: "=" in both versions, "-" deleted, "+" inserted


@dataclass(frozen=True, slots=True)
class Para:
    """One paragraph: its 1-based number in its version (the report's ¶N), kind and text."""

    number: int
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Block:
    """A step of the change in reading order.

    ``kind``: insert | delete | modify | move | split | merge | same (unchanged, folded) |
    moved-away (where a moved paragraph used to be). ``words`` is the word diff of an edited
    paragraph (old and new texts joined for splits and merges); ``link`` is the anchor of the
    other end of a move."""

    kind: str
    old: tuple[Para, ...]
    new: tuple[Para, ...]
    anchor: str
    words: tuple[Run, ...] | None = None
    similarity: float | None = None
    link: str | None = None

    @property
    def label(self) -> str:
        """"inserted ¶10–23", "modified ¶5", "moved ¶3 → ¶9", "deleted (was ¶4)"."""
        name = _LABELS[self.kind]
        if self.kind == "insert":
            return f"{name} {numbers(self.new)}"
        if self.kind in ("delete", "moved-away"):
            where = f"(was {numbers(self.old)})"
            return f"{name} {where}" if self.kind == "delete" else f"{numbers(self.old)} {name}"
        if self.kind == "same":
            return f"{len(self.new)} unchanged {_plural(len(self.new), 'paragraph')}"
        if self.kind == "modify" and [p.number for p in self.old] == [p.number for p in self.new]:
            return f"{name} {numbers(self.new)}"
        return f"{name} {numbers(self.old)} → {numbers(self.new)}"

    @property
    def changed(self) -> bool:
        return self.kind not in ("same", "moved-away")

    @property
    def old_runs(self) -> tuple[Run, ...]:
        """What the old side shows: kept and deleted words."""
        return tuple(r for r in self.words or () if r.tag != "+")

    @property
    def new_runs(self) -> tuple[Run, ...]:
        """What the new side shows: kept and inserted words."""
        return tuple(r for r in self.words or () if r.tag != "-")


@dataclass(frozen=True, slots=True)
class MetaRow:
    field: str
    label: str
    old: str | None
    new: str | None
    is_url: bool


@dataclass(frozen=True, slots=True)
class ChangeView:
    summary: str
    counts: Mapping[str, int]
    old_title: str | None
    new_title: str | None
    headline: tuple[Run, ...] | None  # the headline's word diff, when it changed
    metadata: tuple[MetaRow, ...]  # changed metadata other than the headline
    blocks: tuple[Block, ...]

    @property
    def changes(self) -> tuple[Block, ...]:
        return tuple(b for b in self.blocks if b.changed)

    @property
    def unchanged(self) -> int:
        return sum(len(b.new) for b in self.blocks if b.kind == "same")


def numbers(paragraphs: Sequence[Para]) -> str:
    """"¶6", or "¶20–21" for a run (numbers are consecutive in every block that has several)."""
    if not paragraphs:
        return ""
    first, last = paragraphs[0].number, paragraphs[-1].number
    return f"¶{first}" if first == last else f"¶{first}–{last}"


def summary_line(counts: Mapping[str, int], metadata: Sequence[str] = ()) -> str:
    """"2 inserted, 1 modified · headline, byline changed"; "no differences" when none."""
    parts = [f"{counts[name]} {name}" for name in COUNT_NAMES if counts.get(name)]
    text = ", ".join(parts)
    fields = [META_LABELS.get(key, key) for key in _ordered_fields(metadata)]
    if fields:
        text += (" · " if text else "") + ", ".join(fields) + " changed"
    return text or "no differences"


def build_change(
    diff: Diff,
    old: Sequence[tuple[str, str]],
    new: Sequence[tuple[str, str]],
) -> ChangeView:
    """The presentation of ``diff`` between paragraph lists ``old`` and ``new`` ((kind, text)
    each, as stored)."""
    old_paras = [Para(i + 1, kind, text) for i, (kind, text) in enumerate(old)]
    new_paras = [Para(j + 1, kind, text) for j, (kind, text) in enumerate(new)]
    metadata = {change.key: change for change in diff.metadata}
    title = metadata.get("title")
    old_title = _text(title.old) if title else None
    new_title = _text(title.new) if title else None
    headline = None
    if title is not None:
        headline = diff_words(old_title or "", new_title or "")
    rows = tuple(
        MetaRow(key, META_LABELS.get(key, key), _text(metadata[key].old),
                _text(metadata[key].new), key in URL_FIELDS)
        for key in _ordered_fields(metadata) if key != "title"
    )
    counts = diff.summary.to_json()
    blocks = _blocks(list(diff.ops), old_paras, new_paras)
    return ChangeView(
        summary=summary_line(counts, list(metadata)), counts=counts, old_title=old_title,
        new_title=new_title, headline=headline, metadata=rows, blocks=tuple(blocks),
    )


def _blocks(ops: list[Op], old: list[Para], new: list[Para]) -> list[Block]:
    ordered = _with_move_markers(ops)
    blocks: list[Block] = []
    for position, (op, away) in enumerate(ordered):
        anchor = f"c{position + 1}"
        if away:
            blocks.append(Block("moved-away", _pick(old, op.old), (), f"from-{_key(op)}",
                                link=f"to-{_key(op)}"))
        elif op.op == "move":
            blocks.append(Block("move", _pick(old, op.old), _pick(new, op.new), f"to-{_key(op)}",
                                op.words or None, op.similarity, link=f"from-{_key(op)}"))
        else:
            kind = "same" if op.op == "equal" else op.op
            block = Block(kind, _pick(old, op.old), _pick(new, op.new), anchor,
                          op.words or None, op.similarity)
            if not _joined(blocks, block):
                blocks.append(block)
    return blocks


def _key(op: Op) -> str:
    return f"{op.old[0] + 1}-{op.new[0] + 1}"


def _with_move_markers(ops: list[Op]) -> list[tuple[Op, bool]]:
    """The ops, each move followed in reading order by a marker at its old place: right after
    the op holding the nearest earlier old paragraph that did not move."""
    holder: dict[int, int] = {}
    for position, op in enumerate(ops):
        if op.op != "move":
            for i in op.old:
                holder[i] = position
    keyed: list[tuple[tuple[int, int, int], Op, bool]] = [
        ((position, 0, 0), op, False) for position, op in enumerate(ops)
    ]
    for op in ops:
        if op.op == "move":
            earlier = [holder[i] for i in holder if i < op.old[0]]
            at = max(earlier) if earlier else -1
            keyed.append(((at, 1, op.old[0]), op, True))
    return [(op, away) for _, op, away in sorted(keyed, key=lambda item: item[0])]


def _joined(blocks: list[Block], block: Block) -> bool:
    """Add ``block`` to the last block when both are one run: unchanged paragraphs, inserted
    paragraphs with consecutive numbers, deleted ones with consecutive old numbers."""
    if not blocks:
        return False
    last = blocks[-1]
    if last.kind != block.kind or block.kind not in ("same", "insert", "delete"):
        return False
    if block.kind == "insert" and last.new[-1].number + 1 != block.new[0].number:
        return False
    if block.kind == "delete" and last.old[-1].number + 1 != block.old[0].number:
        return False
    blocks[-1] = Block(last.kind, last.old + block.old, last.new + block.new, last.anchor)
    return True


def _pick(paragraphs: list[Para], indices: Sequence[int]) -> tuple[Para, ...]:
    return tuple(paragraphs[i] for i in indices if 0 <= i < len(paragraphs))


def _ordered_fields(keys: Sequence[str] | Mapping[str, Any]) -> list[str]:
    known = [key for key in META_LABELS if key in keys]
    return known + sorted(key for key in keys if key not in META_LABELS)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else noun + "s"
