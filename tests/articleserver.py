"""A local news site for tests and benchmarks: fixture story versions served as article pages.

``ArticleServer`` serves the versions of a fixture story (``<story_dir>/<story>/vN.txt``, one
paragraph per line, line 0 the headline) as realistic German HTML5 article pages over real
HTTP/1.1 on 127.0.0.1. A test moves an article to another version (``set_version``,
``advance``) or makes it misbehave (``set_mode``, see ``MODES``). Like a CDN in front of a CMS
with rotating ads, every response differs in bytes (an advert, a clock, a cache-buster) while
ETag and Last-Modified follow the version, so conditional GETs get 304 until the story changes.

Page contract, in document order (the extractor tests rely on it): ``<h1>`` headline, a
``div.byline``, then ``div.article__content[itemprop=articleBody]`` holding, in fixture order,
``p.paragraph`` per line and ``figure.image`` per agency credit line + the caption line after
it (``div.image__credit``, ``picture > img``, ``figcaption.image__caption``), interrupted by
boilerplate: ``div.ad`` (per-request text) and ``aside.related-content`` ("Mehr zum Thema").
Mode "site-noise" adds two lines inside the body, marked up like paragraphs, that change per
request: "Zuletzt aktualisiert von der Redaktion um <clock> Uhr" and a reader poll count in a
``div.reader-poll`` (for per-host ignore rules). Everything outside ``<article>``
(navigation, cookie banner, breadcrumb, share bar, "Meistgelesen", newsletter, footer with the
per-request clock, scripts) is boilerplate too.
The page is also well-formed XML, so mode "xhtml" serves the very same markup.

Two switches are independent of the modes. ``set_template(slug, "redesign")`` serves the same
story text in another site design (``TEMPLATES``): other class names and wrappers, navigation,
sidebar, footer, script and ad markup, and inside ``<article>`` a share row, a relative "vor N
Minuten" timestamp, an inline "Lesen Sie auch" teaser, a "Meistgelesen" box whose links rotate
per request, a newsletter sign-up and a "Mehr zum Thema" list. ``set_photo(slug, p)``
(``PHOTOS``) changes the lead photo (the first figure, og:image and the JSON-LD image):
"swapped" is another photo, "resized" the same photo with sizing and cache-busting query
parameters (a new cache-buster per request). Both are part of the ETag.

Standalone, in its own process so a benchmark's client does not share its GIL::

    python tests/articleserver.py --port 8000 --articles 1000   # article-0000 ... article-0999
    python tests/articleserver.py --articles 1000 --template redesign  # no declared body

with a control API (also present in-process), answering JSON:

    POST /_control/advance?slugs=a,b   or   ?fraction=0.1&seed=1
    POST /_control/conditional?on=0|1
    POST /_control/mode?slug=a&mode=503&retry_after=5       (no mode, or "normal": back to None)
    POST /_control/version?slug=a&version=3
    POST /_control/robots?text=...&status=200               (no text: /robots.txt is a 404)
    POST /_control/template?slug=a&template=redesign         (classic: the default)
    POST /_control/photo?slug=a&photo=swapped|resized        (original: the default)
    POST /_control/reset                                     (clears the request log and stats)
    GET  /_control/stats    -> {"requests": n, "status": {"200": n, ...}, "bytes": n, ...}
    GET  /_control/log      -> {"requests": [[time, status, slug or path], ...]} (oldest first)
    POST /_control/listing?name=news&kind=rss&slugs=a,b      (or &all=1: every article)
    POST /_control/entries?name=news&add=c,d&remove=a
    POST /_control/listing-mode?name=news&mode=gzip          (no mode, or "normal": back to None)

Listings (``add_listing``) are what a site publishes for its sections: an RSS or Atom feed, a
news sitemap, or a sitemap index of other listings, served at ``/feeds/<name>`` and linked from
the front page ``/`` with ``<link rel="alternate">``. Their entries are the site's articles
(newest first), titled with the headline of the version served unless a test gives a title.
A test adds and removes entries; ETag and Last-Modified follow the entries, so a conditional
GET gets 304 until they change, while RSS and Atom carry the time of the request
(``lastBuildDate``/``updated``) and a per-request comment as many CMSs do, so without
validators every body differs. Sitemaps are the same bytes until their entries change.

The pytest fixture for ``tests/conftest.py`` (a fresh site per test costs about a millisecond)::

    from tests.articleserver import ArticleServer

    @pytest.fixture
    def article_server() -> Iterator[ArticleServer]:
        \"\"\"A local news site, empty until the test adds articles; stopped afterwards.\"\"\"
        with ArticleServer(Path(__file__).parent / "fixtures") as server:
            yield server

Stdlib only: this module must not import tracker (the code under test) or third-party packages.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import hashlib
import html
import itertools
import json
import random
import re
import signal
import socket
import socketserver
import struct
import textwrap
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODES = frozenset(
    {"static-body", "no-validators", "404", "410", "500", "503", "429", "timeout", "slow-body",
     "huge", "huge-chunked", "binary", "redirect-loop", "redirect", "consent-wall", "empty",
     "error-page-200", "latin1", "nocharset", "xhtml", "plain", "reset", "site-noise", "gutted"}
)  # fmt: skip
TEMPLATES = ("classic", "redesign")
PHOTOS = ("original", "swapped", "resized")
LISTING_KINDS = frozenset({"rss", "atom", "sitemap", "sitemapindex"})
LISTING_MODES = frozenset({"gzip", "junk", "no-validators", "404", "500"})
PUBLISHED = datetime(2024, 6, 19, 4, 0, tzinfo=UTC)
MODIFIED = (  # article:modified_time of v1..v5; v5 only changes typography, so it keeps v4's
    PUBLISHED,
    datetime(2024, 6, 19, 6, 30, tzinfo=UTC),
    datetime(2024, 6, 19, 14, 10, tzinfo=UTC),
    datetime(2024, 6, 20, 9, 0, tzinfo=UTC),
    datetime(2024, 6, 20, 9, 0, tzinfo=UTC),
)
AUTHORS = ("Simone McCarthy", "Gawon Bae")
LOG_LIMIT = 100_000  # request records kept; a long benchmark must not grow memory without end

_HTML = "text/html; charset=utf-8"
_MESZ = timezone(timedelta(hours=2), "MESZ")
# /news/<slug>, and /news/<slug>/amp: the same story as an AMP edition, whose canonical link
# names /news/<slug> (as AMP pages do). Query strings are ignored, tracking parameters included.
_ARTICLE_PATH = re.compile(r"/news/([\w.-]+?)(?:/amp)?/?")
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
_AGENCIES = ("Getty Images", "Reuters", "AFP", "AP")
_SLOT = re.compile("\ue000(\\w+)\ue001")  # private-use marks: never in fixture text
_WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember")  # fmt: skip
_PRODUCTS = ("E-Bike Trekking 28 Zoll", "Kaffeevollautomat", "Noise-Cancelling-Kopfhörer",
             "Hartschalenkoffer-Set", "Smartwatch mit GPS", "Luftreiniger")  # fmt: skip
_SECTIONS = ("Welt", "Politik", "Wirtschaft", "Tech", "Wissen", "Gesundheit", "Sport", "Kultur",
             "Reisen", "Meinung", "Video", "Audio")  # fmt: skip
_RELATED = ("Was Kims Raketentests über das Waffenprogramm verraten",
            "Analyse: Warum Moskau und Pjöngjang zusammenrücken",
            "Südkorea verstärkt den Grenzschutz nach neuen Drohnenflügen")  # fmt: skip
_MOST_READ = ("Hitzewelle: Rekordtemperaturen in Südeuropa erwartet",
              "Notenbank senkt überraschend den Leitzins",
              "Fußball-EM: Die Aufstellungen für das Achtelfinale",
              "Forscher entdecken neue Tiefseeart vor Neuseeland",
              "Streik legt den Flugverkehr an mehreren Flughäfen lahm")  # fmt: skip


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the server answered (control requests are not recorded)."""

    method: str
    path: str  # as requested, with the query string
    headers: dict[str, str]  # names lower-cased
    status: int  # 0 when the connection was dropped without a response
    time: float  # time.time() when the request arrived
    slug: str | None
    peer: str  # "127.0.0.1:PORT" of the client's connection: equal peers = a reused connection


