"""Paragraph boundaries from the page's structure, and where the body comes from.

Each layout is extracted twice where it makes sense: as the generic extractor sees it (no
declared body: trafilatura picks the text, the page cuts it) and with the body declared by
``itemprop=articleBody`` (the page's own structure alone). Both must give the page's paragraphs,
one per paragraph."""

from __future__ import annotations

import json

import pytest

from tracker.extract import explain_html, extract_html

P = [
    "Floodwaters rose through the night along the lower river, forcing the evacuation of three "
    "villages and cutting the main road to the regional capital before dawn.",
    "Emergency crews said the levee near the old mill had held, but warned that another day of "
    "heavy rain could push the water over the barriers put up last year.",
    "The regional government has opened two shelters in school gyms and asked residents who can "
    "stay with relatives to do so, a spokeswoman said at a briefing.",
]
URL = "https://news.example/floods"


def page(body: str, *, declared: bool = False, head: str = "") -> str:
    marker = ' itemprop="articleBody"' if declared else ""
    return (f"<html><head><title>Floods</title>{head}</head><body>"
            "<div class='nav'><a href='/'>Home</a> <a href='/uk'>UK</a></div>"
            f"<div class='story'{marker}>{body}</div>"
            "<div class='footer'>© 2024 News</div></body></html>")


LAYOUTS = {
    "p-in-one-table-cell": "<table><tr><td>" + "".join(f"<p>{p}</p>" for p in P)
                           + "</td></tr></table>",
    "br-br-in-a-cell": "<table><tr><td>" + "<br><br>".join(P) + "</td></tr></table>",
    "br-br-in-a-div": "<div>" + "<br>\n<br>\n".join(P) + "</div>",
    "br-br-in-a-p": "<p>" + "<br><br>".join(P) + "</p>",
    "div-only": "".join(f'<div data-testid="paragraph-{i}">{p}</div>' for i, p in enumerate(P)),
    "font-soup": "<font size=2>" + "<br><br>".join(f"<b>{p[:5]}</b>{p[5:]}" for p in P)
                 + "</font>",
}


@pytest.mark.parametrize("declared", [False, True], ids=["generic", "itemprop"])
@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_each_paragraph_the_page_separates_is_one_paragraph(layout: str, declared: bool) -> None:
    assert extract_html(page(layout, declared=declared), url=URL).texts == P


def test_a_single_br_stays_inside_its_paragraph() -> None:
    body = f"<p>{P[0]}<br>{P[1]}</p><p>{P[2]}</p>"
    assert extract_html(page(body, declared=True), url=URL).texts == [f"{P[0]} {P[1]}", P[2]]


STRUCTURED = (
    f"<h2>What happened</h2><p>{P[0]}</p><ul><li>{P[1][:60]}</li><li>{P[2][:60]}</li></ul>"
    f"<blockquote><p>{P[1]}</p><p>{P[2]}</p></blockquote><h3>Shelters</h3><p>{P[2]}</p>"
)


@pytest.mark.parametrize("declared", [False, True], ids=["generic", "itemprop"])
def test_headings_items_and_quotes_are_paragraphs_of_their_kind(declared: bool) -> None:
    got = [(p.kind, p.text) for p in
           extract_html(page(STRUCTURED, declared=declared), url=URL).paragraphs]
    assert got == [("heading", "What happened"), ("text", P[0]), ("item", P[1][:60]),
                   ("item", P[2][:60]), ("quote", P[1]), ("quote", P[2]),
                   ("heading", "Shelters"), ("text", P[2])]


def test_live_blog_entries_keep_their_time_stamps() -> None:
    entries = "".join(
        f"<div class='entry'><time datetime='2024-06-19T1{i}:00:00Z'>{label}</time>"
        f"<h3>Update {i}</h3><p>{p}</p></div>"
        for i, (label, p) in enumerate(zip(["vor 3 Minuten", "13:00", "12:00"], P, strict=True))
    )
    extraction = explain_html(page(f"<div class='ticker'>{entries}</div>"), url=URL)
    assert extraction.source == "live blog"
    assert [(p.kind, p.text) for p in extraction.article.paragraphs] == [
        ("time", "2024-06-19T10:00:00Z"), ("heading", "Update 0"), ("text", P[0]),
        ("time", "13:00"), ("heading", "Update 1"), ("text", P[1]),
        ("time", "12:00"), ("heading", "Update 2"), ("text", P[2]),
    ]


def test_a_list_of_headlines_with_times_is_no_live_blog() -> None:
    teasers = "".join(f"<li><a href='/{i}'><time>1{i}:00</time> Story number {i} of the day "
                      "with a long enough headline</a></li>" for i in range(5))
    body = "".join(f"<p>{p}</p>" for p in P) + f"<aside><ul>{teasers}</ul></aside>"
    extraction = explain_html(page(body), url=URL)
    assert extraction.source == "trafilatura"
    assert extraction.article.texts == P


# --- the body the page declares ---------------------------------------------------------------


def json_ld(body: str) -> str:
    data = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Floods",
            "articleBody": body}
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def test_a_json_ld_body_that_agrees_chooses_the_element_and_keeps_its_boundaries() -> None:
    body = "".join(f"<div class='txt'>{p}</div>" for p in P)
    note = "Correction: an earlier version of this story misstated the number of shelters."
    html = page(f"{body}<div class='note'>{note}</div>", head=json_ld(" ".join(P)))
    extraction = explain_html(html, url=URL)
    assert extraction.source == "json-ld body"
    assert extraction.article.texts == [*P, note]  # the page's text, also what JSON-LD lacks


def test_a_json_ld_body_behind_an_edit_still_chooses_the_body_and_the_page_text_wins() -> None:
    edited = P[1].replace("another day", "two more days")
    html = page("".join(f"<p>{p}</p>" for p in (P[0], edited, P[2])), head=json_ld(" ".join(P)))
    extraction = explain_html(html, url=URL)
    assert extraction.source == "json-ld body"
    assert extraction.article.texts == [P[0], edited, P[2]]


def test_a_json_ld_body_the_page_does_not_show_is_not_trusted() -> None:
    paywalled = " ".join(P) + " " + " ".join(p.upper() for p in P) * 2
    html = page(f"<p>{P[0]}</p><p>{P[1]}</p>", head=json_ld(paywalled))
    extraction = explain_html(html, url=URL)
    assert extraction.source == "trafilatura"
    assert extraction.article.texts == P[:2]


def test_a_hidden_article_body_is_not_the_body() -> None:
    hidden = "<div itemprop='articleBody' style='display:none'>" + "".join(
        f"<p>{p.upper()}</p>" for p in P) + "</div>"
    html = page("".join(f"<p>{p}</p>" for p in P) + hidden)
    extraction = explain_html(html, url=URL)
    assert extraction.source == "trafilatura"
    assert extraction.article.texts == P


def test_an_rdfa_article_body_is_the_body() -> None:
    html = page(f"<div property='schema:articleBody'>{''.join(f'<p>{p}</p>' for p in P)}</div>")
    extraction = explain_html(html, url=URL)
    assert (extraction.source, extraction.article.texts) == ("itemprop", P)
