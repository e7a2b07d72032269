"""Standard Webhooks signatures: the headers that let a subscriber trust a message.

The scheme (https://www.standardwebhooks.com/): the signed content is
``f"{msg_id}.{timestamp}."`` followed by the exact body bytes, signed with HMAC-SHA256 under
the secret's key, sent as ``v1,<base64>``. A secret is written ``whsec_<base64 key>``. During a
secret rotation the old and the new secret both sign, and the header carries both signatures
separated by a space, so a subscriber holding either one accepts the message.

Pure and standard library only; no clock (the caller passes the timestamp) and no I/O. Secret
values never appear in exception messages or reprs: ``SigningSecret`` redacts itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from secrets import token_bytes

PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
# The spec asks for 24 to 64 bytes of key; 32 matches the HMAC-SHA256 block of security.
_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """A ``whsec_`` secret that does not show its value in reprs, logs or tracebacks."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "SigningSecret('whsec_…redacted')"

    __str__ = __repr__  # an f-string or str() must not reveal it either; use .value on purpose

    def key(self) -> bytes:
        return secret_key_bytes(self.value)


SecretLike = str | SigningSecret


def new_secret() -> str:
    """A fresh random signing secret, ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(token_bytes(_KEY_BYTES)).decode("ascii")


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key inside a secret; the ``whsec_`` prefix is optional, as in the spec."""
    encoded = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        # The secret itself stays out of the message: it may be almost right.
        raise ValueError("a webhook signing secret is not valid base64 (whsec_…)") from None
    if not key:
        raise ValueError("a webhook signing secret is empty")
    return key


def signature(secret: SecretLike, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of a message."""
    key = secret.key() if isinstance(secret, SigningSecret) else secret_key_bytes(secret)
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign(secrets: Sequence[SecretLike], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one signature per secret, space-separated."""
    if not secrets:
        raise ValueError("a webhook needs at least one signing secret")
    return " ".join(signature(secret, msg_id, timestamp, body) for secret in secrets)


def headers(
    secrets: Sequence[SecretLike], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Every header a signed webhook request carries besides the transport's own."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }
