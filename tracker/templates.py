"""Each site's learned article template, kept per host: learn, confirm, use, verify, relearn.

The life of a host's template (``tracker.extract.template`` says what one is):

1. **learn**: a page of the host that the full extractor read with trafilatura teaches a
   template, if the template gives the full extractor's very text on that page;
2. **confirm**: the next page of the host is read by both; the template is trusted when they
   agree, else the page teaches a new candidate;
3. **use**: later pages are read by the template alone, unless the page looks wrong by it (it
   does not fit, too little text, a big drop against the article's previous version);
4. **verify**: every ``VERIFY_EVERY``-th page of the host (a counter per host and process), and
   every page that looks wrong, is read by both; on disagreement the template is dropped, the
   failure recorded, and the page teaches the next candidate (back to 2).

The full extractor's text is always what is stored when both ran, and the template is used
alone only where it gave that very text, so the extractor name (and with it the baseline) is
the same whichever path made a version (``versions.extraction_path`` records which).

The state lives in memory per process (a check must not wait on the database for it) and in
the ``host_templates`` table, read once per host and process, written when the state changes;
the counters of pages read by the template alone and of agreeing checks are added up in memory
and written with the next change, every ``FLUSH_EVERY`` pages, and when the App closes.
Processes that learn side by side may each write their own candidate: the last one written is
what a new process starts from, and each confirms its own before using it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tracker.clock import utcnow
from tracker.extract import Extraction, explain_page
from tracker.extract.pipeline import TemplateUse
from tracker.extract.template import Template, from_json

if TYPE_CHECKING:
    from tracker.app import App
    from tracker.fetch import Page
    from tracker.rules import IgnoreRules

log = logging.getLogger(__name__)
# A trusted template is checked against the full extractor on every this many pages.
VERIFY_EVERY = 20
# Pending counters are written at least this often (in pages read by the template).
FLUSH_EVERY = 50


@dataclass(slots=True)
class _State:
    template: Template | None = None
    trusted: bool = False
    since: int = 0  # pages since the last check against the full extractor
    counts: dict[str, int] = field(default_factory=dict)  # not yet written


class TemplateBook:
    """The templates of the hosts this process checks (thread-safe)."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._hosts: dict[str, _State] = {}

    def use(self, host: str, previous_paragraphs: int | None = None) -> TemplateUse:
        """What the next page of ``host`` is read with."""
        state = self._state(host)
        with self._lock:
            if state.template is None:
                return TemplateUse(previous_paragraphs=previous_paragraphs)
            verify = False
            if state.trusted:
                state.since += 1
                verify = state.since >= VERIFY_EVERY
                if verify:
                    state.since = 0
            return TemplateUse(state.template, state.trusted, verify, previous_paragraphs)

    def record(self, host: str, use: TemplateUse, extraction: Extraction) -> None:
        """What a page read with ``use`` taught (a verdict on a template no longer current,
        because another thread's page changed it meanwhile, is ignored)."""
        learning = extraction.learning
        values: dict[str, Any] | None = None
        with self._lock:
            state = self._hosts[host]
            if extraction.path == "template":
                _add(state, "pages")
                if state.counts.get("pages", 0) < FLUSH_EVERY:
                    return
            elif learning is None or state.template != use.template:
                return
            elif learning.agreed:
                _add(state, "verified")
                if not state.trusted:
                    state.trusted, state.since = True, 0
                    values = {"trusted": True}
            elif learning.agreed is False or learning.learned is not None:
                if learning.agreed is False:
                    _add(state, "failed")
                    values = {"last_failure": learning.reason[:500], "last_failure_at": utcnow()}
                state.template, state.trusted, state.since = learning.learned, False, 0
                values = {**(values or {}), "trusted": False,
                          "template": learning.learned.to_json() if learning.learned else None,
                          "learned_at": utcnow() if learning.learned else None}
            counts, state.counts = state.counts, {}
        self._write(host, values or {}, counts)

    def flush(self) -> None:
        """Write the counters not written yet (at exit: a database already gone loses them,
        with a warning, and nothing else)."""
        from sqlalchemy.exc import SQLAlchemyError

        with self._lock:
            pending = [(host, s.counts) for host, s in self._hosts.items() if s.counts]
            for state in self._hosts.values():
                state.counts = {}
        for host, counts in pending:
            try:
                self._write(host, {}, counts)
            except SQLAlchemyError as exc:
                log.warning("template counters of %s not written: %s", host, exc)

    def _state(self, host: str) -> _State:
        with self._lock:
            state = self._hosts.get(host)
        if state is not None:
            return state
        from db import host_queries
        from db.session import session_scope

        with session_scope(self._app.reader) as session:
            row = host_queries.host_template(session, host)
            loaded = _State()
            if row is not None and (template := from_json(row.template)) is not None:
                loaded = _State(template, row.trusted)
        with self._lock:
            return self._hosts.setdefault(host, loaded)

    def _write(self, host: str, values: dict[str, Any], counts: dict[str, int]) -> None:
        if not values and not counts:
            return
        from sqlalchemy.exc import IntegrityError

        from db import host_queries
        from db.session import session_scope

        for attempt in range(2):
            try:
                with session_scope(self._app.writer) as session:
                    host_queries.save_template(session, host, values, counts, utcnow())
                return
            except IntegrityError:  # another process created the row meanwhile
                if attempt:
                    raise


def _add(state: _State, name: str) -> None:
    state.counts[name] = state.counts.get(name, 0) + 1


def host_of(url: str) -> str:
    """The host a page's template is kept under (as articles store it)."""
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def extract_checked(
    app: App, page: Page, *, url: str, selector: str | None, ignore: IgnoreRules | None,
    previous_paragraphs: int | None = None,
) -> Extraction:
    """The article of a checked page, by the host's template where it may stand in for the
    full extractor (setting ``template_learning``; never with a selector)."""
    settings = app.settings
    host = host_of(url)
    use = None
    if settings.template_learning and not selector and host and page.media_type != "text/plain":
        use = app.templates.use(host, previous_paragraphs)
    extraction = explain_page(
        page.body, url=page.url, media_type=page.media_type, charset=page.charset,
        selector=selector, fast=settings.fast_extraction, ignore=ignore, learning=use,
    )
    if use is not None:
        app.templates.record(host, use, extraction)
    return extraction
