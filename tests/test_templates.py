"""Each site's learned article template (tracker.extract.template, tracker.templates): learned
from a page trafilatura read, confirmed on the next, used alone after, verified on every 20th
page and on pages that look wrong, dropped and relearned when it disagrees; kept per host.

Pages come from the real article server in its "redesign" site design, which declares no body
(no itemprop, no JSON-LD articleBody), so the generic extractor is what the template stands in
for."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
from rich.console import Console

from db import queries
from db.session import session_scope
from tests.articleserver import ArticleServer
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.cli.output import hosts_table
from tracker.extract import explain_page
from tracker.extract.page import parse
from tracker.extract.pipeline import TemplateUse
from tracker.extract.template import (
    MAX_SIGNATURES,
    Template,
    apply,
    find_container,
    from_json,
    learn,
)
from tracker.hosts import list_hosts, show_host
from tracker.templates import VERIFY_EVERY, TemplateBook

PAGES = Path(__file__).parent / "fixtures" / "pages"


def redesigned(server: ArticleServer, slug: str, version: int = 1) -> str:
    url = server.add_article(slug, version)
    server.set_template(slug, "redesign")
    return url


def page_of(server: ArticleServer, slug: str, version: int = 1) -> tuple[str, bytes]:
    url = redesigned(server, slug, version)
    return url, httpx.get(url).content


def learned_from(url: str, body: bytes) -> Template:
    extraction = explain_page(body, url=url, learning=TemplateUse())
    assert extraction.path == "full"
    assert extraction.learning is not None
    assert extraction.learning.learned is not None
    return extraction.learning.learned


# --- the template itself (pure) ------------------------------------------------------------------


def test_a_template_learned_on_one_page_reads_other_pages_as_the_full_extractor(
    article_server: ArticleServer,
) -> None:
    template = learned_from(*page_of(article_server, "first", 1))
    assert template.container_path == "body > div.page-grid > div.page-grid__main > article.story"
    for slug, version in (("second", 2), ("third", 3)):
        url, body = page_of(article_server, slug, version)
        full = explain_page(body, url=url)
        by_template = explain_page(body, url=url, learning=TemplateUse(template, trusted=True))
        assert by_template.path == "template"
        assert by_template.source == "template"
        assert by_template.article == full.article  # same paragraphs, metadata, extractor name


def test_a_candidate_is_checked_against_the_full_extractor(article_server: ArticleServer) -> None:
    template = learned_from(*page_of(article_server, "first"))
    url, body = page_of(article_server, "second", 2)
    checked = explain_page(body, url=url, learning=TemplateUse(template))
    assert checked.path == "verified"
    assert checked.learning is not None
    assert checked.learning.agreed is True
    assert checked.learning.learned is None
    assert checked.source == "trafilatura"


def test_a_page_whose_body_moved_out_of_the_container_is_caught_and_teaches_a_new_template(
    article_server: ArticleServer,
) -> None:
    template = learned_from(*page_of(article_server, "first"))
    url, body = page_of(article_server, "second", 2)
    html = body.decode()
    # The page lies: a short stub stays where the template looks, the story moves elsewhere.
    start = html.index('<div class="story-text">')
    end = html.index('<div class="story__more">')
    story = html[start:end]
    html = html[:start] + '<div class="story-text"><p class="story-text__p">Kurz.</p></div>\n' \
        + html[end:]
    html = html.replace('<div class="page-grid__side">',
                        f'<section class="moved">{story}</section><div class="page-grid__side">')
    full = explain_page(html.encode(), url=url)
    read = explain_page(html.encode(), url=url, learning=TemplateUse(template, trusted=True))
    assert read.path == "full"
    assert read.article == full.article
    assert read.learning is not None
    assert read.learning.agreed is False
    assert read.learning.reason
    assert read.learning.learned is not None
    assert read.learning.learned != template


def test_a_big_drop_against_the_previous_version_is_checked(article_server: ArticleServer) -> None:
    template = learned_from(*page_of(article_server, "first"))
    url, body = page_of(article_server, "second", 2)
    count = len(explain_page(body, url=url).article.paragraphs)
    read = explain_page(body, url=url, learning=TemplateUse(
        template, trusted=True, previous_paragraphs=3 * count))
    assert read.path == "verified"  # the full extractor agreed: the story really is shorter
    assert read.learning is not None
    assert read.learning.agreed is True
    assert read.learning.reason == f"{count} paragraphs by the template, {3 * count} before"


def test_a_page_that_does_not_fit_is_read_by_the_full_extractor(
    article_server: ArticleServer,
) -> None:
    template = Template(("main", "article.nowhere"), frozenset({"p"}))
    url, body = page_of(article_server, "first")
    read = explain_page(body, url=url, learning=TemplateUse(template, trusted=True))
    assert read.path == "full"
    assert read.article == explain_page(body, url=url).article
    assert read.learning is not None
    assert read.learning.reason == (
        "the page does not fit the template")


def test_a_container_must_be_one_element() -> None:
    template = Template(("div.box",), frozenset({"p"}))
    one = parse("<html><body><div class='box'><p>a</p></div></body></html>", "u")
    two = parse("<html><body><div class='box'><p>a</p></div><div class='box'></div>"
                "</body></html>", "u")
    assert find_container(template, one) is not None
    assert find_container(template, two) is None
    assert apply(template, two) is None


def test_ids_and_class_names_with_digits_are_no_part_of_a_template() -> None:
    tree = parse("<html><body><div id='story-1' class='story story-4711'><p>Text eins.</p>"
                 "<p>Text zwei.</p></div></body></html>", "u")
    from tracker.extract.structure import blocks

    template = learn(tree, blocks(tree.find("body")))
    assert template is not None
    assert template.container == ("div.story",)
    assert template.paragraphs == frozenset({"p"})


def test_a_page_of_too_many_kinds_of_paragraph_teaches_no_template() -> None:
    from tracker.extract.structure import blocks

    kinds = "".join(f"<p class='k{chr(97 + i // 26)}{chr(97 + i % 26)}'>Satz {i}.</p>"
                    for i in range(MAX_SIGNATURES + 1))
    tree = parse(f"<html><body><div class='story'>{kinds}</div></body></html>", "u")
    assert learn(tree, blocks(tree.find("body"))) is None


def test_stored_templates_are_read_as_hostile() -> None:
    good = Template(("div.story",), frozenset({"p"}))
    assert from_json(good.to_json()) == good
    too_many = {**good.to_json(), "paragraphs": [f"p{i}" for i in range(MAX_SIGNATURES + 1)]}
    for bad in (None, [], {"format": 99}, {**good.to_json(), "container": "div"},
                {**good.to_json(), "paragraphs": [1]}, too_many,
                {**good.to_json(), "paragraphs": ["x" * 10_000]}):
        assert from_json(bad) is None


def test_the_corpus_reads_the_same_by_a_learned_template() -> None:
    """On every page of the extraction corpus that teaches a template, reading the page by it
    gives the full extractor's very article: the corpus's scores cannot move."""
    learned = by_template = 0
    for path in sorted(PAGES.glob("*.html")):
        url = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["url"]
        try:
            full = explain_page(path.read_bytes(), url=url)
            first = explain_page(path.read_bytes(), url=url, learning=TemplateUse())
        except Exception:
            continue
        assert first.article == full.article
        template = first.learning.learned if first.learning else None
        if template is None:
            continue
        learned += 1
        again = explain_page(path.read_bytes(), url=url, learning=TemplateUse(template, True))
        # A short page (a paywalled teaser) is read by both, and they agree.
        assert again.path in {"template", "verified"}, path.name
        assert again.article == full.article, path.name
        by_template += again.path == "template"
    assert learned >= 5
    assert by_template >= 5


# --- kept per host (tracker.templates), through real checks ---------------------------------------


def track(app: App, url: str) -> int:
    add_articles(app, [url])
    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


def paths(app: App, article_id: int) -> list[str | None]:
    with session_scope(app.reader) as session:
        return [v.extraction_path for v in queries.versions_of(session, article_id)]


def test_checks_learn_confirm_and_use_the_template_and_record_the_path(
    app: App, article_server: ArticleServer,
) -> None:
    ids = [track(app, redesigned(article_server, f"a{i}", 1 + i % 3)) for i in range(4)]
    results = [check_article(app, article_id) for article_id in ids]
    assert [r.outcome for r in results] == ["first_seen"] * 4
    assert [paths(app, article_id) for article_id in ids] == [
        ["full"], ["verified"], ["template"], ["template"]]
    app.templates.flush()
    [host] = list_hosts(app)["hosts"]
    template = host["template"]
    assert template["state"] == "trusted"
    assert template["container"].endswith("article.story")
    assert (template["pages"], template["verified"], template["failed"]) == (2, 1, 0)
    shown = show_host(app, host["host"])
    assert "div.story-text/p.story-text__p" in shown["template"]["paragraphs"]
    console = Console(file=io.StringIO(), width=300, color_system=None)
    console.print(hosts_table([host]))
    assert "trusted body > div.page-grid" in console.file.getvalue()  # type: ignore[attr-defined]


def test_a_new_app_starts_from_the_stored_template(
    make_app, article_server: ArticleServer,  # type: ignore[no-untyped-def]
) -> None:
    first: App = make_app()
    for i in range(2):
        check_article(first, track(first, redesigned(article_server, f"a{i}")))
    second: App = make_app()
    article_id = track(second, redesigned(article_server, "later", 2))
    check_article(second, article_id)
    assert paths(second, article_id) == ["template"]


def test_every_20th_page_is_verified(app: App, article_server: ArticleServer) -> None:
    book = TemplateBook(app)
    url, body = page_of(article_server, "first")
    use = book.use("127.0.0.1")
    assert use.template is None
    book.record("127.0.0.1", use, explain_page(body, url=url, learning=use))
    use = book.use("127.0.0.1")
    assert use.template is not None
    assert not use.trusted
    book.record("127.0.0.1", use, explain_page(body, url=url, learning=use))
    verified = [book.use("127.0.0.1").verify for _ in range(3 * VERIFY_EVERY)]
    assert [i for i, v in enumerate(verified, 1) if v] == [VERIFY_EVERY, 2 * VERIFY_EVERY,
                                                          3 * VERIFY_EVERY]


def test_a_disagreement_drops_the_template_records_it_and_relearns(
    app: App, article_server: ArticleServer,
) -> None:
    book = TemplateBook(app)
    wrong = Template(("div.page-grid", "div.page-grid__main", "article.story"),
                     frozenset({"div.story-text/p.story-text__p"}))  # no captions, no credits
    url, body = page_of(article_server, "first", 2)
    stale = TemplateUse(wrong)
    book.use("127.0.0.1")  # loads the (empty) state
    book._hosts["127.0.0.1"].template = wrong
    read = explain_page(body, url=url, learning=stale)
    assert read.learning is not None
    assert read.learning.agreed is False
    book.record("127.0.0.1", stale, read)
    template = show_host(app, "127.0.0.1")["template"]
    assert template["state"] == "candidate"  # learned again from the page
    assert template["failed"] == 1
    assert "differs" in template["last_failure"]
    assert book.use("127.0.0.1").template == read.learning.learned


def test_learning_can_be_switched_off(make_app, article_server: ArticleServer  # type: ignore[no-untyped-def]
                                      ) -> None:
    app: App = make_app(template_learning=False)
    ids = [track(app, redesigned(article_server, f"a{i}")) for i in range(3)]
    for article_id in ids:
        check_article(app, article_id)
    assert [paths(app, article_id) for article_id in ids] == [["full"]] * 3
    assert show_host(app, "127.0.0.1")["template"] is None


def test_a_selector_wins_over_any_template(article_server: ArticleServer) -> None:
    url, body = page_of(article_server, "first")
    template = learned_from(url, body)
    read = explain_page(body, url=url, selector="div.story-text",
                        learning=TemplateUse(template, True))
    assert read.source == "selector"
    assert read.path == "full"
