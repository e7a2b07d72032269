"""Every byte from the web is hostile: extraction of any page ends in an article or in
``ExtractionError``, in bounded time, and a control character no longer silences a page.

Issue 9 item 8 end to end: a page with ``\\x0b``, ``\\x08`` and ``\\x1b`` in its text, served on
127.0.0.1, checked by a real ``tracker check`` process, is versioned, and its next edit is
reported. Then the edges: deep nesting, too many elements, broken markup, and Hypothesis
throwing arbitrary bytes and tag soup at ``extract_page``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.clihelp import tracker
from tests.pageserver import PageServer
from tracker.errors import ExtractionError
from tracker.extract import extract_html, extract_page
from tracker.extract.page import MAX_ELEMENTS

PARAGRAPHS = [
    "Der Gemeinderat hat am Dienstagabend mit zwölf zu drei Stimmen den Neubau eines "
    "Feuerwehrhauses am Ortsrand beschlossen.",
    "Nach den Plänen entstehen drei Fahrzeughallen, Umkleiden sowie ein Schulungsraum für bis "
    "zu 40 Personen. Die Kosten werden auf 2,4 Millionen Euro geschätzt.",
    "Der Landkreis hat einen Zuschuss von 600.000 Euro zugesagt, den Rest muss die Gemeinde über "
    "einen Kredit finanzieren.",
]
CONTROLS = {"vertical-tab": "\x0b", "backspace": "\x08", "escape": "\x1b", "nul": "\x00",
            "delete": "\x7f", "c1": "\x9b", "form-feed": "\x0c"}


def page(paragraphs: list[str], title: str = "Neues Feuerwehrhaus") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html lang='de'><head><meta charset='utf-8'><title>{title}</title>"
            f"</head><body><nav><a href='/'>Start</a></nav><article><h1>{title}</h1>{body}"
            "</article></body></html>")


@pytest.mark.parametrize("char", CONTROLS.values(), ids=CONTROLS.keys())
def test_a_control_character_anywhere_leaves_the_text_whole(char: str) -> None:
    dirty = [PARAGRAPHS[0].replace("Gemeinderat", f"Gemeinde{char}rat"), *PARAGRAPHS[1:]]
    html = page(dirty).replace("<nav>", f"<nav>{char}").replace("</body>", f"{char}</body>")
    texts = extract_html(html, url="http://news.test/a").texts
    spaced = char in "\x0b\x0c"  # vertical tab and form feed are whitespace: a space
    assert texts[0] == PARAGRAPHS[0].replace("Gemeinderat", "Gemeinde rat" if spaced
                                             else "Gemeinderat")
    assert texts[1:] == PARAGRAPHS[1:]


def test_a_lone_surrogate_does_not_end_the_page() -> None:
    html = page([PARAGRAPHS[0] + "\ud800", *PARAGRAPHS[1:]])
    assert extract_html(html, url="http://news.test/a").texts == PARAGRAPHS


@pytest.fixture
def site() -> Iterator[PageServer]:
    with PageServer() as server:
        yield server


def check(sqlite_url: str, url: str) -> dict[str, object]:
    data = json.loads(tracker(sqlite_url, "check", url, "--format", "json").stdout)
    [result] = data["results"]
    return dict(result)


def test_a_page_with_control_characters_is_versioned_and_its_edit_reported(
    sqlite_url: str, site: PageServer
) -> None:
    dirty = [p.replace(" ", "\x0b ", 1).replace("e", "e\x08", 1) + "\x1b[0m" for p in PARAGRAPHS]
    url = site.put("/feuerwehr", page(dirty).encode())
    tracker(sqlite_url, "add", url)
    first = check(sqlite_url, url)
    assert (first["outcome"], first["error"]) == ("first_seen", None)
    edited = [dirty[0], dirty[1].replace("2,4 Millionen", "2,9 Millionen"), dirty[2]]
    site.put("/feuerwehr", page(edited).encode())
    second = check(sqlite_url, url)
    assert second["outcome"] == "changed"
    shown = tracker(sqlite_url, "show", url).stdout
    assert "2,9 Millionen" in shown
    assert not any(char in shown for char in "\x0b\x08\x1b")


def test_100000_nested_elements_are_parsed_in_bounded_time() -> None:
    nested = "<div>" * 100_000 + "tief" + "</div>" * 100_000
    before = page(PARAGRAPHS).replace("</article>", f"</article>{nested}")
    assert extract_html(before, url="http://news.test/a").texts == PARAGRAPHS
    hidden_below = page(PARAGRAPHS).replace("<article>", f"{nested[:-600_000]}<article>")
    with pytest.raises(ExtractionError):  # libxml2 stops at 256 levels: nothing is left
        extract_html(hidden_below, url="http://news.test/a")


def test_a_page_of_too_many_elements_is_refused_with_a_clear_message() -> None:
    html = page(PARAGRAPHS).replace("</body>", "<i></i>" * (MAX_ELEMENTS + 1) + "</body>")
    with pytest.raises(ExtractionError, match=r"has 25,0\d\d elements, more than an article"):
        extract_html(html, url="http://news.test/a")


BROKEN = {
    "unclosed": "<html><body><article><p>{0}<p>{1}<p>{2}",
    "stray-ends": "</div></p><html><body></span><article><p>{0}</p></b><p>{1}</p><p>{2}</td>",
    "no-html": "<p>{0}</p><p>{1}</p><p>{2}</p>",
    "comment-soup": "<!--><p>{0}</p><!-- <p>x</p> --><p>{1}</p><!--x--><p>{2}</p>",
}


@pytest.mark.parametrize("template", BROKEN.values(), ids=BROKEN.keys())
def test_broken_markup_still_gives_the_paragraphs(template: str) -> None:
    texts = extract_html(template.format(*PARAGRAPHS), url="http://news.test/a").texts
    assert texts == PARAGRAPHS


# --- properties: nothing but ExtractionError, whatever comes in -----------------------------

TAGS = ["p", "div", "span", "a", "br", "figure", "figcaption", "img", "table", "td", "li",
        "time", "header", "article", "script", "h2", "blockquote", "b", "aside", "amp-ad"]
ATTRIBUTES = ['class="byline"', 'class="visually-hidden"', 'itemprop="articleBody"',
              'hidden', 'style="display:none"', 'href="http://["', 'src="//[::1"',
              'datetime="2024"', 'class="credit"', 'property="articleBody"', ""]
PIECES = st.one_of(
    st.sampled_from(TAGS).flatmap(lambda tag: st.sampled_from(ATTRIBUTES).map(
        lambda attribute: f"<{tag} {attribute}>")),
    st.sampled_from(TAGS).map(lambda tag: f"</{tag}>"),
    st.sampled_from([*PARAGRAPHS, "Foto: dpa", "vor 5 Minuten", "Teilen", "■■■"]),
    st.text(max_size=40),
    st.just('<script type="application/ld+json">{"@type": "NewsArticle", "headline": 1, '
            '"articleBody": ["x"], "image": [[]], "author": {"name": ["x"]}}</script>'),
)
HOSTILE = settings(max_examples=150, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


@HOSTILE
@given(body=st.binary(max_size=3000), plain=st.booleans(),
       charset=st.sampled_from([None, "utf-8", "utf-16", "utf-7", "latin-1", "bogus", "base64"]))
def test_arbitrary_bytes_give_an_article_or_extraction_error(
    body: bytes, plain: bool, charset: str | None
) -> None:
    try:
        article = extract_page(body, url="http://news.test/a", charset=charset,
                               media_type="text/plain" if plain else "text/html")
    except ExtractionError:
        return
    assert sum(len(p.text) for p in article.paragraphs) >= 200


@HOSTILE
@given(pieces=st.lists(PIECES, max_size=60), selector=st.sampled_from([None, "p", "div > p"]))
def test_tag_soup_gives_an_article_or_extraction_error(
    pieces: list[str], selector: str | None
) -> None:
    html = "".join(pieces)
    try:
        article = extract_html(html, url="http://news.test/a", selector=selector)
    except ExtractionError:
        return
    assert all(p.text and p.text == " ".join(p.text.split()) for p in article.paragraphs)


def test_a_large_inline_drawing_does_not_count_against_the_page() -> None:
    drawing = "<svg viewBox='0 0 10 10'>" + "<path d='M0 0h1v1z'/>" * (MAX_ELEMENTS + 1) + "</svg>"
    html = page(PARAGRAPHS).replace("</article>", f"<figure>{drawing}</figure></article>")
    assert extract_html(html, url="http://news.test/a").texts == PARAGRAPHS
