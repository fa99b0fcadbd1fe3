"""What the live console asks for, in domain values: the one service facade the TUI calls (from its workers).

It owns the store connection for the console: when the store goes away (a SQLite file removed, a server
down), every call raises StoreUnavailable with the reason, and the next call tries again from scratch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from console import aio
from console.analytics.build import ReportData, build_report_data
from console.domain.alert_marks import EndpointMark
from console.domain.deliveries import DeliveryRow, PageCursor
from console.domain.filters import DeliveryFilter
from console.domain.follow import FollowStatus
from console.domain.live import AttemptView, DashboardSnapshot, EventDetail
from console.domain.replay import JobView, ReplayPlan, ReplaySelection
from console.domain.resolutions import ResolutionAction, ResolveOutcome
from console.domain.times import now_ms
from console.endpoints import EndpointsError, EndpointsFile, load_endpoints, resolve_secrets
from console.replay.handle import JobHandle
from console.replay.plan import ReplayError
from console.replay.runner import RunProgress
from console.replay.service import JobSecrets, ReplayService
from console.replay.targets import default_operator, job_origin
from console.report.atomic import write_atomic
from console.report.service import ReportOptions, default_report_path, write_page
from console.signing import SignatureError, curl_for, verify
from console.store import Store, StoreError, describe_url, live, normalise_url, open_store, resolutions
from console.store.alerts import backlog_by_endpoint, has_alert_tables
from console.store.deliveries import count_deliveries, page_deliveries
from console.store.stats import read_stats
from console.watch.marks import endpoint_marks

P = ParamSpec("P")
T = TypeVar("T")


class StoreUnavailable(Exception):
    """The store cannot be read right now; the console shows the reason and retries."""


class ActionRefused(Exception):
    """An action the operator asked for cannot be done (the message says why)."""


REPORTS_FOLDER = Path("reports")  # relative to where the console runs, as for `hookconsole report`
CURL_INLINE_BYTES = 64 * 1024  # a larger payload goes to a file the curl snippet reads
SHOWN_REASONS = 3  # a finished job's most common failure reasons shown


def _store_call(method: Callable[P, T]) -> Callable[P, T]:
    @wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        self: Operations = args[0]  # type: ignore[assignment]
        try:
            return method(*args, **kwargs)
        except (SQLAlchemyError, StoreError, OSError) as exc:
            self.reset()
            raise StoreUnavailable(_reason(exc)) from None

    return call


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _refused(*errors: type[Exception]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """These errors are the operator's to act on: ActionRefused with the same message."""

    def decorate(method: Callable[P, T]) -> Callable[P, T]:
        @wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return method(*args, **kwargs)
            except errors as exc:
                raise ActionRefused(str(exc)) from None

        return call

    return decorate


