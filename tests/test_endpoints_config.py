"""endpoints.toml: validation names the endpoint and key, and never prints a secret's value."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.endpoints import EndpointsError, check_endpoints_file, load_endpoints, resolve_secrets
from tests.helpers import run

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(text)
    return path


GOOD = """
[[endpoint]]
id = "ep_payments"
url = "https://payments.example.com/hooks/rewards"
scheme = "standard"
secret = "env:PAYMENTS_WEBHOOK_SECRET"
timeout_s = 5
max_tries = 3

[[endpoint]]
id = "ep_local"
url = "http://127.0.0.1:9000/hooks"
scheme = "github"
secret = ["file:secrets/new.secret", "file:secrets/old.secret"]
"""


def test_good_file_loads(tmp_path: Path) -> None:
    config = load_endpoints(write(tmp_path, GOOD))
    assert config.ids == ("ep_payments", "ep_local")
    payments = config.get("ep_payments")
    assert payments is not None and payments.timeout_s == 5.0 and payments.max_tries == 3
    local = config.get("ep_local")
    assert local is not None and local.secret_refs == ("file:secrets/new.secret", "file:secrets/old.secret")


@pytest.mark.parametrize(
    "body, fragment",
    [
        (
            'id = "ep_x"\nurl = "https://x.example"\nscheme = "standard"\nsecret = "env:X"\ncolour = "red"',
            "endpoint 'ep_x': unknown key 'colour'",
        ),
        (
            'id = "ep_x"\nurl = "ftp://x.example"\nscheme = "standard"\nsecret = "env:X"',
            "endpoint 'ep_x': url: must be an http(s) URL",
        ),
        (
            'id = "ep_x"\nurl = "http://x.example/h"\nscheme = "standard"\nsecret = "env:X"',
            "plain http is only allowed to loopback",
        ),
        (
            'id = "ep_x"\nurl = "https://x.example"\nscheme = "hmac"\nsecret = "env:X"',
            "scheme: unknown scheme 'hmac'",
        ),
        ('id = "ep_x"\nurl = "https://x.example"\nscheme = "standard"', "endpoint 'ep_x': secret: missing"),
        ('url = "https://x.example"\nscheme = "standard"\nsecret = "env:X"', "endpoint #1: id: missing"),
        (
            'id = "ep_x"\nurl = "https://x.example"\nscheme = "standard"\nsecret = "env:X"\nmax_tries = 0',
            "max_tries: must be an integer between 1 and 100",
        ),
        (
            'id = "ep_x"\nurl = "https://x.example"\nscheme = "standard"\nsecret = "env:X"\ntimeout_s = "5s"',
            "timeout_s: must be a number",
        ),
    ],
)
def test_structure_problems_name_endpoint_and_key(tmp_path: Path, body: str, fragment: str) -> None:
    with pytest.raises(EndpointsError) as info:
        load_endpoints(write(tmp_path, "[[endpoint]]\n" + body + "\n"))
    assert fragment in str(info.value)


def test_literal_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[[endpoint]]\nid = "ep_x"\nurl = "https://x.example"\nscheme = "standard"\nsecret = "{SECRET}"\n',
    )
    with pytest.raises(EndpointsError) as info:
        load_endpoints(path)
    assert "not the secret itself" in str(info.value)
    assert SECRET not in str(info.value)


def test_duplicate_ids_and_bad_toml(tmp_path: Path) -> None:
    block = '[[endpoint]]\nid = "ep_x"\nurl = "https://x.example"\nscheme = "stripe"\nsecret = "env:X"\n'
    with pytest.raises(EndpointsError, match="duplicate id"):
        load_endpoints(write(tmp_path, block + block))
    with pytest.raises(EndpointsError, match="not valid TOML"):
        load_endpoints(write(tmp_path, "[[endpoint]\nid ="))
    with pytest.raises(EndpointsError, match="no such endpoints file"):
        load_endpoints(tmp_path / "missing.toml")


def test_secret_resolution(tmp_path: Path) -> None:
    config = load_endpoints(write(tmp_path, GOOD))
    payments = config.get("ep_payments")
    assert payments is not None
    secrets = resolve_secrets(payments, tmp_path, env={"PAYMENTS_WEBHOOK_SECRET": SECRET})
    assert [s.reveal() for s in secrets] == [SECRET]
    assert SECRET not in repr(secrets)
    with pytest.raises(LookupError, match=r"'ep_payments'.*PAYMENTS_WEBHOOK_SECRET is not set"):
        resolve_secrets(payments, tmp_path, env={})
    with pytest.raises(LookupError, match="must start with whsec_") as info:
        resolve_secrets(payments, tmp_path, env={"PAYMENTS_WEBHOOK_SECRET": "hunter2-not-a-whsec"})
    assert "hunter2" not in str(info.value)


def test_check_command_reports_every_problem_without_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "new.secret").write_text("gh-secret-value-123\n")
    result = run("endpoints", "check", "--endpoints", str(path), env={"PAYMENTS_WEBHOOK_SECRET": SECRET})
    assert result.exit_code == 1
    assert "endpoint 'ep_local': secret file:secrets/old.secret" in result.stderr
    assert "gh-secret-value-123" not in result.output + result.stderr
    (tmp_path / "secrets" / "old.secret").write_text("gh-old-value\n")
    result = run("endpoints", "check", "--endpoints", str(path), env={"PAYMENTS_WEBHOOK_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert "ok  ep_payments" in result.output and "ok  ep_local" in result.output
    assert SECRET not in result.output


def test_check_reports_all_structure_problems(tmp_path: Path) -> None:
    path = write(tmp_path, '[[endpoint]]\nid = "a"\nurl = "nope"\nscheme = "x"\nsecret = "env:A"\n')
    config, problems = check_endpoints_file(path)
    assert config is None
    assert any("url:" in p for p in problems) and any("scheme:" in p for p in problems)
