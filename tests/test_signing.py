"""Signature schemes against the published vectors and against independent implementations
(the Standard Webhooks reference library, Stripe's library, and HMAC written out here for GitHub)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
import stripe
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from console.signing import SignatureError, sign, verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"  # 24 bytes of 'A'


def _headers(signature: str, timestamp: int = TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_standard_webhooks_published_vector() -> None:
    headers = sign("standard", [SECRET], MSG_ID, TIMESTAMP, BODY)
    assert headers["webhook-signature"] == EXPECTED
    verify("standard", [SECRET], _headers(EXPECTED), BODY, now=TIMESTAMP)


def test_standard_secret_without_prefix_signs_the_same() -> None:
    assert (
        sign("standard", [SECRET.removeprefix("whsec_")], MSG_ID, TIMESTAMP, BODY)["webhook-signature"]
        == EXPECTED
    )


def test_standard_multiple_signatures_one_valid() -> None:
    bogus = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    header = " ".join([bogus, "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", EXPECTED, bogus])
    verify("standard", [SECRET], _headers(header), BODY, now=TIMESTAMP)


@pytest.mark.parametrize(
    "headers, now, body, message",
    [
        (_headers("v1,dawfeoifkpqwoekfpqoekf"), TIMESTAMP, BODY, "no matching signature"),
        (_headers("v1,"), TIMESTAMP, BODY, "no matching signature"),
        (_headers("v2," + EXPECTED[3:]), TIMESTAMP, BODY, "no v1 signature"),
        (_headers(EXPECTED), TIMESTAMP, b'{"test": 2432232315}', "no matching signature"),
        (_headers(EXPECTED), TIMESTAMP + 301, BODY, "timestamp too old"),
        (_headers(EXPECTED), TIMESTAMP - 301, BODY, "timestamp too new"),
        ({"webhook-timestamp": str(TIMESTAMP), "webhook-signature": EXPECTED}, TIMESTAMP, BODY, "missing"),
        ({"webhook-id": MSG_ID, "webhook-signature": EXPECTED}, TIMESTAMP, BODY, "missing"),
        ({"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP)}, TIMESTAMP, BODY, "missing"),
        (_headers(EXPECTED, timestamp=0) | {"webhook-timestamp": "soon"}, TIMESTAMP, BODY, "not an integer"),
    ],
)
def test_standard_rejects(headers: dict[str, str], now: int, body: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify("standard", [SECRET], headers, body, now=now)


def test_standard_wrong_secret_and_tolerance_edges() -> None:
    with pytest.raises(SignatureError, match="no matching signature"):
        verify("standard", [OTHER_SECRET], _headers(EXPECTED), BODY, now=TIMESTAMP)
    verify("standard", [SECRET], _headers(EXPECTED), BODY, now=TIMESTAMP + 300)
    verify("standard", [SECRET], _headers(EXPECTED), BODY, now=TIMESTAMP - 300)


def test_standard_rotation_signs_with_every_secret() -> None:
    headers = sign("standard", [OTHER_SECRET, SECRET], MSG_ID, TIMESTAMP, BODY)
    assert len(headers["webhook-signature"].split()) == 2 and EXPECTED in headers["webhook-signature"].split()
    verify("standard", [SECRET], headers, BODY, now=TIMESTAMP)  # a receiver still on the old secret
    verify("standard", [OTHER_SECRET], headers, BODY, now=TIMESTAMP)  # one already on the new secret


def test_standard_against_reference_library() -> None:
    now = int(datetime.now(UTC).timestamp())
    ours = sign("standard", [SECRET], "evt_42", now, BODY)
    Webhook(SECRET).verify(BODY, ours)  # the reference library accepts what we sign
    theirs = Webhook(SECRET).sign("evt_42", datetime.fromtimestamp(now, UTC), BODY.decode())
    verify(
        "standard",
        [SECRET],
        {"webhook-id": "evt_42", "webhook-timestamp": str(now), "webhook-signature": theirs},
        BODY,
        now,
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(BODY, ours)


STRIPE_SECRET = "whsec_test_stripe_secret_value"


def test_stripe_against_stripe_library() -> None:
    now = int(datetime.now(UTC).timestamp())
    ours = sign("stripe", [STRIPE_SECRET], "evt_1", now, BODY)
    assert stripe.WebhookSignature.verify_header(
        BODY.decode(), ours["Stripe-Signature"], STRIPE_SECRET, tolerance=300
    )
    theirs = stripe.WebhookSignature._compute_signature(f"{now}.{BODY.decode()}", STRIPE_SECRET)
    verify("stripe", [STRIPE_SECRET], {"Stripe-Signature": f"t={now},v1={theirs}"}, BODY, now)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            BODY.decode(), ours["Stripe-Signature"], "whsec_other", tolerance=300
        )


def test_stripe_rotation_tolerance_and_rejects() -> None:
    headers = sign("stripe", ["new_secret", STRIPE_SECRET], "evt_1", 1000, BODY)
    assert headers["Stripe-Signature"].count("v1=") == 2
    verify("stripe", [STRIPE_SECRET], headers, BODY, now=1000)
    with pytest.raises(SignatureError, match="timestamp too old"):
        verify("stripe", [STRIPE_SECRET], headers, BODY, now=1301)
    with pytest.raises(SignatureError, match="no matching signature"):
        verify("stripe", ["nope"], headers, BODY, now=1000)
    with pytest.raises(SignatureError, match="one t= and at least one v1="):
        verify("stripe", [STRIPE_SECRET], {"Stripe-Signature": "v1=abc"}, BODY, now=1000)


def test_github_published_vector_and_independent_hmac() -> None:
    # GitHub's documentation: secret "It's a Secret to Everybody", payload "Hello, World!".
    headers = sign("github", ["It's a Secret to Everybody"], "delivery-1", 0, b"Hello, World!")
    assert (
        headers["X-Hub-Signature-256"]
        == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    expected = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert sign("github", ["s3cret", "other"], "d", 0, BODY)["X-Hub-Signature-256"] == expected
    verify("github", ["other", "s3cret"], {"X-Hub-Signature-256": expected}, BODY, now=0)
    with pytest.raises(SignatureError, match="no matching signature"):
        verify("github", ["wrong"], {"X-Hub-Signature-256": expected}, BODY, now=0)
    with pytest.raises(SignatureError, match="missing X-Hub-Signature-256"):
        verify("github", ["s3cret"], {}, BODY, now=0)


def test_unknown_scheme_and_no_secret() -> None:
    with pytest.raises(ValueError, match="unknown signature scheme"):
        sign("hmac-md5", ["x"], "id", 0, BODY)
    with pytest.raises(ValueError, match="at least one secret"):
        sign("standard", [], "id", 0, BODY)
    with pytest.raises(SignatureError, match="unknown signature scheme"):
        verify("hmac-md5", ["x"], {}, BODY, now=0)
