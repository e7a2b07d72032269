"""The diff's output pinned as data: known single edits, and an approved multi-edit snapshot.

Cases and the approved output live in ``tests/fixtures/diff_snapshot/``; see
``tests/diff_snapshot.py`` for what they are and how to regenerate them on purpose.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.diff_snapshot import APPROVED, corpus_cases, single_edit_cases
from tracker.diff import diff_documents, diff_paragraphs

SINGLE = single_edit_cases()
CORPUS = corpus_cases()
APPROVED_DIFFS: dict[str, Any] = json.loads(APPROVED.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("old", "new", "expected"), [case[1:] for case in SINGLE],
                         ids=[case[0] for case in SINGLE])
def test_known_single_edit_gives_exactly_its_ops(
    old: list[str], new: list[str], expected: set[tuple[str, tuple[int, ...], tuple[int, ...]]]
) -> None:
    got = {(op.op, op.old, op.new) for op in diff_paragraphs(old, new) if op.op != "equal"}
    assert got == expected


def test_single_edits_cover_every_kind_of_edit() -> None:
    kinds = {op for *_, expected in SINGLE for op, _, _ in expected}
    assert kinds == {"modify", "insert", "delete", "move", "split", "merge"}
    assert len(SINGLE) == 140


def test_every_corpus_case_has_an_approved_diff() -> None:
    assert sorted(APPROVED_DIFFS) == sorted(name for name, _, _ in CORPUS)


@pytest.mark.parametrize(("name", "old", "new"), CORPUS, ids=[case[0] for case in CORPUS])
def test_corpus_case_matches_its_approved_diff(name: str, old: list[str], new: list[str]) -> None:
    approved = APPROVED_DIFFS[name]
    diff = json.loads(json.dumps(diff_documents(old, new).to_json()))
    # Compare op by op first, so that a failure names the first op that differs.
    for position, (got, want) in enumerate(zip(diff["ops"], approved["ops"], strict=False)):
        assert got == want, f"op {position} of {name!r}"
    assert diff == approved