@dataclass(frozen=True, slots=True)
class _Listing:
    """A feed or sitemap: entries are (slug, title or None) newest first; for a sitemap index,
    the names of its child listings."""

    kind: str
    entries: tuple[tuple[str, str | None], ...]
    changed: datetime  # Last-Modified: when the entries last changed (whole seconds)
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class _Article:
    story: str
    version: int
    mode: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    template: str = "classic"
    photo: str = "original"


class _Template:
    """A pre-rendered page with named slots that are filled in per request."""

    def __init__(self, text: str) -> None:
        parts = _SLOT.split(text)
        self._literals, self._names = parts[0::2], parts[1::2]

    def render(self, values: dict[str, str], encoding: str = "utf-8") -> bytes:
        out = [self._literals[0]]
        for name, literal in zip(self._names, self._literals[1:], strict=True):
            out += (values[name], literal)
        return "".join(out).encode(encoding, errors="xmlcharrefreplace")


@dataclass(frozen=True, slots=True)
class _Page:
    """One version of a story, rendered once."""

    version: int
    lines: tuple[str, ...]
    template: _Template
    digest: str  # of the version's text: the ETag, before the representation is mixed in
    modified: datetime
    redesign: _Template  # the same story in the other site design
    lead_credit: str | None  # the credit line of the lead photo (the first figure), if any

    def etag(self, mode: str | None, template: str = "classic", photo: str = "original") -> str:
        variant = f"-{mode}" if mode in ("latin1", "xhtml", "plain", "gutted") else ""
        variant += "" if template == "classic" else f"-{template}"
        variant += "" if photo == "original" else f"-{photo}"
        return f'"{self.digest}{variant}"'


def modified_time(version: int) -> datetime:
    """The article:modified_time (and Last-Modified) of a version."""
    extra = max(0, version - len(MODIFIED))
    return MODIFIED[min(version, len(MODIFIED)) - 1] + timedelta(hours=extra)


def is_credit(line: str) -> bool:
    """Whether a fixture line is a photo credit ("Stringer/Getty Images"), not a paragraph."""
    text = " ".join(line.translate(_INVISIBLE).split())
    return len(text) < 80 and ("/" in text or text.endswith(_AGENCIES))


def read_lines(path: Path) -> list[str]:
    """A fixture file's paragraphs exactly as written, without line ends (v5 has CRLF)."""
    text = path.read_text(encoding="utf-8")
    return [line.removesuffix("\r") for line in text.split("\n") if line.strip()]


def _slot(name: str) -> str:
    return f"\ue000{name}\ue001"


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _image_src(credit: str) -> str:
    # By credit, not caption: an edited caption or typographic noise is still the same photo.
    key = " ".join(credit.translate(_INVISIBLE).split())
    return f"/img/{hashlib.sha256(key.encode()).hexdigest()[:12]}.jpg"


def _blocks(lines: list[str]) -> list[str | tuple[str, str]]:
    """Body lines grouped: a credit and the caption after it are a figure, the rest paragraphs."""
    blocks: list[str | tuple[str, str]] = []
    i = 0
    while i < len(lines):
        if is_credit(lines[i]) and i + 1 < len(lines):
            blocks.append((lines[i], lines[i + 1]))
            i += 2
        else:
            blocks.append(lines[i])
            i += 1
    return blocks


def _block_html(block: str | tuple[str, str], figures: list[tuple[str, str]]) -> str:
    if isinstance(block, str):
        return f'<p class="paragraph">{_text(block)}</p>'
    credit, caption = block
    return (
        f'<figure class="image"><div class="image__credit">{_text(credit)}</div>\n'
        f'<picture><img src="{_figure_src(block, figures)}" alt="{_attr(caption)}" width="1100"'
        f' height="619" loading="lazy" /></picture>\n'
        f'<figcaption class="image__caption">{_text(caption)}</figcaption></figure>'
    )


def _figure_src(block: tuple[str, str], figures: list[tuple[str, str]]) -> str:
    """The lead photo (the first figure) is a slot: ``set_photo`` swaps or resizes it."""
    return _slot("LEAD") if figures and block is figures[0] else _image_src(block[0])


def _lead_src(page: _Page, photo: str) -> str:
    """The lead photo's path as served with the article's photo switch."""
    if photo == "swapped":
        return _image_src(f"{page.lead_credit}#swapped")
    original = _image_src(page.lead_credit or "")
    if photo == "resized":
        return f"{original}?w=640&h=360&q=75&fit=crop&cb={random.getrandbits(32):08x}"
    return original


def _links(titles: tuple[str, ...], prefix: str) -> str:
    items = []
    for title in titles:
        slug = re.sub(r"\W+", "-", title.lower()).strip("-")
        items.append(f'<li><a href="/{prefix}/{slug}">{_text(title)}</a></li>')
    return "\n".join(items)


_AD_BOX = (
    '<div class="ad ad--inline" data-ad-slot="article-inline-1"><span class="ad__label">'
    'Anzeige</span> <a href="https://ads.example.invalid/click" rel="sponsored nofollow">'
    f"{_slot('AD')}</a></div>"
)
_RELATED_BOX = (
    '<aside class="related-content" aria-label="Mehr zum Thema">\n'
    f'<h2 class="related-content__title">Mehr zum Thema</h2>\n<ul>\n{_links(_RELATED, "news")}\n'
    "</ul>\n</aside>"
)


