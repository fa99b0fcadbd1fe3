"""The report's "What-if retry schedules" section: the table `hookconsole whatif` prints (docs/whatif.md)."""

from __future__ import annotations

from collections.abc import Callable

from console.domain import formatting as fmt
from console.domain.whatif import PolicyFigures, WhatIfResult

WHATIF_HEADERS = (
    "schedule",
    "endpoint",
    "deliveries",
    "1st failed",
    "delivered",
    "exhausted",
    "pending",
    "delay p50",
    "delay p95",
    "peak/s",
    "attempts",
)


def delay_text(ms: int | None) -> str:
    """An added delay as the whatif table shows it: "-" for none, "0s", else its length."""
    return fmt.MISSING if ms is None else ("0s" if ms == 0 else fmt.duration(ms))


def whatif_row(label: str, f: PolicyFigures) -> list[str]:
    """One schedule's figures at one endpoint (or its totals) as the table's cells, here and in the CLI."""
    return [
        label,
        f.endpoint_id,
        fmt.count(f.deliveries),
        fmt.count(f.first_failed),
        fmt.count(f.delivered),
        fmt.count(f.exhausted),
        fmt.count(f.pending),
        delay_text(f.delay_p50_ms),
        delay_text(f.delay_p95_ms),
        fmt.count(f.peak_per_s),
        fmt.count(f.attempts),
    ]


def whatif_section(
    result: WhatIfResult,
    section: Callable[[str, str, str], str],
    table: Callable[..., str],
    when: Callable[[int | None], str],
    unapplied: tuple[str, ...] = (),
) -> str:
    """HTML for the comparison; `section`, `table` and `when` (a moment as text) are the page's own; `unapplied`
    names the report's filters the comparison leaves out ("payload filter (where ...)")."""
    rows = [whatif_row(p.label, f) for p in result.policies for f in p.endpoints]
    rows += [whatif_row(p.label, p.total) for p in result.policies]
    end = when(result.history_end_ms) if result.history_end_ms is not None else "-"
    caption = (
        f"Deliveries first tried {when(result.since_ms)} .. {when(result.until_ms)} at the report's "
        "endpoints (every event type and payload: health is per endpoint), retried on each schedule against "
        "each endpoint's health per minute, beside what the real schedule did (observed; exhausted = still "
        "undelivered). Delays: first attempt to delivery, of the deliveries whose first attempt failed. "
        f"Retry-After is not stored, so not modelled; retries after the recorded history ({end}) are pending. "
        "The model and its limits: docs/whatif.md; the same figures: hookconsole whatif --json."
    )
    if unapplied:
        verb = "is" if len(unapplied) == 1 else "are"
        caption += (
            f" The report's {' and '.join(unapplied)} {verb} not applied here: these figures count every event "
            "type and payload."
        )
    return section(
        "What-if retry schedules", caption, table(WHATIF_HEADERS, rows, numeric=[2, 3, 4, 5, 6, 7, 8, 9, 10])
    )
