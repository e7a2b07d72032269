"""The HTML pages, Atom feeds and HTML report over real HTTP (parsed, not looked at: the
browser tests look), and the commands that serve them: ``tracker serve``, ``tracker run
--serve``, ``tracker changes --format atom|html``."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import feedparser
import lxml.html
import pytest

from tests.articleserver import ArticleServer
from tests.clihelp import ROOT, TRACKER, environment, tracker, tracker_json
from tests.services import free_port, wait_for
from tests.test_run import make_due
from tests.webhelp import get, track_story
from tracker.app import App
from tracker.web.app import CONTENT_SECURITY_POLICY


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Pages render the same rows on both databases (the API tests run on both): SQLite."""
    return sqlite_url


@pytest.fixture
def story(app: App, article_server: ArticleServer) -> str:
    return track_story(app, article_server, versions=(1, 2, 3, 4), tags=["nordkorea"])


def html(response) -> lxml.html.HtmlElement:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return lxml.html.fromstring(response.text)


def texts(elements: list[lxml.html.HtmlElement]) -> list[str]:
    return [" ".join(e.text_content().split()) for e in elements]


@pytest.mark.parametrize(
    "path", ["/", "/changes", "/articles/1", "/articles/1/diff/2..3", "/articles/1/versions/2",
             "/feeds/changes.atom", "/api/v1/articles", "/static/style.css", "/articles/77",
             "/healthz"],
)
def test_every_response_carries_the_security_headers(story: str, web_url: str, path: str) -> None:
    headers = get(web_url, path).headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert re.fullmatch(r"app;dur=\d+\.\d\d", headers["server-timing"])


def test_pages_have_no_inline_script_style_or_handler(story: str, web_url: str) -> None:
    for path in ("/", "/changes", "/articles/1", "/articles/1/diff/2..3?mode=side"):
        tree = html(get(web_url, path))
        scripts = tree.xpath("//script")
        assert [s.get("src") for s in scripts] == ["/static/app.js"]
        assert not any(s.text and s.text.strip() for s in scripts)
        assert not tree.xpath("//style | //*[@style]")
        assert not [a for e in tree.iter() for a in e.attrib if a.lower().startswith("on")]
        assert not tree.xpath("//img")  # nothing from a tracked site loads unasked


def test_articles_page_shows_title_host_tags_state_and_times(story: str, web_url: str) -> None:
    tree = html(get(web_url, "/"))
    row = tree.xpath("//table[@class='articles']/tbody/tr")[0]
    cells = {td.get("data-label"): " ".join(td.text_content().split()) for td in row.xpath("td")}
    assert cells["Article"].startswith("Putin und Kim unterzeichnen")
    assert story in cells["Article"]
    assert (cells["Host"], cells["Tags"], cells["State"], cells["Versions"]) == (
        "127.0.0.1", "nordkorea", "active", "4")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d \w+ \((just now|\d+ min ago)\)",
                     cells["Last change"])
    assert re.search(r"\(in \d+ min\)", cells["Next check"])
    assert row.xpath(".//a[@class='title']/@href") == ["/articles/1"]


def test_article_page_timeline_text_and_metadata_history(story: str, web_url: str,
                                                         sqlite_url: str) -> None:
    tree = html(get(web_url, "/articles/1"))
    rows = tree.xpath("//table[@class='timeline']/tbody/tr")
    assert [r.xpath("td[1]")[0].text_content() for r in rows] == ["4", "3", "2", "1"]
    changes = texts([r.xpath("td[4]")[0] for r in rows])
    assert changes[-1] == "first seen"
    assert changes[1].startswith("2 inserted, 2 deleted, 3 modified, 1 moved, 1 split, 1 merged")
    assert rows[1].xpath("td[4]/a/@href") == ["/articles/1/diff/2..3"]
    shown = tracker_json(sqlite_url, "show", story)["paragraphs"]
    paragraphs = tree.xpath("//div[@class='text']/p")
    assert len(paragraphs) == len(shown)
    for number, (element, paragraph) in enumerate(zip(paragraphs, shown, strict=True), 1):
        assert element.get("id") == f"p{number}"
        assert element.xpath("a[@class='pn']")[0].text == f"¶{number}"
        assert paragraph["text"] in element.text_content()
    history = [" ".join(texts(row.xpath("td")))
               for row in tree.xpath("//table[@class='meta-history']/tbody/tr")]
    assert any(h.startswith("3 headline Putin und Kim") for h in history)
    assert any(h.startswith("1 lead image http://127.0.0.1") and "Load image" in h
               for h in history)
    options = tree.xpath("//form[@class='compare']//select[@name='a']/option/@value")
    assert options == ["1", "2", "3", "4"]


