"""Webhook signing secrets at rest: encrypted by default (a key file made for a SQLite
database, owner-only), plain ones encrypted by ``tracker secrets encrypt``, the key file
rotated by ``tracker secrets rotate-key``; a shared database without a key warns; no command
prints a secret or a key it was not asked for."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from db import webhook_queries as wq
from db.models import Endpoint
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker, tracker_json
from tests.receiver import WebhookReceiver
from tracker.app import App
from tracker.clock import utcnow
from tracker.webhooks.secrets import SecretBox
from tracker.webhooks.signing import new_secret


def key_path() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "tracker" / "secret.key"


def stored_secrets(app: App) -> list[str]:
    with session_scope(app.reader) as session:
        return list(session.scalars(select(Endpoint.secret).order_by(Endpoint.id)))


def secret_of(output: str) -> str:
    return output.split("keep it safe): ", 1)[1].strip()


@pytest.fixture
def local(sqlite_url: str) -> Iterator[App]:
    """An App on the test's SQLite database (what the commands below use)."""
    from tracker.config import load_settings

    made = App(load_settings(database_url=sqlite_url))
    yield made
    made.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def test_a_sqlite_database_gets_an_owner_only_key_file_and_encrypted_secrets(
    sqlite_url: str, local: App, receiver: WebhookReceiver, article_server: ArticleServer
) -> None:
    result = tracker(sqlite_url, "subscribe", receiver.url)
    receiver.set_secrets([secret_of(result.stdout)])

    key = key_path().read_text().strip()
    assert stat.S_IMODE(key_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path().parent.stat().st_mode) == 0o700
    [stored] = stored_secrets(local)
    assert stored.startswith("fernet:")
    assert secret_of(result.stdout) not in stored
    tracker(sqlite_url, "add", article_server.add_article("story", 1))
    assert tracker_json(sqlite_url, "check", "--all")["notifications"] == {"delivered": 1}
    shown = "".join(tracker(sqlite_url, *args).stdout for args in (
        ["subscribers", "--format", "json"], ["deliveries", "--format", "json"],
        ["subscribers"], ["deliveries"]))
    assert secret_of(result.stdout) not in shown
    assert key not in shown + result.stdout + result.stderr


def test_secrets_encrypt_encrypts_plain_secrets_and_tightens_the_database_file(
    sqlite_url: str, local: App, receiver: WebhookReceiver, article_server: ArticleServer
) -> None:
    """A database from before: a plain secret, a file readable by everyone."""
    secret = new_secret()
    with session_scope(local.writer) as session:
        wq.add_endpoint(session, url=receiver.url, events=["*"], article_url=None, host=None,
                        tag=None, secret=SecretBox(None).seal(secret), created_at=utcnow())
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    database.chmod(0o644)
    receiver.set_secrets([secret])

    result = tracker(sqlite_url, "secrets", "encrypt")

    assert "encrypted 1 of 1" in result.stdout
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stored_secrets(local)[0].startswith("fernet:")
    assert "encrypted 0 of 1" in tracker(sqlite_url, "secrets", "encrypt").stdout
    tracker(sqlite_url, "add", article_server.add_article("story", 1))
    assert tracker_json(sqlite_url, "check", "--all")["notifications"] == {"delivered": 1}
    assert secret not in result.stdout + result.stderr


def test_rotate_key_reencrypts_every_secret_under_a_new_key(
    sqlite_url: str, local: App, receiver: WebhookReceiver, article_server: ArticleServer
) -> None:
    receiver.set_secrets([secret_of(tracker(sqlite_url, "subscribe", receiver.url).stdout)])
    old_key = key_path().read_text().strip()
    before = stored_secrets(local)

    result = tracker(sqlite_url, "secrets", "rotate-key")

    new_key = key_path().read_text().strip()
    assert "1 secret(s) re-encrypted" in result.stdout
    assert new_key != old_key
    assert "," not in new_key  # the old key is gone from the file
    assert stored_secrets(local) != before
    SecretBox(new_key).open(stored_secrets(local)[0])  # opens under the new key alone
    tracker(sqlite_url, "add", article_server.add_article("story", 1))
    assert tracker_json(sqlite_url, "check", "--all")["notifications"] == {"delivered": 1}
    assert old_key not in result.stdout
    assert new_key not in result.stdout


@pytest.mark.postgres
def test_a_shared_database_without_a_key_warns_and_encrypt_needs_a_key(
    postgres_url: str, receiver: WebhookReceiver
) -> None:
    from tracker.config import load_settings
    from tracker.subscriptions import encrypt_secrets

    result = tracker(postgres_url, "subscribe", receiver.url)
    assert "stored unencrypted" in result.stderr
    assert not key_path().exists()  # no key made up on one machine of a shared database
    refused = tracker(postgres_url, "secrets", "encrypt", check=False)
    assert refused.returncode == 1
    assert "generate-key" in refused.stderr
    key = tracker(postgres_url, "secrets", "generate-key").stdout.strip()
    app = App(load_settings(database_url=postgres_url, secret_key=key))  # as on every process
    try:
        assert encrypt_secrets(app).changed == 1
        assert stored_secrets(app)[0].startswith("fernet:")
    finally:
        app.close()
