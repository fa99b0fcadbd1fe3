"""The report's plain-language summary, built from the figures already computed: what broke, for how long, what
it left undelivered, what replays recovered, and what is outstanding now."""

from __future__ import annotations

from typing import Any

from console.analytics.build import ReportData
from console.analytics.rows import tuples
from console.domain import formatting as fmt
from console.domain.times import format_ms
from console.report.text import share

STALE_AFTER_MS = 10 * 60_000  # a newest attempt older than this is said: the log may have stopped
DOWN_BELOW = 0.05  # an incident in which fewer attempts than this succeeded is an outage: "down"
NAMED_INCIDENTS = 3  # the worst ones named; the others counted
NAMED_REASONS = 3  # resolutions' most common reasons named; the others counted


def _incident_sentence(r: Any) -> str:
    """One incident (a row of the incidents frame) in words."""
    endpoint, ongoing = r.endpoint_id, bool(r.ongoing)
    length = fmt.duration(int(r.duration_s) * 1000)
    rate = float(r.success_rate)
    if rate < DOWN_BELOW:
        what = f"{endpoint} is down ({length} so far)" if ongoing else f"{endpoint} was down {length}"
    else:
        succeeded = f"{share(rate)} of attempts succeeded"
        what = (
            f"{endpoint} is degraded ({length} so far, {succeeded})"
            if ongoing
            else f"{endpoint} was degraded for {length} ({succeeded})"
        )
    affected, still = int(r.events_affected), int(r.still_undelivered)
    left = f"{fmt.count(still)} still undelivered" if still else "all delivered since"
    return f"{what}: {fmt.counted(affected, 'delivery')} failed there, {left}."


def resolved_sentence(resolved: list[tuple[str, int]]) -> str:
    """The resolved deliveries (won't send), by reason: "69 deliveries resolved as superseded (won't send)."."""
    total = sum(n for _reason, n in resolved)
    if len(resolved) == 1:
        return f"{fmt.counted(total, 'delivery')} resolved as {resolved[0][0]} (won't send)."
    parts = "; ".join(f"{fmt.count(n)} {reason}" for reason, n in resolved[:NAMED_REASONS])
    more = len(resolved) - NAMED_REASONS
    if more > 0:
        parts += f"; {fmt.counted(sum(n for _r, n in resolved[NAMED_REASONS:]), 'delivery')} for {more} other reasons"
    return f"{fmt.counted(total, 'delivery')} resolved (won't send): {parts}."


def summary_sentences(data: ReportData) -> list[str]:
    """Sentences, worst news first."""
    sentences = []
    newest = data.newest_attempt_ms
    if data.live and newest is not None and data.now_ms - newest > STALE_AFTER_MS:
        at = format_ms(newest).replace(".000Z", "Z")
        sentences.append(
            f"The newest attempt in the log is {fmt.age(newest, data.now_ms)} old ({at}): nothing after it is "
            "known here."
        )
    sentences += [_incident_sentence(r) for r in tuples(data.incidents.head(NAMED_INCIDENTS))]
    more = len(data.incidents) - NAMED_INCIDENTS
    if more > 0:
        sentences.append(f"{fmt.counted(more, 'more incident')} below the SLO (see Incidents).")
    if data.incidents.empty and not data.empty:
        sentences.append(f"No endpoint stayed below the SLO ({share(data.slo)}).")
    k = data.stats.overall
    if not data.empty:
        sentences.append(
            f"{fmt.counted(k.deliveries, 'delivery')} first tried in the window, {share(k.final_success_rate)} "
            f"delivered by now; {fmt.counted(k.failures, 'failed attempt')}."
        )
    if not data.replays.empty:
        replayed = int(data.replays["delivered"].sum())
        jobs = fmt.counted(len(data.replays), "replay job")
        sentences.append(f"{fmt.counted(replayed, 'delivery')} delivered by {jobs}.")
    if data.resolved_now:
        sentences.append(resolved_sentence(data.resolved_now))
    if data.undelivered:
        verb = "is" if data.undelivered == 1 else "are"
        oldest = fmt.age(data.oldest_undelivered_ms, data.now_ms)
        sentences.append(
            f"{fmt.counted(data.undelivered, 'delivery')} {verb} undelivered now, the oldest for {oldest}."
        )
    else:
        settled = (
            "every delivery is delivered or resolved" if data.resolved_now else "every delivery is delivered"
        )
        sentences.append("Nothing outstanding." if data.empty else f"Nothing outstanding: {settled}.")
    gaps = data.gaps
    if gaps is not None and gaps.total:
        kinds = [
            fmt.counted(gaps.skipped_count, "delivery", "deliveries") + " with skipped attempt numbers",
            fmt.counted(gaps.missing_count, "event") + " missing at an endpoint",
            fmt.counted(gaps.stuck_count, "stuck delivery", "stuck deliveries"),
        ]
        found = [
            k
            for k, n in zip(kinds, (gaps.skipped_count, gaps.missing_count, gaps.stuck_count), strict=True)
            if n
        ]
        sentences.append(
            f"{fmt.counted(gaps.total, 'gap')} in the attempt log: {', '.join(found)} (see Gaps in the log)."
        )
    return sentences
