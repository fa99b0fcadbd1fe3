"""The console's "copy as curl" recipe, run for real: bash + openssl + curl against a receiver that verifies
each scheme with code that is not ours."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from console.signing import curl_for
from tests.sandbox import IndependentReceiver, serve_app

SECRETS = {
    "ep_std": ("standard", "whsec_" + base64.b64encode(b"a standard secret, 32 bytes long!").decode()),
    "ep_stripe": ("stripe", "whsec_stripe'secret $HOME"),
    "ep_github": ("github", "gh secret with spaces"),
    "ep_convoy": ("convoy", "convoy 'secret' $PATH"),
}
BODY = '{"event_id": "evt_1", "note": "it\'s a \\"quote\\", $HOME `date` é\\n"}\n'.encode()


def _run(snippet: str, secret: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "WEBHOOK_SECRET": secret}
    return subprocess.run(["bash", "-c", snippet], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("endpoint", sorted(SECRETS))
def test_the_snippet_sends_a_request_the_receiver_verifies(endpoint: str) -> None:
    scheme, secret = SECRETS[endpoint]
    receiver = IndependentReceiver(SECRETS)
    with serve_app(receiver) as port:
        snippet = curl_for(scheme, f"http://127.0.0.1:{port}/hooks/{endpoint}", "evt_1", BODY)
        done = _run(snippet, secret)
    assert done.returncode == 0, done.stderr
    assert receiver.acks[(endpoint, "evt_1")] == 1 and receiver.rejected == []
    assert secret not in snippet and "WEBHOOK_SECRET" in snippet


def test_a_wrong_secret_is_refused_by_the_receiver() -> None:
    receiver = IndependentReceiver(SECRETS)
    with serve_app(receiver) as port:
        snippet = curl_for("standard", f"http://127.0.0.1:{port}/hooks/ep_std", "evt_1", BODY)
        _run(snippet, "whsec_" + base64.b64encode(b"another secret").decode())
    assert receiver.rejected == [("ep_std", "evt_1")]


def test_a_binary_body_goes_through_a_file(tmp_path: Path) -> None:
    body = b"\xff\x00binary\n"
    (tmp_path / "body.bin").write_bytes(body)
    with pytest.raises(ValueError, match="not UTF-8"):
        curl_for("github", "http://127.0.0.1/x", "evt_1", body)
    receiver = IndependentReceiver(SECRETS)
    with serve_app(receiver) as port:
        snippet = curl_for(
            "github",
            f"http://127.0.0.1:{port}/hooks/ep_github",
            "evt_2",
            body,
            body_file=str(tmp_path / "body.bin"),
        )
        done = _run(snippet, SECRETS["ep_github"][1])
    assert done.returncode == 0, done.stderr
    assert receiver.acks[("ep_github", "evt_2")] == 1


def test_an_id_cannot_break_out_of_the_snippet(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    receiver = IndependentReceiver(SECRETS)
    with serve_app(receiver) as port:
        snippet = curl_for(
            "github", f"http://127.0.0.1:{port}/hooks/ep_github", f"evt_'$(touch {marker})'", BODY
        )
        _run(snippet, SECRETS["ep_github"][1])
    assert not marker.exists() and len(receiver.requests) == 1
