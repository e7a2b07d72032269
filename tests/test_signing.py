"""Standard Webhooks signatures (tracker.webhooks.signing) and secrets at rest (.secrets)."""

from __future__ import annotations

import base64
import time

import pytest
from cryptography.fernet import Fernet
from standardwebhooks import Webhook, WebhookVerificationError

from tracker.errors import TrackerError
from tracker.webhooks.secrets import SecretBox, SecretStoreError, generate_key
from tracker.webhooks.signing import SigningSecret, headers, new_secret, sign

BODY = '{"type":"article.changed","data":{"article":{"title":"Größe"}}}'.encode()
MSG_ID = "evt_0123456789abcdef01234567"


def now() -> int:
    return int(time.time())


# --- signing ------------------------------------------------------------------------------------


def test_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert first != second


def test_signature_matches_the_reference_test_vector() -> None:
    # The vector the Standard Webhooks reference libraries test against.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign([secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


def test_headers_verify_with_the_standardwebhooks_package() -> None:
    secret = new_secret()
    sent = headers([secret], MSG_ID, now(), BODY)
    assert set(sent) == {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"}
    assert sent["content-type"] == "application/json"
    assert Webhook(secret).verify(BODY, sent) == {
        "type": "article.changed", "data": {"article": {"title": "Größe"}}
    }


def test_during_rotation_each_secret_alone_verifies() -> None:
    old, new = new_secret(), new_secret()
    sent = headers([new, old], MSG_ID, now(), BODY)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, sent)


def test_an_unrelated_secret_does_not_verify() -> None:
    sent = headers([new_secret()], MSG_ID, now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, sent)


@pytest.mark.parametrize("part", ["body", "timestamp", "id"])
def test_tampering_fails_verification(part: str) -> None:
    secret, timestamp = new_secret(), now()
    sent = headers([secret], MSG_ID, timestamp, BODY)
    body = BODY
    if part == "body":
        body = BODY.replace(b"changed", b"removed")
    elif part == "timestamp":
        sent["webhook-timestamp"] = str(timestamp - 1)  # still fresh: only the signature objects
    else:
        sent["webhook-id"] = "evt_other"
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(body, sent)


def test_a_secret_without_prefix_signs_the_same() -> None:
    secret = new_secret()
    bare = secret.removeprefix("whsec_")
    assert sign([bare], MSG_ID, 1, BODY) == sign([secret], MSG_ID, 1, BODY)


def test_signing_secret_wrapper_signs_and_hides_its_value() -> None:
    secret = new_secret()
    wrapped = SigningSecret(secret)
    assert sign([wrapped], MSG_ID, 1, BODY) == sign([secret], MSG_ID, 1, BODY)
    for shown in (repr(wrapped), str(wrapped), f"{wrapped}", repr([wrapped])):
        assert secret.removeprefix("whsec_") not in shown
        assert "redacted" in shown


def test_a_malformed_secret_is_refused_without_showing_it() -> None:
    secret = "whsec_not*base64*at*all*but*secret"
    with pytest.raises(ValueError, match="not valid base64") as raised:
        sign([secret], MSG_ID, 1, BODY)
    assert "secret*" not in str(raised.value)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one"):
        sign([], MSG_ID, 1, BODY)


# --- secrets at rest ------------------------------------------------------------------------------


def test_without_a_key_secrets_are_stored_marked_plain() -> None:
    box = SecretBox(None)
    secret = new_secret()
    assert box.seal(secret) == "plain:" + secret
    assert box.open(box.seal(secret)) == secret
    assert not box.encrypts


def test_with_a_key_secrets_are_encrypted_and_open_again() -> None:
    box = SecretBox(generate_key())
    secret = new_secret()
    stored = box.seal(secret)
    assert stored.startswith("fernet:")
    assert secret.removeprefix("whsec_") not in stored
    assert box.open(stored) == secret


def test_generated_key_is_a_fernet_key() -> None:
    Fernet(generate_key().encode())


def test_key_rotation_first_key_encrypts_every_key_decrypts() -> None:
    old_key, new_key = generate_key(), generate_key()
    secret = new_secret()
    sealed_before = SecretBox(old_key).seal(secret)
    rotated = SecretBox(f"{new_key}, {old_key}")
    assert rotated.open(sealed_before) == secret
    resealed = rotated.reseal(sealed_before)
    assert SecretBox(new_key).open(resealed) == secret
    assert SecretBox(new_key).open(rotated.seal(secret)) == secret


def test_a_plain_secret_still_opens_once_a_key_is_configured() -> None:
    secret = new_secret()
    assert SecretBox(generate_key()).open(SecretBox(None).seal(secret)) == secret


def test_an_encrypted_secret_without_key_fails_clearly_and_quietly() -> None:
    secret = new_secret()
    stored = SecretBox(generate_key()).seal(secret)
    with pytest.raises(SecretStoreError, match="TRACKER_SECRET_KEY") as raised:
        SecretBox(None).open(stored)
    assert isinstance(raised.value, TrackerError)
    assert secret not in str(raised.value)
    assert stored not in str(raised.value)


def test_the_wrong_key_fails_without_showing_secret_or_key() -> None:
    key, secret = generate_key(), new_secret()
    stored = SecretBox(generate_key()).seal(secret)
    with pytest.raises(SecretStoreError, match="cannot be decrypted") as raised:
        SecretBox(key).open(stored)
    assert secret not in str(raised.value)
    assert key not in str(raised.value)
    assert raised.value.__cause__ is None


def test_a_malformed_key_fails_without_showing_it() -> None:
    key = "this-is-not-a-fernet-key"
    with pytest.raises(SecretStoreError, match="Fernet keys") as raised:
        SecretBox(key).seal(new_secret())
    assert key not in str(raised.value)


def test_an_unknown_stored_format_is_refused_without_showing_it() -> None:
    secret = new_secret()
    with pytest.raises(SecretStoreError, match="unknown format") as raised:
        SecretBox(None).open(secret)
    assert secret not in str(raised.value)


def test_box_repr_shows_no_key() -> None:
    key = generate_key()
    assert key not in repr(SecretBox(key))
    assert repr(SecretBox(f"{key},{generate_key()}")) == "SecretBox(fernet, 2 key(s))"