def _json_ld(data: dict[str, Any]) -> str:
    # ASCII-only so it survives any page encoding; <, >, & escaped so it is valid XHTML too.
    text = json.dumps(data, ensure_ascii=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\\ue000", "\ue000").replace("\\ue001", "\ue001")  # keep the slots


def _dateline(moment: datetime) -> str:
    local = moment.astimezone(_MESZ)
    verb = "Veröffentlicht" if moment == PUBLISHED else "Aktualisiert"
    day = f"{_WEEKDAYS[local.weekday()]} {local.day}. {_MONTHS[local.month - 1]} {local.year}"
    return f"{verb} {local:%H:%M} MESZ, {day}"


def _story_ld(headline: str, modified: datetime, figures: list[tuple[str, str]]) -> dict[str, Any]:
    """The CMS's JSON-LD for the story: the same whatever the site design."""
    url = _slot("URL")
    ld: dict[str, Any] = {
        "@context": "https://schema.org", "@type": "NewsArticle", "headline": headline,
        "url": url, "mainEntityOfPage": url, "inLanguage": "de",
        "datePublished": _iso(PUBLISHED), "dateModified": _iso(modified),
        "author": [{"@type": "Person", "name": name} for name in AUTHORS],
        "publisher": {"@type": "Organization", "name": "CNN"},
    }  # fmt: skip
    if figures:
        ld["image"] = {"@type": "ImageObject", "url": f"{_slot('BASE')}{_slot('LEADJS')}",
                       "caption": figures[0][1]}
    return ld


def _page_html(lines: list[str], modified: datetime) -> str:
    headline, blocks = lines[0], _blocks(lines[1:])
    figures = [block for block in blocks if isinstance(block, tuple)]
    body = [_block_html(block, figures) for block in blocks]
    body.insert(min(2, len(body)), _slot("SITENOISE"))
    body.insert(max(2, 2 * len(body) // 3), _RELATED_BOX)
    body.insert(max(1, len(body) // 3), _AD_BOX)
    content = "\n".join(body)
    lead = next((b for b in blocks if isinstance(b, str) and len(b) > 80), headline)
    url, base = _slot("URL"), _slot("BASE")
    ld = _story_ld(headline, modified, figures)
    image_meta = ""
    if figures:
        image_meta = f'<meta property="og:image" content="{base}{_slot("LEAD")}" />\n'
    share = "\n".join(
        f'<a class="share-bar__link" href="{href}{_slot("URLQ")}">{name}</a>'
        for name, href in (("Facebook", "https://www.facebook.com/sharer/sharer.php?u="),
                           ("X", "https://x.com/intent/post?url="), ("E-Mail", "mailto:?body="))
    )  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="de" xmlns="http://www.w3.org/1999/xhtml">
<head>
{_slot("CHARSET")}
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>{_text(headline)} | CNN</title>
<meta name="description" content="{_attr(textwrap.shorten(lead, 160, placeholder=" …"))}" />
<meta name="author" content="{", ".join(AUTHORS)}" />
<link rel="canonical" href="{url}" />
<meta property="og:title" content="{_attr(headline)}" />
<meta property="og:url" content="{url}" />
<meta property="og:type" content="article" />
<meta property="og:site_name" content="CNN" />
{image_meta}<meta property="article:published_time" content="{_iso(PUBLISHED)}" />
<meta property="article:modified_time" content="{_iso(modified)}" />
<link rel="stylesheet" href="/css/main.css" />
<script type="application/ld+json">{_json_ld(ld)}</script>
</head>
<body class="layout layout--article">
<header class="header" id="header">
<a class="header__logo" href="/">CNN</a>
<nav class="header__nav" aria-label="Hauptnavigation"><ul>
{_links(_SECTIONS, "ressort")}
</ul></nav>
</header>
<div class="cookie-banner" id="cookie-banner" role="dialog" aria-label="Cookie-Hinweis">
<p>Wir und unsere Partner verwenden Cookies, um Inhalte und Anzeigen zu personalisieren.</p>
<button type="button">Akzeptieren</button> <button type="button">Einstellungen</button>
</div>
<nav class="breadcrumb" aria-label="Brotkrümelnavigation"><ol>
<li><a href="/">Startseite</a></li><li><a href="/welt">Welt</a></li>
<li><a href="/welt/asien">Asien</a></li>
</ol></nav>
<main class="layout__main" id="main">
<article class="article" itemscope="itemscope" itemtype="https://schema.org/NewsArticle">
<h1 class="headline__text" itemprop="headline">{_text(headline)}</h1>
<div class="byline">
<span class="byline__names">Von <a href="/profiles/simone-mccarthy" rel="author">Simone McCarthy</a>
und <a href="/profiles/gawon-bae" rel="author">Gawon Bae</a>, CNN</span>
<div class="timestamp"><time datetime="{_iso(modified)}">{_dateline(modified)}</time></div>
</div>
<div class="article__content" itemprop="articleBody">
{content}
</div>
</article>
<div class="share-bar" aria-label="Artikel teilen">
{share}
</div>
<aside class="sidebar most-read" aria-label="Meistgelesen">
<h2>Meistgelesen</h2>
<ol>
{_links(_MOST_READ, "news")}
</ol>
</aside>
<section class="newsletter-promo">
<h2>Der Morgen-Newsletter</h2>
<p>Die wichtigsten Nachrichten des Tages, jeden Morgen in Ihrem Postfach.</p>
<form action="/newsletter" method="post"><input type="email" name="email" />
<button type="submit">Jetzt abonnieren</button></form>
</section>
</main>
<footer class="footer">
<p class="footer__updated">Zuletzt aktualisiert: <span class="clock">{_slot("CLOCK")}</span> Uhr</p>
<ul class="footer__links"><li><a href="/impressum">Impressum</a></li>
<li><a href="/datenschutz">Datenschutz</a></li><li><a href="/agb">AGB</a></li></ul>
<p class="footer__copyright">© 2024 Cable News Network. Alle Rechte vorbehalten.</p>
</footer>
<script src="/js/main.js?cb={_slot("BUSTER")}" defer="defer"></script>
<script>window.dataLayer = window.dataLayer || [];
window.dataLayer.push({{"event": "pageview", "pageType": "article"}});</script>
</body>
</html>
"""


def _redesign_block(block: str | tuple[str, str], figures: list[tuple[str, str]]) -> str:
    if isinstance(block, str):
        return f'<p class="story-text__p">{_text(block)}</p>'
    credit, caption = block
    src = _figure_src(block, figures)
    return (
        f'<figure class="media media--wide"><div class="media__frame"><img class="media__img"'
        f' src="{src}" alt="" decoding="async" data-ratio="16x9" /></div>\n'
        f'<figcaption class="media__text"><small class="media__copyright">{_text(credit)}'
        f'</small> <span class="media__caption">{_text(caption)}</span></figcaption></figure>'
    )


def _redesign_html(lines: list[str], modified: datetime) -> str:
    """The same story after a site redesign: nothing of the classic markup is left."""
    headline, blocks = lines[0], _blocks(lines[1:])
    figures = [block for block in blocks if isinstance(block, tuple)]
    body = [_redesign_block(block, figures) for block in blocks]
    teaser = (
        '<p class="story-text__p"><strong>Lesen Sie auch:</strong> <a href="/news/analyse-'
        'moskau">Analyse: Warum Moskau und Pjöngjang zusammenrücken</a></p>'
    )
    ad = (
        '<div class="advert-slot" data-position="mid"><span class="advert-slot__label">Anzeige'
        f'</span><ins class="adsbygoogle" data-ad-client="ca-pub-0000">{_slot("AD")}</ins>'
        "<script>(adsbygoogle = window.adsbygoogle || []).push({});</script></div>"
    )
    ranking = (
        '<div class="box box--ranking"><h3 class="box__title">Meistgelesen</h3>\n'
        f'<ol class="box__list">{_slot("MOSTREAD")}</ol></div>'
    )
    signup = (
        '<div class="story-signup newsletter-signup"><h3>Der Morgen-Newsletter</h3>'
        "<p>Jeden Morgen die wichtigsten Nachrichten aus aller Welt, kostenlos in Ihr "
        'Postfach.</p><form action="/nl" method="post"><input type="email" name="m" />'
        "<button>Anmelden</button></form>\n<p>Jetzt kostenlos abonnieren</p></div>"
    )
    body.insert(max(3, 3 * len(body) // 4), ranking)
    body.insert(max(2, len(body) // 2), signup)
    body.insert(max(1, len(body) // 4), ad)
    body.insert(2, teaser)
    content = "\n".join(body)
    more = "\n".join(
        f'<li><a href="/news/{i}">{_text(title)}</a></li>' for i, title in enumerate(_RELATED)
    )
    ld = _story_ld(headline, modified, figures)
    base, url = _slot("BASE"), _slot("URL")
    image_meta = f'<meta property="og:image" content="{base}{_slot("LEAD")}" />' if figures else ""
    sections = " ".join(f'<a class="menu__item" href="/r/{i}">{_text(name)}</a>'
                        for i, name in enumerate(_SECTIONS))
    stand = modified.astimezone(_MESZ).strftime("%d.%m.%Y, %H:%M")
    return f"""<!DOCTYPE html>
<html lang="de" xmlns="http://www.w3.org/1999/xhtml">
<head>
{_slot("CHARSET")}
<title>{_text(headline)} – CNN Deutschland</title>
<link rel="canonical" href="{url}" />
<meta property="og:type" content="article" />
<meta property="og:title" content="{_attr(headline)}" />
{image_meta}
<meta property="article:modified_time" content="{_iso(modified)}" />
<script type="application/ld+json">{_json_ld(ld)}</script>
<script async="async" src="/static/2025/bundle.{_slot("BUSTER")}.js"></script>
<style>.story{{max-width:42rem}}.box--ranking ol{{counter-reset:r}}</style>
</head>
<body class="tpl-2025 page-story">
<div class="topbar"><a class="topbar__brand" href="/">CNN Deutschland</a>
<button class="topbar__menu" type="button">Menü</button>
<form class="topbar__search" action="/suche"><input name="q" /><button>Suchen</button></form></div>
<div class="menu" role="navigation">{sections}</div>
<div class="page-grid"><div class="page-grid__main">
<article class="story" data-story-id="{_slot("BUSTER")}">
<div class="story__head"><span class="story__kicker">Nordkorea</span>
<h1 class="story__title">{_text(headline)}</h1>
<div class="story__author-line">Von Simone McCarthy und Gawon Bae, CNN</div>
<p class="story__date">Aktualisiert vor {_slot("AGO")} Minuten</p></div>
<div class="story__tools"><button type="button">Teilen</button>
<a href="https://www.facebook.com/sharer/sharer.php?u={_slot("URLQ")}">Facebook</a>
<a href="https://x.com/intent/post?url={_slot("URLQ")}">X</a>
<button type="button">Link kopieren</button></div>
<div class="story-text">
{content}
<p class="story-text__stand">Stand: {stand} Uhr</p>
</div>
<div class="story__more"><h3>Mehr zum Thema</h3><ul>
{more}
</ul></div>
</article>
</div>
<div class="page-grid__side">
<div class="rail-box"><h2>Trending</h2><ol>{_slot("TRENDING")}</ol></div>
<div class="rail-box rail-box--promo"><a href="/abo">
<img src="/img/abo-banner.jpg" alt="Digital-Abo" /></a></div></div>
</div>
<div class="site-foot"><ul><li><a href="/impressum">Impressum</a></li>
<li><a href="/datenschutz">Datenschutz</a></li></ul>
<p>CNN Deutschland · Seite erzeugt um {_slot("CLOCK")}</p></div>
<script>window.__STORY__ = {{"id": "{_slot("BUSTER")}", "layout": "2025"}};</script>
</body>
</html>
"""


def _simple_page(title: str, body: str) -> bytes:
    """A small site page (error pages, the consent wall) with the site header."""
    return f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8" /><title>{title} | CNN</title></head>
<body><header class="header"><a class="header__logo" href="/">CNN</a></header>
<main class="layout__main">{body}</main>
<footer class="footer"><p>© 2024 Cable News Network.</p></footer></body></html>
""".encode()


def _error_page(status: int) -> bytes:
    title, message = {
        404: ("Seite nicht gefunden", "Die angeforderte Seite existiert leider nicht."),
        410: ("Artikel entfernt", "Dieser Artikel ist nicht mehr verfügbar."),
        429: ("Zu viele Anfragen", "Bitte versuchen Sie es später erneut."),
        500: ("Interner Serverfehler", "Ein unerwarteter Fehler ist aufgetreten."),
        503: ("Wartungsarbeiten", "Der Dienst ist vorübergehend nicht verfügbar."),
    }.get(status, ("Fehler", f"HTTP {status}"))
    return _simple_page(title, f'<div class="error-page"><h1>{title}</h1><p>{message}</p></div>')


_CONSENT_PAGE = _simple_page(
    "Bevor Sie fortfahren",
    """<div class="consent-wall" role="dialog"><h1>Ihre Privatsphäre ist uns wichtig</h1>
<p>Wir und unsere 142 Partner speichern Informationen auf Ihrem Gerät und greifen darauf zu,
zum Beispiel eindeutige Kennungen in Cookies, um personenbezogene Daten zu verarbeiten.</p>
<p>Sie können Ihre Einwilligung jederzeit über den Link „Datenschutz“ am Seitenende widerrufen.</p>
<form method="post" action="/consent"><button name="consent" value="all">Alle akzeptieren</button>
<button name="consent" value="none">Nur notwendige Cookies</button></form></div>""",
)
_HUGE_HEAD = b'<!DOCTYPE html><html lang="de"><head><meta charset="utf-8" /></head><body>\n'
_HUGE_BLOCK = b"<p>Archivtext ohne Ende, Zeile um Zeile.</p>\n" * 1500  # ~64 KiB
_BINARY = bytes(range(256)) * 16  # NUL bytes up front, as in any real binary


def _tiny_jpeg() -> bytes:
    """A valid 1x1 grey baseline JPEG, every table as small as the format allows."""

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # a single 1-bit code "0", for symbol 0
    return b"".join((
        b"\xff\xd8",
        segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        segment(0xDB, b"\x00" + b"\x01" * 64),
        segment(0xC0, struct.pack(">BHHB", 8, 1, 1, 1) + b"\x01\x11\x00"),
        segment(0xC4, b"\x00" + one_code),  # DC: difference category 0
        segment(0xC4, b"\x10" + one_code),  # AC: end of block
        segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        b"\x3f",  # "0" (DC 0), "0" (EOB), padded with 1 bits
        b"\xff\xd9",
    ))  # fmt: skip


_JPEG = _tiny_jpeg()


@functools.cache
def _load_story(directory: Path) -> tuple[_Page, ...]:
    numbered = ((re.fullmatch(r"v(\d+)", p.stem), p) for p in directory.glob("v*.txt"))
    files = {int(match[1]): path for match, path in numbered if match}
    if not files or sorted(files) != list(range(1, len(files) + 1)):
        raise ValueError(f"{directory} must hold v1.txt ... vN.txt")
    pages = []
    for version in sorted(files):
        lines = read_lines(files[version])
        digest = hashlib.sha256("\n".join([directory.name, *lines]).encode()).hexdigest()[:20]
        modified = modified_time(version)
        page = _Template(_page_html(lines, modified))
        redesign = _Template(_redesign_html(lines, modified))
        lead = next((b[0] for b in _blocks(lines[1:]) if isinstance(b, tuple)), None)
        pages.append(_Page(version, tuple(lines), page, digest, modified, redesign, lead))
    return tuple(pages)


class ArticleServer:
    """A news site on 127.0.0.1 serving fixture story versions; every method is thread-safe.

    ``story_dir`` holds the stories (``tests/fixtures``, where ``story_de/`` lives). The socket
    is bound on construction, so ``base_url`` and ``url()`` work before ``start()``.
    ``conditional = False`` turns ETag, Last-Modified and 304 off for every article.
    """

    def __init__(self, story_dir: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.story_dir = Path(story_dir)
        self.conditional = True
        self.robots: tuple[int, str] | None = None  # /robots.txt: (status, text); None: 404
        self._lock = threading.Lock()
        self._articles: dict[str, _Article] = {}
        self._listings: dict[str, _Listing] = {}
        self._log: deque[RequestRecord] = deque(maxlen=LOG_LIMIT)
        self._status: Counter[int] = Counter()
        self._bytes = 0
        self._connections: set[socket.socket] = set()
        self._arrivals: Counter[str] = Counter()  # article requests received, answered or not
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        self.base_url = f"http://{host}:{self._httpd.server_address[1]}"

    def start(self) -> ArticleServer:
        """Serve in a background daemon thread (each connection gets its own thread)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open keep-alive connections and wake sleeping "timeout" answers."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    def __enter__(self) -> ArticleServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, slug: str) -> str:
        return f"{self.base_url}/news/{slug}"

    def add_article(self, slug: str, version: int = 1, *, story: str = "story_de") -> str:
        """Publish ``story`` at ``version`` under /news/<slug>; returns its URL."""
        self._check_version(story, version)
        with self._lock:
            self._articles[slug] = _Article(story, version)
        return self.url(slug)

    def set_version(self, slug: str, version: int) -> None:
        """Serve v<version>.txt from now on (1..5 for story_de)."""
        with self._lock:
            article = self._articles[slug]
            self._check_version(article.story, version)
            self._articles[slug] = replace(article, version=version)

    def advance(self, slug: str) -> int:
        """Move to the next version, after the last back to v1; returns the new version."""
        with self._lock:
            article = self._articles[slug]
            version = article.version % len(self._pages(article.story)) + 1
            self._articles[slug] = replace(article, version=version)
        return version

    def set_mode(self, slug: str, mode: str | None, **params: Any) -> None:
        """Make an article misbehave (one of ``MODES``), or behave again with ``None``."""
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {sorted(MODES)}")
        if mode == "redirect" and "target" not in params:
            raise ValueError('mode "redirect" needs target=<slug>')
        with self._lock:
            self._articles[slug] = replace(self._articles[slug], mode=mode, params=params)

    def set_template(self, slug: str, template: str) -> None:
        """Serve the article in another site design (one of ``TEMPLATES``), same story text."""
        if template not in TEMPLATES:
            raise ValueError(f"unknown template {template!r}; choose from {list(TEMPLATES)}")
        with self._lock:
            self._articles[slug] = replace(self._articles[slug], template=template)

    def set_photo(self, slug: str, photo: str) -> None:
        """Swap or resize the lead photo (one of ``PHOTOS``), or show the original again."""
        if photo not in PHOTOS:
            raise ValueError(f"unknown photo {photo!r}; choose from {list(PHOTOS)}")
        with self._lock:
            self._articles[slug] = replace(self._articles[slug], photo=photo)
    # --- listings: feeds and sitemaps -----------------------------------------------------

    def listing_url(self, name: str) -> str:
        return f"{self.base_url}/feeds/{name}"

    def add_listing(
        self, name: str, kind: str, slugs: list[str] | tuple[str, ...] = (), *,
        titles: dict[str, str] | None = None,
    ) -> str:
        """Publish a listing (``LISTING_KINDS``) of ``slugs`` (the first is the newest), or
        for a sitemap index of the listings so named; returns its URL."""
        if kind not in LISTING_KINDS:
            raise ValueError(f"unknown listing kind {kind!r}; choose from {sorted(LISTING_KINDS)}")
        entries = tuple((slug, (titles or {}).get(slug)) for slug in dict.fromkeys(slugs))
        with self._lock:
            self._listings[name] = _Listing(kind, entries, _now_second())
        return self.listing_url(name)

    def add_entries(
        self, name: str, slugs: list[str] | tuple[str, ...], *,
        titles: dict[str, str] | None = None,
    ) -> None:
        """List more articles, on top (newest first); those listed already stay where they are."""
        with self._lock:
            listing = self._listings[name]
            present = {slug for slug, _ in listing.entries}
            named = titles or {}
            added = tuple((s, named.get(s)) for s in dict.fromkeys(slugs) if s not in present)
            self._listings[name] = replace(listing, entries=added + listing.entries,
                                           changed=_now_second())

    def remove_entries(self, name: str, slugs: list[str] | tuple[str, ...]) -> None:
        with self._lock:
            listing = self._listings[name]
            kept = tuple(entry for entry in listing.entries if entry[0] not in set(slugs))
            self._listings[name] = replace(listing, entries=kept, changed=_now_second())

    def set_listing_mode(self, name: str, mode: str | None) -> None:
        """Serve the listing gzip-compressed, as junk, without validators, or fail (404/500)."""
        if mode is not None and mode not in LISTING_MODES:
            raise ValueError(f"unknown listing mode {mode!r}; choose from {sorted(LISTING_MODES)}")
        with self._lock:
            self._listings[name] = replace(self._listings[name], mode=mode)

    def listing_requests(self, name: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._log if urlsplit(r.path).path == f"/feeds/{name}"]

    def _listing(self, name: str) -> _Listing | None:
        with self._lock:
            return self._listings.get(name)

    def _render_listing(self, listing: _Listing, now: datetime | None) -> bytes:
        """The listing's XML; ``now`` None renders the stable part the ETag is made of."""
        if listing.kind == "sitemapindex":
            return _sitemap_index_xml([self.listing_url(n) for n, _ in listing.entries],
                                      listing.changed)
        items = [self._entry(slug, title) for slug, title in listing.entries]
        if listing.kind == "sitemap":
            return _news_sitemap_xml(items)
        render = _rss_xml if listing.kind == "rss" else _atom_xml
        return render(self.base_url, items, now)

    def _entry(self, slug: str, title: str | None) -> tuple[str, str, str, datetime]:
        """(url, title, summary, published) of an article as listings show it."""
        found = self._lookup(slug)
        if found is None:  # listed but not (or no longer) on the site
            return self.url(slug), title or slug, "", PUBLISHED
        _, page = found
        lead = next((line for line in page.lines[1:] if len(line) > 80), "")
        return self.url(slug), title or page.lines[0], lead, page.modified

    def _front_page(self) -> bytes:
        with self._lock:
            feeds = [(name, listing.kind) for name, listing in self._listings.items()
                     if listing.kind in ("rss", "atom")]
        links = "".join(
            f'<link rel="alternate" type="application/{kind}+xml" title="{_attr(name)}" '
            f'href="/feeds/{quote(name)}" />\n'
            for name, kind in feeds
        )
        return _simple_page("Nachrichten", "<h1>Nachrichten</h1>").replace(
            b"</title>", b"</title>\n" + links.encode(), 1
        )

    def arrivals(self, slug: str) -> int:
        """Requests for ``slug`` received so far, including those not answered yet (a
        "timeout" answer is logged in ``requests`` only when it is sent)."""
        with self._lock:
            return self._arrivals[slug]

    def requests(self, slug: str | None = None) -> list[RequestRecord]:
        """The requests answered so far, oldest first; only those for ``slug`` if given."""
        with self._lock:
            return [r for r in self._log if slug is None or r.slug == slug]

    def set_robots(self, text: str | None, status: int = 200) -> None:
        """Serve ``text`` as /robots.txt with ``status`` (None: no robots.txt, a 404)."""
        with self._lock:
            self.robots = None if text is None else (status, text)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            status = {str(code): n for code, n in sorted(self._status.items())}
            total = sum(self._status.values())
            return {"requests": total, "status": status, "bytes": self._bytes,
                    "articles": len(self._articles), "listings": len(self._listings),
                    "conditional": self.conditional}  # fmt: skip

    def control(self, method: str, action: str, query: dict[str, str]) -> dict[str, Any]:
        """What ``<method> /_control/<action>?<query>`` does (see the module docstring)."""
        if (method, action) == ("GET", "stats"):
            return self.stats()
        if (method, action) == ("GET", "log"):
            return {"requests": [[r.time, r.status, r.slug or r.path] for r in self.requests()]}
        if method != "POST":
            raise ValueError(f"{method} /_control/{action} is not supported")
        match action:
            case "advance":
                slugs = query["slugs"].split(",") if "slugs" in query else self._sample(query)
                return {"advanced": {slug: self.advance(slug) for slug in slugs}}
            case "conditional":
                self.conditional = query.get("on", "1") not in ("0", "false", "off")
                return {"conditional": self.conditional}
            case "mode":
                params = {k: _number(v) for k, v in query.items() if k not in ("slug", "mode")}
                mode = query.get("mode") or None
                self.set_mode(query["slug"], None if mode == "normal" else mode, **params)
                return {"slug": query["slug"], "mode": mode}
            case "version":
                self.set_version(query["slug"], int(query["version"]))
                return {"slug": query["slug"], "version": int(query["version"])}
            case "robots":
                self.set_robots(query.get("text"), int(query.get("status", 200)))
                return {"robots": self.robots}
            case "template":
                self.set_template(query["slug"], query["template"])
                return {"slug": query["slug"], "template": query["template"]}
            case "photo":
                self.set_photo(query["slug"], query["photo"])
                return {"slug": query["slug"], "photo": query["photo"]}
            case "listing":
                if query.get("all") in ("1", "true"):
                    with self._lock:
                        slugs = sorted(self._articles)
                else:
                    slugs = [s for s in query.get("slugs", "").split(",") if s]
                url = self.add_listing(query["name"], query.get("kind", "rss"), slugs)
                return {"listing": query["name"], "url": url, "entries": len(slugs)}
            case "entries":
                if query.get("add"):
                    self.add_entries(query["name"], query["add"].split(","))
                if query.get("remove"):
                    self.remove_entries(query["name"], query["remove"].split(","))
                listing = self._listing(query["name"])
                return {"listing": query["name"], "entries": len(listing.entries) if listing else 0}
            case "listing-mode":
                mode = query.get("mode") or None
                self.set_listing_mode(query["name"], None if mode == "normal" else mode)
                return {"listing": query["name"], "mode": mode}
            case "reset":
                with self._lock:
                    self._log.clear()
                    self._status.clear()
                    self._arrivals.clear()
                    self._bytes = 0
                return {"reset": True}
        raise ValueError(f"unknown control action {action!r}")

    def _sample(self, query: dict[str, str]) -> list[str]:
        with self._lock:
            slugs = sorted(self._articles)
        count = round(float(query["fraction"]) * len(slugs))
        return random.Random(int(query.get("seed", 0))).sample(slugs, count)

    def _pages(self, story: str) -> tuple[_Page, ...]:
        return _load_story(self.story_dir / story)

    def _check_version(self, story: str, version: int) -> None:
        count = len(self._pages(story))
        if not 1 <= version <= count:
            raise ValueError(f"{story} has versions 1..{count}, not {version}")

    def _lookup(self, slug: str) -> tuple[_Article, _Page] | None:
        with self._lock:
            article = self._articles.get(slug)
        if article is None:
            return None
        return article, self._pages(article.story)[article.version - 1]

    def _render(self, slug: str, article: _Article, page: _Page) -> tuple[bytes, str]:
        """The body and Content-Type of an article page in the article's representation."""
        mode = article.mode
        if mode == "plain":
            return "\n\n".join(page.lines).encode(), "text/plain; charset=utf-8"
        url = self.url(slug)
        lead = _lead_src(page, article.photo)
        values = {"BASE": self.base_url, "URL": url, "URLQ": quote(url, safe=""),
                  "CHARSET": '<meta charset="utf-8" />', "LEAD": _attr(lead),
                  "LEADJS": lead.replace("&", "\\u0026"), "MOSTREAD": _rotating(_MOST_READ),
                  "TRENDING": _rotating(_MOST_READ), "AGO": str(random.randint(2, 59)),
                  "SITENOISE": _site_noise() if mode == "site-noise" else ""}  # fmt: skip
        if mode == "static-body":
            clock = page.modified.astimezone(_MESZ).strftime("%H:%M:%S")
            values |= {"AD": _PRODUCTS[0], "CLOCK": clock, "BUSTER": page.digest,
                       "MOSTREAD": _links(_MOST_READ, "news"), "AGO": "5"}
            values["TRENDING"] = values["MOSTREAD"]
        else:
            values |= {"AD": _advert(), "CLOCK": datetime.now(_MESZ).strftime("%H:%M:%S"),
                       "BUSTER": f"{random.getrandbits(64):016x}"}  # fmt: skip
        template = page.redesign if article.template == "redesign" else page.template
        if mode == "gutted":  # the same page with only some of its lines (``lines``) left
            kept = [page.lines[i] for i in article.params.get("lines", (0, 5))]
            template = _Template(_page_html(kept, page.modified))
        if mode == "latin1":
            label = article.params.get("charset", "windows-1252")
            content = f"text/html; charset={label}"
            values["CHARSET"] = f'<meta http-equiv="Content-Type" content="{content}" />'
            return template.render(values, "cp1252"), "text/html"
        if mode == "nocharset":
            values["CHARSET"] = ""
            return template.render(values), "text/html"
        if mode == "xhtml":
            body = b'<?xml version="1.0" encoding="utf-8"?>\n' + template.render(values)
            return body, "application/xhtml+xml; charset=utf-8"
        return template.render(values), _HTML

    def _record(self, record: RequestRecord, body_bytes: int) -> None:
        with self._lock:
            self._log.append(record)
            self._status[record.status] += 1
            self._bytes += body_bytes

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


def _site_noise() -> str:
    """Per-request lines of one site that no generic filter knows (mode "site-noise"): marked
    up like article text, so only that site's rules can tell them apart."""
    clock = datetime.now(_MESZ).strftime("%H:%M:%S")
    return (
        f'<p class="paragraph">Zuletzt aktualisiert von der Redaktion um {clock} Uhr</p>\n'
        '<div class="reader-poll"><p class="paragraph">Leserumfrage: Bisher haben '
        f"{random.randint(1000, 99999)} Leserinnen und Leser abgestimmt.</p></div>"
    )


def _rotating(titles: tuple[str, ...]) -> str:
    """A "most read" list as it changes from one request to the next."""
    return _links(tuple(random.sample(titles, random.randint(3, len(titles)))), "news")


def _advert() -> str:
    price, offer = random.randint(49, 2999), random.randint(100_000, 999_999)
    return f"{random.choice(_PRODUCTS)} jetzt ab {price} € – Angebot Nr. {offer}"


def _number(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _now_second() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


_Items = list[tuple[str, str, str, datetime]]  # (url, title, summary, published)


def _served_comment(now: datetime | None) -> str:
    """What CMSs leave in every response (render time, a node id): no two bodies the same."""
    return f"<!-- generated {random.getrandbits(48):012x} -->\n" if now else ""


def _rss_xml(base: str, items: _Items, now: datetime | None) -> bytes:
    built = format_datetime(now, usegmt=True) if now else ""
    out = ['<?xml version="1.0" encoding="utf-8"?>\n', _served_comment(now),
           '<rss version="2.0">\n<channel>\n'
           f"<title>CNN – Nachrichten</title>\n<link>{base}/</link>\n"
           "<description>Die neuesten Meldungen</description>\n<language>de</language>\n"
           f"<lastBuildDate>{built}</lastBuildDate>\n"]
    for url, title, summary, published in items:
        out.append(f"<item><title>{_text(title)}</title><link>{url}</link>"
                   f'<guid isPermaLink="true">{url}</guid>'
                   f"<description>{_text(summary)}</description>"
                   f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate></item>\n")
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode()


def _atom_xml(base: str, items: _Items, now: datetime | None) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>\n', _served_comment(now),
           '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">\n'
           f"<title>CNN – Nachrichten</title>\n<id>{base}/</id>\n"
           f'<link rel="alternate" href="{base}/" />\n'
           f"<updated>{_iso(now) if now else ''}</updated>\n"]
    for url, title, summary, published in items:
        out.append(f"<entry><title>{_text(title)}</title>"
                   f'<link rel="alternate" type="text/html" href="{_attr(url)}" />'
                   f"<id>{url}</id><updated>{_iso(published)}</updated>"
                   f"<published>{_iso(published)}</published>"
                   f'<summary type="text">{_text(summary)}</summary>'
                   "<author><name>CNN</name></author></entry>\n")
    out.append("</feed>\n")
    return "".join(out).encode()


def _news_sitemap_xml(items: _Items) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
           '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
           'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n']
    for url, title, _, published in items:
        out.append(f"<url><loc>{_text(url)}</loc><news:news><news:publication>"
                   "<news:name>CNN</news:name><news:language>de</news:language>"
                   f"</news:publication><news:publication_date>{_iso(published)}"
                   f"</news:publication_date><news:title>{_text(title)}</news:title>"
                   "</news:news></url>\n")
    out.append("</urlset>\n")
    return "".join(out).encode()


def _sitemap_index_xml(urls: list[str], changed: datetime) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
           '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n']
    out += [f"<sitemap><loc>{_text(url)}</loc><lastmod>{_iso(changed)}</lastmod></sitemap>\n"
            for url in urls]
    out.append("</sitemapindex>\n")
    return "".join(out).encode()


_LISTING_PATH = re.compile(r"/feeds/([\w.-]+)")
_LISTING_TYPES = {"rss": "application/rss+xml; charset=utf-8",
                  "atom": "application/atom+xml; charset=utf-8",
                  "sitemap": "application/xml; charset=utf-8",
                  "sitemapindex": "application/xml; charset=utf-8"}  # fmt: skip


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a "timeout" answer still sleeping
    request_queue_size = 1024  # benchmarks open hundreds of connections at once

    def __init__(self, address: tuple[str, int], app: ArticleServer) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall for seconds on a
        # machine without working reverse DNS; nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "articleserver/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.app._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.app._track(self.connection, open_=False)

    def handle(self) -> None:
        # The client may go away (it gave up, or a test reset it): then no one is left to answer.
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is ArticleServer.requests(); stderr stays quiet

    def parse_request(self) -> bool:
        self.arrived = time.time()
        return super().parse_request()

    def do_GET(self) -> None:
        self._route(with_body=True)

    def do_HEAD(self) -> None:
        self._route(with_body=False)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._route(with_body=True)

    def _route(self, *, with_body: bool) -> None:
        self.with_body = with_body
        path = urlsplit(self.path).path
        if path.startswith("/_control/"):
            self._control(path.removeprefix("/_control/"))
        elif self.command == "POST":
            self._send(405, _error_page(405))
        elif match := _ARTICLE_PATH.fullmatch(path):
            self._article(match[1])
        elif path == "/robots.txt":
            self._robots()
        elif match := _LISTING_PATH.fullmatch(path):
            self._listing(match[1])
        elif path == "/":
            self._send(200, self.server.app._front_page())
        elif re.fullmatch(r"/img/[\w-]+\.jpg", path):
            self._send(200, _JPEG, "image/jpeg", {"Cache-Control": "public, max-age=31536000"})
        else:
            self._send(404, _error_page(404))

    def _control(self, action: str) -> None:
        app = self.server.app
        query = dict(parse_qsl(urlsplit(self.path).query))
        try:
            result, status = app.control(self.command, action, query), 200
        except (KeyError, ValueError) as exc:
            result, status = {"error": f"{type(exc).__name__}: {exc}"}, 400
        body = json.dumps(result).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        self._start(status, headers, body, log=False)

    def _article(self, slug: str) -> None:
        with self.server.app._lock:
            self.server.app._arrivals[slug] += 1
        found = self.server.app._lookup(slug)
        if found is None:
            self._send(404, _error_page(404))
            return
        article, page = found
        mode, params = article.mode, article.params
        match mode:
            case "404" | "410" | "500":
                self._send(int(mode), _error_page(int(mode)))
            case "503" | "429":
                retry_after = str(params.get("retry_after", 120 if mode == "503" else 30))
                self._send(int(mode), _error_page(int(mode)), headers={"Retry-After": retry_after})
            case "redirect":
                self._send(301, b"", headers={"Location": self.server.app.url(params["target"])})
            case "redirect-loop":  # ping-pong between /news/<slug> and /news/<slug>?loop=1
                there = "" if urlsplit(self.path).query else "?loop=1"
                self._send(302, b"", headers={"Location": self.server.app.url(slug) + there})
            case "consent-wall":
                self._send(200, _CONSENT_PAGE)
            case "error-page-200":
                self._send(200, _error_page(404))
            case "empty":
                self._send(200, b"")
            case "binary":
                self._send(200, _BINARY, params.get("content_type", "application/octet-stream"))
            case "huge" | "huge-chunked":
                self._send_huge(int(params.get("size", 50_000_000)), chunked=mode == "huge-chunked")
            case "reset":
                self._reset()
            case _:
                self._page(slug, article, page)

    def _robots(self) -> None:
        with self.server.app._lock:
            robots = self.server.app.robots
        if robots is None:
            self._send(404, _error_page(404))
        else:
            self._send(robots[0], robots[1].encode(), "text/plain; charset=utf-8")

    def _listing(self, name: str) -> None:
        app = self.server.app
        listing = app._listing(name)
        if listing is None or listing.mode == "404":
            self._send(404, _error_page(404))
            return
        if listing.mode == "500":
            self._send(500, _error_page(500))
            return
        if listing.mode == "junk":
            self._send(200, b"\x3c\x3f\x78 nichts als Unsinn &&& <<< " * 20,
                       "application/xml; charset=utf-8")
            return
        headers = {"Cache-Control": "public, max-age=60"}
        if app.conditional and listing.mode != "no-validators":
            stable = app._render_listing(listing, None)
            headers["ETag"] = f'"{hashlib.sha256(stable).hexdigest()[:20]}"'
            headers["Last-Modified"] = format_datetime(listing.changed, usegmt=True)
            if self._not_modified(headers["ETag"], listing.changed):
                self._start(304, headers)
                return
        body = app._render_listing(listing, datetime.now(UTC))
        content_type = _LISTING_TYPES[listing.kind]
        if listing.mode == "gzip":
            body, content_type = gzip.compress(body, mtime=0), "application/x-gzip"
        self._send(200, body, content_type, headers)

    def _page(self, slug: str, article: _Article, page: _Page) -> None:
        """The article itself, possibly late ("timeout") or slow ("slow-body")."""
        app, mode, params = self.server.app, article.mode, article.params
        if mode == "timeout" and app._stopping.wait(float(params.get("seconds", 30))):
            self._reset()  # the server is stopping: don't answer after all
            return
        headers = {"Cache-Control": "public, max-age=60", "X-Article-Version": str(page.version)}
        if app.conditional and mode != "no-validators":
            headers["ETag"] = page.etag(mode, article.template, article.photo)
            headers["Last-Modified"] = format_datetime(page.modified, usegmt=True)
            if self._not_modified(headers["ETag"], page.modified):
                self._start(304, headers)
                return
        body, content_type = app._render(slug, article, page)
        if mode != "slow-body":
            self._send(200, body, content_type, headers)
            return
        chunk, delay = int(params.get("chunk", 1024)), float(params.get("delay", 1.0))
        headers |= {"Content-Type": content_type, "Content-Length": str(len(body))}
        self._start(200, headers)
        for offset in range(0, len(body) if self.with_body else 0, chunk):
            if app._stopping.wait(delay):
                return
            self.wfile.write(body[offset : offset + chunk])

    def _not_modified(self, etag: str, modified: datetime) -> bool:
        """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only without it."""
        if (tags := self.headers.get("If-None-Match")) is not None:
            candidates = {tag.strip().removeprefix("W/") for tag in tags.split(",")}
            return "*" in candidates or etag in candidates
        try:
            since = parsedate_to_datetime(self.headers.get("If-Modified-Since", ""))
        except (TypeError, ValueError):
            return False
        return modified <= (since if since.tzinfo else since.replace(tzinfo=UTC))

    def _send_huge(self, size: int, *, chunked: bool) -> None:
        """``size`` bytes of one endless HTML page, streamed 64 KiB at a time."""
        framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(size)}
        self._start(200, {"Content-Type": _HTML, **framing}, body_bytes=size)
        if not self.with_body:
            return
        for piece in _huge_pieces(size):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        """Drop the connection with a TCP reset instead of a response."""
        self._log(0, 0)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = _HTML,
        headers: dict[str, str] | None = None,
    ) -> None:
        framing = {"Content-Type": content_type, "Content-Length": str(len(body))}
        self._start(status, {**framing, **(headers or {})}, body)

    def _start(
        self,
        status: int,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        body_bytes: int | None = None,
        log: bool = True,
    ) -> None:
        """Send the status line and headers, then ``body`` unless this is a HEAD request."""
        if log:
            self._log(status, len(body) if body_bytes is None else body_bytes)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.with_body:
            self.wfile.write(body)

    def _log(self, status: int, body_bytes: int) -> None:
        match = _ARTICLE_PATH.fullmatch(urlsplit(self.path).path)
        host, port = self.client_address[:2]
        headers = {name.lower(): value for name, value in self.headers.items()}
        record = RequestRecord(self.command, self.path, headers, status, self.arrived,
                               match[1] if match else None, f"{host}:{port}")  # fmt: skip
        self.server.app._record(record, body_bytes)


def _huge_pieces(size: int) -> Iterator[bytes]:
    remaining = size
    for piece in itertools.chain([_HUGE_HEAD], itertools.repeat(_HUGE_BLOCK)):
        if remaining <= 0:
            return
        yield piece[:remaining]
        remaining -= len(piece[:remaining])


def main(argv: list[str] | None = None) -> None:
    """Serve article-0000 ... in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--stories", type=Path, default=FIXTURES, help="the story_dir")
    parser.add_argument("--story", default="story_de")
    parser.add_argument("--template", default="classic", choices=list(TEMPLATES),
                        help="the site design of every article (redesign: no declared body)")
    args = parser.parse_args(argv)
    # Block the stop signals before any thread starts, so that only sigwait() below gets them.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    server = ArticleServer(args.stories, host=args.host, port=args.port)
    width = max(4, len(str(args.articles - 1)))
    for number in range(args.articles):
        slug = f"article-{number:0{width}d}"
        server.add_article(slug, story=args.story)
        if args.template != "classic":
            server.set_template(slug, args.template)
    server.start()
    print(f"serving {args.articles} articles at {server.base_url}", flush=True)
    signal.sigwait(stop_signals)
    server.stop()


if __name__ == "__main__":
    main()
