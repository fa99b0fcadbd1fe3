"""The report header's notes on its filters: the payload filter and what it changes, and the filters asked for
that a report does not apply."""

from __future__ import annotations

from console.analytics.build import ReportData
from console.report.text import esc


def _payload_note(where: str | None) -> str:
    """With a payload filter, the header says which and what the figures then count."""
    if not where:
        return ""
    note = (
        "only events whose payload matches count. The cards and the endpoint table count the matching "
        "deliveries first tried in the window and all their attempts; the charts, incidents and failures count "
        "the matching attempts made in the window (both read from the attempts, not the rollups). Replay jobs "
        "are listed whatever they sent, and the what-if section counts every payload."
    )
    return f'<div class="meta filter"><b>Payload filter: {esc(where)}</b> · {esc(note)}</div>'


def _ignored_note(data: ReportData) -> str:
    """The filters asked for that the report does not apply, said in the header."""
    if data.ignored is None:
        return ""
    note = (
        "a report counts every delivery of its window, endpoints, event types and payload filter: its figures "
        "come from rollups that keep no delivery state."
    )
    return f'<div class="meta ignored"><b>Ignored: {esc(data.ignored.describe())}</b> · {esc(note)}</div>'


def filter_notes(data: ReportData) -> str:
    """The header's lines below the window: the payload filter, then what is ignored (empty when neither)."""
    return _payload_note(data.filter.where.text if data.filter.where else None) + _ignored_note(data)
