"""The web view in a real browser (Debian's Chromium, driven by Playwright): the pages a
newcomer opens, what the diff marks and how, keyboard navigation, the no-colour cues, phone
width, no JavaScript, images loaded only when asked. Screenshots go to TRACKER_TEST_SCREENSHOTS
(default: a temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.articleserver import ArticleServer
from tests.clihelp import tracker_json
from tests.webhelp import track_story
from tracker.app import App

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def story(app: App, article_server: ArticleServer) -> str:
    return track_story(app, article_server, versions=(1, 2, 3, 4), tags=["nordkorea"])


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("TRACKER_TEST_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(page: Any, shots: Path, name: str) -> None:
    target = shots / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.read_bytes().startswith(PNG)
    assert target.stat().st_size > 5_000


@pytest.fixture
def errors(page: Any) -> list[str]:
    """Console errors and CSP refusals of the page: none is expected anywhere."""
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: found.append(str(e)))
    return found


def test_articles_page_lists_the_story_and_keyboard_reaches_everything(
    story: str, web_url: str, page: Any, shots: Path, errors: list[str]
) -> None:
    page.goto(web_url + "/")
    rows = page.locator("table.articles tbody tr")
    assert rows.count() == 1
    assert rows.locator("a.title").inner_text().startswith("Putin und Kim unterzeichnen")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    focused = []
    for _ in range(30):  # the filters, then the story's link, in reading order
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.name || "
                                     "document.activeElement.textContent"))
        if page.evaluate("document.activeElement.className") == "title":
            break
    assert focused[:6] == ["q", "tag", "host", "state", "sort", "Apply"]
    assert focused[-1].startswith("Putin und Kim")
    page.keyboard.press("Enter")
    page.wait_for_url(web_url + "/articles/1")
    screenshot(page, shots, "articles")
    assert errors == []


def test_article_page_picks_two_versions_to_compare(
    story: str, web_url: str, page: Any, shots: Path, errors: list[str]
) -> None:
    page.goto(web_url + "/articles/1")
    assert page.locator("table.timeline tbody tr").count() == 4
    assert page.locator("div.text p.para").first.locator("a.pn").inner_text() == "¶1"
    screenshot(page, shots, "article")
    page.select_option("select[name=a]", "1")
    page.select_option("select[name=b]", "3")
    page.select_option("select[name=mode]", "side")
    page.click("form.compare button")
    page.wait_for_url(web_url + "/articles/1/diff/1..3?mode=side")
    assert page.locator("h1").inner_text() == "Version 1 → 3"
    assert errors == []


def diff_ops(database_url: str, url: str, old: int, new: int) -> dict[str, list[int]]:
    diff = tracker_json(database_url, "diff", f"{url}@{old}", f"{url}@{new}")
    wanted: dict[str, list[int]] = {"insert": [], "delete": [], "move": []}
    for op in diff["ops"]:
        if op["op"] in ("insert", "move"):
            wanted[op["op"]] += [j + 1 for j in op["new"]]
        elif op["op"] == "delete":
            wanted["delete"] += [i + 1 for i in op["old"]]
    return wanted


MARKED = """kind => Array.from(document.querySelectorAll(`.block[data-kind=${kind}]`))
  .flatMap(block => Array.from(block.querySelectorAll(
      kind === 'move' ? '.new .pn, .para .pn' : '.pn')).map(n => n.textContent))"""


def test_inline_diff_marks_the_right_paragraphs_with_colour_and_a_second_cue(
    story: str, web_url: str, database_url: str, page: Any, shots: Path, errors: list[str]
) -> None:
    wanted = diff_ops(database_url, story, 2, 3)
    page.goto(web_url + "/articles/1/diff/2..3")
    for kind in ("insert", "delete"):
        assert page.evaluate(f"({MARKED})('{kind}')") == [f"¶{n}" for n in wanted[kind]]
    move = page.locator(".block[data-kind=move]")
    assert move.locator("h3").inner_text().endswith(f"→ ¶{wanted['move'][0]} where it was")
    style = """sel => { const s = getComputedStyle(document.querySelector(sel));
                return [s.textDecorationLine, s.backgroundColor, s.color]; }"""
    deleted, inserted = page.evaluate(style, "del"), page.evaluate(style, "ins")
    assert deleted[0] == "line-through"
    assert inserted[0] == "underline"
    assert deleted[1] != inserted[1]  # and colour too
    screenshot(page, shots, "diff-inline")
    page.emulate_media(forced_colors="active")  # high contrast: colours are the user's
    assert page.evaluate(style, "del")[0] == "line-through"
    assert page.evaluate(style, "ins")[0] == "underline"
    labels = page.locator(".block h3.label").all_inner_texts()
    assert any(label.startswith("+ inserted ¶") for label in labels)
    assert any(label.startswith("− deleted (was ¶") for label in labels)
    screenshot(page, shots, "diff-forced-colors")
    assert errors == []


def test_keys_walk_the_changes_and_moves_link_both_ends(
    story: str, web_url: str, page: Any
) -> None:
    page.goto(web_url + "/articles/1/diff/2..3")
    anchors = page.evaluate(
        "Array.from(document.querySelectorAll('.block[data-kind]')).map(b => b.id)")
    assert len(anchors) == 9
    active = "document.activeElement.id"
    page.keyboard.press("j")
    assert page.evaluate(active) == anchors[0]
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.evaluate(active) == anchors[2]
    page.keyboard.press("k")
    assert page.evaluate(active) == anchors[1]
    assert page.evaluate("location.hash") == f"#{anchors[1]}"
    page.click(".block[data-kind=move] a.jump")
    away = page.evaluate("location.hash")
    assert away.startswith("#from-")
    assert page.locator(away).is_visible()
    page.click(f"{away} a.jump")
    assert page.evaluate("location.hash").startswith("#to-")


def test_side_by_side_puts_versions_next_to_each_other_and_stacks_them_on_a_phone(
    story: str, web_url: str, page: Any, shots: Path, errors: list[str]
) -> None:
    page.goto(web_url + "/articles/1/diff/2..3?mode=side")
    box = """() => { const p = document.querySelector('.block[data-kind=modify] .pair');
      const o = p.querySelector('.old').getBoundingClientRect();
      const n = p.querySelector('.new').getBoundingClientRect();
      return [o.left, o.top, n.left, n.top, document.documentElement.scrollWidth,
              window.innerWidth]; }"""
    old_left, old_top, new_left, new_top, width, viewport = page.evaluate(box)
    assert new_left > old_left
    assert new_top == old_top
    assert width <= viewport
    old_side = page.locator(".block[data-kind=modify] .old").first
    assert old_side.locator("del").count() > 0
    assert old_side.locator("ins").count() == 0
    screenshot(page, shots, "diff-side")
    page.set_viewport_size({"width": 390, "height": 844})
    old_left, old_top, new_left, new_top, width, viewport = page.evaluate(box)
    assert new_top > old_top
    assert width <= viewport
    screenshot(page, shots, "diff-side-phone")
    assert errors == []


def test_everything_reads_without_javascript(
    story: str, web_url: str, browser: Any, shots: Path
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(web_url + "/articles/1/diff/2..3")
        assert page.locator(".block[data-kind]").count() == 9
        fold = page.locator("details.fold").first
        assert not fold.evaluate("d => d.open")
        fold.locator("summary").click()
        assert fold.evaluate("d => d.open")
        page.goto(web_url + "/articles/1")
        page.select_option("select[name=a]", "3")
        page.click("form.compare button")
        page.wait_for_url(web_url + "/articles/1/diff/3..4")
        screenshot(page, shots, "diff-no-javascript")
    finally:
        context.close()


def test_lead_image_is_loaded_only_on_a_click(
    story: str, web_url: str, page: Any, article_server: ArticleServer, errors: list[str]
) -> None:
    page.goto(web_url + "/articles/1")
    images = [r for r in article_server.requests() if r.path.startswith("/img/")]
    assert images == []
    assert page.locator("img").count() == 0
    button = page.locator("button.load-image").first
    source = button.get_attribute("data-src")
    assert source.startswith(article_server.base_url + "/img/")
    button.click()
    page.wait_for_selector("img.lead")
    assert page.locator("img.lead").get_attribute("src") == source
    page.wait_for_function("document.querySelector('img.lead').complete")
    assert [r.path for r in article_server.requests() if r.path.startswith("/img/")] == [
        source.removeprefix(article_server.base_url)]
    referers = [r.headers.get("referer") for r in article_server.requests()
                if r.path.startswith("/img/")]
    assert referers == [None]  # the tracked site does not learn where the reader came from
    assert errors == []


def test_feed_opens_in_the_browser(story: str, web_url: str, page: Any) -> None:
    response = page.goto(web_url + "/feeds/changes.atom")
    assert response.status == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    shown = page.inner_text("body")  # Chromium shows the XML as text
    assert shown.count("<entry>") == 3
    assert "version 2 → 3" in shown
