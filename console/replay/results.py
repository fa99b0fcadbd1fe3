"""What a replay writes of each send: the item's result with its attempts, why it failed, and a write that
loses nothing acknowledged when the store refuses part of it."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from console.delivery import SendResult
from console.domain.outcomes import Trigger
from console.domain.records import AttemptRecord
from console.domain.replay import ItemState
from console.domain.times import now_ms
from console.store import Store
from console.store import replay_jobs as journal
from console.store.failures import one_line
from console.store.replay_jobs import ClaimedItem, ItemResult


def item_result(job_id: str, item: ClaimedItem, result: SendResult, breaker: str | None) -> ItemResult:
    """The journal's result of one send: delivered; failed (with why); or, when the send was halted by a stop
    or a lost claim, pending again (halted by the endpoint's circuit breaker: failed with the breaker's reason).
    Attempts are numbered 1, 2, ... here; the journal renumbers them when it writes them."""
    attempts = tuple(
        AttemptRecord(
            item.event_id,
            item.event_type,
            item.endpoint_id,
            a.number,
            a.started_at_ms,
            a.outcome,
            a.status_code,
            a.latency_ms,
            a.error,
            Trigger.MANUAL,
            job_id,
            orjson.dumps(a.request_headers).decode(),
            a.response_excerpt,
        )
        for a in result.attempts
    )
    code = result.attempts[-1].status_code if result.attempts else None
    if result.delivered:
        state, error = ItemState.DELIVERED, None
    elif result.halted:
        state = ItemState.FAILED if result.reason == breaker else ItemState.PENDING
        error = result.reason
    else:
        state, error = ItemState.FAILED, describe_failure(result)
    return ItemResult(item.event_id, item.endpoint_id, state, attempts, code, error)


def describe_failure(result: SendResult) -> str:
    """Why a send failed, with what its last try met (an error text or a status) when the reason lacks it."""
    reason = result.reason or "not delivered"
    last = result.attempts[-1] if result.attempts else None
    if last is None:
        return reason
    if last.error:
        return reason if last.error in reason else f"{last.error} ({reason})"
    if last.status_code is not None and str(last.status_code) not in reason:
        return f"HTTP {last.status_code} ({reason})"
    return reason


def record_resiliently(
    store: Store, job_id: str, group: Sequence[ItemResult], target_url: str | None = None
) -> None:
    """Write a group; when that fails, each item alone, then without the text stored of its responses, then
    without its attempts: an acknowledged item is never left to be sent again because one result could not be
    stored. Only a store that refuses even that raises. `target_url`: the job was sent there (`--to`)."""
    try:
        journal.record_results(store, job_id, group, now_ms(), target_url)
        return
    except Exception:
        if len(group) == 1 and not group[0].attempts:
            raise
    for result in group:
        try:
            journal.record_results(store, job_id, [result], now_ms(), target_url)
            continue
        except Exception as exc:
            problem = one_line(exc, store.url)
        plain = tuple(
            a._replace(response_excerpt=None, request_headers=None, error=_ascii(a.error))
            for a in result.attempts
        )
        try:
            note = f"results stored without response text (the store refused it: {problem})"
            journal.record_results(store, job_id, [_with(result, plain, note)], now_ms(), target_url)
        except Exception:
            note = f"attempts could not be stored ({problem})"
            journal.record_results(store, job_id, [_with(result, (), note)], now_ms(), target_url)


def _ascii(text: str | None) -> str | None:
    return text.encode("ascii", "replace").decode() if text else text


def _with(result: ItemResult, attempts: tuple[AttemptRecord, ...], note: str) -> ItemResult:
    error = _ascii(result.last_error)
    return ItemResult(
        result.event_id,
        result.endpoint_id,
        result.state,
        attempts,
        result.last_status_code,
        f"{error}; {note}" if error else note,
    )
