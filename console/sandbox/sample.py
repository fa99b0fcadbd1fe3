"""`hookconsole sample`: a deterministic, realistic delivery log plus its endpoints.toml and sandbox secrets.

The log holds ordinary traffic and the incidents an operator meets: 5xx bursts, slow endpoints that time out,
429 with Retry-After, 401s after a botched secret rotation, a multi-hour outage with refused connections,
events that exhausted their retries, out-of-order and duplicate deliveries.
"""

from __future__ import annotations

import gzip
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson

from console.domain.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, format_ms
from console.sandbox.profiles import (
    EVENT_TYPE_WEIGHTS,
    EVENT_TYPES,
    PROFILES,
    EndpointProfile,
    make_payload,
    sample_secret,
)
from console.signing import sign

RETRY_DELAYS_S = (5, 300, 1800, 7200)  # before attempts 2..5
MAX_TRIES = len(RETRY_DELAYS_S) + 1
DEFAULT_END = "2026-11-01T00:00:00Z"


@dataclass(frozen=True)
class Incident:
    """A stretch of time in which one endpoint answers badly."""

    endpoint_id: str
    start_ms: int
    end_ms: int
    kind: str  # "outage", "5xx", "429", "401"
    rate: float

    def covers(self, endpoint_id: str, at_ms: int) -> bool:
        return endpoint_id == self.endpoint_id and self.start_ms <= at_ms < self.end_ms


@dataclass(frozen=True)
class SampleSummary:
    events: int
    attempts: int
    path: Path
    incidents: tuple[Incident, ...]


