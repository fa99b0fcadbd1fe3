"""Secret files (`file:PATH`) are read with a limit: a device, a FIFO, a directory or an oversized file is
refused at once, naming the reference, never the content. Configuration files (endpoints.toml, alerts.toml, a
mapping file) are read with a limit too."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from console.endpoints import EndpointsError, load_endpoints, resolve_secret
from console.ingest.mapping import MappingError, load_mapping
from tests.helpers import log_line, run, write_jsonl

MAX_SECRET_BYTES = 64 * 1024  # the documented limits
MAX_CONFIG_BYTES = 8 * 1024 * 1024
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _refused(ref: str, base: Path) -> str:
    with pytest.raises(LookupError) as caught:
        resolve_secret(ref, base)
    return str(caught.value)


def test_a_device_is_refused_without_reading_it(tmp_path: Path) -> None:
    assert _refused("file:/dev/zero", tmp_path) == "secret file /dev/zero is a device, not a regular file"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert _refused("file:.", tmp_path) == f"secret file {tmp_path / '.'} is a directory, not a regular file"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "secret.fifo"
    os.mkfifo(fifo)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.append(_refused("file:secret.fifo", tmp_path)), daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # blocked in open(): a writer lets it go, so the test ends either way
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
    assert said == [f"secret file {fifo} is a FIFO, not a regular file"]


def test_an_oversized_file_is_refused_and_the_limit_itself_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.secret"
    with huge.open("wb") as out:
        out.truncate(256 * 1024 * 1024)  # sparse: no disk used; unlimited, it would be read whole
    message = _refused("file:huge.secret", tmp_path)
    assert message == f"secret file {huge} is larger than 64 KiB (a secret file holds one secret)"
    exact = tmp_path / "exact.secret"
    exact.write_text("k" * MAX_SECRET_BYTES)
    assert len(resolve_secret("file:exact.secret", tmp_path).reveal()) == MAX_SECRET_BYTES
    exact.write_text("k" * (MAX_SECRET_BYTES + 1))
    assert "larger than 64 KiB" in _refused("file:exact.secret", tmp_path)


def test_commands_name_the_reference_of_an_unusable_secret_file(tmp_path: Path) -> None:
    config = tmp_path / "endpoints.toml"
    config.write_text(
        '[[endpoint]]\nid = "ep_a"\nurl = "https://hooks.example.com/in"\nscheme = "standard"\n'
        'secret = ["file:ok.secret", "file:/dev/zero"]\n'
    )
    (tmp_path / "ok.secret").write_text(SECRET)
    check = run("endpoints", "check", "--endpoints", str(config))
    assert check.exit_code == 1
    assert "endpoint 'ep_a': secret file:/dev/zero: secret file /dev/zero is a device" in check.stderr
    config.write_text(config.read_text().replace(', "file:/dev/zero"', ""))
    db = f"sqlite:///{tmp_path / 's.db'}"
    log = write_jsonl(tmp_path / "log.jsonl", [log_line("evt_1", "ep_a", status_code=503)])
    assert run("--db", db, "ingest", str(log)).exit_code == 0
    replay = run(
        "--db", db, "--endpoints", str(config), "replay", "--to", "https://staging.example.com/in",
        "--to-secret", "file:/dev/zero", "--yes",
    )  # fmt: skip
    assert replay.exit_code == 1
    assert replay.stderr == (
        "hookconsole: --to-secret file:/dev/zero: secret file /dev/zero is a device, not a regular file; "
        "nothing was sent\n"
    )
    assert SECRET not in check.stderr + replay.stderr


def test_configuration_files_are_read_with_a_limit(tmp_path: Path) -> None:
    for name in ("endpoints.toml", "mapping.toml"):
        with (tmp_path / name).open("wb") as out:
            out.truncate(MAX_CONFIG_BYTES + 1)
    with pytest.raises(EndpointsError) as endpoints:
        load_endpoints(tmp_path / "endpoints.toml")
    assert endpoints.value.problems == [
        f"{tmp_path / 'endpoints.toml'}: is larger than 8 MiB (a configuration file is at most that)"
    ]
    with pytest.raises(MappingError) as mapping:
        load_mapping(tmp_path / "mapping.toml")
    assert mapping.value.problems == [
        f"{tmp_path / 'mapping.toml'}: is larger than 8 MiB (a mapping file is at most that)"
    ]
