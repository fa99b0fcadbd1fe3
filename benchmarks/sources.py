"""Reading a Svix server's tables against ingesting the same attempts from a JSON Lines file.

The ingest benchmark's log (~1M attempts; `--small` for ~200k) is written into Svix-shaped tables on the test
PostgreSQL (schema hc_bench_svix, cached while its row count matches), then `hookconsole ingest
svix+postgresql://...` and `hookconsole ingest deliveries.jsonl` each fill a fresh SQLite store.
Target: the Svix read takes <= 1.25x the file ingest, peak RSS <= 300 MB.
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

SCHEMA = "hc_bench_svix"
DDL = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
SET search_path TO {SCHEMA};
CREATE TABLE application (id varchar COLLATE "C" PRIMARY KEY, org_id varchar NOT NULL, uid varchar, name varchar NOT NULL);
CREATE TABLE endpoint (id varchar COLLATE "C" PRIMARY KEY, app_id varchar NOT NULL, url varchar NOT NULL, uid varchar,
  key bytea NOT NULL DEFAULT '', disabled boolean NOT NULL DEFAULT false, deleted boolean NOT NULL DEFAULT false);
CREATE TABLE message (id varchar COLLATE "C" PRIMARY KEY, created_at timestamptz NOT NULL, org_id varchar NOT NULL,
  app_id varchar NOT NULL, event_type varchar COLLATE "C" NOT NULL, uid varchar, payload jsonb, channels jsonb,
  expiration timestamptz NOT NULL DEFAULT now() + interval '90 days');
CREATE TABLE messagecontent (id varchar COLLATE "C" PRIMARY KEY, created_at timestamptz NOT NULL, payload bytea,
  expiration timestamptz NOT NULL DEFAULT now() + interval '90 days');
CREATE TABLE messageattempt (id varchar COLLATE "C" PRIMARY KEY, created_at timestamptz NOT NULL, msg_id varchar NOT NULL,
  msg_dest_id varchar, endp_id varchar NOT NULL, url varchar NOT NULL, status smallint NOT NULL,
  response_status_code smallint NOT NULL, response text NOT NULL DEFAULT '', ended_at timestamptz,
  trigger_type smallint NOT NULL, response_duration_ms bigint, attempt_number smallint NOT NULL DEFAULT -1,
  next_attempt timestamptz);
"""


def _stamp(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}+00"


def _rows(log: Path, table: str) -> Iterator[tuple[object, ...]]:
    """The rows of one Svix table, streamed from the log (one pass per table keeps memory flat)."""
    seq = 0
    with log.open("rb") as lines:
        for raw in lines:
            line = orjson.loads(raw)
            at = parse_rfc3339_ms(line["attempted_at"])
            if table == "message" and "payload" in line:
                yield (line["event_id"], _stamp(at), "org_1", "app_1", line["event_type"])
            elif table == "messagecontent" and "payload" in line:
                yield (line["event_id"], _stamp(at), orjson.dumps(line["payload"]))
            elif table == "messageattempt":
                seq += 1
                code, latency = line.get("status_code"), line.get("latency_ms")
                manual = line.get("trigger") == "manual"
                yield (
                    f"atmpt_{at:013d}{seq:07d}",
                    _stamp(at),
                    line["event_id"],
                    line["endpoint_id"],
                    line.get("endpoint_url") or "https://example.com",
                    0 if code is not None and 200 <= code < 300 else 2,
                    code or 0,
                    line.get("error") or "",
                    _stamp(at),
                    1 if manual else 0,
                    None if latency is None else round(latency),
                    -1 if manual else line["attempt"] - 1,  # Svix numbers from 0
                )


COLUMNS = {
    "message": "id, created_at, org_id, app_id, event_type",
    "messagecontent": "id, created_at, payload",
    "messageattempt": "id, created_at, msg_id, endp_id, url, status, response_status_code, response, ended_at, "
    "trigger_type, response_duration_ms, attempt_number",
}


def svix_tables(log: Path, attempts_expected: int) -> None:
    """Write the log's attempts into Svix tables (skipped when they hold that many attempts already)."""
    fill_tables(
        "Svix",
        f"{SCHEMA}.messageattempt",
        attempts_expected,
        DDL + "INSERT INTO application VALUES ('app_1', 'org_1', 'rewards', 'rewards');",
        COLUMNS,
        lambda table: _rows(log, table),
        (
            "INSERT INTO endpoint (id, app_id, url) SELECT DISTINCT endp_id, 'app_1', 'https://example.com' "
            "FROM messageattempt",
            "CREATE INDEX ix_messageattempt_per_msg_no_status ON messageattempt (msg_id, id DESC)",
            "ANALYZE",
        ),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="~200k attempts instead of ~1M")
    args = parser.parse_args(argv)
    events = 37_000 if args.small else 185_000
    log = sample_log("ingest", events=events, days=7)
    attempts = sum(1 for _ in log.open("rb"))
    svix_tables(log, attempts)
    url = f"svix+postgresql://postgres@127.0.0.1:5432/test?schema={SCHEMA}"
    with tempfile.TemporaryDirectory() as tmp:
        svix_s, svix_rss, out = run_child(
            hookconsole("--db", str(Path(tmp) / "svix.db"), "ingest", url, "--json")
        )
        svix = orjson.loads(out)
        file_s, file_rss, out = run_child(
            hookconsole("--db", str(Path(tmp) / "file.db"), "ingest", str(log), "--json")
        )
        from_file = orjson.loads(out)
    assert svix["accepted"] == from_file["accepted"] == attempts, (svix, from_file)
    report(
        "ingest from Svix (sqlite)",
        attempts=f"{attempts:,}",
        svix_rate=f"{attempts / svix_s:,.0f}/s (target >= 30,000/s)",
        jsonl_rate=f"{attempts / file_s:,.0f}/s",
        ratio=f"{svix_s / file_s:.2f}x the JSON Lines ingest (target <= 1.25)",
        peak_rss=f"{svix_rss} MB (target <= 300; JSON Lines ingest {file_rss} MB)",
    )


if __name__ == "__main__":
    main()
