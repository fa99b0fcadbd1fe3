"""Real HTTP servers on loopback for the tests: uvicorn in a thread, our sandbox receiver or an independent
verifying receiver (reference libraries, not console.signing), and endpoints.toml files pointing at them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stripe
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@contextmanager
def serve_app(app: Any) -> Iterator[int]:
    """Run an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread; yields the port."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class EndpointSpec:
    id: str
    scheme: str = "standard"
    secrets: tuple[str, ...] = ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",)
    extra: dict[str, Any] = field(default_factory=dict)


def write_endpoints(
    folder: Path, port: int, specs: list[EndpointSpec], *, missing_secret: str | None = None
) -> Path:
    """endpoints.toml with each endpoint at http://127.0.0.1:PORT/hooks/<id>, secrets in files next to it."""
    (folder / "secrets").mkdir(parents=True, exist_ok=True)
    blocks = []
    for spec in specs:
        refs = []
        for n, secret in enumerate(spec.secrets):
            name = f"{spec.id}.{n}.secret"
            if spec.id != missing_secret:
                (folder / "secrets" / name).write_text(secret + "\n")
            refs.append(f'"file:secrets/{name}"')
        extra = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in spec.extra.items())
        blocks.append(
            f'[[endpoint]]\nid = "{spec.id}"\nurl = "http://127.0.0.1:{port}/hooks/{spec.id}"\n'
            f'scheme = "{spec.scheme}"\nsecret = [{", ".join(refs)}]\n{extra}'
        )
    path = folder / "endpoints.toml"
    path.write_text("\n".join(blocks))
    return path


class IndependentReceiver:
    """Verifies each scheme with code that is not ours (Standard Webhooks' and Stripe's libraries, plain hmac
    for GitHub), answers 200 or 401, counts acknowledgements per (endpoint, event id). Optional scripted
    failures: `fail_first[event_id] = n` answers the first n requests for that event with 503."""

    def __init__(self, secrets: dict[str, tuple[str, str]], latency_s: float = 0.0) -> None:
        self.secrets = secrets  # endpoint id -> (scheme, secret)
        self.latency_s = latency_s
        self.acks: Counter[tuple[str, str]] = Counter()
        self.rejected: list[tuple[str, str]] = []
        self.requests: list[dict[str, Any]] = []
        self.fail_first: dict[str, int] = {}
        self.status_script: dict[str, list[tuple[int, dict[str, str]]]] = {}

    def _verified(self, scheme: str, secret: str, headers: dict[str, str], body: bytes) -> bool:
        try:
            if scheme == "standard":
                Webhook(secret).verify(body, headers)
            elif scheme == "stripe":
                stripe.WebhookSignature.verify_header(
                    body.decode(), headers.get("stripe-signature"), secret, tolerance=300
                )
            elif scheme == "convoy":  # Convoy's advanced form: t=<unix>,v1=<hex HMAC-SHA256 of "<t>,<body>">
                fields = dict(part.split("=", 1) for part in headers.get("x-convoy-signature", "").split(","))
                signed = fields["t"].encode() + b"," + body
                expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
                if abs(time.time() - int(fields["t"])) > 300 or not hmac.compare_digest(
                    expected, fields["v1"]
                ):
                    return False
            else:
                expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, headers.get("x-hub-signature-256", "")):
                    return False
        except (WebhookVerificationError, stripe.SignatureVerificationError, ValueError, KeyError):
            return False
        return True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        endpoint_id = scope["path"].rsplit("/", 1)[-1]
        scheme, secret = self.secrets[endpoint_id]
        event_id = (
            headers.get("x-github-delivery")
            or headers.get("x-convoy-idempotency-key")
            or headers.get("webhook-id", "")
        )
        self.requests.append(
            {"endpoint": endpoint_id, "event_id": event_id, "headers": headers, "at": time.time()}
        )
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        status, extra = 200, dict[str, str]()
        if not self._verified(scheme, secret, headers, body):
            status = 401
            self.rejected.append((endpoint_id, event_id))
        elif self.status_script.get(event_id):
            status, extra = self.status_script[event_id].pop(0)
        elif self.fail_first.get(event_id, 0) > 0:
            self.fail_first[event_id] -= 1
            status = 503
        else:
            self.acks[(endpoint_id, event_id)] += 1
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    *((k.encode(), v.encode()) for k, v in extra.items()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b'{"ok":true}' if status == 200 else b'{"error":"no"}'}
        )
