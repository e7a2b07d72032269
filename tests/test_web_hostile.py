"""Hostile content in a real browser: pages whose text, title, byline, URLs and captions hold
``<script>``, ``javascript:`` links, ``onerror=`` attributes, ``</textarea>`` breakouts and
terminal escapes are checked like any story (and one version is stored directly, with what the
extractor would not let through); on every page nothing runs, nothing loads, and the layout
holds."""

from __future__ import annotations

from typing import Any

import feedparser
import pytest

from db import queries
from db.session import session_scope
from tests.hostilesite import LONG, HostileSite
from tests.webhelp import get
from tracker.app import App
from tracker.articles import add_articles
from tracker.clock import utcnow
from tracker.passes import check_pass

ESCAPES = "\x1b[2J\x1b[31mTERMINAL\x1b[0m\x07"
EVIL_URL = "javascript:window.__pwned='url'"
PAGES = ("/", "/?q=%3Cscript%3E", "/changes", "/changes?minor=1", "/articles/1",
         "/articles/1/diff/1..2", "/articles/1/diff/1..2?mode=side", "/articles/1/diff/2..3",
         "/articles/1/diff/2..3?mode=side", "/articles/1/versions/3", "/articles/1/versions/1")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def hostile(app: App) -> str:
    """Two versions stored by real checks of the hostile site, a third stored directly."""
    with HostileSite() as site:
        url = f"{site.base_url}/news/evil?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
        add_articles(app, [url], tags=["<script>window.__pwned='tag'</script>"])
        for version in (1, 2):
            site.version = version
            results = check_pass(app, [url], all_=False, concurrency=1)
            assert [r.outcome for r in results] == [("first_seen", "changed")[version - 1]]
    with session_scope(app.writer) as session:
        article = queries.lock_article(session, 1)
        assert article is not None
        previous = queries.latest_version(session, 1)
        assert previous is not None
        paragraphs = [*queries.paragraphs_of(session, previous),
                      ("text", f"Ein Absatz mit Steuerzeichen {ESCAPES} und \x00 NUL."),
                      ("caption", f"</textarea><img src=x onerror=alert(1)> {ESCAPES}")]
        fields = {
            "title": f"{previous.title} {ESCAPES}", "byline": previous.byline,
            "lead_image": EVIL_URL, "lead_caption": f"<b onmouseover=alert(1)>{ESCAPES}</b>",
            "canonical_url": "javascript:alert(document.cookie)", "content_hash": "f" * 32,
            "extractor": previous.extractor, "published": previous.published,
        }
        queries.store_version(session, article, paragraphs=paragraphs, fields=fields,
                              previous=previous, now=utcnow())
    return url


def test_the_hostile_text_really_is_stored(app: App, hostile: str) -> None:
    with session_scope(app.reader) as session:
        versions = queries.versions_of(session, 1)
        texts = [t for v in versions for _, t in queries.paragraphs_of(session, v)]
        stored = " ".join([*texts, *(str(getattr(v, f)) for v in versions
                                     for f in ("title", "byline", "lead_caption", "lead_image",
                                               "canonical_url"))])
    for needle in ("<script>", "onerror=", "</textarea>", "javascript:", "\x1b[31m", LONG):
        assert needle in stored


def inspect(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => ({
      pwned: window.__pwned === undefined ? null : String(window.__pwned),
      scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
      handlers: Array.from(document.querySelectorAll('*')).flatMap(e =>
          Array.from(e.attributes).filter(a => a.name.startsWith('on')).map(a => a.name)),
      images: document.images.length,
      frames: document.querySelectorAll('iframe, object, embed, svg, textarea').length,
      links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href)
          .filter(h => !/^https?:/.test(h)),
      mains: document.querySelectorAll('main').length,
      footers: document.querySelectorAll('footer').length,
      wide: document.documentElement.scrollWidth > window.innerWidth + 1,
      text: document.body.innerText,
    })""")


@pytest.mark.parametrize("width", [1200, 390])
def test_nothing_runs_loads_or_breaks_the_layout(
    hostile: str, web_url: str, browser: Any, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    refused: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        for path in PAGES:
            page.goto(web_url + path)
            page.keyboard.press("j")  # our own script runs, and nothing else
            found = inspect(page)
            assert found["pwned"] is None, path
            assert found["scripts"] == ["/static/app.js"], path
            assert found["handlers"] == [], path
            assert found["images"] == 0, path
            assert found["frames"] == 0, path
            assert found["links"] == [], path
            assert (found["mains"], found["footers"]) == (1, 1), path
            assert not found["wide"], path
            assert "\x1b" not in found["text"]
            assert "\x00" not in found["text"]
        text = inspect(page)["text"]
    finally:
        context.close()
    assert dialogs == []
    assert refused == []
    assert all(u.startswith(web_url) for u in requests), requests
    assert "␛[31mTERMINAL" in text  # escapes are shown as symbols, not acted on


def test_hostile_urls_are_text_not_links(hostile: str, web_url: str, page: Any) -> None:
    page.goto(web_url + "/articles/1/diff/2..3")
    table = page.locator("table.meta")
    assert EVIL_URL in table.inner_text()
    hrefs = [a.get_attribute("href") for a in table.locator("a").all()]
    assert hrefs
    assert all(h.startswith("http://127.0.0.1:") for h in hrefs)  # the old, real URLs
    assert table.locator("span.url", has_text="javascript:").count() == 2
    assert table.locator("button.load-image").count() == 1  # only the http one can load
    assert table.locator("button.load-image").get_attribute("data-src").startswith("http://")


def test_feeds_and_report_stay_valid(hostile: str, web_url: str, sqlite_url: str) -> None:
    from tests.clihelp import tracker

    for path in ("/feeds/changes.atom", "/feeds/articles/1.atom"):
        response = get(web_url, path)
        assert b"\x1b" not in response.content
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert len(parsed.entries) == 2
        assert "<script>" not in parsed.entries[0].content[0].value
        assert "&lt;script&gt;" in parsed.entries[0].content[0].value
    report = tracker(sqlite_url, "changes", "--format", "html").stdout
    assert "<script" not in report
    assert "\x1b" not in report
    assert "&lt;/textarea&gt;" in report
