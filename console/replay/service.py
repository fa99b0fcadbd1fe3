"""The replay service the command line and the console both use: plan, create, start (a handle that runs and
stops the job), resume, cancel, list."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from console.domain.endpoint import Secret
from console.domain.replay import (
    FINAL_ITEM_STATES,
    FailureReason,
    ItemState,
    JobItem,
    JobOrigin,
    JobState,
    JobView,
    ReplayPlan,
    ReplaySelection,
)
from console.domain.times import now_ms
from console.endpoints import EndpointsFile
from console.replay.handle import JobHandle
from console.replay.plan import (
    ORDERED,
    ReplayError,
    describe_selection,
    plan_replay,
    resolve_endpoint_secrets,
    skip_reasons,
    targets_for,
)
from console.replay.runner import JobRunner, ProgressHook, RunOptions
from console.replay.targets import default_operator, redirect, resolve_to_secret
from console.store import Store
from console.store import replay_jobs as journal

STALE_RUNNER_MS = 15_000  # a runner silent this long is taken for dead


def ordered(view: JobView) -> bool:
    """Whether a job sends in order: its stored options say; a job stored before them (an older store) is
    taken as its selection's text says, as it was then."""
    if view.options is not None:
        return view.options.ordered
    return ORDERED in view.selection.split("; ")


def new_job_id() -> str:
    return f"rj_{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}_{secrets.token_hex(3)}"


@dataclass(frozen=True)
class JobSecrets:
    """A job's secrets, read once when it is created and handed to its run: each endpoint's, and `--to`'s."""

    endpoints: dict[str, tuple[Secret, ...]]
    to: tuple[Secret, ...] | None = None


