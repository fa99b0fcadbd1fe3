"""`replay --dry-run` of a small and of a large selection: the command's wall time and peak RSS. A plan holds
what it shows (counts and preview in SQL, its first items), so the large one should take about the memory of
the small one (target: <= 300 MB; holding every item took about 1.2 GB for 740k deliveries).

The selections are the 35-day store's deliveries, all forced, superseded ones skipped (the heaviest preview):
the first 50,000 and all of them (about 740k), on SQLite and on PostgreSQL (the store copied into a schema of
the test server, kept between runs). `--large` measures the store with 4x the traffic over the same 35 days
instead (about 3M deliveries, SQLite; built and cached on first use, which takes several minutes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import (
    EVENTS_PER_DAY,
    history_postgres,
    history_stores,
    hookconsole,
    report,
    run_child,
    sample_log,
    sqlite_store_from,
)

SMALL = 50_000
SELECTION = ("replay", "--status", "any", "--force", "--skip-superseded", "--dry-run")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="the store with 4x the traffic (slow)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL row")
    args = parser.parse_args(argv)
    if args.large:
        db = sqlite_store_from(sample_log("stats", events=4 * EVENTS_PER_DAY * 35, days=35), "store")
        _row("sqlite, 4x traffic", str(db), db.parent / "endpoints.toml")
        return
    db = history_stores()[35]
    _row("sqlite", str(db), db.parent / "endpoints.toml")
    if not args.no_postgres:
        _row("postgresql", history_postgres(), db.parent / "endpoints.toml")


def _row(name: str, url: str, endpoints: Path) -> None:
    runs = {}
    for label, extra in (("small", ("--limit", str(SMALL))), ("large", ())):
        seconds, rss_mb, out = run_child(
            hookconsole("--db", url, "--endpoints", str(endpoints), *SELECTION, *extra)
        )
        first = next(line for line in out.splitlines() if line.startswith("replay plan:"))
        to_send, skipped = (int(part.split()[0].replace(",", "")) for part in first[13:].split(", ")[:2])
        runs[label] = (to_send + skipped, seconds, rss_mb)
    (small, small_s, small_mb), (large, large_s, large_mb) = runs["small"], runs["large"]
    report(
        f"replay --dry-run peak RSS, small vs large selection ({name})",
        deliveries=f"{small:,} -> {large:,} ({large / small:.0f}x)",
        time=f"{small_s:.1f} s -> {large_s:.1f} s",
        peak_rss=f"{small_mb} MB -> {large_mb} MB (target <= 300)",
    )


if __name__ == "__main__":
    main()
