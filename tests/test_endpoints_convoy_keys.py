"""endpoints.toml's convoy_header, convoy_advanced and convoy_versions: defaults equal to Convoy's (and to
what hookconsole did before they existed), and `endpoints check` naming the endpoint and key of a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.domain.endpoint import ConvoySigning
from console.endpoints import EndpointsError, load_endpoints
from console.signing import CONVOY_DEFAULTS
from tests.helpers import run

HEAD = (
    '[[endpoint]]\nid = "ep_c"\nurl = "https://c.example/hooks"\nscheme = "convoy"\nsecret = "env:C_SECRET"\n'
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(text)
    return path


def test_defaults_are_convoys_and_the_keys_are_read(tmp_path: Path) -> None:
    plain = load_endpoints(write(tmp_path, HEAD)).endpoints[0]
    assert plain.convoy == ConvoySigning("X-Convoy-Signature", True, (("SHA256", "hex"),))
    assert vars(CONVOY_DEFAULTS) == vars(
        plain.convoy
    )  # signing's own defaults (for callers without a config)
    custom = load_endpoints(
        write(
            tmp_path,
            HEAD + 'convoy_header = "X-Acme-Signature"\nconvoy_advanced = false\n'
            'convoy_versions = [{ hash = "SHA512", encoding = "base64" }, { hash = "SHA256", encoding = "hex" }]\n',
        )
    ).endpoints[0]
    assert custom.convoy == ConvoySigning(
        "X-Acme-Signature", False, (("SHA512", "base64"), ("SHA256", "hex"))
    )


BAD = [
    ('convoy_header = "X Signature"', "convoy_header: must be an HTTP header name"),
    ('convoy_header = ""', "convoy_header: must be an HTTP header name"),
    ('convoy_header = "Content-Type"', "convoy_header: 'Content-Type' is a header the sender sets itself"),
    (
        'convoy_advanced = "yes"',
        "convoy_advanced: must be true (t=...,v1=...) or false (Convoy's simple form)",
    ),
    ("convoy_versions = []", "convoy_versions: must be a non-empty list of { hash ="),
    ('convoy_versions = "SHA256"', "convoy_versions: must be a non-empty list of { hash ="),
    (
        'convoy_versions = [{ hash = "SHA256", encoding = "hex" }, { hash = "SHA1", encoding = "hex" }]',
        "convoy_versions: version 2: hash must be SHA256 or SHA512 (Convoy signs with no other), got 'SHA1'",
    ),
    (
        'convoy_versions = [{ hash = "sha256", encoding = "hex" }]',
        "convoy_versions: version 1: hash must be SHA256 or SHA512 (Convoy signs with no other), got 'sha256'",
    ),
    (
        'convoy_versions = [{ hash = "SHA256", encoding = "base32" }]',
        "convoy_versions: version 1: encoding must be hex or base64, got 'base32'",
    ),
    (
        'convoy_versions = [{ hash = "SHA256" }]',
        "convoy_versions: version 1: encoding must be hex or base64, got None",
    ),
    (
        'convoy_versions = [{ hash = "SHA256", encoding = "hex", uid = "v1" }]',
        "convoy_versions: version 1: unknown key 'uid' (known: hash, encoding)",
    ),
]


@pytest.mark.parametrize("line, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_convoy_key_is_named_with_its_endpoint(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, HEAD + line + "\n")
    with pytest.raises(EndpointsError) as info:
        load_endpoints(path)
    problems = info.value.problems
    assert len(problems) == 1 and problems[0].startswith(f"{path}: endpoint 'ep_c': {message}"), problems
    result = run("--endpoints", str(path), "endpoints", "check")
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_convoy_keys_on_another_scheme_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD.replace('"convoy"', '"stripe"') + 'convoy_header = "X-Sig"\n')
    with pytest.raises(EndpointsError) as info:
        load_endpoints(path)
    assert info.value.problems == [
        f"{path}: endpoint 'ep_c': convoy_header: only for scheme = \"convoy\" (this endpoint's scheme is 'stripe')"
    ]


def test_check_shows_how_a_convoy_endpoint_is_signed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD + 'convoy_advanced = false\nconvoy_versions = [{ hash = "SHA512", encoding = "base64" }]\n',
    )
    result = run("--endpoints", str(path), "endpoints", "check", env={"C_SECRET": "s"})
    assert result.exit_code == 0, result.stderr
    assert "[X-Convoy-Signature: simple, v1 SHA512/base64]" in result.stdout
