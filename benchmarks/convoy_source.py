"""Reading a Convoy server's tables: the rate in attempts a second against the target of 30,000.

The ingest benchmark's log (~200k attempts; `--large` for ~1M) is written into Convoy-shaped tables on the
test PostgreSQL (schema hc_bench_convoy, cached while its row count matches: the columns the reader uses,
the indexes Convoy's migrations make on them), then `hookconsole ingest convoy+postgresql://...` and
`hookconsole ingest deliveries.jsonl` each fill a fresh SQLite store. The rate moves a lot with the load of
the machine (the reader, the store and PostgreSQL share it); the ratio to the JSON Lines ingest of the same
log, measured alongside, much less.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from benchmarks.common import fill_tables, hookconsole, report, run_child, sample_log
from console.domain.times import parse_rfc3339_ms

SCHEMA = "hc_bench_convoy"
DDL = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
SET search_path TO {SCHEMA};
CREATE TABLE events (id varchar PRIMARY KEY, event_type text NOT NULL, project_id varchar NOT NULL, raw text NOT NULL,
  data bytea NOT NULL, created_at timestamptz DEFAULT now(), deleted_at timestamptz);
CREATE TABLE event_deliveries (id varchar PRIMARY KEY, project_id varchar NOT NULL, endpoint_id varchar,
  event_id varchar NOT NULL, created_at timestamptz DEFAULT now(), deleted_at timestamptz);
CREATE TABLE delivery_attempts (id varchar PRIMARY KEY, project_id varchar NOT NULL, endpoint_id varchar NOT NULL,
  event_delivery_id varchar NOT NULL, http_status varchar, response_data bytea, error text, status boolean,
  created_at timestamptz NOT NULL DEFAULT now(), requested_at timestamptz, responded_at timestamptz,
  deleted_at timestamptz);
"""
INDEXES = """
CREATE INDEX idx_event_deliveries_project_id_event_id ON event_deliveries (project_id, event_id);
CREATE INDEX idx_delivery_attempts_event_delivery_id ON delivery_attempts (event_delivery_id);
CREATE INDEX idx_delivery_attempts_created_at ON delivery_attempts (created_at);
ANALYZE;
"""
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(ms: int, seq: int) -> str:
    value = (ms << 80) | seq
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def _stamp(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}+00"


def _rows(log: Path, table: str) -> Iterator[tuple[object, ...]]:
    """The rows of one table, streamed from the log; manual (replay) lines are left out (Convoy's attempts
    are all scheduled)."""
    seq = 0
    seen: set[tuple[str, str]] = set()
    with log.open("rb") as lines:
        for raw in lines:
            line = orjson.loads(raw)
            if line.get("trigger") == "manual":
                continue
            at = parse_rfc3339_ms(line["attempted_at"])
            event, endpoint = line["event_id"], line["endpoint_id"]
            if table == "events" and "payload" in line:
                yield (event, line["event_type"], "p1", "", orjson.dumps(line["payload"]), _stamp(at))
            elif table == "event_deliveries" and (event, endpoint) not in seen:
                seen.add((event, endpoint))
                yield (f"{event}:{endpoint}", "p1", endpoint, event, _stamp(at))
            elif table == "delivery_attempts":
                seq += 1
                code, latency = line.get("status_code"), line.get("latency_ms") or 0
                ended = at + int(latency)
                yield (
                    _ulid(ended, seq),
                    "p1",
                    endpoint,
                    f"{event}:{endpoint}",
                    f"{code} Status" if code else None,
                    line.get("error"),
                    code is not None and 200 <= code < 300,
                    _stamp(ended),
                    _stamp(at),
                    _stamp(ended) if code else None,
                )


COLUMNS = {
    "events": "id, event_type, project_id, raw, data, created_at",
    "event_deliveries": "id, project_id, endpoint_id, event_id, created_at",
    "delivery_attempts": "id, project_id, endpoint_id, event_delivery_id, http_status, error, status, "
    "created_at, requested_at, responded_at",
}


def convoy_tables(log: Path, attempts_expected: int) -> None:
    fill_tables(
        "Convoy",
        f"{SCHEMA}.delivery_attempts",
        attempts_expected,
        DDL,
        COLUMNS,
        lambda table: _rows(log, table),
        (INDEXES,),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="~1M attempts instead of ~200k")
    args = parser.parse_args(argv)
    log = sample_log("ingest", events=185_000 if args.large else 37_000, days=7)
    attempts = sum(1 for raw in log.open("rb") if b'"trigger":"manual"' not in raw)
    convoy_tables(log, attempts)
    url = f"convoy+postgresql://postgres@127.0.0.1:5432/test?schema={SCHEMA}"
    with tempfile.TemporaryDirectory() as tmp:
        convoy_s, rss, out = run_child(
            hookconsole("--db", str(Path(tmp) / "convoy.db"), "ingest", url, "--json")
        )
        summary = orjson.loads(out)
        file_s, _, out = run_child(
            hookconsole("--db", str(Path(tmp) / "file.db"), "ingest", str(log), "--json")
        )
        from_file = orjson.loads(out)
    assert summary["accepted"] == attempts and summary["rejected"] == 0, summary
    report(
        "ingest from Convoy (sqlite)",
        attempts=f"{attempts:,}",
        convoy_rate=f"{attempts / convoy_s:,.0f}/s (target >= 30,000/s)",
        jsonl_rate=f"{from_file['accepted'] / file_s:,.0f}/s",
        ratio=f"{convoy_s / file_s * from_file['accepted'] / attempts:.2f}x the JSON Lines ingest (per attempt)",
        peak_rss=f"{rss} MB (target <= 300)",
    )


if __name__ == "__main__":
    main()
