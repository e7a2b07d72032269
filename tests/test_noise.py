"""Boilerplate that is not news (tracker.noise) and the lead image (tracker.extract): each kind
of page furniture, in English and German, left out of the article text, and the sentences that
only look like it kept. Pages are built here the way news sites mark them up."""

from __future__ import annotations

import json

import pytest

from tracker.document import Paragraph
from tracker.extract import extract_html, normalize_image_url, read_lead_image
from tracker.noise import (
    drop_boilerplate,
    drop_noise_elements,
    is_boilerplate,
    is_share_row,
    is_timestamp_line,
)

URL = "https://news.example/politik/gipfel-in-pjoengjang"

GERMAN = [
    "Putin traf in den frühen Morgenstunden des Mittwochs zu einem seltenen Besuch in Nordkorea "
    "ein und verkündete damit die Vertiefung des Bündnisses zwischen den beiden Ländern.",
    "Die beiden Staatschefs wollen Berichten zufolge ein neues Abkommen über eine strategische "
    "Partnerschaft unterzeichnen, das auch militärische Zusammenarbeit vorsieht.",
    "Die aufkeimende Beziehung hat sowohl in Seoul als auch in Washington Besorgnis ausgelöst, "
    "nicht nur wegen der Waffenlieferungen an Russland.",
]
ENGLISH = [
    "Floodwaters rose through the night along the lower river, forcing the evacuation of three "
    "villages and cutting the main road to the regional capital before dawn on Tuesday.",
    "Emergency crews said the levee near the old mill had held, but warned that another day of "
    "heavy rain could push the water over the barriers that were put up last year.",
    "The regional government has opened two shelters in school gyms and asked residents who can "
    "stay with relatives to do so, a spokeswoman said at a briefing in the town hall.",
]


