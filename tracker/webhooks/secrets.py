"""Signing secrets at rest: encrypted when a key is configured, marked plain when not.

A stored value says how it was stored, so a database can hold both kinds while a key is being
introduced: ``fernet:<token>`` (Fernet, from the ``cryptography`` package) or
``plain:<secret>``. The key setting (``secret_key``, env ``TRACKER_SECRET_KEY``) may list
several Fernet keys separated by commas: the first encrypts, every one decrypts, so a key can be
rotated by putting the new one first and dropping the old one once everything is resealed.

Without a ``secret_key`` setting the key comes from a key file (``secret_key_file``, by
default ``secret.key`` next to the default database, owner-only), made when the first secret is
sealed if the database is a SQLite file: every process using it runs on this machine and finds
the same file. A shared database (PostgreSQL) gets no key made up by one machine that the
others would lack: there ``secret_key`` must be set on every process, or secrets stay plain.

``cryptography`` is imported only when a key is used, which keeps the CLI's start fast. No
error message or repr contains a secret or a key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.config import Settings, data_home
from tracker.errors import TrackerError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

FERNET = "fernet:"
PLAIN = "plain:"


class SecretStoreError(TrackerError):
    """A stored secret cannot be opened (no key, wrong key) or a key is malformed."""


def generate_key() -> str:
    """A new Fernet key for ``TRACKER_SECRET_KEY``."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def key_file(settings: Settings) -> Path:
    return Path(settings.secret_key_file).expanduser() if settings.secret_key_file else (
        data_home() / "secret.key")


def resolve_key(settings: Settings, *, create: bool = False) -> str | None:
    """The key(s) sealing secrets: the ``secret_key`` setting, else the key file's, else (with
    ``create``) a new key written to the key file; None when there is none."""
    if settings.secret_key:
        return settings.secret_key
    path = key_file(settings)
    try:
        found = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        found = ""
    except (OSError, UnicodeError) as exc:
        raise SecretStoreError(f"cannot read the key file {path}: {exc}") from None
    if found:
        return found
    return write_key_file(path, generate_key()) if create else None


def write_key_file(path: Path, keys: str) -> str:
    """Write ``keys`` to the key file atomically, readable by its owner only; returns them."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(keys + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise SecretStoreError(f"cannot write the key file {path}: {exc.strerror}") from None
    return keys


def _parse_keys(key: str | None) -> list[str]:
    return [part.strip() for part in (key or "").split(",") if part.strip()]


class SecretBox:
    """Seals secrets for storage and opens them again."""

    def __init__(self, key: str | None) -> None:
        self._keys = _parse_keys(key)
        self._fernet: MultiFernet | None = None

    def __repr__(self) -> str:
        if not self._keys:
            return "SecretBox(plain)"
        return f"SecretBox(fernet, {len(self._keys)} key(s))"

    @property
    def encrypts(self) -> bool:
        return bool(self._keys)

    def seal(self, secret: str) -> str:
        if not self._keys:
            return PLAIN + secret
        token = self._cipher().encrypt(secret.encode("utf-8"))
        return FERNET + token.decode("ascii")

    def open(self, stored: str) -> str:
        if stored.startswith(PLAIN):
            return stored.removeprefix(PLAIN)
        if stored.startswith(FERNET):
            return self._decrypt(stored.removeprefix(FERNET))
        raise SecretStoreError(
            "a stored webhook secret has an unknown format (expected 'fernet:' or 'plain:')"
        )

    def reseal(self, stored: str) -> str:
        """The stored value sealed again under the first key (after a key rotation)."""
        return self.seal(self.open(stored))

    def sealed_with_first(self, stored: str) -> bool:
        """Whether ``stored`` is sealed as ``seal`` would seal it now (nothing to reseal)."""
        if not self._keys:
            return stored.startswith(PLAIN)
        if not stored.startswith(FERNET):
            return False
        from cryptography.fernet import Fernet, InvalidToken

        try:
            Fernet(self._keys[0].encode("ascii")).decrypt(stored.removeprefix(FERNET).encode())
        except (InvalidToken, ValueError):
            return False
        return True

    def _decrypt(self, token: str) -> str:
        if not self._keys:
            raise SecretStoreError(
                "a webhook secret is stored encrypted, but no key is configured: set "
                "TRACKER_SECRET_KEY (secret_key) to the key it was sealed with"
            )
        from cryptography.fernet import InvalidToken

        try:
            return self._cipher().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretStoreError(
                "a stored webhook secret cannot be decrypted with the configured key(s) "
                "(TRACKER_SECRET_KEY): was a key removed before its secrets were resealed?"
            ) from None

    def _cipher(self) -> MultiFernet:
        if self._fernet is None:
            self._fernet = _multi_fernet(self._keys)
        return self._fernet


def _multi_fernet(keys: list[str]) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet

    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in keys])
    except (ValueError, UnicodeError):
        # cryptography's message is generic, and a key never belongs in a log.
        raise SecretStoreError(
            "TRACKER_SECRET_KEY (secret_key) must be Fernet keys (32 url-safe base64 bytes), "
            "comma-separated; make one with tracker.webhooks.secrets.generate_key()"
        ) from None
