"""The deployment files: the systemd unit (systemd-analyze verify, its ExecStart parsed by `watch`'s own option
parser) and the container image (its Dockerfile read, then built and run where a container engine answers)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from console.cli.watch import watch_command
from tests.watch_support import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "docs" / "deploy" / "hookconsole-watch.service"
DOCKERFILE = ROOT / "Dockerfile"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "DynamicUser": "yes",
    "Restart": "on-failure",
}


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key -> values of a unit file (a key may repeat), continuation lines joined."""
    settings: dict[str, list[str]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def watch_params(argv: list[str]) -> dict[str, Any]:
    """`hookconsole watch ARGS` as `watch` itself parses them (click raises on an unknown option or bad value)."""
    assert Path(argv[0]).name == "hookconsole" and argv[1] == "watch", argv
    with watch_command.make_context("watch", argv[2:]) as ctx:
        return dict(ctx.params)


def test_unit_exec_start_is_a_real_watch_command_line_and_the_unit_is_hardened() -> None:
    settings = unit_settings(UNIT.read_text())
    for key, value in HARDENING.items():
        assert settings.get(key) == [value], key
    families = settings["RestrictAddressFamilies"][0].split()
    assert set(families) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    (exec_start,) = settings["ExecStart"]
    argv = shlex.split(exec_start)
    params = watch_params(argv)
    assert params["metrics_port"] == 9464 and params["json_logs"] and params["alerts_path"]
    assert not params["once"]
    db = Path(argv[argv.index("--db") + 1])
    writable = settings["ReadWritePaths"][0].split()
    assert str(db.parent) in writable, "the store's folder must be writable (the store and its lease file)"


def test_watch_params_rejects_an_unknown_option() -> None:
    """The check above can fail: a misspelt option in ExecStart is caught."""
    with pytest.raises(click.NoSuchOption):
        watch_params(["/usr/bin/hookconsole", "watch", "--metrics-prot", "9464"])


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip(
            "systemd-analyze is not installed (package systemd): the unit is checked by its parse only"
        )
    # verify checks that ExecStart's program exists: point it at this environment's hookconsole
    installed = Path(sys.executable).with_name("hookconsole")
    assert installed.exists(), installed
    (exec_start,) = unit_settings(UNIT.read_text())["ExecStart"]
    program = shlex.split(exec_start)[0]
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(program, str(installed)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text().replace("NoNewPrivileges=yes", "NoNewPrivileges=maybe"))
    complaint = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert "NoNewPrivileges" in complaint.stderr or "boolean" in complaint.stderr  # verify does complain


def _dockerfile() -> tuple[list[str], dict[str, str]]:
    """The final stage's instructions (continuations joined) and its ENV."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    env: dict[str, str] = {}
    for line in final:
        if line.startswith("ENV "):
            env.update(dict(pair.split("=", 1) for pair in shlex.split(line[4:])))
    return final, env


def _instruction(lines: list[str], name: str) -> str:
    (found,) = [line[len(name) + 1 :] for line in lines if line.startswith(name + " ")]
    return found


def test_dockerfile_runs_watch_as_a_non_root_user_with_a_healthcheck_and_a_volume() -> None:
    lines, env = _dockerfile()
    entry = json.loads(_instruction(lines, "ENTRYPOINT"))
    params = watch_params(entry)
    assert params["metrics_host"] == "0.0.0.0" and params["metrics_port"]
    user = _instruction(lines, "USER").split(":")[0]
    assert user not in ("root", "0")
    health = _instruction(lines, "HEALTHCHECK")
    assert f"127.0.0.1:{params['metrics_port']}/metrics" in health
    volumes = json.loads(_instruction(lines, "VOLUME"))
    assert str(Path(env["HOOKCONSOLE_DB"]).parent) in volumes
    ignored = (ROOT / ".dockerignore").read_text()
    assert "*" in ignored.splitlines() and "!console/" in ignored  # only what the build needs is sent


def _engine_missing() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no container engine: docker is not installed"
    try:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "no container engine answers: docker info timed out"
    if info.returncode != 0:
        why = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"no container engine answers (docker info: {why})"
    return None


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_container_builds_runs_non_root_and_turns_healthy(tmp_path: Path) -> None:
    missing = _engine_missing()
    if missing is not None:
        # Under CI=true too: the machines the suite runs on have no container engine, so this test can only
        # run where a developer has one; everything it can check without an engine, the tests above check.
        pytest.skip(
            f"{missing}; the image is built and run only where an engine runs, so this skips under CI=true "
            "too: this machine has no container engine"
        )
    tag = f"hookconsole-test:{uuid.uuid4().hex[:8]}"
    name = f"hookconsole-test-{uuid.uuid4().hex[:8]}"
    built = subprocess.run(
        ["docker", "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stderr[-3000:]
    port = free_port()
    try:
        run = subprocess.run(
            [
                *("docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:9464"),
                *("--health-interval", "1s", "--health-start-period", "1s", tag, "--every", "1s"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr

        def health() -> str:
            fmt = "{{.State.Health.Status}}"
            out = subprocess.run(["docker", "inspect", "-f", fmt, name], capture_output=True, text=True)
            return out.stdout.strip()

        assert wait_for(lambda: health() == "healthy", timeout=90), health()
        uid = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True, timeout=30)
        assert uid.stdout.strip() not in ("", "0"), uid
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert re.search(r"^hookconsole_watch_active 1\.0$", body, re.M), body
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
