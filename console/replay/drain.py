"""How long a replay should take, from measured figures: each endpoint's recent mean latency (the store's
rollups: what its requests took lately, the replay's own attempts included), the job's concurrency, the
endpoints' rate limits and in-flight caps, and the runner's own cost per request.

It follows how the runner schedules (console/replay/runner.py): the first request to an endpoint goes alone,
then up to `in_flight` at a time in waves of its latency; endpoints run side by side, but no more than the job's
`concurrency` requests are in flight in all; a rate limit spaces requests out. Retries are not counted (an
endpoint that answers 2xx needs none; one that keeps failing is paused by the circuit breaker).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from console.domain.endpoint import EndpointConfig
from console.domain.replay import DrainEstimate, EndpointPlan

# The runner's own work per request (signing, the HTTP client, writing the result), which concurrency does not
# spread: measured at 3 to 4 ms a request on a zero-latency loopback receiver (400 requests in 1.5 s).
OVERHEAD_S = 0.004


def endpoint_drain(
    endpoint: EndpointConfig | None, n: int, latency_ms: float | None, concurrency: int
) -> DrainEstimate:
    """One endpoint's share alone: the probe, then ceil((n - 1) / in_flight) waves of its latency, no faster
    than its rate limit; None seconds when there is neither a latency nor a rate to go by."""
    rate = endpoint.rate_per_s if endpoint else None
    in_flight = min(concurrency, (endpoint.max_in_flight if endpoint else None) or concurrency)
    if n == 0:
        return DrainEstimate(in_flight, rate, latency_ms, 0.0)
    bounds = []
    if latency_ms is not None:
        bounds.append(latency_ms / 1000 * (1 + math.ceil((n - 1) / in_flight)))
    if rate:
        bounds.append(n / rate)
    seconds = max(bounds) + n * OVERHEAD_S if bounds else None
    return DrainEstimate(in_flight, rate, latency_ms, seconds)


def job_drain(endpoints: Sequence[EndpointPlan], concurrency: int) -> float | None:
    """The whole job: the slowest endpoint, or the time the job's `concurrency` slots need for every endpoint's
    requests together, whichever is longer, plus the runner's cost per request; None when an endpoint to send
    to has nothing to go by."""
    sending = [e for e in endpoints if e.to_send]
    if not sending:
        return 0.0
    alone: list[float] = []
    busy = 0.0  # request-seconds of every endpoint together
    for e in sending:
        if e.drain is None or e.drain.seconds is None:
            return None
        alone.append(e.drain.seconds - e.to_send * OVERHEAD_S)
        if e.drain.latency_ms is not None:
            busy += e.to_send * e.drain.latency_ms / 1000
    total = sum(e.to_send for e in sending)
    return max(max(alone), busy / max(concurrency, 1)) + total * OVERHEAD_S
