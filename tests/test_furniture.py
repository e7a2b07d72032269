"""Furniture that used to become paragraphs on real pages (issue 13), left out, and the
sentences that only look like it kept: by text alone (tracker.noise) and by markup
(tracker.extract.furniture), in English and German."""

from __future__ import annotations

import pytest

from tracker.extract import explain_html, extract_html
from tracker.noise import boilerplate_rule, is_date_line

STORY = [
    "Negotiators have left the capital without an agreement for the third time this month, and "
    "both sides are now blaming the other for the delay.",
    "The talks had been expected to produce at least a framework for a longer truce, with "
    "international monitors along the northern border.",
    "Instead, officials say the two delegations did not meet in the same room at all on the "
    "final day, passing written proposals through the mediators.",
]
URL = "https://news.example/talks"

FURNITURE = {
    "published": ("Published", "page label"),
    "veroeffentlicht": ("Veröffentlicht:", "page label"),
    "related-topics": ("Related Topics", "box label"),
    "themen": ("Themen", "box label"),
    "from-the-section": ("From the section Middle East", "page label"),
    "analysis-label": ("Analysis - Jeremy Hale, Middle East editor", "byline label"),
    "analyse-label": ("Eine Analyse von Anna Muster", "byline label"),
    "by-line": ("By Jane Doe, BBC News", "byline label"),
    "von-line": ("Von Anna Muster und Max Beispiel", "byline label"),
    "ad-feedback": ("Ad Feedback", "page label"),
    "separator": ("___", "separator"),
    "stars": ("* * *", "separator"),
    "paywall": ("Jetzt weiterlesen mit SPIEGEL+", "paywall offer"),
    "paywall-en": ("Subscribe to continue reading this article", "paywall offer"),
    "scrambled": ("Im Jahr ■■■■ ■■■■■■■■ ■■■■ ■■■■■■■■■ ■■■■■■", "scrambled text"),
    "pagination": ("Seite 1/2", "pagination"),
    "next-page": ("Weiterlesen auf Seite 2", "pagination"),
    "programme": ("Dieses Thema im Programm: Das Erste | tagesschau | 20:00 Uhr",
                  "programme note"),
    "follow-coverage": ("Follow AP’s coverage of the elections at https://apnews.example/hub",
                        "programme note"),
    "page-last-updated": ("Page last updated at 15:47 GMT, Sunday, 12 April 2009 16:47 UK",
                          "timestamp"),
    "more-on-this-topic": ("Lesen Sie mehr zum Thema", "box label"),
}


@pytest.mark.parametrize(("text", "rule"), FURNITURE.values(), ids=FURNITURE.keys())
def test_furniture_lines_are_named_by_their_rule(text: str, rule: str) -> None:
    assert boilerplate_rule(text) == rule


@pytest.mark.parametrize(("text", "rule"), FURNITURE.values(), ids=FURNITURE.keys())
def test_furniture_lines_between_paragraphs_are_left_out(text: str, rule: str) -> None:
    body = f"<p>{STORY[0]}</p><p>{text}</p><p>{STORY[1]}</p><p>{STORY[2]}</p>"
    html = f"<html><body><article><div itemprop='articleBody'>{body}</div></article></body></html>"
    extraction = explain_html(html, url=URL)
    assert extraction.article.texts == STORY
    assert (rule, text) in {(d.rule, d.text) for d in extraction.dropped}


KEPT = [
    "Published figures show that 5,000 people were evacuated overnight.",
    "By Tuesday evening, the water had receded from most of the town.",
    "Analysis of the samples will take another two weeks, the laboratory said.",
    "Von Montag an gelten in der Stadt neue Regeln für den Verkehr.",
    "Themen wie Wohnungsbau und Verkehr bestimmten die Debatte im Stadtrat.",
    "Seite an Seite kämpften Feuerwehr und Anwohner gegen das Wasser.",
    "From the section of the river near the old mill, the water spread into the fields.",
    "Jetzt weiterlesen wollte niemand mehr, sagte die Bibliothekarin.",
    "Follow-up inspections are planned for next week.",
    "Live music returned to the square on Saturday for the first time since the flood.",
    "—",  # a dateline's dash (the CNN fixture story has one)
]


@pytest.mark.parametrize("sentence", KEPT)
def test_sentences_that_only_look_like_furniture_are_kept(sentence: str) -> None:
    assert boilerplate_rule(sentence) is None


def article(body: str, *, header: str = "", declared: bool = False) -> str:
    marker = " itemprop='articleBody'" if declared else ""
    return (f"<html><head><title>Talks stall</title></head><body><article>{header}"
            f"<div class='story'{marker}>{body}</div></article></body></html>")