def plan_incidents(rng: random.Random, start_ms: int, end_ms: int) -> tuple[Incident, ...]:
    """The incidents of the sample window, placed relative to its end so every window shows some."""
    span = end_ms - start_ms
    incidents = [
        Incident("ep_giftcards", end_ms - 20 * MS_PER_HOUR, end_ms - 15 * MS_PER_HOUR, "outage", 1.0),
        Incident(
            "ep_fraud", end_ms - 30 * MS_PER_HOUR, end_ms - 29 * MS_PER_HOUR - 10 * MS_PER_MINUTE, "401", 1.0
        ),
    ]
    for _ in range(max(1, span // (2 * MS_PER_DAY))):
        at = start_ms + rng.randrange(max(span - MS_PER_HOUR, 1))
        incidents.append(Incident("ep_analytics", at, at + 15 * MS_PER_MINUTE, "5xx", 0.5))
        at = start_ms + rng.randrange(max(span - MS_PER_HOUR, 1))
        incidents.append(Incident("ep_inventory", at, at + 10 * MS_PER_MINUTE, "429", 0.4))
    return tuple(i for i in incidents if i.end_ms > start_ms)


def _event_times(rng: random.Random, n: int, start_ms: int, end_ms: int) -> list[int]:
    """Event times with a daily rhythm (busier in the afternoon), sorted."""
    times: list[int] = []
    span = end_ms - start_ms
    while len(times) < n:
        at = start_ms + rng.randrange(span)
        hour = (at // MS_PER_HOUR) % 24
        if rng.random() < 0.45 + 0.55 * (1 + math.sin((hour - 9) / 24 * 2 * math.pi)) / 2:
            times.append(at)
    return sorted(times)


class _Attempts:
    """Draws the attempts of one event at one endpoint under the incidents in force."""

    def __init__(self, rng: random.Random, incidents: tuple[Incident, ...], end_ms: int) -> None:
        self.rng = rng
        self.incidents = incidents
        self.end_ms = end_ms

    def draw(self, profile: EndpointProfile, first_at: int) -> Iterator[dict[str, Any]]:
        rng = self.rng
        at = first_at
        for attempt in range(1, MAX_TRIES + 1):
            if at >= self.end_ms:
                return
            result = self._one(profile, at)
            result.update(attempt=attempt, at=at)
            yield result
            if result["status"] is not None and 200 <= result["status"] < 300:
                if rng.random() < 0.003:  # the dispatcher lost the response and sent it again
                    yield {**result, "attempt": attempt + 1, "at": at + 2000 + rng.randrange(3000)}
                return
            delay_ms = RETRY_DELAYS_S[min(attempt - 1, len(RETRY_DELAYS_S) - 1)] * 1000
            delay_ms = int(delay_ms * rng.uniform(0.9, 1.1))
            if result.get("retry_after"):
                delay_ms = max(delay_ms, result["retry_after"] * 1000)
            at += delay_ms + int(result["latency"] or 0)

    def _one(self, profile: EndpointProfile, at: int) -> dict[str, Any]:
        rng = self.rng
        latency = round(
            min(rng.lognormvariate(math.log(profile.p50_ms), profile.sigma), profile.timeout_s * 1000), 1
        )
        for incident in self.incidents:
            if incident.covers(profile.id, at) and rng.random() < incident.rate:
                return self._incident(incident, profile, at, latency)
        roll = rng.random()
        if roll < profile.timeout_rate:
            return _result(
                None, profile.timeout_s * 1000, f"timeout: no response within {profile.timeout_s:g}s"
            )
        if roll < profile.timeout_rate + profile.error_rate:
            status = rng.choice((500, 502, 503, 504))
            return _result(status, latency, None, body=f'{{"error":"upstream returned {status}"}}')
        return _result(200, latency, None, body='{"ok":true}')

    def _incident(
        self, incident: Incident, profile: EndpointProfile, at: int, latency: float
    ) -> dict[str, Any]:
        rng = self.rng
        if incident.kind == "outage":
            if at - incident.start_ms < 20 * MS_PER_MINUTE:
                return _result(503, round(latency / 4, 1), None, body="Service Unavailable")
            return _result(None, round(rng.uniform(0.3, 2.0), 1), f"connection refused: {profile.host}:443")
        if incident.kind == "401":
            return _result(
                401, round(latency / 3, 1), None, body='{"error":"invalid signature"}', stale_secret=True
            )
        if incident.kind == "429":
            result = _result(429, round(latency / 5, 1), None, body='{"error":"rate limited"}')
            result["retry_after"] = 30
            return result
        return _result(rng.choice((500, 502, 503)), latency, None, body='{"error":"temporarily unavailable"}')


def _result(
    status: int | None,
    latency: float | None,
    error: str | None,
    body: str | None = None,
    stale_secret: bool = False,
) -> dict[str, Any]:
    return {"status": status, "latency": latency, "error": error, "body": body, "stale": stale_secret}


def generate(
    out_dir: Path,
    *,
    events: int,
    days: float,
    seed: int,
    end_ms: int,
    compress: bool = False,
) -> SampleSummary:
    """Write `deliveries.jsonl[.gz]`, `endpoints.toml` and `secrets/` into `out_dir`."""
    rng = random.Random(seed)
    start_ms = end_ms - int(days * MS_PER_DAY)
    out_dir.mkdir(parents=True, exist_ok=True)
    secrets = {p.id: sample_secret(rng, p.scheme) for p in PROFILES}
    stale = {p.id: sample_secret(rng, p.scheme) for p in PROFILES}
    _write_endpoints(out_dir, secrets)
    incidents = plan_incidents(rng, start_ms, end_ms)
    drawer = _Attempts(rng, incidents, end_ms)
    users = max(20, events // 10)
    lines: list[tuple[int, int, bytes]] = []
    payloads: dict[str, bytes] = {}
    for index, at in enumerate(_event_times(rng, events, start_ms, end_ms)):
        event_type = rng.choices(EVENT_TYPES, EVENT_TYPE_WEIGHTS)[0]
        event_id = f"evt_{seed % 1000:03d}{index:07d}"
        payload = orjson.dumps(make_payload(rng, event_id, event_type, rng.randrange(users), format_ms(at)))
        payloads[event_id] = payload
        for profile in PROFILES:
            if event_type not in profile.event_types:
                continue
            first_at = at + rng.randrange(20, 800)
            for result in drawer.draw(profile, first_at):
                secret = stale[profile.id] if result["stale"] else secrets[profile.id]
                line = _line(profile, event_id, event_type, result, payload, secret)
                lines.append((result["at"], len(lines), line))
    lines.sort()
    path = out_dir / ("deliveries.jsonl.gz" if compress else "deliveries.jsonl")
    seen: set[str] = set()
    with _open_out(path, compress) as out:
        for _, _, line in lines:
            event_id = orjson.loads(line)["event_id"]
            if event_id not in seen:
                seen.add(event_id)
                line = line[:-1] + b',"payload":' + payloads[event_id] + b"}"
            out.write(line + b"\n")
    return SampleSummary(events=len(seen), attempts=len(lines), path=path, incidents=incidents)


def _line(
    profile: EndpointProfile,
    event_id: str,
    event_type: str,
    result: dict[str, Any],
    payload: bytes,
    secret: str,
) -> bytes:
    status = result["status"]
    headers = {"content-type": "application/json", "user-agent": "rewards-dispatcher/2.3"}
    headers.update(sign(profile.scheme, [secret], event_id, result["at"] // 1000, payload))
    record: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "endpoint_id": profile.id,
        "endpoint_url": f"https://{profile.host}/hooks/rewards",
        "attempt": result["attempt"],
        "attempted_at": format_ms(result["at"]),
        "status_code": status,
        "latency_ms": result["latency"],
        "error": result["error"],
        "trigger": "scheduled",
        "request_headers": headers,
    }
    if result["body"] is not None and (status is None or status >= 300):
        record["response_body"] = result["body"]
    return orjson.dumps(record)


def _open_out(path: Path, compress: bool) -> IO[bytes]:
    if compress:
        return cast(IO[bytes], gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0))
    return open(path, "wb")


def _write_endpoints(out_dir: Path, secrets: dict[str, str]) -> None:
    (out_dir / "secrets").mkdir(exist_ok=True)
    blocks = [
        "# Sample endpoints for the sample delivery log. The secrets in secrets/ are sandbox values made\n"
        "# from the sample's seed; a real endpoints.toml refers to real secrets with env:NAME or file:PATH.\n"
    ]
    for profile in PROFILES:
        (out_dir / "secrets" / f"{profile.id}.secret").write_text(secrets[profile.id] + "\n")
        blocks.append(
            f'[[endpoint]]\nid = "{profile.id}"\nname = "{profile.name}"\n'
            f'url = "https://{profile.host}/hooks/rewards"\nscheme = "{profile.scheme}"\n'
            f'secret = "file:secrets/{profile.id}.secret"\ntimeout_s = {profile.timeout_s:g}\nmax_tries = {MAX_TRIES}\n'
        )
    (out_dir / "endpoints.toml").write_text("\n".join(blocks))
