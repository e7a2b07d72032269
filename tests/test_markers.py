"""Developing-story markers in English and German, on word boundaries, and the fixture story."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.articleserver import read_lines
from tests.conftest import FIXTURES, STORY
from tracker.markers import developing_marker, is_developing

BODY = "Der russische Präsident traf am Mittwoch in Pjöngjang ein."


@pytest.mark.parametrize(
    "paragraph",
    [
        "This is a developing story.",
        "This is a developing story and will be updated.",
        "THIS IS A DEVELOPING STORY",
        "This is a breaking news story. Check back for updates.",
        "Developing story: more to follow.",
        "This story will be updated.",
        "This story is being updated as more information becomes available.",
        "This article is still developing.",
        "The story will be updated as details become available.",
        "Update: Police have confirmed two arrests.",
        "UPDATE: The minister has resigned.",
        "Updated: 14:30 GMT",
        "Update 14:30: The talks resumed.",
        "Updated at 3.45pm: Officials said the road is open again.",
        "Update (10:15 BST): More details emerged.",
        "Breaking: Explosion reported near the station.",
        "Follow our live updates for the latest.",
        "Read more in our live blog.",
        "Dies ist eine sich entwickelnde Geschichte und wird aktualisiert.",
        "Dies ist eine sich entwickelnde Lage.",
        "Dieser Artikel wird laufend aktualisiert.",
        "Der Text wird fortlaufend aktualisiert.",
        "Die Meldung wird aktualisiert.",
        "Eilmeldung: Regierung tritt zurück",
        "Alle Entwicklungen im Liveticker.",
        "Mehr dazu in unserem Liveblog.",
        "Zum Live-Ticker",
        "+++ Kim empfängt Putin am Flughafen +++",
        "  +++ 14:02 Uhr: Die Delegationen treffen sich +++ ",
        "Aktualisierung 9.30 Uhr: Die Zahl der Verletzten stieg auf zwölf.",
        "Wird aktualisiert.",
    ],
)
def test_paragraph_markers_are_found(paragraph: str) -> None:
    assert is_developing("Putin in Nordkorea", [BODY, paragraph]), paragraph


@pytest.mark.parametrize(
    "title",
    [
        "Live: Putin arrives in Pyongyang",
        "LIVE Ukraine war latest",
        "live – election night in Britain",
        "🔴 LIVE: Election results",
        "Breaking: Earthquake hits Taiwan",
        "BREAKING Earthquake hits Taiwan",
        "Breaking News – Markets fall",
        "Eilmeldung: Kanzler stellt Vertrauensfrage",
        "+++ Eilmeldung +++ Erdbeben in Taiwan",
        "Liveticker zur Europawahl",
        "Newsblog: Alle Entwicklungen im Nahost-Krieg",
        "Update: Road reopened after crash",
    ],
)
def test_headline_markers_are_found(title: str) -> None:
    assert is_developing(title, [BODY]), title


@pytest.mark.parametrize(
    "paragraph",
    [
        "The delivery of the weapons was delayed.",
        "She lived in Seoul for ten years.",
        "Oliver Smith, a spokesman, declined to comment.",
        "Ground-breaking research was presented on Tuesday.",
        "He was breaking the law, the court found.",
        "Updated guidance from the ministry says: stay indoors.",
        "The software will be updated next year, the company said in a long statement about "
        "its plans for the coming decade, which analysts found vague and unconvincing, and "
        "which several investors criticised sharply at the meeting in Frankfurt on Monday.",
        "This article has been updated to correct the spelling of a name.",
        "Die Firmware der Geräte wird nach Angaben des Herstellers im Laufe des kommenden Jahres "
        "schrittweise aktualisiert, sagte ein Sprecher am Dienstag in München vor Journalisten, "
        "die sich nach den Sicherheitslücken erkundigt hatten, die im Frühjahr bekannt wurden.",
        "Die Lieferung kam pünktlich an.",
        "Sie lebte in Pjöngjang, live übertragen wurde nichts.",
        "Korrektur, 20. Juni 2024: In einer früheren Fassung hieß es 11.000 Container.",
        "Der Preis liegt bei 3 + 4 Euro.",
        "Olivers Liveauftritt war ausverkauft.",
    ],
)
def test_ordinary_words_are_not_markers(paragraph: str) -> None:
    assert developing_marker("Putin in Nordkorea", [BODY, paragraph]) is None, paragraph


@pytest.mark.parametrize(
    "title",
    [
        "Live Nation buys another ticket seller",
        "Liverpool win the league",
        "Breaking Bad star dies at 70",
        "Oliver Twist returns to the stage",
        "Delivery drivers strike in Berlin",
        "Updated figures show growth",
        "Wie Putin und Kim ihre Beziehung aktualisiert haben",
    ],
)
def test_headlines_with_ordinary_words_are_not_markers(title: str) -> None:
    assert developing_marker(title, [BODY]) is None, title


def test_marker_names_what_it_found() -> None:
    assert developing_marker("LIVE: Wahl", []) == "LIVE:"
    assert developing_marker(None, ["This is a developing story."]) == "This is a developing story"


def test_no_title_and_no_text_is_not_developing() -> None:
    assert developing_marker(None, []) is None
    assert developing_marker("", [""]) is None


def test_the_seed_article_is_a_developing_story() -> None:
    lines = read_lines(FIXTURES / "seed_article_de.txt")
    assert developing_marker(lines[0], lines[1:]) == "sich entwickelnde Geschichte"


@pytest.mark.parametrize(("version", "developing"), [(1, True), (2, True), (3, False),
                                                     (4, False), (5, False)])
def test_fixture_story_is_developing_until_the_treaty_version(
    version: int, developing: bool
) -> None:
    """v1 and v2 end with the marker line; v3 (after the treaty was signed) dropped it."""
    lines = read_lines(STORY / f"v{version}.txt")
    assert is_developing(lines[0], lines[1:]) is developing


# --- the look-ahead of the anywhere-phrases' first letters (a speed-up, the same matches) -----

# One phrase of each alternative of ``_PHRASES``.
EVERY_PHRASE = [
    "it is a breaking news story", "this is an developing story", "developing news story",
    "this page is still developing", "this post will be updated",
    "report is being updated", "article will be updated", "check back soon for updates",
    "live coverage", "sich entwickelnde Situation", "der Ticker wird regelmäßig aktualisiert",
    "dieser Beitrag wird aktualisiert", "diese Seite wird weiter aktualisiert",
    "die Nachricht wird stetig aktualisiert", "eilmeldung", "liveticker", "live-ticker",
    "liveblog", "live-blog", "newsblog", "newsticker",
]
# Letters IGNORECASE matches with ASCII ones: long s, Kelvin sign, dotted capital and dotless i.
FOLDS = {"s": "ſ", "k": "\u212a", "i": "\u0130"}


def _unguarded() -> re.Pattern[str]:
    from tracker import markers

    return re.compile(rf"\b(?:{markers._PHRASES})\b", markers._FLAGS)


def _variants(phrase: str) -> list[str]:
    folded = "".join(FOLDS.get(c, c) for c in phrase)
    dotless = phrase.replace("i", "\u0131")
    return [phrase, phrase.upper(), phrase.title(), folded, dotless]


@pytest.mark.parametrize("phrase", EVERY_PHRASE)
def test_every_anywhere_phrase_is_found_as_without_the_look_ahead(phrase: str) -> None:
    from tracker import markers

    plain = _unguarded()
    for variant in _variants(phrase):
        text = f"Vorher kam {variant}, danach nichts."
        found, expected = markers._ANYWHERE.search(text), plain.search(text)
        assert (found and found.span()) == (expected and expected.span()), variant
    assert markers._ANYWHERE.search(f"Zuvor: {phrase}."), phrase


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*EVERY_PHRASE, *FOLDS.values(), "\u0131", " ", "-", "x",
                                 "Ä", "news ", "live ", "story", "wird ", "a", "S", "T"]),
                max_size=12))
def test_the_anywhere_search_matches_as_without_the_look_ahead(parts: list[str]) -> None:
    from tracker import markers

    text = "".join(parts)
    found, expected = markers._ANYWHERE.search(text), _unguarded().search(text)
    assert (found and found.span()) == (expected and expected.span())
