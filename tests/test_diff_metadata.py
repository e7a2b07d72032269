"""The metadata diff (tracker.diff.diff_metadata) against deepdiff, which compares what
changed: the same changed keys on generated JSON values as deepdiff compares them key by key,
and unchanged metadata settled without importing deepdiff.

deepdiff compares two mappings that share under a third of their keys as one whole value
(``threshold_to_diff_deeper``), and names no key then: before, a new title with three new
fields beside it was no metadata change at all."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from deepdiff import DeepDiff
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracker.diff import diff_metadata

EXAMPLES = int(os.environ.get("TRACKER_PROPERTY_EXAMPLES", "200"))
KEYS = st.sampled_from(["title", "byline", "image", "tags", "__private", "_x", "rating"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, 1, 2, 0.0, 1.0, -0.0, 2.5]),
    st.floats(allow_nan=True), st.sampled_from(["a", "b", "Kim\u00a0Jong Un ", "Kim Jong Un"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
METADATA = st.dictionaries(KEYS, VALUES, max_size=5)


def deepdiff_keys(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """deepdiff's changed keys of the normalised metadata, always compared key by key."""
    from tracker.diff import _comparable

    diff = DeepDiff(_comparable(old), _comparable(new), threshold_to_diff_deeper=0)
    return set(diff.affected_root_keys)


@settings(max_examples=EXAMPLES, deadline=None)
@given(METADATA, METADATA)
@example({"rating": [1]}, {"rating": [1.0]})
@example({"rating": 1}, {"rating": 1.0})
@example({"__private": "a"}, {"__private": "b"})
@example({"image": {"__private": 1}}, {"image": {"__private": 2}})
@example({"tags": [float("nan")]}, {"tags": [float("nan")]})
def test_changed_keys_are_deepdiffs(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert {change.key for change in diff_metadata(old, new)} == deepdiff_keys(old, new)


@settings(max_examples=EXAMPLES, deadline=None)
@given(METADATA)
def test_metadata_is_the_same_as_itself(metadata: dict[str, Any]) -> None:
    assert diff_metadata(metadata, metadata) == ()


def test_few_shared_keys_still_name_each_change() -> None:
    old = {"title": "Alt"}
    new = {"title": "Neu", "byline": "CNN", "modified": "2024-06-19", "image": "a.jpg"}
    assert [change.key for change in diff_metadata(old, new)] == [
        "title", "byline", "modified", "image"]
    assert [change.key for change in diff_metadata({}, {"a": [1], "b": {"c": 2}})] == ["a", "b"]


def test_unchanged_metadata_is_settled_without_deepdiff() -> None:
    code = (
        "import sys\n"
        "from tracker.diff import diff_metadata\n"
        "old = {'title': 'Alt', 'byline': 'CNN', 'modified': '2024-06-19T10:00'}\n"
        "print(diff_metadata(old, dict(old)), 'deepdiff' in sys.modules, end=' ')\n"
        "new = {'title': 'Neu', 'modified': '2024-06-19T11:00', 'image': 'a.jpg'}\n"
        "print([c.key for c in diff_metadata(old, new)], 'deepdiff' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == "() False ['title', 'byline', 'modified', 'image'] True"