def test_compare_form_leads_to_the_permalink(story: str, web_url: str) -> None:
    response = get(web_url, "/articles/1/compare", a=1, b=4, mode="side")
    assert response.status_code == 303
    assert response.headers["location"] == "/articles/1/diff/1..4?mode=side"


def test_diff_permalink_marks_each_paragraph_as_the_diff_says(story: str, web_url: str,
                                                               sqlite_url: str) -> None:
    diff = tracker_json(sqlite_url, "diff", f"{story}@2", f"{story}@3")
    tree = html(get(web_url, "/articles/1/diff/2..3"))
    assert texts(tree.xpath("//p[@class='summary']"))[0].startswith(
        "2 inserted, 2 deleted, 3 modified, 1 moved, 1 split, 1 merged · headline")
    headline = tree.xpath("//p[@class='headline-diff']")[0]
    assert texts(headline.xpath("del")) == ["empfing Nordkorea unter großem Getöse"]
    inserted = [p for b in tree.xpath("//section[@data-kind='insert']")
                for p in b.xpath(".//p/span[@class='pn']/text()")]
    want = [f"¶{j + 1}" for op in diff["ops"] if op["op"] == "insert" for j in op["new"]]
    assert inserted == want
    deleted = [p for b in tree.xpath("//section[@data-kind='delete']")
               for p in b.xpath(".//p/span[@class='pn']/text()")]
    assert deleted == [f"¶{i + 1}" for op in diff["ops"] if op["op"] == "delete"
                       for i in op["old"]]
    move = tree.xpath("//section[@data-kind='move']")[0]
    away = tree.xpath("//*[contains(@class, 'moved-away')]")[0]
    assert move.xpath(".//a[@class='jump']/@href") == [f"#{away.get('id')}"]
    assert away.xpath(".//a[@class='jump']/@href") == [f"#{move.get('id')}"]
    folds = texts(tree.xpath("//details[@class='fold']/summary"))
    unchanged = sum(int(f.split()[0]) for f in folds)
    assert unchanged == diff["summary"]["unchanged"]
    side = html(get(web_url, "/articles/1/diff/2..3", mode="side"))
    pair = side.xpath("//section[@data-kind='modify']//div[@class='pair']")[0]
    assert pair.xpath("div[@class='old']//del")
    assert not pair.xpath("div[@class='old']//ins")
    assert pair.xpath("div[@class='new']//ins")
    assert not pair.xpath("div[@class='new']//del")


def test_version_page_and_raw_download(story: str, web_url: str) -> None:
    tree = html(get(web_url, "/articles/1/versions/2"))
    assert texts(tree.xpath("//h1")) == [
        "Putin empfing Nordkorea unter großem Getöse beim ersten Besuch des russischen "
        "Staatschefs seit 24 Jahren"]
    raw = get(web_url, "/articles/1/versions/2/raw")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"] == 'attachment; filename="article-1-v2.html"'
    assert raw.headers["content-security-policy"].startswith("sandbox")
    assert b"<h1 class=\"headline__text\"" in raw.content
    assert get(web_url, "/articles/1/versions/9/raw").status_code == 404


def test_unknown_pages_are_404_pages(story: str, web_url: str) -> None:
    for path in ("/articles/5", "/articles/1/diff/1..9", "/articles/1/versions/0", "/nothing"):
        response = get(web_url, path)
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"]
        assert "All articles" in response.text


def feed_of(response):  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


@pytest.mark.parametrize("path", ["/feeds/changes.atom", "/feeds/articles/1.atom",
                                  "/feeds/tags/nordkorea.atom", "/feeds/hosts/127.0.0.1.atom"])