@dataclass
class ReplayService:
    """`endpoints` may be None for what only reads or cancels jobs (list, show, reasons, cancel)."""

    store: Store
    endpoints: EndpointsFile | None = None
    env: Mapping[str, str] | None = None
    # The secrets a job created here was checked with, taken (once) by its start; a resume reads them anew.
    # A caller making a service per call (the console) passes one dict to all of them.
    kept_secrets: dict[str, JobSecrets] = field(default_factory=dict, repr=False)

    def _config(self) -> EndpointsFile:
        if self.endpoints is None:
            raise ReplayError("sending needs endpoints.toml (--endpoints FILE or HOOKCONSOLE_ENDPOINTS)")
        return self.endpoints

    def plan(self, selection: ReplaySelection, *, first_to_send: bool = False) -> ReplayPlan:
        """The dry run: nothing is written. `first_to_send`: look for the first items to send past the plan's
        first items when these hold too few (see `plan_replay`)."""
        return plan_replay(self.store, self._config(), selection, first_to_send=first_to_send)

    def create_job(self, plan: ReplayPlan, origin: JobOrigin | None = None) -> str:
        """Persist the plan as a job, after checking every endpoint's secrets (and `--to`'s) resolve. The job's items
        are its selection's as they are now, inserted by the store, among the deliveries first tried by the
        plan's newest (one delivered since the plan is left out; traffic newer than the plan is not added).
        `origin`: who, why, and another target (default: the OS user, no reason, the endpoints' own URLs)."""
        if origin is None:
            origin = JobOrigin(default_operator())
        secrets = JobSecrets(
            resolve_endpoint_secrets(
                self._config(), [e.endpoint_id for e in plan.endpoints if e.to_send], self.env
            ),
            resolve_to_secret(origin.target_secret, self.env) if origin.target_url is not None else None,
        )
        if origin.target_url is not None:
            redirect(targets_for(self._config(), secrets.endpoints), origin.target_url, secrets.to)
        job_id = new_job_id()
        journal.create_planned_job(
            self.store,
            job_id,
            describe_selection(plan.selection),
            plan.job_selection,
            skip_reasons(),
            now_ms(),
            origin,
        )
        self.kept_secrets[job_id] = secrets
        return job_id

    def job(self, job_id: str) -> JobView:
        view = journal.job_view(self.store, job_id)
        if view is None:
            raise ReplayError(f"no replay job {job_id!r} (see `hookconsole replay list`)")
        return view

    def items(self, job_id: str, limit: int = 1000, *, troubled_only: bool = False) -> list[JobItem]:
        """A job's items in plan order, each with its last error (`troubled_only`: not delivered or skipped)."""
        return journal.job_items(self.store, job_id, limit, troubled_only=troubled_only)

    def failure_reasons(self, job_id: str, limit: int = 5) -> list[FailureReason]:
        """Why the job's items failed, the most common reasons first."""
        return journal.top_reasons(self.store, job_id, limit)

    def jobs(self, limit: int = 50) -> list[JobView]:
        return journal.list_jobs(self.store, limit)

    def start(
        self,
        job_id: str,
        *,
        concurrency: int | None = None,
        on_progress: ProgressHook | None = None,
        options: RunOptions | None = None,
        **policy: Any,
    ) -> JobHandle:
        """Get the job ready to send its pending items: `await handle.run()` sends them, `handle.stop()` stops.
        `options` overrides the runner's defaults (lease, heartbeat: tests use short ones)."""
        view = self.job(job_id)
        config = self._config()
        pending_endpoints = [e.endpoint_id for e in view.endpoints if e.count(ItemState.PENDING)]
        secrets = self._job_secrets(view, pending_endpoints)
        targets = targets_for(config, {e: secrets.endpoints[e] for e in pending_endpoints}, **policy)
        if view.target_url is not None:
            targets = redirect(targets, view.target_url, secrets.to)
        options = replace(options or RunOptions(), concurrency=concurrency or view.concurrency)
        configured = {e: config.get(e) for e in targets}
        runner = JobRunner(
            self.store,
            job_id,
            targets,
            view.force,
            options,
            rate_limits={e: c.rate_per_s for e, c in configured.items() if c and c.rate_per_s},
            max_in_flight={e: c.max_in_flight for e, c in configured.items() if c and c.max_in_flight},
            on_progress=on_progress,
            ordered=ordered(view),
        )
        runner.target_url = view.target_url
        return JobHandle(runner)

    def _job_secrets(self, view: JobView, pending_endpoints: list[str]) -> JobSecrets:
        """The secrets the job was created with in this service, else (a resume, another process) read now."""
        kept = self.kept_secrets.pop(view.id, None)
        if kept is not None and set(pending_endpoints) <= set(kept.endpoints):
            return kept
        to = resolve_to_secret(view.target_secret, self.env) if view.target_url is not None else None
        return JobSecrets(resolve_endpoint_secrets(self._config(), pending_endpoints, self.env), to)

    def prepare_resume(self, job_id: str) -> tuple[JobView, int]:
        """Make a stopped or killed job runnable again; returns it and how many in-flight items go back."""
        view = self.job(job_id)
        if view.state in (JobState.DONE, JobState.CANCELLED):
            raise ReplayError(f"job {job_id} is {view.state.value}; nothing to resume")
        if all(ItemState(s) in FINAL_ITEM_STATES for s in view.counts) and view.state is not JobState.RUNNING:
            raise ReplayError(f"job {job_id} has no pending items; nothing to resume")
        if self._runner_alive(view):
            runner, _ = journal.job_runner(self.store, job_id)
            raise ReplayError(f"job {job_id} is running ({runner}); cancel it or wait for it to end")
        returned = journal.reset_in_flight(self.store, job_id, now_ms())
        return self.job(job_id), returned

    def cancel(self, job_id: str) -> JobView:
        """Cancel a job: pending items end cancelled; a live runner stops at its next heartbeat."""
        view = self.job(job_id)
        if view.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
            raise ReplayError(f"job {job_id} is already {view.state.value}")
        if not self._runner_alive(view):
            journal.reset_in_flight(self.store, job_id, now_ms())
            journal.release_claims(self.store, job_id)
        journal.cancel_job(self.store, job_id, now_ms())
        return self.job(job_id)

    def _runner_alive(self, view: JobView) -> bool:
        """Is the job's runner still going? Known for sure on this host; elsewhere, by its heartbeat."""
        if view.state is not JobState.RUNNING:
            return False
        runner, heartbeat = journal.job_runner(self.store, view.id)
        host, _, pid = (runner or "").rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return heartbeat is not None and now_ms() - heartbeat < STALE_RUNNER_MS
