"""What a process keeps in memory between units of work, owned by its ``App``.

Performance machinery, fenced here (docs/architecture.md, "Performance machinery"): each cache
is bounded and lives as long as the ``App`` that owns it, so two Apps in one process (tests, a
forked pass) never see each other's entries, and closing the App drops them.

- ``payloads``: a webhook event's signed body, by event uid: built once for every endpoint and
  retry of the event (the 512 most recent).
- ``messages``: a channel message, by (event uid, public URL, form), the same for every
  channel of that form and every retry (the 256 most recent).
- ``notices``: the notice a channel message is made from, by (event uid, public URL), so an
  event's stored diff is read once for all its channels (the 256 most recent).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from tracker.channels import Form
    from tracker.messages import Message, Notice

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """The ``size`` most recently added values by key; the oldest goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> V:
        """Keep ``value`` under ``key`` (dropping the oldest beyond ``size``); returns it."""
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))
        return value


@dataclass(frozen=True, slots=True)
class DeliveryCaches:
    payloads: Recent[str, bytes] = field(default_factory=lambda: Recent(512))
    messages: Recent[tuple[str, str, Form], Message] = field(default_factory=lambda: Recent(256))
    notices: Recent[tuple[str, str], Notice] = field(default_factory=lambda: Recent(256))
