"""Optional: ask a web archive to capture each new version (``archive_versions = true``).

The Internet Archive's Save Page Now answers ``GET {archive_endpoint}/save/{url}`` by capturing
the page and redirecting to the copy (``Location``, or ``Content-Location`` on a 200).
This runs as housekeeping, after the versions were committed, never inside a check: an archive
that is slow, down or refusing never delays or fails a check. Each capture is one row
(``archive_captures``): pending, then captured (with the copy's URL) or, after
``MAX_ATTEMPTS`` failed tries spaced by ``RETRY_DELAYS``, failed with the last error.

Plain httpx rather than the ``savepagenow`` package: that client hard-codes the archive's
host and brings in ``requests``, so it could be pointed neither at another archive nor at the
local stand-in the tests use; the protocol is one GET.

Contract: ``capture_new_versions`` never raises for an archive's failure; it records it.
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urljoin, urlsplit

import httpx

from db import archive_queries
from db.session import session_scope
from tracker.app import App
from tracker.clock import utcnow

log = logging.getLogger(__name__)

# Versions stored this recently get a capture; turning the setting on does not send the
# whole history to the archive.
WINDOW = dt.timedelta(days=1)
# Captures per round (a round a minute): Save Page Now takes anonymous requests at about four
# a minute and answers more with 429.
BATCH = 4
LEASE = dt.timedelta(minutes=10)
RETRY_DELAYS = (dt.timedelta(minutes=1), dt.timedelta(minutes=10), dt.timedelta(hours=1),
                dt.timedelta(hours=6))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
TIMEOUT = httpx.Timeout(120.0, connect=10.0)
_MAX_URL = 2000


class CaptureFailed(Exception):
    """The archive did not confirm a capture (carries a one-line reason)."""


def capture_new_versions(app: App, client: httpx.Client | None = None) -> int:
    """Queue captures of recent versions and run the due ones; how many were captured."""
    if not app.settings.archive_versions:
        return 0
    now = utcnow()
    with session_scope(app.writer) as session:
        archive_queries.enqueue_new(session, now - WINDOW, now)
        claims = archive_queries.claim_due(session, now, now + LEASE, BATCH)
    if not claims:
        return 0
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False,
                                    headers={"User-Agent": app.settings.user_agent})
    captured = 0
    try:
        for version_id, url, attempts in claims:
            captured += _capture_one(app, client, version_id, url, attempts)
    finally:
        if own:
            client.close()
    return captured


def _capture_one(app: App, client: httpx.Client, version_id: int, url: str,
                 attempts: int) -> int:
    try:
        capture_url = request_capture(client, app.settings.archive_endpoint, url)
    except CaptureFailed as exc:
        _record_failure(app, version_id, attempts + 1, str(exc))
        return 0
    with session_scope(app.writer) as session:
        archive_queries.record(session, version_id, state="captured", attempts=attempts + 1,
                               capture_url=capture_url, captured_at=utcnow(), last_error=None)
    return 1


def _record_failure(app: App, version_id: int, attempts: int, error: str) -> None:
    now = utcnow()
    gave_up = attempts >= MAX_ATTEMPTS
    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    log.warning("archive capture of version %d failed (attempt %d): %s", version_id, attempts,
                error)
    with session_scope(app.writer) as session:
        archive_queries.record(
            session, version_id, state="failed" if gave_up else "pending", attempts=attempts,
            last_error=error[:500], next_attempt_at=now + delay,
        )


def request_capture(client: httpx.Client, endpoint: str, url: str) -> str:
    """Ask the archive at ``endpoint`` to capture ``url``; the URL of its copy."""
    save = f"{endpoint.rstrip('/')}/save/{url}"
    try:
        with client.stream("GET", save) as response:
            _drain(response)
            location = response.headers.get("Location") or response.headers.get(
                "Content-Location")
            status = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise CaptureFailed(f"{type(exc).__name__}: {exc}"[:300]) from None
    if status not in (200, 301, 302, 303, 307, 308):
        raise CaptureFailed(f"HTTP {status}")
    if not location:
        raise CaptureFailed(f"HTTP {status}, no location of a copy")
    return _checked_url(urljoin(save, location))


def _drain(response: httpx.Response, limit: int = 65_536) -> None:
    """Read at most ``limit`` bytes of the answer (its text is not needed)."""
    read = 0
    for chunk in response.iter_raw():
        read += len(chunk)
        if read > limit:
            return


def _checked_url(url: str) -> str:
    """The archive's answer goes into webhook payloads: an http(s) URL of sane length with
    no control characters, or a failure."""
    if (len(url) > _MAX_URL or urlsplit(url).scheme not in ("http", "https")
            or any(not c.isprintable() for c in url)):
        raise CaptureFailed(f"the archive answered an unusable location ({url[:80]!r})")
    return url
