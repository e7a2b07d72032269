"""Paragraph reference lists: key frames and deltas decode to exactly the ids encoded."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from db.refs import KEYFRAME_EVERY, decode, encode, is_keyframe, paragraph_id

VERSIONS = 100


def random_edit(ids: list[int], rng: random.Random) -> list[int]:
    """The next version: one to three inserts, deletes, replacements or moves."""
    new = list(ids)
    for _ in range(rng.randint(1, 3)):
        action = rng.choice(["insert", "delete", "replace", "move"]) if new else "insert"
        fresh = rng.getrandbits(63)
        at = rng.randrange(len(new) + 1)
        if action == "insert":
            new.insert(at, fresh)
        elif action == "delete":
            new.pop(rng.randrange(len(new)))
        elif action == "replace":
            new[rng.randrange(len(new))] = fresh
        else:
            new.insert(at, new.pop(rng.randrange(len(new))))
    return new


def edit_history(seed: int, start: int = 30) -> list[list[int]]:
    rng = random.Random(seed)
    versions = [[rng.getrandbits(63) for _ in range(start)]]
    while len(versions) < VERSIONS:
        versions.append(random_edit(versions[-1], rng))
    return versions


def encoded(versions: list[list[int]]) -> list[bytes]:
    """Stored rows, as db.queries.store_version writes them (versions numbered from 1)."""
    rows = []
    for number, ids in enumerate(versions, start=1):
        rows.append(encode(ids, versions[number - 2] if number > 1 else None, number))
    return rows


def read_version(rows: list[bytes], number: int) -> list[int]:
    """Version ``number`` from the last key frame at or before it, as db.queries reads it."""
    start = max(n for n in range(1, number + 1) if is_keyframe(rows[n - 1]))
    return decode(rows[start - 1 : number])


@pytest.mark.parametrize("seed", range(5))
def test_every_version_of_a_random_history_decodes_to_its_ids(seed: int) -> None:
    versions = edit_history(seed)
    rows = encoded(versions)
    assert [read_version(rows, n) for n in range(1, VERSIONS + 1)] == versions


def test_history_that_empties_and_refills_round_trips() -> None:
    versions = [[1, 2, 3], [], [], [4], [4, 1, 2, 3], []]
    rows = encoded(versions)
    assert [read_version(rows, n) for n in range(1, len(versions) + 1)] == versions


def test_first_version_is_a_key_frame() -> None:
    assert is_keyframe(encode([1, 2, 3], None, 1))


def test_key_frame_every_keyframe_every_versions() -> None:
    rows = encoded(edit_history(seed=7))
    keyframes = [n for n, row in enumerate(rows, start=1) if is_keyframe(row)]
    assert keyframes == list(range(1, VERSIONS + 1, KEYFRAME_EVERY))


def test_reading_any_version_needs_fewer_than_keyframe_every_rows() -> None:
    rows = encoded(edit_history(seed=8))
    for number in range(1, VERSIONS + 1):
        start = max(n for n in range(1, number + 1) if is_keyframe(rows[n - 1]))
        assert number - start < KEYFRAME_EVERY


def test_version_without_a_previous_list_is_a_key_frame() -> None:
    assert is_keyframe(encode([1, 2, 3], None, 5))


@pytest.mark.parametrize("edit", ["insert", "delete", "replace"])
def test_one_paragraph_edit_stores_a_delta_much_smaller_than_a_key_frame(edit: str) -> None:
    previous = list(range(1000, 1030))
    ids = list(previous)
    if edit == "insert":
        ids.insert(12, 99)
    elif edit == "delete":
        del ids[12]
    else:
        ids[12] = 99
    delta = encode(ids, previous, 2)
    assert not is_keyframe(delta)
    assert len(delta) * 4 < len(encode(ids, None, 2))
    assert decode([encode(previous, None, 1), delta]) == ids


def test_complete_rewrite_falls_back_to_a_key_frame() -> None:
    assert is_keyframe(encode(list(range(100, 130)), list(range(30)), 2))


def test_negative_and_extreme_ids_round_trip() -> None:
    ids = [0, -1, 2**63 - 1, -(2**63), 42]
    assert decode([encode(ids, None, 1)]) == ids


def test_paragraph_id_is_63_bit_and_non_negative() -> None:
    rng = random.Random(3)
    ids = [paragraph_id("text", f"Absatz {rng.random()}") for _ in range(2000)]
    assert all(0 <= i < 2**63 for i in ids)
    assert max(ids) >= 2**62  # the top bit of the 63 is used: ids are not accidentally narrower


def test_paragraph_id_depends_on_kind_and_text() -> None:
    text = "Wladimir Smirnow/Sputnik/Pool/Reuters"
    assert paragraph_id("credit", text) != paragraph_id("caption", text)
    assert paragraph_id("text", text) != paragraph_id("text", text + ".")


def test_paragraph_id_is_stable_across_processes() -> None:
    # A hash() based id would differ between interpreter runs (string hashing is salted).
    code = "from db.refs import paragraph_id; print(paragraph_id('text', 'Grüße aus Pjöngjang'))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONIOENCODING": "utf-8"},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outputs == {str(paragraph_id("text", "Grüße aus Pjöngjang"))}


ONE = b"K\x01" + b"\x00" * 8  # a key frame holding id 0
CORRUPT = {
    "truncated key frame": [b"K\x02" + b"\x00" * 15],
    "key frame with trailing bytes": [b"K\x01" + b"\x00" * 9],
    "truncated count": [b"K\x80"],
    "truncated new id": [ONE, b"DN\x00\x00"],
    "copy beyond the previous list": [ONE, b"DC\x00\x05"],
    "truncated copy": [ONE, b"DC\x00"],
    "unknown instruction": [ONE, b"DX"],
    "unknown header": [ONE, b"ZC\x00\x01"],
    "empty row": [ONE, b""],
    "delta without a key frame": [b"DC\x00\x00"],
    "empty chain": [],
}


@pytest.mark.parametrize("what", CORRUPT)
def test_corrupt_data_raises_value_error(what: str) -> None:
    with pytest.raises(ValueError, match="corrupt paragraph reference list"):
        decode(CORRUPT[what])
