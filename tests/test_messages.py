"""Messages a person reads: titles, marks per dialect, cuts that never split a word or a mark,
and hostile article text that smuggles no mention, link or formatting into any dialect."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.changeview import build_change
from tracker.diff import diff_documents
from tracker.messages import ZWSP, Dialect, Notice, headline, render, render_digest

OLD = ["Der Minister sagte am Montag in Berlin, er werde zurücktreten, falls die Koalition "
       "scheitert und alles ganz anders kommt als gedacht.",
       "Ein zweiter Absatz, der bleibt.", "Dritter Absatz fällt weg."]
HOSTILE = ("Hallo @channel @here @everyone <!everyone> <!channel> <@U123> "
           "[klick hier](http://evil.example/x) **fett** __unter__ ~durch~ `code` # Titel "
           "<b>fett</b> <script>alert(1)</script> &amp; *stern*")
CLEAN = [OLD[0].replace("Montag", "Dienstag"), OLD[1], "Ein ganz neuer Absatz."]
NEW = ["Der Minister sagte am Dienstag in Berlin, er werde zurücktreten, falls die Koalition "
       "scheitert und alles ganz anders kommt als gedacht. " + HOSTILE,
       "Ein zweiter Absatz, der bleibt.", "Ein neuer Absatz: " + HOSTILE]


def notice(old: list[str] = OLD, new: list[str] = NEW, title: str = "Alt",
           new_title: str = "Neu", diff_url: str | None = "https://t.example/articles/1/diff/1..2",
           ) -> Notice:
    diff = diff_documents(old, new, {"title": title}, {"title": new_title})
    change = build_change(diff, [("p", t) for t in old], [("p", t) for t in new])
    return Notice("article.changed", "https://example.org/story", new_title, diff_url, change)


def test_titles_say_what_happened() -> None:
    assert headline(notice()) == "Headline changed: Neu"
    same_title = notice(title="Neu")
    assert headline(same_title) == "3 paragraphs changed in Neu"
    assert headline(Notice("article.deleted", "https://e.org/a", "Story")) == (
        "Article deleted: Story")
    assert headline(Notice("article.gutted", "https://e.org/a", None)) == (
        "Article gutted: https://e.org/a")


@pytest.mark.parametrize(("dialect", "deleted", "inserted"), [
    (Dialect.MARKDOWN, "~~Montag~~", "**Dienstag**"),
    (Dialect.SLACK, "~Montag~", "*Dienstag*"),
    (Dialect.HTML, ">Montag</del>", ">Dienstag</ins>"),
    (Dialect.TEXT, "[-Montag-]", "{+Dienstag+}"),
])
def test_each_dialect_marks_deleted_and_inserted_words(
    dialect: Dialect, deleted: str, inserted: str
) -> None:
    body = render(notice(new=CLEAN), dialect, limit=20_000).body
    assert deleted in body
    assert inserted in body
    assert "https://example.org/story" in body
    assert "https://t.example/articles/1/diff/1..2" in body
    assert "1 inserted" in body  # the summary counts
    assert "als gedacht" not in body  # the context shortened…
    assert "… und alles ganz anders" not in body
    assert "falls die Koalition …" in body


def _mentions(body: str) -> list[str]:
    return re.findall(r"@(?:channel|here|everyone)\b|<!\w+>|<@U\d+>", body)


@pytest.mark.parametrize("dialect", list(Dialect))
def test_hostile_text_smuggles_nothing(dialect: Dialect) -> None:
    message = render(notice(new_title="@channel <!everyone> [x](http://evil)"), dialect,
                     limit=20_000)
    for text in (message.title, message.body):
        assert _mentions(text) == []
        assert "@" + ZWSP + "channel" in text or "@" not in text
    body = message.body
    if dialect is Dialect.MARKDOWN:
        assert "[klick hier](http" not in body
        assert r"\[klick hier\]\(http" in body
        assert "**fett**" not in body.replace("**Dienstag**", "")
        assert r"\*\*fett\*\*" in body
    if dialect is Dialect.SLACK:
        assert "<http://evil" not in body
        assert "&lt;!everyone&gt;" in body
        assert "*fett*" not in body.replace("*Dienstag*", "")
    if dialect is Dialect.HTML:
        assert "<script>" not in body
        assert "<b>" not in body
        assert "&lt;script&gt;" in body
        assert "&amp;amp;" in body
    if dialect is Dialect.TEXT:
        assert "@channel" not in body


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize("limit", [300, 600, 900, 1500])
def test_cut_to_the_limit_never_mid_word_or_mark(dialect: Dialect, limit: int) -> None:
    long_new = [p + " " + " ".join(f"wort{i}" for i in range(300)) for p in NEW]
    message = render(notice(new=long_new), dialect, limit=limit)
    body = message.body
    assert len(body) <= limit
    assert "more change" in body or "cut short" in body
    assert "https://t.example/articles/1/diff/1..2" in body  # the link to see them all
    _balanced(body, dialect)
    words = set(" ".join(OLD + long_new + [HOSTILE]).split())
    for token in re.findall(r"wort\d+", body):
        assert token in words  # never "wort1" cut from "wort123"… unless a real word


def _balanced(body: str, dialect: Dialect) -> None:
    if dialect is Dialect.HTML:
        assert body.count("<del") == body.count("</del>")
        assert body.count("<ins") == body.count("</ins>")
        assert body.count("<p>") == body.count("</p>")
        assert body.endswith("</div>")
    if dialect is Dialect.MARKDOWN:
        assert re.sub(r"\\.", "", body).count("~~") % 2 == 0
        assert re.sub(r"\\.", "", body).count("**") % 2 == 0
    if dialect is Dialect.TEXT:
        assert body.count("[-") == body.count("-]")
        assert body.count("{+") == body.count("+}")


def test_one_huge_paragraph_is_cut_word_by_word() -> None:
    huge = ["Anfang " + " ".join(["x" * 30] * 20_000)]
    body = render(notice(old=["Anfang"], new=huge, title="T", new_title="T"),
                  Dialect.MARKDOWN, limit=2000).body
    assert len(body) <= 2000
    assert "**" in body  # a piece of the inserted words, its mark closed
    assert re.sub(r"\\.", "", body).count("**") % 2 == 0


def test_digest_lists_each_event() -> None:
    notices = [notice(), Notice("article.deleted", "https://example.org/b", "B @here")]
    message = render_digest(notices, Dialect.TEXT, period="hour", limit=5000)
    assert message.title == "2 updates in the last hour"
    assert "Headline changed: Neu" in message.body
    assert "Article deleted: B @" + ZWSP + "here" in message.body
    short = render_digest(notices * 20, Dialect.TEXT, period="hour", limit=600)
    assert len(short.body) <= 600
    assert "more changes" in short.body


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=300), st.sampled_from(list(Dialect)),
       st.integers(min_value=200, max_value=3000))
def test_any_text_any_limit(text: str, dialect: Dialect, limit: int) -> None:
    message = render(notice(new=[text, *NEW[1:]], new_title=text[:50]), dialect, limit=limit)
    assert len(message.body) <= limit
    assert _mentions(message.body) == []
    assert _mentions(message.title) == []
