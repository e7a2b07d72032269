"""Extraction of the fixture story as the article server serves it: paragraphs in order with
figure credits and captions, metadata, noise left out, interstitials refused, every encoding,
the CSS selector override; and the text normalisation (tracker.normalize) it relies on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from tests.articleserver import AUTHORS, FIXTURES, MODIFIED, PUBLISHED, ArticleServer, is_credit
from tracker.document import ExtractedPage
from tracker.errors import ExtractionError
from tracker.extract import extract_html, extract_page, extractor_name
from tracker.normalize import normalize_text, split_lines

VERSIONS = range(1, 6)
SELECTOR = "div.article__content"


def fixture_lines(version: int) -> list[str]:
    """A fixture version as the tracker sees it: normalised, one paragraph per line."""
    return split_lines((FIXTURES / "story_de" / f"v{version}.txt").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def site() -> Iterator[ArticleServer]:
    """One server for the module: each test uses its own slug, so none sees another's mode."""
    with ArticleServer(FIXTURES) as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def fetch(client: httpx.Client, url: str) -> httpx.Response:
    response = client.get(url)
    assert response.status_code == 200
    return response


def extract_response(response: httpx.Response, url: str) -> ExtractedPage:
    media_type = response.headers["Content-Type"].partition(";")[0].strip()
    return extract_page(
        response.content, url=url, media_type=media_type, charset=response.charset_encoding
    )


def served_article(server: ArticleServer, client: httpx.Client, version: int = 2,
                   mode: str | None = None, **params: object) -> ExtractedPage:
    slug = "-".join(map(str, ("story", version, mode, *params.values())))
    url = server.add_article(slug, version)
    server.set_mode(slug, mode, **params)
    return extract_response(fetch(client, url), url)


@pytest.mark.parametrize("version", VERSIONS)
def test_paragraphs_are_the_fixture_lines_after_the_headline(
    site: ArticleServer, client: httpx.Client, version: int
) -> None:
    article = served_article(site, client, version)
    assert article.texts == fixture_lines(version)[1:]


@pytest.mark.parametrize("version", VERSIONS)
def test_headline_becomes_the_title(
    site: ArticleServer, client: httpx.Client, version: int
) -> None:
    article = served_article(site, client, version)
    assert article.metadata.title == fixture_lines(version)[0]


@pytest.mark.parametrize("version", VERSIONS)
def test_figure_lines_are_credits_and_captions_in_reading_order(
    site: ArticleServer, client: httpx.Client, version: int
) -> None:
    body = fixture_lines(version)[1:]
    expected = []
    previous_was_credit = False
    for line in body:
        kind = "caption" if previous_was_credit else "credit" if is_credit(line) else "text"
        expected.append(kind)
        previous_was_credit = kind == "credit"
    article = served_article(site, client, version)
    assert [p.kind for p in article.paragraphs] == expected
    assert {"credit", "caption"} <= set(expected)


def test_byline_names_both_authors(site: ArticleServer, client: httpx.Client) -> None:
    byline = served_article(site, client).metadata.byline or ""
    assert [name for name in AUTHORS if name in byline] == list(AUTHORS)


def test_published_time_keeps_the_time_of_day(
    site: ArticleServer, client: httpx.Client
) -> None:
    published = served_article(site, client).metadata.published
    assert published == PUBLISHED.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("version", VERSIONS)
def test_updated_time_follows_the_version(
    site: ArticleServer, client: httpx.Client, version: int
) -> None:
    updated = served_article(site, client, version).metadata.updated
    assert updated == MODIFIED[version - 1].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_language_is_german(site: ArticleServer, client: httpx.Client) -> None:
    assert served_article(site, client).metadata.language == "de"


def test_canonical_url_is_the_article_url(
    site: ArticleServer, client: httpx.Client
) -> None:
    url = site.add_article("canonical", 2)
    article = extract_response(fetch(client, url + "?utm_source=feed"), url + "?utm_source=feed")
    assert article.metadata.canonical_url == url


def test_advert_and_clock_never_appear_in_paragraphs(
    site: ArticleServer, client: httpx.Client
) -> None:
    url = site.add_article("story", 2)
    for _ in range(3):  # the advert is drawn at random per request
        response = fetch(client, url)
        advert = re.search(r'rel="sponsored nofollow">([^<]+)</a>', response.text)
        clock = re.search(r'<span class="clock">([^<]+)</span>', response.text)
        assert advert is not None
        assert clock is not None
        text = "\n".join(extract_response(response, url).texts)
        assert advert[1] not in text
        assert clock[1] not in text
        assert "Anzeige" not in text


def test_two_requests_with_different_noise_give_the_same_paragraphs(
    site: ArticleServer, client: httpx.Client
) -> None:
    url = site.add_article("story", 3)
    first, second = fetch(client, url), fetch(client, url)
    assert first.content != second.content
    assert extract_response(first, url).paragraphs == extract_response(second, url).paragraphs


