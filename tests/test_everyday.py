"""Everyday commands that used to break (issue 9, item 16): ``diff URL@0``, URLs that are no
URLs, a disabled subscriber that could not be enabled again, ``redeliver --failed`` queueing
deliveries that could never be sent, and ``tracker worker``/``beat`` started from a folder that
holds a ``tracker/`` directory."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.articleserver import ArticleServer
from tests.clihelp import environment, tracker, tracker_json
from tests.receiver import WebhookReceiver
from tracker.errors import TrackerError
from tracker.identity import clean_url


def one_line_error(
    result: subprocess.CompletedProcess[str], *words: str, status: int = 1
) -> None:
    assert result.returncode == status, result.stdout + result.stderr
    assert result.stderr.startswith("tracker: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr


# --- diff URL@N -------------------------------------------------------------------------------


def test_diff_refuses_version_0_and_numbers_past_any_version(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 1)
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", url)
    # tracker diff exits 2 on an error, as diff(1) does (1: the inputs differ)
    one_line_error(tracker(sqlite_url, "diff", f"{url}@0", f"{url}@1", check=False),
                   "numbered from 1", status=2)
    one_line_error(tracker(sqlite_url, "diff", f"{url}@1", f"{url}@99999999999999", check=False),
                   "numbered from 1", status=2)
    assert tracker_json(sqlite_url, "diff", f"{url}@1", url)["ops"]  # URL alone: the latest


# --- URLs that are no URLs --------------------------------------------------------------------


@pytest.mark.parametrize(("url", "words"), [
    ("https://exa mple.com/x", ["' '", "percent-encode"]),
    ("https://example.com:0/x", ["port 0"]),
    ("http://xn--a-.example/", ["not a valid host name"]),
    ("https://exa\u202emple.com/", ["\\u202e"]),
    ("https://example.com/" + "a" * 5000, ["longer than 4096"]),
])
def test_add_and_source_add_refuse_urls_that_are_no_urls(
    sqlite_url: str, url: str, words: list[str]
) -> None:
    one_line_error(tracker(sqlite_url, "add", url, check=False), *words)
    one_line_error(tracker(sqlite_url, "source", "add", url, check=False), *words)
    assert tracker_json(sqlite_url, "list")["articles"] == []
    assert tracker_json(sqlite_url, "sources")["sources"] == []


def test_urls_of_every_script_and_form_are_still_accepted() -> None:
    for url in ("https://münchen.de/straße", "http://127.0.0.1:8080/a", "http://[::1]/x",
                "https://a_b.example/x", "https://xn--mnchen-3ya.de/", "https://example.com./"):
        assert clean_url(url).startswith("http")


_HOSTS = st.one_of(st.from_regex(r"\A[a-zA-Z0-9_.\-]{0,20}\Z"), st.text(max_size=20),
                   st.ip_addresses().map(str), st.from_regex(r"\A\[[0-9a-fA-F:%.]{0,20}\]\Z"))
_URLS = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}{path}{query}",
    st.sampled_from(["http", "https", "HTTP", "ftp", ""]), _HOSTS,
    st.one_of(st.just(""), st.integers(-5, 70_000).map(lambda n: f":{n}"),
              st.text(max_size=5).map(lambda t: f":{t}")),
    st.text(max_size=20), st.one_of(st.just(""), st.text(max_size=20).map(lambda t: f"?{t}")),
)


@settings(max_examples=500)
@given(_URLS | st.text())
def test_clean_url_raises_only_tracker_errors_and_is_stable(url: str) -> None:
    """What ``tracker add`` and ``source add`` do with any text: a URL as stored (which cleans
    to itself), or the project's own error."""
    try:
        cleaned = clean_url(url)
    except TrackerError:
        return
    assert clean_url(cleaned) == cleaned


# --- subscribers that were disabled -----------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def test_a_disabled_subscriber_is_enabled_again_and_gets_its_deliveries(
    database_url: str, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    receiver.respond("gone")
    output = tracker(database_url, "subscribe", receiver.url).stdout
    receiver.set_secrets([output.split("keep it safe): ", 1)[1].strip()])
    tracker(database_url, "add", article_server.add_article("story", 1))
    tracker(database_url, "check", "--all")
    [subscriber] = tracker_json(database_url, "subscribers")["subscribers"]
    assert subscriber["state"] == "disabled"

    one_line_error(tracker(database_url, "subscribe", receiver.url, check=False),
                   "enable-subscriber")
    refused = tracker(database_url, "redeliver", "--failed").stdout
    assert "queued 0" in refused
    assert "disabled subscriber(s) 1" in refused
    states = [d["state"] for d in tracker_json(database_url, "deliveries")["deliveries"]]
    assert "pending" not in states  # nothing left waiting for ever

    enabled = tracker(database_url, "enable-subscriber", str(subscriber["id"])).stdout
    receiver.respond("ok")
    requeued = tracker(database_url, "redeliver", "--failed").stdout
    sent = tracker_json(database_url, "check")

    assert "redeliver --failed" in enabled
    assert "queued 1" in requeued
    assert sent["notifications"] == {"delivered": 1}
    assert [m["body"]["type"] for m in receiver.received] == ["article.first_seen"]
    assert len(tracker_json(database_url, "subscribers")["subscribers"]) == 1
    one_line_error(tracker(database_url, "enable-subscriber", "1", check=False), "not disabled")


# --- worker and beat from any folder ----------------------------------------------------------


def _started(command: list[str], cwd: Path, env: dict[str, str], marker: str) -> str:
    """Run ``command`` until ``marker`` shows in its output (or it exits); its output."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 90
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if marker in line or time.monotonic() > deadline:
                break
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    return "".join(lines)


@pytest.mark.slow
@pytest.mark.redis
def test_worker_and_beat_start_from_a_folder_holding_a_tracker_directory(
    tmp_path: Path, sqlite_url: str, broker: str
) -> None:
    for name in ("tracker", "workers", "db"):  # a project of one's own, or an old checkout
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the wrong package')\n")
    env = {**environment(sqlite_url), "TRACKER_BROKER_URL": broker,
           "TRACKER_BEAT_SCHEDULE": str(tmp_path / "beat-schedule")}
    # The installed command, as a user runs it (python -m would import ./tracker itself).
    command = str(Path(sys.executable).parent / "tracker")
    worker = _started([command, "worker", "--concurrency", "1"], tmp_path, env, "ready.")
    beat = _started([command, "beat"], tmp_path, env, "beat: Starting")
    assert "ready." in worker, worker
    assert "beat: Starting" in beat, beat