def page(body: str, *, lang: str = "de", head: str = "", outside: str = "") -> str:
    """A news article page: the site's chrome around an <article> whose body is ``body``."""
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8" /><title>Gipfel | Zeitung</title>{head}</head>
<body>
<header class="site-header"><a href="/">Zeitung</a>
<nav><ul><li><a href="/politik">Politik</a></li><li><a href="/wirtschaft">Wirtschaft</a></li>
</ul></nav></header>
<main>
<article>
<h1>Der Gipfel in Pjöngjang</h1>
<div class="article-body" itemprop="articleBody">
{body}
</div>
</article>
{outside}
</main>
<footer><p>© 2024 Zeitung GmbH</p></footer>
</body></html>"""


def paragraphs_html(texts: list[str]) -> list[str]:
    return [f"<p>{text}</p>" for text in texts]


def extracted(body_parts: list[str], *, lang: str = "de", selector: str | None = None) -> list[str]:
    return extract_html(page("\n".join(body_parts), lang=lang), url=URL, selector=selector).texts


# --- whole paragraphs that are boilerplate ----------------------------------------------------

BOILERPLATE = {
    "teaser-en": '<p><strong>Read more:</strong> <a href="/floods/map">Where the river broke '
                 "its banks</a></p>",
    "teaser-en-caps": '<p>READ MORE | <a href="/floods/2023">The floods of last year</a></p>',
    "teaser-de": '<p>Lesen Sie auch: <a href="/politik/kim">Was Kims Raketentests über das '
                 "Waffenprogramm verraten</a></p>",
    "teaser-de-thema": '<p><b>Mehr zum Thema:</b> <a href="/politik/moskau">Warum Moskau und '
                       "Pjöngjang zusammenrücken</a></p>",
    "teaser-de-interessant": '<p>► Auch interessant: <a href="/reisen">Die schönsten Ziele '
                             "im Sommer</a></p>",
    "newsletter-en": "<p>Sign up for our Morning Briefing newsletter to get the top stories in "
                     "your inbox every weekday.</p>",
    "newsletter-de": '<p><a href="/newsletter">Newsletter abonnieren</a></p>',
    "subscribe-de": '<p><a class="btn" href="/abo">Jetzt abonnieren</a></p>',
    "subscribe-de-long": "<p>Jetzt kostenlos abonnieren und keine Eilmeldung mehr verpassen!</p>",
    "share-en": '<p><a href="https://facebook.com/sharer">Share on Facebook</a> '
                '<a href="https://x.com/intent">Share on X</a> <a href="mailto:">Email</a></p>',
    "share-de": "<p>Teilen</p>",
    "share-de-article": '<p><a href="#">Artikel teilen</a></p>',
    "share-de-copy": "<p><button>Link kopieren</button></p>",
    "share-networks": '<p><a href="#">Facebook</a> | <a href="#">WhatsApp</a> | '
                      '<a href="#">LinkedIn</a></p>',
    "updated-en": "<p>Updated 5 minutes ago</p>",
    "updated-en-gmt": "<p>Last updated 14:03 GMT</p>",
    "updated-en-cnn": "<p>Updated 2:03 PM EDT, Wed June 19, 2024</p>",
    "updated-de": "<p>Aktualisiert vor 3 Minuten</p>",
    "stand-de": "<p>Stand: 19.06.2024, 14:03 Uhr</p>",
    "published-de": "<p>Veröffentlicht am 19.06.2024 um 14:03 Uhr</p>",
    "relative-en": "<p>3 hours ago</p>",
    "advert-label": "<p>Anzeige</p>",
    "reading-time": "<p>Lesezeit: 4 Min.</p>",
}


@pytest.mark.parametrize("snippet", BOILERPLATE.values(), ids=BOILERPLATE.keys())
def test_boilerplate_paragraph_between_german_paragraphs_is_left_out(snippet: str) -> None:
    body = paragraphs_html(GERMAN)
    assert extracted([*body[:2], snippet, body[2]]) == GERMAN


@pytest.mark.parametrize("snippet", BOILERPLATE.values(), ids=BOILERPLATE.keys())
def test_boilerplate_paragraph_is_left_out_of_a_selected_body_too(snippet: str) -> None:
    body = paragraphs_html(ENGLISH)
    texts = extracted([body[0], snippet, *body[1:]], lang="en", selector="div.article-body")
    assert texts == ENGLISH


KEPT = [
    # They mention a newsletter, an update, sharing, a teaser phrase: they are sentences.
    "The ministry’s newsletter, sent to 3,000 staff on Monday, warned of further cuts.",
    "Der Newsletter des Ministeriums warnte am Montag vor weiteren Kürzungen.",
    "Read more about the treaty in the documents the ministry published on Tuesday, he said.",
    "Mehr zum Thema sagte der Sprecher am Abend nichts.",
    "Lesen Sie auch die Erklärung, forderte der Minister die Abgeordneten auf.",
    "Updated figures show that 5,000 people were evacuated overnight.",
    "Stand der Ermittlungen: Die Polizei sucht weiter nach Zeugen.",
    "Share prices fell 3 percent in early trading.",
    "Sie teilen die Sorge um die Stabilität der Region.",
    "Related-party transactions rose by 5 percent last year.",
    "Anzeige erstattet: Die Polizei ermittelt gegen den Fahrer.",
    "Dies ist eine sich entwickelnde Geschichte und wird aktualisiert.",
    "Sign up sheets were handed out at the shelter, where volunteers registered 200 families.",
    "Jetzt abonnieren immer mehr Leser digitale Ausgaben, sagte der Verleger.",
]


@pytest.mark.parametrize("sentence", KEPT)
def test_sentences_that_only_look_like_boilerplate_are_kept(sentence: str) -> None:
    assert not is_boilerplate(sentence)
    body = paragraphs_html(GERMAN)
    assert extracted([*body[:2], f"<p>{sentence}</p>", body[2]]) == [*GERMAN[:2], sentence,
                                                                     GERMAN[2]]


@pytest.mark.parametrize(
    "line",
    ["Updated 5 minutes ago", "Aktualisiert vor 3 Minuten", "Stand: 19.06.2024, 14:03 Uhr",
     "Last updated 14:03 GMT", "Aktualisiert 08:30 MESZ, Mi 19. Juni 2024",
     "Published June 19, 2024 at 2:03 p.m. ET", "Zuletzt aktualisiert: 14:03:12 Uhr",
     "vor 12 Minuten", "2 hrs ago", "Gerade eben"],
)
def test_timestamp_lines(line: str) -> None:
    assert is_timestamp_line(line)


@pytest.mark.parametrize(
    "line",
    ["19. Juni 2024", "14:03 Uhr", "Heute", "Updated", "Aktualisiert von der Redaktion um 14:03",
     "Published by Reuters on June 19", "Vor 24 Jahren war Putin zuletzt in Pjöngjang.",
     "Stand der Dinge: unklar"],
)
def test_dates_in_other_lines_are_not_timestamp_lines(line: str) -> None:
    # A bare date is a timeline entry or a liveblog heading, not furniture.
    assert not is_timestamp_line(line)


def test_a_lone_network_name_is_no_share_row_but_a_row_of_them_is() -> None:
    assert not is_share_row("Facebook")
    assert is_share_row("Facebook Twitter WhatsApp")
    assert is_share_row("Teilen: Facebook, X, E-Mail, Link kopieren")


def test_most_read_box_is_left_out_with_its_links() -> None:
    box = """<h2>Meistgelesen</h2><ol>