def test_related_content_and_site_boilerplate_are_left_out(
    site: ArticleServer, client: httpx.Client
) -> None:
    text = "\n".join(served_article(site, client).texts)
    for boilerplate in ("Mehr zum Thema", "Meistgelesen", "Cookies", "Newsletter", "Impressum"):
        assert boilerplate not in text


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("consent-wall", "consent"),
        ("empty", "empty"),
        ("error-page-200", "no article text"),
    ],
)
def test_pages_without_an_article_raise_extraction_error(
    site: ArticleServer, client: httpx.Client, mode: str, message: str
) -> None:
    with pytest.raises(ExtractionError, match=message):
        served_article(site, client, mode=mode)


def short_article(headline: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return (f'<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>{headline}'
            f"</title></head><body><article><h1>{headline}</h1>{body}</article></body></html>")


BREAKING = (
    "Bei einem Terroranschlag in der Innenstadt sind am Dienstagabend mindestens drei Menschen "
    "verletzt worden, teilte die Polizei mit.",
    "Die Ermittler gehen von einem terroristischen Hintergrund aus; die Bundesanwaltschaft hat "
    "den Fall übernommen und spricht von Terror.",
    "Der Bürgermeister rief die Bevölkerung zur Ruhe auf. Weitere Informationen sollen am "
    "Mittwochmorgen bekanntgegeben werden.",
)


def test_short_breaking_news_about_terror_is_not_taken_for_an_error_page() -> None:
    article = extract_html(short_article("Anschlag in der Innenstadt", *BREAKING),
                           url="http://news.example/a")
    assert article.texts == list(BREAKING)


def test_short_article_headlined_not_found_is_not_taken_for_an_error_page() -> None:
    headline = "Vermisster Wanderer weiter nicht gefunden"
    article = extract_html(short_article(headline, *BREAKING), url="http://news.example/a")
    assert article.metadata.title == headline


@pytest.mark.parametrize("label", ["windows-1252", "iso-8859-1"])
def test_windows_1252_page_keeps_every_umlaut_and_quote(
    site: ArticleServer, client: httpx.Client, label: str
) -> None:
    article = served_article(site, client, 3, "latin1", charset=label)
    expected = fixture_lines(3)[1:]
    assert article.texts == expected
    text = "".join(expected)
    assert {"ä", "ö", "ü", "ß", "„", "“"} <= set(text)


def test_page_without_any_charset_declaration_keeps_every_umlaut(
    site: ArticleServer, client: httpx.Client
) -> None:
    article = served_article(site, client, 2, "nocharset")
    assert article.texts == fixture_lines(2)[1:]
    assert article.metadata.title == fixture_lines(2)[0]


def test_xhtml_page_gives_the_same_article_as_html(
    site: ArticleServer, client: httpx.Client
) -> None:
    html_article = served_article(site, client, 4)
    xhtml_article = served_article(site, client, 4, "xhtml")
    assert xhtml_article.paragraphs == html_article.paragraphs
    # the canonical URL is each article's own
    assert replace(xhtml_article.metadata, canonical_url=None) == replace(
        html_article.metadata, canonical_url=None
    )


def test_plain_text_page_gives_one_paragraph_per_block(
    site: ArticleServer, client: httpx.Client
) -> None:
    article = served_article(site, client, 2, "plain")
    # Plain text has no markup that tells the headline apart: it is the first paragraph.
    assert article.texts == fixture_lines(2)
    assert article.extractor == "plain text"


def test_plain_text_with_single_newlines_gives_one_paragraph_per_line() -> None:
    lines = fixture_lines(1)
    body = "\r\n".join(lines).encode()
    assert extract_page(body, url="http://x.test/a", media_type="text/plain").texts == lines


def test_selector_gives_the_same_paragraphs_as_trafilatura(
    site: ArticleServer, client: httpx.Client
) -> None:
    url = site.add_article("story", 2)
    response = fetch(client, url)
    automatic = extract_response(response, url)
    selected = extract_html(response.text, url=url, selector=SELECTOR)
    assert selected.paragraphs == automatic.paragraphs


@pytest.mark.parametrize("version", VERSIONS)
def test_selector_gives_the_fixture_lines(
    site: ArticleServer, client: httpx.Client, version: int
) -> None:
    url = site.add_article("story", version)
    article = extract_html(fetch(client, url).text, url=url, selector=SELECTOR)
    assert article.texts == fixture_lines(version)[1:]


def test_selector_matching_nested_elements_gives_each_paragraph_once(
    site: ArticleServer, client: httpx.Client
) -> None:
    url = site.add_article("story", 2)
    text = fetch(client, url).text
    nested = extract_html(text, url=url, selector=f"{SELECTOR}, {SELECTOR} p")
    assert nested.texts == fixture_lines(2)[1:]


def test_invalid_selector_raises_extraction_error(
    site: ArticleServer, client: httpx.Client
) -> None:
    url = site.add_article("story", 2)
    with pytest.raises(ExtractionError, match="invalid CSS selector"):
        extract_html(fetch(client, url).text, url=url, selector="div[")


def test_selector_matching_nothing_raises_extraction_error(
    site: ArticleServer, client: httpx.Client
) -> None:
    url = site.add_article("story", 2)
    with pytest.raises(ExtractionError, match="matches nothing"):
        extract_html(fetch(client, url).text, url=url, selector="div.no-such-class")


def test_extractor_name_changes_with_the_selector(
    site: ArticleServer, client: httpx.Client
) -> None:
    url = site.add_article("story", 2)
    text = fetch(client, url).text
    automatic = extract_html(text, url=url)
    selected = extract_html(text, url=url, selector=SELECTOR)
    other = extract_html(text, url=url, selector=f"article {SELECTOR}")
    assert automatic.extractor == extractor_name()
    assert len({automatic.extractor, selected.extractor, other.extractor}) == 3
    assert SELECTOR in selected.extractor


# --- normalisation (tracker.normalize): what a reader cannot see must not count as a change ---


@pytest.mark.parametrize(
    ("rendered", "plain"),
    [
        ("24\u00a0Jahren", "24 Jahren"),  # no-break space
        ("24\u202fJahren", "24 Jahren"),  # narrow no-break space
        ("Staats\u00adchefs", "Staatschefs"),  # soft hyphen
        ("Pjöng\u200bjang", "Pjöngjang"),  # zero-width space
        ("Pjöng\u2060jang\ufeff", "Pjöngjang"),  # word joiner, BOM
        ("Gr\u0075\u0308\u00dfe", "Grüße"),  # decomposed ü (u + combining diaeresis)
        ("  Kim   und\t\tPutin \n", "Kim und Putin"),  # whitespace runs, ends
    ],
    ids=["nbsp", "narrow-nbsp", "soft-hyphen", "zero-width", "word-joiner", "nfc", "spaces"],
)
def test_invisible_differences_normalise_away(rendered: str, plain: str) -> None:
    assert normalize_text(rendered) == plain


def test_decomposed_umlaut_is_composed_to_one_code_point() -> None:
    assert len(normalize_text("u\u0308")) == 1


def test_crlf_line_ends_split_like_lf() -> None:
    assert split_lines("Erster Absatz\r\n\r\nZweiter Absatz\r\n") == split_lines(
        "Erster Absatz\n\nZweiter Absatz\n"
    )


def test_blank_and_invisible_only_lines_are_not_paragraphs() -> None:
    assert split_lines("Absatz\n \u00a0\n\u200b\u00ad\nNoch einer") == ["Absatz", "Noch einer"]


def test_typographic_noise_version_normalises_to_the_previous_version() -> None:
    v4 = (FIXTURES / "story_de" / "v4.txt").read_bytes()
    v5 = (FIXTURES / "story_de" / "v5.txt").read_bytes()
    assert v4 != v5
    assert split_lines(v4.decode()) == split_lines(v5.decode())


def test_typographic_noise_version_extracts_to_the_same_paragraphs(
    site: ArticleServer, client: httpx.Client
) -> None:
    v4 = served_article(site, client, 4)
    v5 = served_article(site, client, 5)
    assert v5.paragraphs == v4.paragraphs


def test_every_element_is_one_html_class_and_a_form_inside_the_body_reads_as_before() -> None:
    """The page's tree makes every element an ``HtmlElement`` (no lookup in Python per element
    object, which lxml.html's parser calls to give form controls classes of their own): form
    controls inside an article read as text as they did, the form left out as furniture."""
    from lxml.html import HtmlElement

    from tracker.extract.page import parse

    paragraphs = "".join(f"<p>Paragraph {i} of the story, long enough to be article text in "
                         "its body.</p>" for i in range(6))
    html = (f"<html><head><title>Forms</title></head><body><article><h1>A page with a form</h1>"
            f"{paragraphs}<form action='/x'><label for='a'>Your e-mail address, please</label>"
            "<input id='a' name='a' value='v'><select name='s'><option>one</option></select>"
            f"<textarea name='t'>Write to us about the story</textarea></form>{paragraphs}"
            "</article></body></html>")
    tree = parse(html, "https://news.example/story")
    assert {type(e) for e in tree.iter("form", "input", "select", "textarea", "label", "p")} \
        == {HtmlElement}
    texts = extract_html(html, url="https://news.example/story", fast=True).texts
    assert texts[:6] == [f"Paragraph {i} of the story, long enough to be article text in its "
                         "body." for i in range(6)]
    assert len(texts) == 12