def test_feeds_are_valid_atom_with_what_a_reader_needs(story: str, web_url: str,
                                                       path: str) -> None:
    parsed = feed_of(get(web_url, path))
    assert parsed.feed.id
    assert parsed.feed.updated
    assert parsed.feed.title
    entries = parsed.entries
    assert [e.link.rsplit("/", 1)[1] for e in entries] == ["3..4", "2..3", "1..2"]
    for entry in entries:
        assert entry.id.startswith("tag:tracker,2024:http")
        assert entry.updated_parsed
        assert entry.title
        assert entry.link.startswith(web_url + "/articles/1/diff/")
        assert get(web_url, entry.link.removeprefix(web_url)).status_code == 200
        content = entry.content[0]
        assert content.type == "text/html"
        assert "<del>" in content.value or "<ins>" in content.value
    assert entries[1].title.startswith("Putin und Kim unterzeichnen")
    assert "1 moved" in entries[1].title
    assert "11.000" in entries[0].content[0].value  # the corrected number, 10.000 → 11.000…


def test_feeds_of_nothing_are_valid_and_empty(story: str, web_url: str) -> None:
    for path in ("/feeds/tags/none.atom", "/feeds/hosts/news.example.atom"):
        assert feed_of(get(web_url, path)).entries == []
    assert get(web_url, "/feeds/articles/9.atom").status_code == 404


def test_cli_atom_and_self_contained_html_report(story: str, sqlite_url: str) -> None:
    atom = tracker(sqlite_url, "changes", "--since", "1h", "--format", "atom",
                   "--base-url", "http://127.0.0.1:8080").stdout
    parsed = feedparser.parse(atom.encode())
    assert not parsed.bozo
    assert len(parsed.entries) == 3
    assert parsed.entries[0].link == "http://127.0.0.1:8080/articles/1/diff/3..4"
    plain = feedparser.parse(tracker(sqlite_url, "changes", "--format", "atom").stdout.encode())
    assert {e.link for e in plain.entries} == {story}
    page = tracker(sqlite_url, "changes", "--since", "1h", "--format", "html").stdout
    tree = lxml.html.fromstring(page)
    assert not tree.xpath("//script | //link | //img | //iframe | //object | //@src")
    assert "url(" not in page
    assert "@import" not in page
    assert tree.xpath("//style")[0].text.count("del {") == 1  # the stylesheet is inline
    assert len(tree.xpath("//article[@class='change']")) == 3
    assert texts(tree.xpath("//h3"))[0].startswith("Version 1 → 2")
    empty = tracker(sqlite_url, "changes", "--since", "2000-01-01T00:00", "--article", story,
                    "--format", "html").stdout
    assert "3 change(s) in 1 article(s)" in empty
    bad = tracker(sqlite_url, "changes", "--format", "atom", "--base-url", "javascript:x",
                  check=False)
    assert bad.returncode == 1
    assert "only http:// and https://" in bad.stderr


def start(database_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*TRACKER, *args], env=environment(database_url), cwd=ROOT,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline().strip()


def test_tracker_serve_binds_this_machine_only_and_stops_on_sigterm(
    story: str, sqlite_url: str
) -> None:
    port = free_port()
    server = start(sqlite_url, "serve", "--port", str(port))
    try:
        assert first_line(server) == f"web view: http://127.0.0.1:{port}/"
        wait_for(lambda: get(f"http://127.0.0.1:{port}", "/healthz").status_code == 200, 30)
        assert "Putin und Kim" in get(f"http://127.0.0.1:{port}", "/").text
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output


def test_tracker_run_serve_shows_the_story_it_checks(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("live", 1)
    tracker(sqlite_url, "add", url, "--every", "10s")
    service = start(sqlite_url, "run", "--serve", "127.0.0.1:0")
    try:
        line = first_line(service)
        assert re.fullmatch(r"web view: http://127\.0\.0\.1:\d+/", line), line
        base = line.removeprefix("web view: ").rstrip("/")
        wait_for(lambda: "Putin trifft" in get(base, "/").text, 30, "the first version")
        article_server.set_version("live", 2)
        make_due(sqlite_url)  # the next check now rather than at the end of its 10 s
        wait_for(lambda: "version 1 → 2" in get(base, "/changes").text, 30, "the change")
        started = time.monotonic()
        assert get(base, "/articles/1/diff/1..2").status_code == 200
        assert time.monotonic() - started < 10
    finally:
        service.send_signal(signal.SIGINT)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output


def test_run_serve_refuses_a_bad_address(sqlite_url: str) -> None:
    result = tracker(sqlite_url, "run", "--serve", "localhost:http", check=False)
    assert result.returncode == 1
    assert "write it as PORT or HOST:PORT" in result.stderr
