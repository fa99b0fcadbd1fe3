"""Shared by the dispatcher-source tests: a PostgreSQL schema of their own for a dispatcher's tables, and the
figures `stats --json` must show, computed straight from a list of final attempts."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from tests.conftest import PG_URL, _libpq_url, require_postgres
from tests.helpers import run


@contextmanager
def dispatcher_schema(prefix: str) -> Iterator[tuple[Any, str]]:
    """An autocommit psycopg connection and a fresh schema name, dropped afterwards."""
    require_postgres()
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq_url(PG_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        try:
            yield conn, schema
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def source_url(kind: str, schema: str, **options: str) -> str:
    """`kind+postgresql://...` for the test server with the given options."""
    base = _libpq_url(PG_URL).split("://", 1)[1]
    query = "&".join(f"{k}={v}" for k, v in {"schema": schema, **options}.items())
    return f"{kind}+postgresql://{base}{'&' if '?' in base else '?'}{query}"


@dataclass(frozen=True)
class Final:
    """A final attempt as the dispatcher's tables say: what the store must count."""

    event_id: str
    endpoint_id: str
    number: int
    status_code: int | None
    latency_ms: float | None


def _quantile(values: list[float], q: float) -> float:
    """The linear (numpy default) quantile of `values`, computed here independently of the store."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def expected_figures(attempts: list[Final]) -> dict[str, Any]:
    """Attempts, deliveries, undelivered, both success rates and the latency percentiles of `attempts`, overall
    and (under "endpoints") per endpoint."""
    pairs: dict[tuple[str, str], bool] = {}
    first = first_ok = 0
    for a in attempts:
        ok = a.status_code is not None and 200 <= a.status_code < 300
        key = (a.event_id, a.endpoint_id)
        pairs[key] = pairs.get(key, False) or ok
        if a.number == 1:
            first += 1
            first_ok += ok
    latencies = [a.latency_ms for a in attempts if a.latency_ms is not None]
    delivered = sum(pairs.values())
    return {
        "attempts": len(attempts),
        "deliveries": len(pairs),
        "undelivered": len(pairs) - delivered,
        "first_attempt_success_rate": round(first_ok / first, 6) if first else None,
        "final_success_rate": round(delivered / len(pairs), 6) if pairs else None,
        "p50": statistics.median(latencies) if latencies else None,
        "p95": _quantile(latencies, 0.95) if latencies else None,
        "p99": _quantile(latencies, 0.99) if latencies else None,
        "endpoints": {
            endpoint: {
                "attempts": sum(1 for a in attempts if a.endpoint_id == endpoint),
                "deliveries": sum(1 for e, ep in pairs if ep == endpoint),
                "undelivered": sum(1 for (e, ep), ok in pairs.items() if ep == endpoint and not ok),
            }
            for endpoint in sorted({a.endpoint_id for a in attempts})
        },
    }


def assert_stats_match(store_url: str, attempts: list[Final]) -> dict[str, Any]:
    """`stats --json` on the store equals the figures of `attempts`, overall and per endpoint (p50, p95 and
    p99 within 3%)."""
    stats = orjson.loads(run("--db", store_url, "stats", "--json").stdout)
    expected = expected_figures(attempts)
    for key in ("attempts", "deliveries", "undelivered", "first_attempt_success_rate", "final_success_rate"):
        assert stats[key] == expected[key], (key, stats[key], expected[key])
    per_endpoint = {
        e["id"]: {k: e[k] for k in ("attempts", "deliveries", "undelivered")} for e in stats["endpoints"]
    }
    assert per_endpoint == expected["endpoints"]
    for name in ("p50", "p95", "p99"):
        got, want = stats["latency_ms"][name], expected[name]
        if want is None:
            assert got is None, name
        else:
            assert abs(got - want) <= max(0.03 * want, 0.1), (name, got, want)
    return stats


def ingest_json(store_url: str, *sources: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """`hookconsole ingest SOURCE... --json` in-process; the summary."""
    result = run("--db", store_url, "ingest", *sources, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return orjson.loads(result.stdout)
