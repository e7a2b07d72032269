"""Channels on the Celery path: a real worker and beat (Redis, PostgreSQL) send the same
messages as ``tracker run``, the channel URL sealed with the key every process shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.articleserver import ArticleServer
from tests.receiver import WebhookReceiver
from tests.services import CeleryProcess, wait_for
from tests.test_workers import WORKER, make_all_due, service_env, start_with_beat, tracked
from tracker.app import App
from tracker.channels import add_channel
from tracker.config import load_settings
from tracker.delivery import list_deliveries
from tracker.webhooks.secrets import generate_key

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_worker_sends_channel_messages(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    key = generate_key()
    app = App(load_settings(database_url=postgres_url, secret_key=key))
    with WebhookReceiver(verify=False) as receiver:
        add_channel(app, f"json://bot:hunter22@127.0.0.1:{receiver.port}/hook", name="desk")
        tracked(app, article_server, ["story"])
        env = service_env(postgres_url, broker, TRACKER_SECRET_KEY=key,
                          TRACKER_PUBLIC_URL="https://tracker.example.org")
        start_with_beat(processes, env, *WORKER, "-c", "2", schedule=tmp_path / "beat")
        receiver.wait_for(1, timeout=60)
        article_server.set_version("story", 2)
        make_all_due(app)
        receiver.wait_for(2, timeout=60)
        titles = [m["body"]["title"] for m in receiver.received]
    assert titles[0].startswith("Now tracking: ")
    assert "changed" in titles[1]
    assert "https://tracker.example.org/articles/" in receiver.received[1]["body"]["message"]
    wait_for(lambda: {d["state"] for d in list_deliveries(app)["deliveries"]} == {"delivered"},
             30, "both deliveries recorded")
    assert len(titles) == 2
