"""``tracker list`` piped is drawn without rich's renderables (tracker.cli.output.plain_articles),
character for character as rich draws the same table: rich itself is the oracle, over
generated hostile titles, URLs and errors (controls, bidi marks, wide and combining
characters, markup)."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracker.cli import output
from tracker.cli.common import console

PIECES = ["a", "Z", " ", "ß", "é", "e\u0301", "漢", "字", "👍", "🏳️\u200d🌈", "\u200b", "\u200d",
          "\x1b", "\x9b", "\u202e", "\u2028", "\n", "\t", "[bold]", "[/]", "…", "—", ":", "\\",
          "\ufe0f", "\u0000", "\r"]  # fmt: skip
# Text the plain table draws itself (controls are shown escaped, in ASCII), leading and
# trailing spaces, markup, typographic punctuation included.
PLAIN_PIECES = ["a", "Z", " ", "  ", "ß", "é", "Ω", "ж", "—", "…", "„", "“", "€", "[bold]", "[/]",
                "\\", "\x1b", "\n", "\t", "\x9b", "\u202e", ":", "#"]  # fmt: skip
HOSTILE = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
PLAIN = st.lists(st.sampled_from(PLAIN_PIECES), max_size=40).map("".join)


def article(title: str | None, url: str, error: str | None, failures: int,
            developing: bool) -> dict[str, Any]:
    return {
        "url": "http://news.example/" + url, "title": title, "versions": failures * 3,
        "last_checked": "2024-06-19T14:10:03Z" if failures % 2 else None,
        "next_check": "2024-06-19T14:20:03.250000Z", "state": "active",
        "interval": 600 + failures, "base_interval": 600, "failures": failures,
        "last_error": error, "selector": None, "tags": [], "developing": developing,
    }


ARTICLES = st.sampled_from([HOSTILE, PLAIN]).flatmap(lambda text: st.lists(st.builds(
    article, st.none() | text, text, st.none() | text, st.integers(0, 3), st.booleans()),
    max_size=6))  # fmt: skip


def drawn_by_rich(articles: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> str:
    """What ``print_articles`` writes to a piped standard output."""
    piped = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", piped)
    output.print_articles(console(), articles)
    piped.flush()
    return piped.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(ARTICLES)
@example([])
@example([article("Ein [bold]Titel[/] \x1b]0;pwn\x07 漢字 👍", "a b", "x\n" * 40, 2, True)])
def test_the_plain_table_is_the_one_rich_draws(articles: list[dict[str, Any]]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
        monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
        expected = drawn_by_rich(articles, monkeypatch)
        piped = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        monkeypatch.setattr(sys, "stdout", piped)
        plain = output.plain_articles(articles)  # None: rich draws it (emoji, CJK, joiners …)
        assert plain is None or plain == expected


def test_news_text_takes_the_plain_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headlines in Latin, Greek and Cyrillic script, typographic punctuation, escaped
    controls and markup as text: no need for rich."""
    articles = [article("„Putin“ und Kim — Beistandspakt… [bold]x[/] \x1b]0;pwn\x07 ¶ €",
                        "story?id=1&x=ä", "Zeitüberschreitung\n(ΑΒΓ, абв)", 1, True),
                article(None, "b", None, 0, False)]
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    expected = drawn_by_rich(articles, monkeypatch)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert output.plain_articles(articles) == expected
    assert "\\x1b]0;pwn\\x07" in expected  # the control is shown escaped, as before


def test_rich_draws_where_it_would_draw_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forced colours or an output that is not UTF-8: rich's own table, styles or ASCII box."""
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert output.plain_articles([]) is not None
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert output.plain_articles([]) is None
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="latin-1"))
    assert output.plain_articles([]) is None


def test_a_title_wider_than_the_table_is_left_to_rich() -> None:
    assert output.plain_table("x" * 200, ["a"], [["b"]]) is None
    assert output.plain_table("x", ["a"], [["b"]]) == "x    \n┏━━━┓\n┃ a ┃\n┡━━━┩\n│ b │\n└───┘\n"
