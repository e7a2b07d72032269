"""One-off passes (tracker.passes): what a watcher of a pass (the CLI's progress bar) is told."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.articleserver import ArticleServer
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import CheckResult
from tracker.passes import Progress, check_pass


def test_a_watched_pass_announces_its_size_and_reports_every_result(
    app: App, article_server: ArticleServer
) -> None:
    urls = [article_server.add_article(f"w{i}", 1) for i in range(3)]
    add_articles(app, urls)
    totals: list[int] = []
    seen: list[CheckResult] = []

    @contextmanager
    def watch(total: int) -> Iterator[Progress]:
        totals.append(total)
        yield seen.append

    results = check_pass(app, urls[:2], all_=False, concurrency=2, watch=watch)
    assert totals == [2]
    assert sorted(r.url for r in seen) == sorted(urls[:2])
    assert seen == results
    everything = check_pass(app, [], all_=True, concurrency=2, watch=watch)
    assert totals == [2, 3]
    assert len(everything) == 3
    assert seen[2:] == everything
