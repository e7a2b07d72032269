"""The local news site the other tests fetch from: pages, validators, fault modes, standalone."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.articleserver import FIXTURES, ArticleServer, read_lines

XHTML = {"h": "http://www.w3.org/1999/xhtml"}


@pytest.fixture
def server() -> Iterator[ArticleServer]:
    """A fresh site whatever scope conftest's article_server has: these tests count requests."""
    with ArticleServer(FIXTURES) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def fixture_lines(version: int) -> list[str]:
    return read_lines(FIXTURES / "story_de" / f"v{version}.txt")


def assert_in_order(text: str, paragraphs: list[str]) -> None:
    position = 0
    for paragraph in paragraphs:
        found = text.find(paragraph, position)
        assert found >= 0, f"missing or out of order: {paragraph[:60]!r}"
        position = found + len(paragraph)


def article_texts(body: bytes) -> list[str]:
    """The texts of the article body's blocks: figures give credit, then caption."""
    content = ET.fromstring(body).find(".//h:div[@class='article__content']", XHTML)
    assert content is not None
    texts = []
    for block in content:
        tag = block.tag.rpartition("}")[2]
        if tag == "p":
            texts.append("".join(block.itertext()))
        elif tag == "figure":
            assert [child.tag.rpartition("}")[2] for child in block] == [
                "div", "picture", "figcaption"
            ]  # fmt: skip
            texts += ["".join(block[0].itertext()), "".join(block[2].itertext())]
    return texts


def without_noise(body: bytes) -> bytes:
    body = re.sub(rb'<div class="ad ad--inline".*?</div>', b"", body)
    body = re.sub(rb'<span class="clock">[^<]*</span>', b"", body)
    return re.sub(rb"\?cb=\w+", b"", body)


def test_v1_page_has_every_paragraph_in_order_and_the_headline_in_h1(
    server: ArticleServer, client: httpx.Client
) -> None:
    response = client.get(server.add_article("putin"))
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    lines = fixture_lines(1)
    assert_in_order(html.unescape(response.text), lines[1:])
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", response.text)
    assert h1 is not None
    assert html.unescape(h1[1]) == lines[0]


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_article_body_holds_exactly_the_fixture_lines(
    server: ArticleServer, client: httpx.Client, version: int
) -> None:
    response = client.get(server.add_article("putin", version))
    assert article_texts(response.content) == fixture_lines(version)[1:]


def test_boilerplate_sits_inside_the_article_body_but_is_marked_up_as_such(
    server: ArticleServer, client: httpx.Client
) -> None:
    page = client.get(server.add_article("putin", 2)).text
    content = page.split('itemprop="articleBody">')[1].split("</article>")[0]
    assert '<div class="ad ad--inline"' in content
    assert '<aside class="related-content" aria-label="Mehr zum Thema">' in content
    for marker in ("Meistgelesen", "newsletter-promo", "share-bar", "cookie-banner"):
        assert marker in page


