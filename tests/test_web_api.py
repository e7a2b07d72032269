"""The JSON API under /api/v1 over real HTTP, on SQLite and PostgreSQL: the CLI's JSON shapes,
pages by cursor, filters, errors, health; stored versions made by real checks of the local
news site."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.articleserver import ArticleServer
from tests.clihelp import tracker_json
from tests.conftest import STORY
from tests.webhelp import get, track_story
from tracker.articles import add_articles
from tracker.passes import check_pass


def cli_url(database_url: str) -> str:
    return database_url


def test_history_version_diff_and_changes_have_the_cli_shapes(
    app, database_url: str, web_url: str, article_server: ArticleServer,
) -> None:
    url = track_story(app, article_server, versions=(1, 2, 3, 4, 5))
    article = get(web_url, "/api/v1/articles").json()["articles"][0]
    assert article["url"] == url
    assert article["versions"] == 4
    base = f"/api/v1/articles/{article['id']}"

    assert get(web_url, base).json() == tracker_json(database_url, "history", url)
    assert get(web_url, f"{base}/versions/3").json() == tracker_json(
        database_url, "show", url, "--version", "3")
    assert get(web_url, f"{base}/diff/2..3").json() == tracker_json(
        database_url, "diff", f"{url}@2", f"{url}@3")
    assert get(web_url, f"{base}/diff/4..1").json() == tracker_json(
        database_url, "diff", f"{url}@4", f"{url}@1")

    api = get(web_url, "/api/v1/changes", since="1h").json()
    cli = tracker_json(database_url, "changes", "--since", "1h")["changes"]
    assert api["next"] is None
    for entry in api["changes"]:
        assert entry["article"].pop("id") == article["id"]
    assert api["changes"] == list(reversed(cli))  # the API is newest first


def test_list_entries_carry_every_key_of_tracker_list(
    app, database_url: str, web_url: str, article_server: ArticleServer
) -> None:
    url = track_story(app, article_server, versions=(1, 3), tags=["nk"])
    api = get(web_url, "/api/v1/articles").json()["articles"][0]
    cli = tracker_json(database_url, "list")["articles"][0]
    assert {k: api[k] for k in cli} == cli
    assert api["title"] == (STORY / "v3.txt").read_text(encoding="utf-8").splitlines()[0]
    assert (api["host"], api["url"], api["tags"]) == ("127.0.0.1", url, ["nk"])


@pytest.mark.parametrize("sort", ["changed", "added", "next_check", "url"])
def test_pages_by_cursor_list_every_article_once_in_order(
    app, web_url: str, article_server: ArticleServer, sort: str
) -> None:
    urls = [article_server.add_article(f"s{i}", 1) for i in range(7)]
    add_articles(app, urls)
    check_pass(app, urls[:4], all_=False, concurrency=2)
    for slug in ("s1", "s3"):  # two changed stories, the others never changed
        article_server.set_version(slug, 2)
    check_pass(app, [urls[1], urls[3]], all_=False, concurrency=1)
    seen, cursor, pages = [], None, 0
    while True:
        page = get(web_url, "/api/v1/articles", sort=sort, limit=3, cursor=cursor).json()
        seen += page["articles"]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(a["url"] for a in seen) == sorted(urls)
    if sort == "changed":
        assert [a["url"] for a in seen[:2]] == [urls[3], urls[1]]
        assert all(a["last_changed"] is None for a in seen[2:])
        assert [a["id"] for a in seen[2:]] == sorted((a["id"] for a in seen[2:]), reverse=True)
    elif sort == "url":
        assert [a["url"] for a in seen] == sorted(urls)
    elif sort == "next_check":
        times = [a["next_check"] for a in seen]
        assert times == sorted(times)


def test_filters_by_tag_host_state_and_search(
    app, web_url: str, article_server: ArticleServer
) -> None:
    first = track_story(app, article_server, "first", versions=(1,), tags=["nk", "asia"])
    second = track_story(app, article_server, "second", versions=(3,), tags=["asia"])
    add_articles(app, ["https://news.example/never-checked"], tags=["other"])

    def urls(**params: object) -> list[str]:
        found = get(web_url, "/api/v1/articles", sort="url", **params).json()["articles"]
        return [a["url"] for a in found]

    assert urls(tag="asia") == [first, second]
    assert urls(tag="nk") == [first]
    assert urls(tag="ASIA") == []  # tags are exact
    assert urls(host="news.example") == ["https://news.example/never-checked"]
    assert urls(host="127.0.0.1", tag="nk") == [first]
    assert urls(q="unterzeichnen") == [second]  # only v3's headline has the word
    assert urls(q="NEVER-CHECKED") == ["https://news.example/never-checked"]
    assert urls(q="100%_") == []  # LIKE wildcards are literal
    assert urls(state="settled") == []
    assert len(urls(state="active")) == 3


def test_changes_fold_minor_ones_unless_asked(
    make_app, web_url: str, tmp_path: Path
) -> None:
    story = tmp_path / "stories" / "mini"
    story.mkdir(parents=True)
    lines = (STORY / "v2.txt").read_text(encoding="utf-8").splitlines()
    (story / "v1.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines[5] = lines[5].replace("Wladimir Putin", "Wladimir W. Putin", 1)
    (story / "v2.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (story / "v3.txt").write_text("\n".join([*lines, "Ein neuer Absatz am Ende des Textes "
                                             "mit genug Wörtern für einen Absatz."]) + "\n",
                                  encoding="utf-8")
    app = make_app(notify_threshold=3)
    with ArticleServer(tmp_path / "stories") as server:
        url = server.add_article("mini", 1, story="mini")
        add_articles(app, [url])
        for version in (1, 2, 3):
            server.set_version("mini", version)
            check_pass(app, [url], all_=False, concurrency=1)
    everything = get(web_url, "/api/v1/changes").json()["changes"]
    assert [(c["to_version"], c["minor"]) for c in everything] == [(3, False), (2, True)]
    folded = get(web_url, "/api/v1/changes", minor="false").json()["changes"]
    assert [c["to_version"] for c in folded] == [3]
    page = get(web_url, "/changes").text
    assert "version 2 → 3" in page
    assert "version 1 → 2" not in page
    assert "version 1 → 2" in get(web_url, "/changes", minor=1).text


def test_sources_and_hosts_have_the_cli_shapes(
    app, database_url: str, web_url: str, article_server: ArticleServer
) -> None:
    from tracker.hosts import set_host
    from tracker.sources import add_source

    add_source(app, f"{article_server.base_url}/feeds/news", match=None, keywords=[], tags=[],
               interval=None, article_interval=None)
    set_host(app, "news.example", rate=20)
    add_articles(app, [article_server.add_article("tracked", 1)])  # a second host: 127.0.0.1
    sources = get(web_url, "/api/v1/sources").json()
    assert sources["sources"] == tracker_json(database_url, "sources")["sources"]
    assert sources["next"] is None
    hosts = get(web_url, "/api/v1/hosts", limit=1).json()
    assert hosts["hosts"] == tracker_json(database_url, "hosts")["hosts"][:1]
    assert hosts["next"] is not None


def test_openapi_document_describes_every_endpoint(web_url: str) -> None:
    document = get(web_url, "/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    assert {"/api/v1/articles", "/api/v1/articles/{article_id}",
            "/api/v1/articles/{article_id}/versions/{number}",
            "/api/v1/articles/{article_id}/diff/{old}..{new}", "/api/v1/changes",
            "/api/v1/sources", "/api/v1/hosts"} <= paths
    assert not any(p.startswith(("/feeds", "/articles")) for p in paths)  # pages stay out
    schemas = document["components"]["schemas"]
    assert set(schemas["Op"]["properties"]) == {"op", "old", "new", "similarity", "words"}


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/api/v1/articles/999", {}, 404, "no article 999"),
        ("/api/v1/articles/1/diff/1..2", {}, 404, "no article 1"),
        ("/api/v1/articles", {"cursor": "%%%"}, 400, "cursor"),
        ("/api/v1/articles", {"cursor": "WzEsMiwzXQ"}, 400, "cursor"),  # [1,2,3]
        ("/api/v1/articles", {"limit": "lots"}, 400, "limit"),
        ("/api/v1/articles", {"limit": 100000}, 400, "limit"),
        ("/api/v1/articles", {"sort": "title; drop"}, 400, "sort must be one of"),
        ("/api/v1/articles", {"state": "bogus"}, 400, "state must be one of"),
        ("/api/v1/changes", {"since": "last tuesday"}, 400, "--since"),
    ],
)
def test_bad_requests_get_one_clear_json_error(
    web_url: str, path: str, params: dict[str, object], status: int, message: str
) -> None:
    response = get(web_url, path, **params)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_a_version_that_is_not_stored_is_a_404(
    app, web_url: str, article_server: ArticleServer
) -> None:
    track_story(app, article_server, versions=(1, 2))
    response = get(web_url, "/api/v1/articles/1/diff/1..7")
    assert response.status_code == 404
    assert response.json() == {"error": "article 1 has no version 7"}


def test_health_and_readiness(app, database_url: str, web_url: str) -> None:
    assert get(web_url, "/healthz").json() == {"status": "ok"}
    ready = get(web_url, "/readyz")
    assert ready.status_code == 200
    assert ready.json()["current"] is True
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0004'"))
        stale = get(web_url, "/readyz")
        assert stale.status_code == 503
        assert stale.json()["schema"] == "0004"
    finally:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :v"),
                               {"v": get(web_url, "/readyz").json()["expected"]})
        engine.dispose()


def test_readiness_fails_when_the_database_is_unreachable() -> None:
    from tests.services import free_port
    from tracker.app import App
    from tracker.config import load_settings
    from tracker.web.server import Address, BackgroundServer

    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/tracker"  # nothing listens
    app = App(load_settings(database_url=nowhere))
    server = BackgroundServer(app, Address("127.0.0.1", 0)).start()
    try:
        base = server.address.url.rstrip("/")
        assert get(base, "/healthz").status_code == 200
        response = get(base, "/readyz")
    finally:
        server.stop()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "error": "OperationalError"}
