"""The caches a process keeps between units of work are bounded and owned by an App
(tracker.caches): no module global holds them, so two Apps never share an entry."""

from __future__ import annotations

from tracker.app import App
from tracker.caches import Recent
from tracker.config import load_settings


def test_recent_keeps_the_newest_and_drops_the_oldest_first() -> None:
    recent: Recent[str, int] = Recent(3)
    assert recent.put("a", 1) == 1
    for key, value in (("b", 2), ("c", 3), ("d", 4)):
        recent.put(key, value)
    assert len(recent) == 3
    assert recent.get("a") is None
    assert [recent.get(k) for k in "bcd"] == [2, 3, 4]
    recent.put("b", 20)  # stored again: its value changes, its age does not
    recent.put("e", 5)
    assert recent.get("b") is None
    assert [recent.get(k) for k in "cde"] == [3, 4, 5]


def test_each_app_owns_its_caches(sqlite_url: str) -> None:
    settings = load_settings(database_url=sqlite_url)
    first, second = App(settings), App(settings)
    first.caches.payloads.put("evt_1", b"{}")
    assert first.caches is first.caches
    assert first.caches.payloads.get("evt_1") == b"{}"
    assert second.caches.payloads.get("evt_1") is None
    assert (first.caches.payloads.size, first.caches.messages.size,
            first.caches.notices.size) == (512, 256, 256)