<li><a href="/a">Hitzewelle: Rekordtemperaturen in Südeuropa erwartet</a></li>
<li><a href="/b">Notenbank senkt überraschend den Leitzins</a></li>
<li><a href="/c">Streik legt den Flugverkehr lahm</a></li></ol>"""
    body = paragraphs_html(GERMAN)
    assert extracted([*body[:2], box, body[2]]) == GERMAN


@pytest.mark.parametrize("label", ["Related", "Mehr zum Thema", "Most read", "Das könnte Sie "
                                   "auch interessieren"])
def test_related_links_list_under_its_label_is_left_out(label: str) -> None:
    listed = [Paragraph(label, "heading"), Paragraph("Hochwasser: Die Karte der Pegel", "item"),
              Paragraph("Wie sich Gemeinden schützen", "item")]
    story = [Paragraph(text) for text in ENGLISH]
    assert drop_boilerplate([story[0], *listed, *story[1:]]) == story


def test_a_list_after_a_real_heading_is_kept() -> None:
    items = [Paragraph("Heading", "heading"), Paragraph("Erstens: die Deiche", "item"),
             Paragraph("Zweitens: die Pumpen", "item")]
    assert drop_boilerplate(items) == items


def test_list_items_of_the_story_after_a_box_are_kept() -> None:
    # Only the items right under the label belong to the box.
    paragraphs = [Paragraph("Mehr zum Thema", "heading"), Paragraph("Ein Link", "item"),
                  Paragraph(ENGLISH[0]), Paragraph("Erstens: die Deiche", "item")]
    assert drop_boilerplate(paragraphs) == paragraphs[2:]


def test_captions_and_credits_are_never_filtered() -> None:
    assert not is_boilerplate("Teilen", "caption")
    assert not is_boilerplate("Anzeige", "credit")


# --- elements marked up as boilerplate -------------------------------------------------------

MARKED = {
    "share-bar": '<div class="share-bar"><p><a href="#">Per WhatsApp an Freunde schicken</a> '
                 '<a href="#">Per Signal an Freunde schicken</a></p></div>',
    "social-camel": '<ul class="socialLinks"><li><a href="#">Folgen Sie uns auf Instagram und '
                    "verpassen Sie nichts</a></li></ul>",
    "newsletter-box": '<section class="newsletter-promo"><h2>Das Morgen-Briefing</h2><p>Die '
                      "wichtigsten Nachrichten des Tages, jeden Morgen kostenlos in Ihrem "
                      'Postfach, dazu Hintergründe.</p><form><input type="email" />'
                      "<button>Anmelden</button></form></section>",
    "advert": '<div class="ad ad--inline"><p><span>Sponsored by</span> <a href="https://ads.'
              'example">Kaffeevollautomat jetzt ab 299 € – Angebot Nr. 123456</a></p></div>',
    "most-read-id": '<div id="most-read"><h3>Oft geklickt</h3><ol><li><a href="/x">Rekordhitze '
                    "in Südeuropa erwartet</a></li></ol></div>",
    "related-links": '<div class="related-articles"><ul><li><a href="/1">Was Kims Raketentests '
                     'über das Waffenprogramm verraten</a></li><li><a href="/2">Analyse: Warum '
                     "Moskau und Pjöngjang zusammenrücken</a></li></ul></div>",
    "teaser-card": '<div class="teaser"><a href="/3"><h3>Südkorea verstärkt den Grenzschutz '
                   "nach neuen Drohnenflügen</h3></a></div>",
    "aria-share": '<div aria-label="Artikel teilen"><p><a href="#">Per WhatsApp senden</a> '
                  '<a href="#">Per Signal senden</a></p></div>',
}


@pytest.mark.parametrize("snippet", MARKED.values(), ids=MARKED.keys())
def test_marked_boilerplate_element_inside_the_body_is_removed(snippet: str) -> None:
    body = paragraphs_html(GERMAN)
    # With a selector trafilatura's own cleaning is out of play: this is ours alone.
    texts = extracted([*body[:2], snippet, body[2]], selector="div.article-body")
    assert texts == GERMAN


def test_lead_paragraph_called_teaser_is_kept() -> None:
    lead = '<p class="article__teaser">Russlands Präsident ist zum ersten Mal seit 24 Jahren in ' \
           "Nordkorea und unterzeichnet dort einen Beistandspakt.</p>"
    texts = extracted([lead, *paragraphs_html(GERMAN)], selector="div.article-body")
    assert texts[0].startswith("Russlands Präsident")
    assert texts[1:] == GERMAN


def test_market_share_chart_is_kept() -> None:
    chart = ('<figure class="market-share-chart"><img src="/charts/share.png" alt="" />'
             "<figcaption>Marktanteile der fünf größten Autohersteller in Europa im ersten "
             "Halbjahr 2024, nach Neuzulassungen und in Prozent.</figcaption></figure>")
    texts = extracted([*paragraphs_html(GERMAN), chart], selector="div.article-body")
    assert texts[:3] == GERMAN
    assert texts[3].startswith("Marktanteile der fünf größten")


def test_wrapper_holding_most_of_the_page_is_never_removed() -> None:
    from lxml import html

    tree = html.document_fromstring(
        '<html><body><div class="social-layout"><div class="story">'
        + "".join(paragraphs_html(GERMAN))
        + '</div><div class="share"><a href="#">Teilen</a></div></div></body></html>'
    )
    assert drop_noise_elements(tree) == 1
    assert [p.text_content() for p in tree.iter("p")] == GERMAN


def test_elements_chosen_by_the_selector_are_never_removed() -> None:
    from lxml import html

    tree = html.document_fromstring(
        '<html><body><div class="related-teaser"><a href="/x">Eine Verlinkung</a></div>'
        "</body></html>"
    )
    chosen = tree.xpath("//div")
    assert drop_noise_elements(tree, chosen) == 0


# --- the lead image ---------------------------------------------------------------------------


def figure(src: str, caption: str, credit: str = "Foto: Reuters") -> str:
    return (f'<figure class="image"><img src="{src}" alt="" /><figcaption>'
            f'<span class="caption">{caption}</span> <span class="credit">{credit}</span>'
            "</figcaption></figure>")


def lead(html_text: str) -> tuple[str | None, str | None]:
    from lxml import html

    return read_lead_image(html.document_fromstring(html_text), URL)


def test_lead_image_is_the_og_image_even_when_the_body_shows_another_copy() -> None:
    head = ('<meta property="og:image" '
            'content="https://cdn.example/img/putin.jpg?w=1200&amp;q=80" />')
    body = figure("/img/putin.jpg", "Putin und Kim am Flughafen.") + "".join(
        paragraphs_html(GERMAN))
    image, caption = lead(page(body, head=head))
    assert image == "https://cdn.example/img/putin.jpg"
    assert caption is None  # the figure shows news.example's copy, not the CDN's


def test_lead_caption_comes_from_the_figure_showing_the_lead_image() -> None:
    head = '<meta property="og:image" content="/img/putin.jpg?width=1200" />'
    body = "".join(paragraphs_html(GERMAN[:1])) + figure("/img/putin.jpg?w=640",
                                                          "Putin und Kim am Flughafen.")
    assert lead(page(body, head=head)) == ("https://news.example/img/putin.jpg",
                                           "Putin und Kim am Flughafen.")


def test_lead_image_from_json_ld_with_its_caption() -> None:
    data = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Gipfel",
            "image": [{"@type": "ImageObject", "url": "https://cdn.example/a.jpg?fit=crop",
                       "caption": "Der Empfang in Pjöngjang."}]}
    head = f'<script type="application/ld+json">{json.dumps(data)}</script>'
    assert lead(page("".join(paragraphs_html(GERMAN)), head=head)) == (
        "https://cdn.example/a.jpg", "Der Empfang in Pjöngjang.")


def test_lead_image_falls_back_to_the_first_figure_of_the_body() -> None:
    teaser = figure("/img/teaser.jpg", "Ein anderes Thema")
    body = figure("/img/lazy.gif", "Kim begrüßt Putin.").replace(
        'src="/img/lazy.gif"', 'src="data:image/gif;base64,R0lGOD" data-src="/img/kim.jpg"')
    html_text = page(body + "".join(paragraphs_html(GERMAN)), outside=teaser)
    assert lead(html_text) == ("https://news.example/img/kim.jpg", "Kim begrüßt Putin.")


def test_og_image_alt_is_the_caption_of_last_resort() -> None:
    head = ('<meta property="og:image" content="https://cdn.example/b.jpg" />'
            '<meta property="og:image:alt" content="Putin auf dem Kim-Il-Sung-Platz" />')
    assert lead(page("".join(paragraphs_html(GERMAN)), head=head)) == (
        "https://cdn.example/b.jpg", "Putin auf dem Kim-Il-Sung-Platz")


def test_page_without_an_image_has_no_lead_image() -> None:
    assert lead(page("".join(paragraphs_html(GERMAN)))) == (None, None)


@pytest.mark.parametrize(
    ("resized", "original"),
    [
        ("https://cdn.example/p/1.jpg?w=800&h=450&q=75&auto=format&fit=crop",
         "https://cdn.example/p/1.jpg"),
        ("https://cdn.example/p/1.jpg?width=640&dpr=2&fm=webp&v=3&cb=123",
         "https://cdn.example/p/1.jpg"),
        ("//cdn.example/p/1.jpg?ts=1718800000", "https://cdn.example/p/1.jpg"),
        ("https://site.example/wp-content/uploads/2024/06/kim-1024x683.jpg",
         "https://site.example/wp-content/uploads/2024/06/kim.jpg"),
        ("https://cdn.example/p/1.jpg?id=7&w=800", "https://cdn.example/p/1.jpg?id=7"),
    ],
)
def test_a_resized_or_recached_image_is_the_same_image(resized: str, original: str) -> None:
    assert normalize_image_url(resized, URL) == original


def test_a_different_photo_is_a_different_image() -> None:
    assert normalize_image_url("https://cdn.example/p/1.jpg?w=800", URL) != normalize_image_url(
        "https://cdn.example/p/2.jpg?w=800", URL)
    assert normalize_image_url("https://cdn.example/p/1.jpg?id=7", URL) != normalize_image_url(
        "https://cdn.example/p/1.jpg?id=8", URL)


def test_no_image_url_for_placeholders_and_odd_schemes() -> None:
    assert normalize_image_url("data:image/gif;base64,R0lGOD", URL) is None
    assert normalize_image_url("javascript:void(0)", URL) is None
    assert normalize_image_url("  ", URL) is None
