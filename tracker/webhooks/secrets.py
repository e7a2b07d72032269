"""Signing secrets at rest: encrypted when a key is configured, marked plain when not.

A stored value says how it was stored, so a database can hold both kinds while a key is being
introduced: ``fernet:<token>`` (Fernet, from the ``cryptography`` package) or
``plain:<secret>``. The key setting (``secret_key``, env ``TRACKER_SECRET_KEY``) may list
several Fernet keys separated by commas: the first encrypts, every one decrypts, so a key can be
rotated by putting the new one first and dropping the old one once everything is resealed.

``cryptography`` is imported only when a key is used, which keeps the CLI's start fast. No
error message or repr contains a secret or a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
