"""Who replays, why, and where to: the operator's default name, `--to URL` with its secret, and the checks
that keep a replay to another target from touching the real endpoints' records."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from console.delivery import Target
from console.domain.endpoint import Secret
from console.domain.replay import JobOrigin
from console.domain.urls import has_credentials, mask_url
from console.endpoints import resolve_secret, url_problem
from console.replay.plan import ReplayError

REASON_REQUIRED = "--reason is required with --force (say why already delivered events are sent again)"


def default_operator() -> str:
    """The OS user and host, e.g. `alice@ops-1`."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor in the password database
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def job_origin(
    operator: str | None,
    reason: str | None,
    force: bool,
    to_url: str | None = None,
    to_secret: str | None = None,
) -> JobOrigin:
    """The origin a new job records, after checking the options: a reason with --force, a target URL replays
    may go to, and a secret reference (never a secret) for it."""
    reason = (reason or "").strip() or None
    if force and reason is None:
        raise ReplayError(REASON_REQUIRED)
    if to_secret is not None and to_url is None:
        raise ReplayError("--to-secret goes with --to URL")
    if to_url is not None:
        problem = target_problem(to_url)
        if problem:
            raise ReplayError(f"--to: {problem}")
    if to_secret is not None:
        kind, _, rest = to_secret.partition(":")
        if kind not in ("env", "file") or not rest:
            raise ReplayError(
                "--to-secret: must be a reference like env:NAME or file:PATH, not the secret itself"
            )
        if kind == "file":
            to_secret = f"file:{Path(rest).resolve()}"  # a resume from another folder finds the same file
    return JobOrigin((operator or "").strip() or default_operator(), reason, to_url, to_secret)


def target_problem(url: str) -> str | None:
    """Why replays may not go to `url` (shown with its credentials masked), or None when they may.

    A URL with a user name, a password or a credential-like parameter (`token=`, `key=`, `sig=`, ...) is
    refused: the job would store it and every request would send it (userinfo as Basic auth)."""
    problem = url_problem(url)
    if problem:
        return problem
    if has_credentials(url):
        return (
            f"{mask_url(url)!r} carries credentials (a user name, password or token parameter), which the job "
            "would store and send; pass a URL without them (the request is signed with the secret)"
        )
    return None


def resolve_to_secret(
    secret_ref: str | None, env: Mapping[str, str] | None = None
) -> tuple[Secret, ...] | None:
    """The secret `--to-secret` names, read once (None: each endpoint signs with its own)."""
    if secret_ref is None:
        return None
    try:
        return (resolve_secret(secret_ref, Path.cwd(), env),)
    except LookupError as exc:
        raise ReplayError(f"--to-secret {secret_ref}: {exc}; nothing was sent") from None


def redirect(targets: dict[str, Target], url: str, secrets: tuple[Secret, ...] | None) -> dict[str, Target]:
    """The targets sent to `url` instead, signed with `secrets` (resolve_to_secret's) or each endpoint's own."""
    problem = target_problem(url)
    if problem:
        raise ReplayError(f"--to: {problem}")
    return {e: replace(t, url=url, secrets=secrets or t.secrets) for e, t in targets.items()}