def test_a_bare_date_in_a_time_element_is_the_dateline_and_goes() -> None:
    body = (f"<div class='date'><time datetime='2015-04-12'>12 April 2015</time></div>"
            f"<p>{STORY[0]}</p><p>{STORY[1]}</p><p>{STORY[2]}</p>")
    extraction = explain_html(article(body, declared=True), url=URL)
    assert extraction.article.texts == STORY
    assert ("date line", "12 April 2015") in {(d.rule, d.text) for d in extraction.dropped}


def test_a_bare_date_as_text_is_a_timeline_entry_and_stays() -> None:
    body = f"<p>{STORY[0]}</p><p>12 April 2015</p><p>{STORY[1]}</p><p>{STORY[2]}</p>"
    for declared in (False, True):
        texts = extract_html(article(body, declared=declared), url=URL).texts
        assert texts == [STORY[0], "12 April 2015", *STORY[1:]]
    assert is_date_line("12 April 2015")


def test_a_label_repeated_at_the_bottom_goes_both_times_but_a_repeated_sentence_stays() -> None:
    label = "Middle East editor Jeremy Hale"
    body = (f"<p>{label}</p><p>{STORY[0]}</p><p>{STORY[1]}</p><p>{STORY[0]}</p>"
            f"<p>{STORY[2]}</p><p>{label}</p>")
    assert extract_html(article(body), url=URL).texts == [STORY[0], STORY[1], STORY[0], STORY[2]]


def test_the_article_header_is_no_body_text() -> None:
    header = ("<header><span class='kicker'>Diplomacy</span><h1>Talks stall</h1>"
              "<p class='standfirst'>Negotiators leave without a deal for the third time.</p>"
              "<div class='byline'>By Jane Doe</div></header>")
    body = "".join(f"<p>{p}</p>" for p in STORY)
    assert extract_html(article(body, header=header), url=URL).texts == STORY


def test_menus_tool_rows_and_link_boxes_go() -> None:
    body = (f"<p><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/me'>Middle East"
            f"</a></p><p>{STORY[0]}</p><p><a href='mailto:'>E-mail this to a friend</a> "
            f"<a href='?print'>Printable version</a></p><p>{STORY[1]}</p>"
            "<h4>RELATED INTERNET LINKS</h4><p><a href='http://a.example'>The mediators</a><br>"
            "<a href='http://b.example'>The UN mission</a><br><small>The site is not "
            f"responsible for external content</small></p><p>{STORY[2]}</p>")
    extraction = explain_html(article(body), url=URL)
    assert extraction.article.texts == STORY
    rules = [d.rule for d in extraction.dropped]
    assert rules.count("navigation links") == 2
    assert {"box label", "link under a box label"} <= set(rules)


def test_a_single_link_in_a_sentence_is_text() -> None:
    linked = STORY[1].replace("international monitors",
                              "<a href='/monitors'>international monitors</a>")
    body = f"<p>{STORY[0]}</p><p>{linked}</p><p>{STORY[2]}</p>"
    assert extract_html(article(body), url=URL).texts == STORY


def test_a_headline_after_a_kicker_heading_the_body_goes() -> None:
    body = "<h2><span>Diplomacy</span>: <span>Talks stall</span></h2>" + "".join(
        f"<p>{p}</p>" for p in STORY)
    extraction = explain_html(article(body), url=URL)
    assert extraction.article.texts == STORY
    assert ("headline (metadata)", "Diplomacy: Talks stall") in {
        (d.rule, d.text) for d in extraction.dropped}


def test_readers_comments_go_even_when_they_outweigh_the_story() -> None:
    comments = "".join(f"<li class='comment'><p>Reader {i} writes: I have followed these talks "
                       "for years and I do not believe a word of what either side says.</p></li>"
                       for i in range(12))
    html = ("<html><body><article itemprop='articleBody'>" + "".join(f"<p>{p}</p>" for p in STORY)
            + f"<section id='comments'><h3>12 comments</h3><ol>{comments}</ol></section>"
            "</article></body></html>")
    extraction = explain_html(html, url=URL)
    assert extraction.article.texts == STORY
    assert any(d.rule.startswith("comments box <section") for d in extraction.dropped)


def test_an_opinion_piece_called_kommentar_is_kept() -> None:
    body = "".join(f"<p>{p}</p>" for p in STORY)
    html = f"<html><body><article><div class='kommentar'>{body}</div></article></body></html>"
    assert extract_html(html, url=URL).texts == STORY
