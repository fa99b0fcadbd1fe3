"""Credentials in URLs (store and endpoints) are masked wherever a URL is shown; a secret file that is not UTF-8
is named, never quoted."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from console.domain.urls import mask_url, redact
from console.endpoints import url_problem
from console.store import Store
from tests.helpers import log_line, run, write_jsonl

STORE_PASSWORD = "hunter2-store-pw"
URL_PASSWORD = "Pa55-endpoint"
URL_TOKEN = "tok-9f8e7d"
URL_SIG = "sig-abc123"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://bob:pw@db:5432/x", "postgresql+psycopg://bob:***@db:5432/x"),
        (
            "postgresql://bob@db/x?password=pw&sslmode=require",
            "postgresql://bob@db/x?password=***&sslmode=require",
        ),
        (
            "https://u:p%40ss@h.example/hook?token=t&x=1&api_key=k&sig=s&client_secret=c",
            "https://***@h.example/hook?token=***&x=1&api_key=***&sig=***&client_secret=***",
        ),
        (
            "https://h.example/hook?X-Api-Key=k;Signature=s#access_token=t&state=ok",
            "https://h.example/hook?X-Api-Key=***;Signature=***#access_token=***&state=ok",
        ),
        ("https://TOKEN@h.example/p?id=7", "https://***@h.example/p?id=7"),  # sent as Basic auth
        ("HTTP://ghp_x:x-oauth-basic@h.example/", "HTTP://***@h.example/"),
        ("postgresql://reader@db/x?sslpassword=s", "postgresql://reader@db/x?sslpassword=***"),
        ("sqlite:///tmp/store.db", "sqlite:///tmp/store.db"),
        ("store.db", "store.db"),
        ("", ""),
        ("::::@@@??==&&##", "::::@@@??==&&##"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_url(shown) == shown  # masking twice changes nothing


def test_redact_removes_raw_and_decoded_credentials() -> None:
    url = "postgresql://bob:p%40ss@db/x?password=s3cr%3Dt"
    assert redact("failed for p@ss / p%40ss / s3cr=t / s3cr%3Dt", url) == "failed for *** / *** / *** / ***"


def test_endpoint_url_problems_mask_credentials() -> None:
    problem = url_problem(f"http://user:{URL_PASSWORD}@hooks.example.com/in?token={URL_TOKEN}")
    assert problem is not None and "plain http" in problem
    assert URL_PASSWORD not in problem and URL_TOKEN not in problem and "http://***@hooks" in problem
    bad_port = url_problem(f"https://user:{URL_PASSWORD}@hooks.example.com:eighty/in")
    assert bad_port is not None and "not a valid URL" in bad_port and URL_PASSWORD not in bad_port


def _config(tmp_path: Path, secret_ref: str = "env:EP_SECRET") -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(
        '[[endpoint]]\nid = "ep_a"\n'
        f'url = "https://user:{URL_PASSWORD}@hooks.example.com/in?token={URL_TOKEN}&sig={URL_SIG}"\n'
        f'scheme = "standard"\nsecret = "{secret_ref}"\n'
    )
    return path


def _assert_clean(text: str) -> None:
    for secret in (URL_PASSWORD, URL_TOKEN, URL_SIG, STORE_PASSWORD, SECRET):
        assert secret not in text


def test_endpoints_check_masks_url_credentials(tmp_path: Path) -> None:
    result = run("endpoints", "check", "--endpoints", str(_config(tmp_path)), env={"EP_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert "https://***@hooks.example.com/in?token=***&sig=***" in result.output
    _assert_clean(result.output + result.stderr)


def test_replay_plan_masks_endpoint_url_credentials(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", [log_line("evt_1", "ep_a", status_code=503)])
    assert run("--db", store.url, "ingest", str(log)).exit_code == 0
    config = str(_config(tmp_path))
    env = {"EP_SECRET": SECRET}
    text = run("--db", store.url, "--endpoints", config, "replay", "--dry-run", env=env)
    data = run("--db", store.url, "--endpoints", config, "replay", "--dry-run", "--json", env=env)
    assert text.exit_code == 0 and data.exit_code == 0, text.stderr + data.stderr
    assert "https://***@hooks.example.com/in?token=***&sig=***" in text.output
    assert (
        orjson.loads(data.output)["endpoints"][0]["url"]
        == "https://***@hooks.example.com/in?token=***&sig=***"
    )
    _assert_clean(text.output + text.stderr + data.output + data.stderr)


def test_store_password_in_query_is_never_shown(pg_schema_url: str, tmp_path: Path) -> None:
    url = (
        f"{pg_schema_url}&password={STORE_PASSWORD}"  # trust auth: the server ignores it, we must not show it
    )
    log = write_jsonl(
        tmp_path / "log.jsonl", [log_line(f"evt_{i}", status_code=500 if i % 3 else 200) for i in range(9)]
    )
    outputs = [run("--db", url, "ingest", str(log))]
    outputs.append(run("--db", url, "stats", "--since", "3000d"))
    outputs.append(run("--db", url, "report", "--since", "3000d", "--out", str(tmp_path / "r.html")))
    outputs.append(run("--db", url, "export", "--since", "3000d", "--out", str(tmp_path / "x")))
    assert all(r.exit_code == 0 for r in outputs), [r.stderr for r in outputs]
    assert "password=***" in outputs[1].output
    for result in outputs:
        _assert_clean(result.output + result.stderr)
    files = [tmp_path / "r.html", *sorted((tmp_path / "x").iterdir())]
    assert len(files) == 10  # the report, and attempts, deliveries, incidents, replays as CSV and JSON
    for file in files:
        _assert_clean(file.read_text())
    assert "password=***" in (tmp_path / "r.html").read_text()


def test_connection_errors_never_show_query_passwords() -> None:
    result = run(
        "--db", f"postgresql://bob@127.0.0.1:1/x?connect_timeout=2&password={STORE_PASSWORD}", "stats"
    )
    assert result.exit_code == 1
    _assert_clean(result.output + result.stderr)
    assert "password=***" in result.stderr


def test_secret_file_not_utf8_names_endpoint_and_file(store: Store, tmp_path: Path) -> None:
    (tmp_path / "bad.secret").write_bytes(b"whsec_\xff\xfeMfKQ9r8GKYqrTw\n")
    config = str(_config(tmp_path, "file:bad.secret"))
    check = run("endpoints", "check", "--endpoints", config)
    assert check.exit_code == 1
    assert (
        f"endpoint 'ep_a': secret file:bad.secret: secret file {tmp_path / 'bad.secret'}: not UTF-8"
        in check.stderr
    )
    log = write_jsonl(tmp_path / "log.jsonl", [log_line("evt_1", "ep_a", status_code=503)])
    assert run("--db", store.url, "ingest", str(log)).exit_code == 0
    replay = run("--db", store.url, "--endpoints", config, "replay", "--yes")
    assert replay.exit_code == 1
    assert "endpoint 'ep_a'" in replay.stderr and "bad.secret: not UTF-8" in replay.stderr
    for result in (check, replay):
        assert "0xff" not in result.stderr and "\\xff" not in result.stderr and "codec" not in result.stderr
        assert "Traceback" not in result.stderr
