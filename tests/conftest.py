"""Shared fixtures: databases (SQLite and the real PostgreSQL), the App, the article server.

Service tests never skip silently in CI: ``.ci/run`` sets ``TRACKER_REQUIRE_SERVICES=1``, which
turns "PostgreSQL/Redis not reachable" into a failure instead of a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.articleserver import ArticleServer
from tests.services import CeleryProcess, stop_together

FIXTURES = Path(__file__).parent / "fixtures"
STORY = FIXTURES / "story_de"
POSTGRES_URL = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _redis_url() -> str:
    """TRACKER_TEST_REDIS_URL (database 15 by default); under pytest-xdist (``-n N``) worker
    gwK takes the database K numbers above it (modulo 16), since each worker flushes its own."""
    url = os.environ.get("TRACKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, number = url.rpartition("/")
    return f"{base}/{(int(number or 0) + int(worker[2:])) % 16}"


REDIS_URL = _redis_url()


def service_missing(what: str) -> None:
    if os.environ.get("TRACKER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is not reachable, and TRACKER_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(f"{what} is not reachable")


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads the developer's config or writes to their data directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    for name in list(os.environ):
        if name.startswith("TRACKER_") and name not in {
            "TRACKER_TEST_POSTGRES_URL",
            "TRACKER_TEST_REDIS_URL",
            "TRACKER_REQUIRE_SERVICES",
        }:
            monkeypatch.delenv(name)
    # The test servers live on 127.0.0.1 on random ports: open exactly that (tests of the
    # guard itself take it away again).
    monkeypatch.setenv("TRACKER_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("TRACKER_ALLOWED_PORTS", "*")
    # Every test site is one host (127.0.0.1): no request rate unless a test sets one.
    monkeypatch.setenv("TRACKER_PER_HOST_RATE", "0")


# --- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (migrating once is the slow part)."""
    from db.session import make_engine, upgrade

    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}", create=True)
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "tracker.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server, migrated once for the session."""
    from db.session import make_engine, upgrade

    admin = create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    name = f"tracker_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        service_missing(f"PostgreSQL at {POSTGRES_URL} ({type(exc).__name__})")
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        from db.session import _engines

        for key in [k for k in _engines if k == url]:
            _engines.pop(key).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_postgres(url: str) -> None:
    """Empty every table of the database at ``url`` and restart its sequences, as ``TRUNCATE
    … RESTART IDENTITY CASCADE`` would. ``DELETE`` in one transaction (children first) and
    ``setval`` do it in a few milliseconds: ``TRUNCATE`` gives each table, index and TOAST
    table a new file, synced at commit, and took 0.06–0.2 s a test."""
    from db.models import Base
    from db.session import make_engine

    engine = make_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        for table in tables:
            connection.execute(text(f'DELETE FROM "{table}"'))
        # The sequences these tables own (serial and identity columns) back to their start.
        connection.execute(
            text(
                "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s"
                " JOIN pg_depend d ON d.objid = s.seqrelid AND d.classid = 'pg_class'::regclass"
                " AND d.deptype IN ('a', 'i')"
                " JOIN pg_class t ON t.oid = d.refobjid"
                " WHERE t.relname = ANY(:tables) AND t.relnamespace = 'public'::regnamespace"
            ),
            {"tables": tables},
        )
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    empty_postgres(postgres_database)
    return postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def make_app(database_url: str) -> Iterator[object]:
    """A factory of Apps on the test database; all are closed at the end."""
    from tracker.app import App
    from tracker.config import load_settings

    made: list[App] = []

    def factory(**overrides: object) -> App:
        settings = load_settings(database_url=database_url, **overrides)
        instance = App(settings)
        made.append(instance)
        return instance

    yield factory
    for instance in made:
        instance.close()


@pytest.fixture
def app(make_app):  # type: ignore[no-untyped-def]
    return make_app()


# --- Redis and Celery processes ---------------------------------------------------------------


@pytest.fixture
def broker() -> Iterator[str]:
    """The machine's Redis (database 15 by default), flushed before and after: the broker of
    the Celery processes a test starts."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS_URL} ({exc})")
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def processes() -> Iterator[list[CeleryProcess]]:
    """The Celery processes a test starts, stopped at its end. Their output is printed then,
    which pytest shows only when the test failed."""
    started: list[CeleryProcess] = []
    yield started
    stop_together(started)
    for process in started:
        print(f"--- celery {process.kind} (exit {process.process.returncode}) ---")
        print(process.output)


# --- the article server ---------------------------------------------------------------------


@pytest.fixture
def article_server() -> Iterator[ArticleServer]:
    with ArticleServer(FIXTURES) as server:
        yield server


# --- the web view (tracker serve) -------------------------------------------------------------


@pytest.fixture
def web_url(app: object) -> Iterator[str]:
    """The web view of the test database, served by uvicorn in a thread on a free port."""
    from tracker.web.server import Address, BackgroundServer

    server = BackgroundServer(app, Address("127.0.0.1", 0)).start()  # type: ignore[arg-type]
    yield server.address.url.rstrip("/")
    server.stop()


CHROMIUM = os.environ.get("TRACKER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never a browser Playwright downloads). Missing,
    it fails the test under TRACKER_REQUIRE_SERVICES=1 (CI) and skips it elsewhere."""
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh browser tab; scripts that run anyway are recorded in ``page.dialogs``."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()
