"""How JSON columns are written: compact (no spaces after separators) and with non-ASCII
characters as themselves, not as ``\\uXXXX`` escapes. Every event, diff summary and version's
metadata list is JSON; the default ``json.dumps`` spent a space after every comma and colon
and six bytes on each umlaut of a German headline. Readers parse the text, so the form of rows
stored before does not matter."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
