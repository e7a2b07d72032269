"""Figure captions with inline markup (issue 9 item 11): the caption text before a credit
``<span>``, ``<cite>``, ``<small>`` or an ``<em>`` is kept, as a caption, and the credit as a
credit; so a corrected caption is a reported change, checked end to end against a real site
on 127.0.0.1 and both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from db import queries
from db.session import session_scope
from tests.pageserver import PageServer
from tracker import report
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.clock import utcnow
from tracker.document import Paragraph
from tracker.extract import extract_html, read_lead_image

TEXT = [
    "Die Linie U5 soll bis 2035 in den neuen Stadtteil im Westen verlängert werden, hat der "
    "Stadtrat am Mittwoch mit großer Mehrheit beschlossen.",
    "Die Strecke wird etwa 3,8 Kilometer lang und bekommt vier neue Bahnhöfe; die Kosten liegen "
    "nach Schätzungen der Verwaltung bei 1,1 Milliarden Euro.",
]
CAPTION = "Die Baustelle am Laimer Platz, an dem die neue Strecke beginnen soll."
CREDIT = "Foto: Stephan Rumpf"
INLINE = {
    "span-credit": '{caption} <span class="credit">{credit}</span>',
    "cite": "{caption} <cite>{credit}</cite>",
    "small": "{caption} <small>{credit}</small>",
    "em": "{caption} <em>{credit}</em>",
    "credit-first": '<span class="copyright">{credit}</span> {caption}',
}


def page(caption: str, inline: str = INLINE["span-credit"]) -> str:
    figcaption = inline.format(caption=caption, credit=CREDIT)
    return ("<!DOCTYPE html><html lang='de'><head><title>U5 nach Freiham</title></head><body>"
            f"<article><h1>U5 nach Freiham</h1><p>{TEXT[0]}</p>"
            "<figure><img src='/img/baustelle.jpg' alt=''>"
            f"<figcaption>{figcaption}</figcaption></figure><p>{TEXT[1]}</p></article>"
            "</body></html>")


@pytest.mark.parametrize("inline", INLINE.values(), ids=INLINE.keys())
def test_caption_text_beside_an_inline_credit_is_kept(inline: str) -> None:
    article = extract_html(page(CAPTION, inline), url="http://news.test/u5")
    figure = [p for p in article.paragraphs if p.kind in {"caption", "credit"}]
    expected = [Paragraph(CAPTION, "caption"), Paragraph(CREDIT, "credit")]
    assert figure == (expected[::-1] if inline.startswith("<span") else expected)
    assert [p.text for p in article.paragraphs if p.kind == "text"] == TEXT


def test_an_inline_emphasis_stays_inside_its_caption() -> None:
    html = page("Die Baustelle am <em>Laimer Platz</em>, an dem die Strecke beginnt.")
    captions = [p.text for p in extract_html(html, url="http://news.test/u5").paragraphs
                if p.kind == "caption"]
    assert captions == ["Die Baustelle am Laimer Platz, an dem die Strecke beginnt."]


def test_the_lead_caption_is_the_caption_without_its_credit() -> None:
    from lxml import html as lxml_html

    tree = lxml_html.document_fromstring(page(CAPTION, INLINE["cite"]))
    assert read_lead_image(tree, "http://news.test/u5") == (
        "http://news.test/img/baustelle.jpg", CAPTION)


@pytest.fixture
def site() -> Iterator[PageServer]:
    with PageServer() as server:
        yield server


@pytest.mark.parametrize("inline", ["span-credit", "cite", "small"])
def test_a_corrected_caption_is_a_reported_change(app: App, site: PageServer,
                                                  inline: str) -> None:
    url = site.put("/u5", page(CAPTION, INLINE[inline]).encode())
    add_articles(app, [url])
    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        article_id = row.id
    assert check_article(app, article_id).outcome == "first_seen"
    corrected = CAPTION.replace("Laimer Platz", "Westendplatz")
    site.put("/u5", page(corrected, INLINE[inline]).encode())
    result = check_article(app, article_id)
    assert result.outcome == "changed"
    [entry] = report.changes(app, utcnow().replace(year=2000))
    [op] = [op for op in entry.to_json()["diff"]["ops"] if op["op"] != "equal"]
    assert (op["op"], op["old"], op["new"]) == ("modify", [1], [1])  # ¶2: the caption
    changed = [w for w in op["words"] if w[0] != "="]
    assert changed == [["-", "Laimer Platz,"], ["+", "Westendplatz,"]]