class Operations:
    def __init__(
        self,
        db_url: str | None,
        endpoints_path: Path,
        clock: Callable[[], int] = now_ms,
        followed: Callable[[], list[FollowStatus]] | None = None,
        read_only: bool = False,
    ) -> None:
        self.db_url = normalise_url(db_url)
        self.read_only = read_only  # the store is opened read-only: nothing is created, upgraded or written
        self.endpoints_path = endpoints_path
        self.clock = clock
        # The sources `tui --follow` keeps flowing into the store, and what each is doing (None: not following).
        self.followed = followed
        self._store: Store | None = None
        self._alert_tables_in: Store | None = None  # the store in which the alert tables are known to exist
        self._opened_once = False
        self._lock = threading.Lock()
        self._job_secrets: dict[str, JobSecrets] = {}  # from a job's creation to its start: read once
        url = make_url(self.db_url)
        self._sqlite_file = (
            Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None
        )

    @property
    def store_name(self) -> str:
        """A short name for the status line: the SQLite file's name, or the server URL without a password."""
        if self._sqlite_file is not None:
            return f"sqlite {self._sqlite_file.name}"
        return describe_url(self.db_url) if self._store is None else self._store.display_url

    def store(self) -> Store:
        with self._lock:
            if self._sqlite_file is not None and self._store is not None and not self._sqlite_file.exists():
                self._store.close()
                self._store = None
                raise StoreUnavailable(f"the store file {self._sqlite_file} is gone")
            if self._store is None:
                if self._sqlite_file is not None and not self._sqlite_file.exists() and self._opened_once:
                    raise StoreUnavailable(f"the store file {self._sqlite_file} is gone")
                self._store = open_store(self.db_url, read_only=self.read_only)
                self._opened_once = True
            return self._store

    def reset(self) -> None:
        """Drop the connection pool; the next call opens the store afresh."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    @_refused(EndpointsError)
    def endpoints(self) -> EndpointsFile:
        return load_endpoints(self.endpoints_path)

    @_store_call
    def dashboard(self, window_ms: int) -> DashboardSnapshot:
        store = self.store()
        now = self.clock()
        since = now - window_ms
        stats = read_stats(store, DeliveryFilter(since_ms=since, until_ms=now))
        backlog, oldest = live.undelivered_backlog(store)
        return DashboardSnapshot(
            window_ms=window_ms,
            now_ms=now,
            stats=stats,
            series=tuple(live.success_series(store, since, now)),
            failures=tuple(live.recent_failures(store, since, now, limit=30)),
            last_seq=stats.last_seq,
            backlog=backlog,
            oldest_undelivered_ms=oldest,
        )

    @_store_call
    def undelivered_by_endpoint(self, endpoint_ids: list[str]) -> dict[str, int]:
        """Undelivered deliveries now (whenever first tried) per endpoint: the dashboard ranks endpoints by it.
        Every endpoint with a backlog is in it, also one not in `endpoint_ids` (no traffic in the window)."""
        backlog = backlog_by_endpoint(self.store())  # one GROUP BY on the undelivered index
        found = {e: backlog[e].undelivered if e in backlog else 0 for e in endpoint_ids}
        found.update({e: b.undelivered for e, b in backlog.items() if b.undelivered})
        return found

    @_store_call
    def endpoint_marks(self) -> tuple[int, dict[str, EndpointMark]]:
        """Now, and per endpoint: alerts firing (kept by `hookconsole watch`) or a recent recovery."""
        store = self.store()
        if self._alert_tables_in is not store:
            if self.read_only and not has_alert_tables(store):
                return self.clock(), {}  # a store made before alerts existed, opened read-only: none
            self._alert_tables_in = store
        now = self.clock()
        return now, endpoint_marks(store, now)

    @_store_call
    def latest_seq(self) -> int:
        return live.latest_seq(self.store())

    @_store_call
    def deliveries(self, flt: DeliveryFilter, after: PageCursor | None, limit: int) -> list[DeliveryRow]:
        return page_deliveries(self.store(), flt, limit=limit, after=after)

    @_store_call
    def count(self, flt: DeliveryFilter) -> int:
        return count_deliveries(self.store(), flt)

    @_store_call
    def filter_choices(self) -> tuple[list[str], list[str]]:
        store = self.store()
        return live.known_endpoints(store), live.known_event_types(store)

    @_store_call
    def event(self, event_id: str) -> EventDetail:
        detail = live.event_detail(self.store(), event_id)
        if detail is None:
            raise ActionRefused(f"no event {event_id!r} in the store")
        return detail

    @_store_call
    def resolve(
        self,
        flt: DeliveryFilter,
        pairs: tuple[tuple[str, str], ...] | None,
        reason: str,
        reopen: bool = False,
    ) -> ResolveOutcome:
        """Resolve ("won't send") the outstanding deliveries of `pairs` (all the filter's when None) for
        `reason`, recorded as this user@host; `reopen`: make resolved ones outstanding again."""
        action = ResolutionAction.REOPEN if reopen else ResolutionAction.RESOLVE
        self._may_change(action, reason)
        return resolutions.change(
            self.store(),
            flt,
            action,
            reason=reason.strip(),
            operator=default_operator(),
            now_ms=self.clock(),
            pairs=pairs,
        )

    @_store_call
    def resolve_superseded(self, selection: ReplaySelection, reason: str) -> ResolveOutcome:
        """Resolve the selection's deliveries a newer delivered event supersedes (what skip-superseded leaves out)."""
        self._may_change(ResolutionAction.RESOLVE, reason)
        return resolutions.resolve_superseded(
            self.store(), selection, operator=default_operator(), now_ms=self.clock(), reason=reason.strip()
        )

    def _may_change(self, action: ResolutionAction, reason: str) -> None:
        if self.read_only:
            raise ActionRefused(f"read-only mode: {action.value} is refused")
        if not reason.strip():
            raise ActionRefused(f"{action.value}: a reason is required")

    def check_signature(self, attempt: AttemptView, payload: bytes) -> str:
        """Verify a stored attempt's signature headers with the endpoint's secrets (timestamp age ignored)."""
        headers = attempt.request_headers
        if not headers:
            return "no request headers were stored for this attempt: nothing to check"
        endpoint = self.endpoints().get(attempt.endpoint_id)
        if endpoint is None:
            return f"{attempt.endpoint_id} is not in {self.endpoints_path}: no secret to check with"
        try:
            secrets = [s.reveal() for s in resolve_secrets(endpoint, self.endpoints_path.parent)]
        except LookupError as exc:
            return f"cannot check: {exc}"
        stamp = (
            headers.get("webhook-timestamp")
            or _stamp_in(headers, "Stripe-Signature")
            or _stamp_in(headers, endpoint.convoy.header)
            or str(attempt.attempted_at_ms // 1000)
        )
        try:
            verify(
                endpoint.scheme.value,
                secrets,
                headers,
                payload,
                now=int(stamp) if stamp.isdigit() else 0,
                convoy=endpoint.convoy,
            )
        except SignatureError as exc:
            return f"signature does NOT verify ({endpoint.scheme.value}): {exc}"
        return (
            f"signature verifies ({endpoint.scheme.value}, with the secret(s) in {self.endpoints_path.name})"
        )

    def curl(self, detail: EventDetail, endpoint_id: str) -> str:
        """A bash snippet that sends this event to the endpoint again, signed for its scheme with the secret
        in $WEBHOOK_SECRET (openssl computes it). A big or binary payload goes to a file the snippet reads."""
        endpoint = self.endpoints().get(endpoint_id)
        if endpoint is None:
            raise ActionRefused(
                f"{endpoint_id} is not in {self.endpoints_path.name}: no URL or scheme for curl"
            )
        body_file = None
        if len(detail.payload) > CURL_INLINE_BYTES or not _is_text(detail.payload):
            body_file = str(self.save_payload(detail.event_id, detail.payload))
        try:
            return curl_for(
                endpoint.scheme.value,
                endpoint.url,
                detail.event_id,
                detail.payload,
                body_file,
                convoy=endpoint.convoy,
            )
        except ValueError as exc:
            raise ActionRefused(f"{endpoint_id}: {exc}") from None

    def _replays(self) -> ReplayService:
        return ReplayService(self.store(), self.endpoints(), kept_secrets=self._job_secrets)

    @_store_call
    @_refused(ReplayError)
    def plan_replay(self, selection: ReplaySelection) -> ReplayPlan:
        """The dry run, naming the first deliveries to send even when they come after the plan's first items."""
        return self._replays().plan(selection, first_to_send=True)

    @_store_call
    @_refused(ReplayError)
    def create_job(self, plan: ReplayPlan, reason: str | None = None) -> str:
        """The job for a plan, recorded as started by this user@host for `reason` (required when forced)."""
        origin = job_origin(default_operator(), reason, plan.selection.force)
        return self._replays().create_job(plan, origin)

    @_store_call
    @_refused(ReplayError)
    def start_job(self, job_id: str, on_progress: Callable[[RunProgress], None]) -> JobHandle:
        """A handle for running the job: `run_job` runs it, its `stop()` stops it from any thread."""
        return self._replays().start(job_id, on_progress=on_progress)

    @_store_call
    @_refused(ReplayError)
    def run_job(self, job: JobHandle) -> JobView:
        """Run a job to its end in the calling thread (a console worker), on an event loop of its own."""
        return aio.run(job.run())

    @_store_call
    def jobs(self) -> list[JobView]:
        return self._replays().jobs()

    @_store_call
    @_refused(ReplayError)
    def prepare_resume(self, job_id: str) -> JobView:
        return self._replays().prepare_resume(job_id)[0]

    @_store_call
    @_refused(ReplayError)
    def cancel_job(self, job_id: str) -> JobView:
        return self._replays().cancel(job_id)

    @_store_call
    def failure_reasons(self, job_id: str) -> list[tuple[str, int]]:
        """A job's most common reasons its items failed (SHOWN_REASONS of them), most frequent first."""
        return [(r.reason, r.items) for r in self._replays().failure_reasons(job_id, SHOWN_REASONS)]

    @_store_call
    def _report_data(self, flt: DeliveryFilter) -> tuple[ReportData, str]:
        store = self.store()
        return build_report_data(store, flt, self.clock(), ReportOptions().slo), store.display_url

    def write_report(self, flt: DeliveryFilter) -> Path:
        """The HTML report for a filter, written to the reports folder. A folder that cannot be written is the
        operator's to fix (ActionRefused), not a store problem."""
        data, store_name = self._report_data(flt)
        path = default_report_path(data, REPORTS_FOLDER).absolute()
        try:
            return write_page(data, path, ReportOptions(), self.clock(), store_name)
        except OSError as exc:
            raise ActionRefused(f"cannot write the report in {path.parent}: {exc.strerror or exc}") from None

    def save_payload(self, event_id: str, payload: bytes) -> Path:
        """Write an event's whole payload, byte for byte, to the reports folder."""
        return _save(f"payload-{_file_part(event_id)}.json", payload, "the payload")

    def save_curl(self, event_id: str, endpoint_id: str, snippet: str) -> Path:
        """Write a curl snippet to the reports folder, for terminals that refuse the clipboard (one file per
        event and endpoint: the snippets differ in URL and signature)."""
        name = f"curl-{_file_part(event_id)}-{_file_part(endpoint_id)}.sh"
        return _save(name, snippet.encode(), "the curl snippet")


def _file_part(event_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in event_id)[:80].lstrip(".") or "event"


def _save(name: str, data: bytes, what: str) -> Path:
    path = (REPORTS_FOLDER / name).absolute()

    def produce(out: IO[bytes]) -> None:
        out.write(data)

    try:
        return write_atomic(path, produce)
    except OSError as exc:
        raise ActionRefused(f"cannot write {what} in {path.parent}: {exc.strerror or exc}") from None


def _is_text(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in payload


def _stamp_in(headers: dict[str, Any], name: str) -> str | None:
    """The `t=` of a `t=<ts>,v1=...` signature header (Stripe's, Convoy's advanced form), any case of its name."""
    lowered = name.lower()
    value = next((v for k, v in headers.items() if str(k).lower() == lowered), None)
    for part in str(value or "").split(","):
        if part.strip().startswith("t="):
            return part.strip()[2:]
    return None
