"""The context every use case runs in: settings, the database, the HTTP fetcher, and the
in-memory caches (``tracker.caches``).

One ``App`` per process (the CLI, the embedded service and each Celery worker make their own).
Heavy pieces are created on first use, so a command that needs no database opens none. Nothing
a use case keeps between calls lives in a module global: it is an attribute of the App.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from tracker.config import Settings, load_settings

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import httpx
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session, sessionmaker

    from db.reads import Reader
    from tracker.caches import DeliveryCaches
    from tracker.fetch import Fetcher
    from tracker.leases import Keeper
    from tracker.templates import TemplateBook


class App:
    def __init__(
        self, settings: Settings | None = None, *, rate_share: float = 1.0,
        create_database: bool = True,
    ) -> None:
        self.settings = settings or load_settings()
        # The part of each host's rate this process may use when limiting on its own (no
        # rate_limit_url): a pass forked into N processes gives each 1/N.
        self.rate_share = rate_share
        # Whether a SQLite file that does not exist may be created (the CLI allows it only at
        # the default location: a mistyped --db must not start an empty database).
        self.create_database = create_database

    @cached_property
    def engine(self) -> Engine:
        from db.session import get_engine

        return get_engine(self.settings.resolved_database_url, create=self.create_database)

    @cached_property
    def reader(self) -> sessionmaker[Session]:
        from db.session import sessions

        return sessions(self.engine)

    @cached_property
    def writer(self) -> sessionmaker[Session]:
        """Sessions for read-then-write units of work (see db.session.sessions)."""
        from db.session import sessions

        return sessions(self.engine, write=True)

    @contextmanager
    def read(self) -> Iterator[Reader]:
        """A ``db.reads.Reader`` for the read commands, in one read transaction: stdlib
        ``sqlite3`` on a SQLite file at the newest schema (no SQLAlchemy import), otherwise a
        connection of ``engine`` (which migrates the database, or says why it cannot)."""
        from db.reads import Reader, sqlite_reader

        if "engine" not in self.__dict__:  # a process that has the engine already uses it
            with sqlite_reader(self.settings.resolved_database_url) as fast:
                if fast is not None:
                    yield fast
                    return
        with self.engine.connect() as connection:
            yield Reader.over(connection)

    def write_connection(self) -> AbstractContextManager[Connection]:
        """A Core connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), for hot
        paths that need no ORM objects; commits on success."""
        return self._writing.begin()

    @cached_property
    def _writing(self) -> Engine:
        """The engine with the write option, made once (each is a new engine object)."""
        from db.sqlite import for_writing

        return for_writing(self.engine)

    @cached_property
    def fetcher(self) -> Fetcher:
        from tracker import politeness
        from tracker.fetch import Fetcher

        settings = self.settings
        polite = politeness.build(
            rate=settings.per_host_rate, concurrency=settings.per_host_concurrency,
            rate_limit_url=settings.rate_limit_url, loader=self._host_rates,
            share=self.rate_share, slot_ttl=politeness.slot_ttl(settings),
        )
        return Fetcher(settings, polite=polite)

    def _host_rates(self) -> dict[str, float]:
        """Per-host rate rules (``hosts.rate_per_minute``), read again every minute."""
        from db.queries import host_rates
        from db.session import session_scope

        with session_scope(self.reader) as session:
            return host_rates(session)

    @cached_property
    def webhook_client(self) -> httpx.Client:
        """For deliveries: no redirects followed, the same address guard as fetching."""
        import httpx

        from tracker.netguard import guarded_transport, settings_policy

        settings = self.settings
        return httpx.Client(
            timeout=settings.webhook_timeout, follow_redirects=False,
            transport=guarded_transport(settings_policy(settings)),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "identity"},
        )

    @cached_property
    def caches(self) -> DeliveryCaches:
        """What deliveries keep between rounds (tracker.caches): payloads, messages, notices."""
        from tracker.caches import DeliveryCaches

        return DeliveryCaches()

    @cached_property
    def keeper(self) -> Keeper:
        """The heartbeat renewing the leases of the work this process holds."""
        from tracker.leases import Keeper

        return Keeper(self)

    @cached_property
    def templates(self) -> TemplateBook:
        """Each host's learned article template (tracker.templates)."""
        from tracker.templates import TemplateBook

        return TemplateBook(self)

    def close(self) -> None:
        if "templates" in self.__dict__:
            self.templates.flush()
        if "keeper" in self.__dict__:
            self.keeper.stop()
        if "fetcher" in self.__dict__:
            self.fetcher.close()
        if "webhook_client" in self.__dict__:
            self.webhook_client.close()
