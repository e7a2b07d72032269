"""The exceptions tracker raises, by what the caller should do about them.

    TrackerError
    ├── FetchError                 the page could not be fetched (carries url and status)
    │   ├── TransientFetchError    try again later: timeouts, connection errors, 5xx, 429
    │   │   └── HostDeferred       not sent: the host's rate, pause or slots say later
    │   └── PermanentFetchError    retrying soon will not help
    │       ├── GoneError          404 / 410: the article is unavailable
    │       ├── UnsupportedContent not HTML, XHTML or plain text
    │       ├── BodyTooLarge       over the configured size cap
    │       ├── RedirectError      a redirect loop or too many redirects
    │       ├── RobotsDisallowed   the site's robots.txt forbids the page (robots_txt on)
    │       └── BlockedAddress     not http(s), or a private address not allowed
    ├── ExtractionError            the page has no article text (consent wall, error page …)
    ├── NotAFeed                   a source's body is no RSS/Atom feed or sitemap (an HTML page …)
    └── UnexpectedError            anything else one article's check or one source's poll raised:
                                   recorded as its failure, never the end of a pass

Messages are meant for people: they name the URL and what went wrong, never a secret.
"""

from __future__ import annotations

import time


class TrackerError(Exception):
    """Base of every error tracker raises on purpose."""


class FetchError(TrackerError):
    def __init__(self, url: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.status = status
        self.reason = message


class TransientFetchError(FetchError):
    def __init__(
        self, url: str, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(url, message, status=status)
        self.retry_after = retry_after


class HostDeferred(TransientFetchError):
    """No request was sent: the host may be asked again at ``until`` (epoch seconds), when
    its rate allows, its pause after 429/503 ends (``paused``) or a slot is free. A check
    that gets this is deferred, not failed."""

    def __init__(self, url: str, message: str, *, until: float, paused: bool = False) -> None:
        super().__init__(url, message, retry_after=max(0.0, until - time.time()))
        self.until = until
        self.paused = paused


class PermanentFetchError(FetchError):
    pass


class RobotsDisallowed(PermanentFetchError):
    pass


class GoneError(PermanentFetchError):
    pass


class UnsupportedContent(PermanentFetchError):
    pass


class BodyTooLarge(PermanentFetchError):
    pass


class RedirectError(PermanentFetchError):
    pass


class BlockedAddress(PermanentFetchError):
    pass


class ExtractionError(TrackerError):
    pass


class NotAFeed(TrackerError):
    """A source's body is no feed or sitemap. ``feeds`` are the feed URLs an HTML page given
    as a source names in its ``<link rel="alternate">`` elements, if any."""

    def __init__(self, url: str, message: str, *, feeds: tuple[str, ...] = ()) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.reason = message
        self.feeds = feeds


class UnexpectedError(TrackerError):
    """An exception nobody foresaw in one article's check (or one source's poll): a bug, or an
    input no rule covers yet. It becomes that one's failure, named by type and message."""

    def __init__(self, error: BaseException) -> None:
        detail = str(error)[:300].replace("\x00", "\ufffd")  # storable in PostgreSQL too
        self.reason = f"unexpected {type(error).__name__}" + (f": {detail}" if detail else "")
        super().__init__(self.reason)