def test_same_version_differs_in_bytes_only_in_the_noise(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin")
    first, second = client.get(url), client.get(url)
    assert first.content != second.content
    assert first.headers["ETag"] == second.headers["ETag"]
    assert without_noise(first.content) == without_noise(second.content)


def test_conditional_get_with_the_etag_returns_304(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin")
    etag = client.get(url).headers["ETag"]
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag


def test_if_modified_since_alone_returns_304(server: ArticleServer, client: httpx.Client) -> None:
    url = server.add_article("putin")
    last_modified = client.get(url).headers["Last-Modified"]
    assert client.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304


def test_advance_changes_etag_and_last_modified(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin")
    before = client.get(url).headers
    assert server.advance("putin") == 2
    response = client.get(url, headers={"If-None-Match": before["ETag"]})
    assert response.status_code == 200
    assert response.headers["ETag"] != before["ETag"]
    assert response.headers["Last-Modified"] != before["Last-Modified"]
    assert response.headers["X-Article-Version"] == "2"


def test_v5_keeps_v4_last_modified_so_only_the_etag_reveals_it(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin", 4)
    v4 = client.get(url).headers
    server.advance("putin")
    assert client.get(url, headers={"If-None-Match": v4["ETag"]}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": v4["Last-Modified"]}).status_code == 304


def test_advance_after_the_last_version_starts_again_at_v1(
    server: ArticleServer,
) -> None:
    server.add_article("putin", 5)
    assert server.advance("putin") == 1


def test_without_validators_there_is_no_etag_and_never_304(
    server: ArticleServer, client: httpx.Client
) -> None:
    server_wide, per_article = server.add_article("a"), server.add_article("b")
    server.set_mode("b", "no-validators")
    assert "ETag" in client.get(server_wide).headers
    server.conditional = False
    for url in (server_wide, per_article):
        response = client.get(url, headers={"If-None-Match": "*"})
        assert response.status_code == 200
        assert "ETag" not in response.headers
        assert "Last-Modified" not in response.headers


def test_static_body_serves_identical_bytes(server: ArticleServer, client: httpx.Client) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "static-body")
    assert client.get(url).content == client.get(url).content


def test_head_sends_headers_without_a_body(server: ArticleServer, client: httpx.Client) -> None:
    response = client.head(server.add_article("putin"))
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) > 5_000
    assert response.content == b""


def test_request_log_records_each_answer_and_the_connection_it_came_on(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin")
    etag = client.get(url).headers["ETag"]
    client.get(url, headers={"If-None-Match": etag})
    client.get(server.url("nope"))
    first, second = server.requests("putin")
    assert (first.method, first.path, first.status) == ("GET", "/news/putin", 200)
    assert second.status == 304
    assert second.headers["if-none-match"] == etag
    assert first.peer == second.peer  # keep-alive: one connection
    assert [r.status for r in server.requests()] == [200, 304, 404]


def test_images_are_served_as_jpeg(server: ArticleServer, client: httpx.Client) -> None:
    response = client.get(f"{server.base_url}/img/d2116eccfcef.jpg")
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"
    assert response.content[-2:] == b"\xff\xd9"


def test_unknown_articles_modes_and_versions_are_refused(
    server: ArticleServer, client: httpx.Client
) -> None:
    assert client.get(server.url("nope")).status_code == 404
    server.add_article("putin")
    with pytest.raises(ValueError, match=r"versions 1\.\.5"):
        server.set_version("putin", 6)
    with pytest.raises(ValueError, match="unknown mode"):
        server.set_mode("putin", "teapot")
    with pytest.raises(ValueError, match="target"):
        server.set_mode("putin", "redirect")


@pytest.mark.parametrize(
    ("mode", "params", "status", "retry_after"),
    [
        ("404", {}, 404, None),
        ("410", {}, 410, None),
        ("500", {}, 500, None),
        ("503", {}, 503, "120"),
        ("503", {"retry_after": 5}, 503, "5"),
        ("429", {}, 429, "30"),
    ],
)
def test_error_modes_answer_with_their_status_and_an_html_page(
    server: ArticleServer,
    client: httpx.Client,
    mode: str,
    params: dict[str, Any],
    status: int,
    retry_after: str | None,
) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", mode, **params)
    response = client.get(url)
    assert response.status_code == status
    assert response.headers.get("Retry-After") == retry_after
    assert response.text.startswith("<!DOCTYPE html>")


def test_timeout_mode_stalls_one_article_but_not_the_others(
    server: ArticleServer, client: httpx.Client
) -> None:
    stalled, other = server.add_article("stalled"), server.add_article("other")
    server.set_mode("stalled", "timeout", seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        client.get(stalled, timeout=0.3)
    assert client.get(other, timeout=0.5).status_code == 200


def test_slow_body_trickles_the_whole_page(server: ArticleServer, client: httpx.Client) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "slow-body", chunk=4096, delay=0.05)
    started = time.monotonic()
    response = client.get(url)
    assert time.monotonic() - started >= 0.15
    assert response.text.endswith("</html>\n")


def test_slow_body_defeats_a_short_read_timeout(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "slow-body", chunk=4096, delay=0.2)
    with pytest.raises(httpx.ReadTimeout):
        client.get(url, timeout=httpx.Timeout(1, read=0.05))


@pytest.mark.parametrize(("mode", "framing"), [("huge", "content-length"), ("huge-chunked", None)])
def test_huge_modes_stream_the_requested_size(
    server: ArticleServer, client: httpx.Client, mode: str, framing: str | None
) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", mode, size=300_000)
    response = client.get(url)
    assert len(response.content) == 300_000
    assert response.headers.get("Content-Length") == ("300000" if framing else None)
    assert response.text.startswith("<!DOCTYPE html>")


def test_huge_by_default_declares_50_mb_and_can_be_abandoned(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "huge")
    with client.stream("GET", url) as response:
        assert response.headers["Content-Length"] == "50000000"
        assert len(next(response.iter_bytes(1_000_000))) == 1_000_000


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png"])
def test_binary_mode_serves_bytes_with_nuls(
    server: ArticleServer, client: httpx.Client, content_type: str
) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "binary", content_type=content_type)
    response = client.get(url)
    assert response.headers["Content-Type"] == content_type
    assert b"\x00" in response.content[:16]


def test_redirect_loop_ping_pongs_between_two_urls(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "redirect-loop")
    first = client.get(url)
    assert (first.status_code, first.headers["Location"]) == (302, f"{url}?loop=1")
    assert client.get(first.headers["Location"]).headers["Location"] == url
    with pytest.raises(httpx.TooManyRedirects):
        client.get(url, follow_redirects=True)


def test_redirect_mode_moves_permanently_to_the_target(
    server: ArticleServer, client: httpx.Client
) -> None:
    old, new = server.add_article("old"), server.add_article("new", 3)
    server.set_mode("old", "redirect", target="new")
    response = client.get(old, follow_redirects=True)
    assert [r.status_code for r in response.history] == [301]
    assert (str(response.url), response.headers["X-Article-Version"]) == (new, "3")


@pytest.mark.parametrize(
    ("mode", "marker"), [("consent-wall", "Alle akzeptieren"), ("error-page-200", "Seite nicht")]
)
def test_walls_and_soft_404s_are_200_pages_without_the_article(
    server: ArticleServer, client: httpx.Client, mode: str, marker: str
) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", mode)
    response = client.get(url)
    assert response.status_code == 200
    assert marker in response.text
    assert all(line not in response.text for line in fixture_lines(1)[5:])


def test_empty_mode_is_200_with_no_body(server: ArticleServer, client: httpx.Client) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "empty")
    response = client.get(url)
    assert (response.status_code, response.headers["Content-Length"]) == (200, "0")


def test_latin1_declares_its_charset_only_in_a_meta_tag(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "latin1")
    response = client.get(url)
    assert response.headers["Content-Type"] == "text/html"
    assert b'content="text/html; charset=windows-1252"' in response.content
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")
    assert_in_order(html.unescape(response.content.decode("cp1252")), fixture_lines(1))


def test_nocharset_says_nothing_about_its_utf8(server: ArticleServer, client: httpx.Client) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "nocharset")
    response = client.get(url)
    assert response.headers["Content-Type"] == "text/html"
    assert b"charset" not in response.content
    assert_in_order(html.unescape(response.content.decode("utf-8")), fixture_lines(1))


def test_xhtml_is_well_formed_xml(server: ArticleServer, client: httpx.Client) -> None:
    url = server.add_article("putin", 5)
    server.set_mode("putin", "xhtml")
    response = client.get(url)
    assert response.headers["Content-Type"] == "application/xhtml+xml; charset=utf-8"
    assert response.content.startswith(b"<?xml")
    assert article_texts(response.content) == fixture_lines(5)[1:]


def test_plain_mode_serves_the_lines_as_text_paragraphs(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin", 2)
    server.set_mode("putin", "plain")
    response = client.get(url)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text == "\n\n".join(fixture_lines(2))


def test_reset_mode_drops_the_connection(server: ArticleServer, client: httpx.Client) -> None:
    url = server.add_article("putin")
    server.set_mode("putin", "reset")
    with pytest.raises(httpx.TransportError):
        client.get(url)
    assert [r.status for r in server.requests("putin")] == [0]


@pytest.fixture(scope="module")
def standalone() -> Iterator[str]:
    """The server in its own process, as benchmarks run it; its base URL."""
    script = Path(__file__).with_name("articleserver.py")
    command = [sys.executable, str(script), "--port", "0", "--articles", "50"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()[-1]
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_standalone_advances_a_seeded_fraction(standalone: str) -> None:
    with httpx.Client(base_url=standalone, timeout=5) as client:
        advanced = client.post("/_control/advance?fraction=0.1&seed=1").json()["advanced"]
        assert len(advanced) == 5
        assert set(advanced.values()) == {2}
        slug = next(iter(advanced))
        assert client.get(f"/news/{slug}").headers["X-Article-Version"] == "2"
        again = client.post("/_control/advance?slugs=article-0049").json()["advanced"]
        assert again["article-0049"] == 2 + (slug == "article-0049")


def test_standalone_control_switches_conditional_and_modes_and_counts(standalone: str) -> None:
    with httpx.Client(base_url=standalone, timeout=5) as client:
        client.post("/_control/reset")
        client.post("/_control/conditional?on=0")
        assert "ETag" not in client.get("/news/article-0000").headers
        client.post("/_control/conditional?on=1")
        client.post("/_control/mode?slug=article-0001&mode=503&retry_after=7")
        assert client.get("/news/article-0001").headers["Retry-After"] == "7"
        assert client.post("/_control/teapot").status_code == 400
        stats = client.get("/_control/stats").json()
        assert stats["status"] == {"200": 1, "503": 1}
        assert (stats["requests"], stats["articles"]) == (2, 50)


def test_robots_txt_is_a_404_until_set_then_served_with_its_status(
    server: ArticleServer, client: httpx.Client
) -> None:
    robots = f"{server.base_url}/robots.txt"
    assert client.get(robots).status_code == 404
    server.set_robots("User-agent: *\nDisallow: /news/secret\n")
    answer = client.get(robots)
    assert (answer.status_code, answer.text) == (200, "User-agent: *\nDisallow: /news/secret\n")
    assert answer.headers["Content-Type"].startswith("text/plain")
    server.set_robots("", status=403)
    assert client.get(robots).status_code == 403
    assert [r.path for r in server.requests()] == ["/robots.txt"] * 3


def test_standalone_serves_robots_and_its_request_log(standalone: str) -> None:
    with httpx.Client(base_url=standalone, timeout=5) as client:
        client.post("/_control/reset")
        robots = {"text": "User-agent: *\nDisallow: /", "status": 200}
        client.post("/_control/robots", params=robots)
        assert client.get("/robots.txt").text == "User-agent: *\nDisallow: /"
        client.get("/news/article-0003")
        log = client.get("/_control/log").json()["requests"]
        assert [(status, what) for _, status, what in log] == [
            (200, "/robots.txt"), (200, "article-0003")
        ]
        assert log[0][0] <= log[1][0] <= time.time()
        client.post("/_control/robots")  # no text: no robots.txt
        assert client.get("/robots.txt").status_code == 404


# --- the redesign, the lead photo and the site's own noise -------------------------------------


def test_redesign_serves_the_same_story_in_other_markup(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin", 2)
    classic = client.get(url)
    server.set_template("putin", "redesign")
    first, second = client.get(url), client.get(url)
    text = html.unescape(first.text)
    assert_in_order(text, fixture_lines(2))
    for marker in ("article__content", "paragraph", "image__caption", "share-bar", "footer"):
        assert f'class="{marker}' not in first.text
    for boilerplate in ("Meistgelesen", "Lesen Sie auch:", "Mehr zum Thema", "Link kopieren",
                        "Aktualisiert vor", "Stand:", "adsbygoogle", "Der Morgen-Newsletter"):
        assert boilerplate in text.split("<article")[1].split("</article>")[0]
    assert first.headers["ETag"] == second.headers["ETag"] != classic.headers["ETag"]
    ET.fromstring(first.content)  # still well-formed, like the classic page


def test_redesign_most_read_box_rotates_per_request(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin", 2)
    server.set_template("putin", "redesign")

    def ranking() -> str:
        return client.get(url).text.split('class="box__list">')[1].split("</ol>")[0]

    assert len({ranking() for _ in range(8)}) > 1


@pytest.mark.parametrize("template", ["classic", "redesign"])
def test_photo_switch_swaps_or_resizes_the_lead_photo(
    server: ArticleServer, client: httpx.Client, template: str
) -> None:
    url = server.add_article("putin", 2)
    server.set_template("putin", template)

    def og_image() -> str:
        found = re.search(r'property="og:image" content="([^"]+)"', client.get(url).text)
        assert found is not None
        return html.unescape(found[1])

    original = og_image()
    server.set_photo("putin", "resized")
    resized = {og_image() for _ in range(3)}
    assert all(r.startswith(original + "?w=640&h=360") for r in resized)
    assert len(resized) == 3  # a new cache-buster every time
    server.set_photo("putin", "swapped")
    swapped = og_image()
    assert swapped.rsplit("/", 1)[0] == original.rsplit("/", 1)[0]
    assert swapped != original
    page = client.get(url).text
    assert page.count(swapped.removeprefix(server.base_url)) >= 2  # og:image, figure (+ JSON-LD)
    with pytest.raises(ValueError, match="unknown photo"):
        server.set_photo("putin", "blurred")
    with pytest.raises(ValueError, match="unknown template"):
        server.set_template("putin", "retro")


def test_site_noise_mode_adds_lines_that_change_per_request(
    server: ArticleServer, client: httpx.Client
) -> None:
    url = server.add_article("putin", 2)
    server.set_mode("putin", "site-noise")
    pages = [client.get(url).text for _ in range(2)]
    polls = [re.search(r"Bisher haben (\d+) Leserinnen", page) for page in pages]
    assert all(polls)
    assert 'class="reader-poll"' in pages[0]
    assert "Zuletzt aktualisiert von der Redaktion um" in pages[0]
    assert pages[0] != pages[1]


def test_standalone_control_switches_template_and_photo(standalone: str) -> None:
    with httpx.Client(base_url=standalone, timeout=5) as client:
        assert client.post("/_control/template?slug=article-0002&template=redesign").json() == {
            "slug": "article-0002", "template": "redesign"}
        assert 'class="story__title"' in client.get("/news/article-0002").text
        client.post("/_control/photo?slug=article-0002&photo=swapped")
        assert client.get("/news/article-0002").headers["ETag"].endswith('-redesign-swapped"')
        assert client.post("/_control/photo?slug=article-0002&photo=x").status_code == 400
