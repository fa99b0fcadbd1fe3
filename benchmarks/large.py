"""Large stores (`make bench-large`): the reading commands on a 1M-attempt store and on one with `--scale` times
its traffic over the same 7 days (default 15: 15M attempts), on SQLite and on PostgreSQL. For each command: wall
time, client CPU and peak RSS on both sizes and their ratio, beside the targets: for 4x the traffic, `report`
<= 1.5x the time and <= 300 MB, `stats --json` <= 1.5x, `whatif` <= 5x, `replay --dry-run` <= 300 MB; on the
15M PostgreSQL store `report --since 7d` <= 5 s and `stats --json` <= 1 s. `--prune` then prunes 30% of each
large store for real (prune of 30% <= 2 min, space given back) and re-ingests what went on the next run;
`--sections` times each section of `report --since 7d` on both sizes (benchmarks/report_sections.py).

The stores are built from day logs in benchmarks/.data/large: each day holds `scale` parts, each part a sample
log of ~143k attempts over that day (its own seed; the incidents of each day the same in every part), so the
1M store is the first part of each day and the large store holds it plus more of the same traffic. The parts
are generated and ingested one at a time (bounded memory) and the store records how many it holds (meta key
`bench_large_parts`), so an interrupted build resumes where it stopped (re-ingesting a part is idempotent).
Every part draws its users from the same ids, so more traffic means more events per user (as a platform
growing its volume, not its users). The CPU column is the command's own: on PostgreSQL the server's is not in
it, so there the wall time is the figure. At 15x the build holds ~8 GB of logs, a ~9 GB SQLite file and a
~13 GB schema, and takes about an hour on two cores."""

from __future__ import annotations

import argparse
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from benchmarks.common import DATA, END_MS, PG_URL, hookconsole
from benchmarks.report_sections import print_sections
from console.domain.times import MS_PER_DAY, MS_PER_MINUTE, format_ms
from console.ingest.service import ingest_sources
from console.sandbox.sample import generate
from console.store import open_store

DAYS = 7
EVENTS_PER_PART = 24_500  # ~143k attempts (5.8 per event): a day of the 1M-attempt store
FOLDER = DATA / "large"
MARK = "bench_large_parts"
SVIX = "5s,5m,30m,2h,5h,10h,10h"
TIMEOUT_S = 900  # a command still running after this is killed and shown as such


def _part_log(day: int, part: int) -> Path:
    """The log of one part of one day (cached; generated on first use)."""
    seed = 7 + day * 50 + part  # distinct modulo 1000, so event ids never collide across parts
    folder = FOLDER / f"day{day}-part{part}"
    path = folder / "deliveries.jsonl"
    if not path.exists():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        end = END_MS - (DAYS - 1 - day) * MS_PER_DAY
        summary = generate(folder, events=EVENTS_PER_PART, days=1, seed=seed, end_ms=end)
        print(f"  (generated {summary.attempts:,} attempts in {time.perf_counter() - started:.0f} s: {path})")
    return path


def _parts(scale: int) -> list[tuple[int, int]]:
    return [(day, part) for day in range(DAYS) for part in range(scale)]


def _sqlite_path(scale: int) -> Path:
    return FOLDER / f"x{scale}.db"


def _pg_schema(scale: int) -> str:
    return f"hc_bench_large_x{scale}"


def _pg_url(scale: int) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{_pg_schema(scale)}"


def _done(kind: str, scale: int) -> int:
    """How many parts the store holds (0 when it does not exist yet)."""
    if kind == "sqlite":
        if not _sqlite_path(scale).exists():
            return 0
        with sqlite3.connect(_sqlite_path(scale)) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (MARK,)).fetchone()
        return int(row[0]) if row else 0
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        schema = _pg_schema(scale)
        if not conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'",
            (schema,),
        ).fetchone():
            return 0
        row = conn.execute(f"SELECT value FROM {schema}.meta WHERE key = %s", (MARK,)).fetchone()
    return int(row[0]) if row else 0


def _mark(kind: str, scale: int, parts: int) -> None:
    if kind == "sqlite":
        with sqlite3.connect(_sqlite_path(scale)) as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (MARK,))
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (MARK, str(parts)))
        return
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        schema = _pg_schema(scale)
        conn.execute(f"DELETE FROM {schema}.meta WHERE key = %s", (MARK,))
        conn.execute(f"INSERT INTO {schema}.meta (key, value) VALUES (%s, %s)", (MARK, str(parts)))


def build(kind: str, scale: int) -> str:
    """The store of `scale` parts a day, built or completed from where an earlier build stopped; its URL."""
    url = str(_sqlite_path(scale)) if kind == "sqlite" else _pg_url(scale)
    if kind == "postgresql":
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_pg_schema(scale)}")
    parts = _parts(scale)
    done = _done(kind, scale)
    if done >= len(parts):
        return url
    FOLDER.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for index in range(done, len(parts)):
        log = _part_log(*parts[index])
        store = open_store(url)
        summary = ingest_sources(store, [str(log)])
        store.close()
        _mark(kind, scale, index + 1)
        print(
            f"  ({kind} x{scale}: part {index + 1}/{len(parts)}, {summary.accepted:,} attempts,"
            f" {time.perf_counter() - started:.0f} s so far)",
            flush=True,
        )
    if kind == "postgresql":  # as autovacuum would leave a settled store (the test server runs without it)
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"SET search_path TO {_pg_schema(scale)}")
            conn.execute("VACUUM ANALYZE")
    return url


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float
    rss_mb: int
    killed: bool

    def __str__(self) -> str:
        wall = f">{self.seconds:.0f} s (killed)" if self.killed else f"{self.seconds:.1f} s"
        return f"{wall}, cpu {self.cpu:.1f} s, {self.rss_mb} MB"


def measure(args: list[str], timeout: float = TIMEOUT_S) -> Run:
    """Run a command in a fresh helper process: wall time, the command's CPU (user + system) and peak RSS."""
    probe = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter(); killed = 0\n"
        "try:\n"
        "    p = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))\n"
        "    code = p.returncode; sys.stderr.write(p.stderr[-2000:])\n"
        "except subprocess.TimeoutExpired:\n"
        "    code = 0; killed = 1\n"
        "d = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(d, u.ru_utime + u.ru_stime, u.ru_maxrss, code, killed)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(timeout), *args], capture_output=True, text=True, check=True
    )
    seconds, cpu, rss_kb, code, killed = done.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({code}): {done.stderr[-2000:]}")
    return Run(float(seconds), float(cpu), int(rss_kb) // 1024, killed == "1")


def commands(url: str, endpoints: Path, out: Path) -> dict[str, list[str]]:
    """Each reading command over the stores' last day or week (the logs end at END_MS)."""
    day = ("--since", format_ms(END_MS - MS_PER_DAY), "--until", format_ms(END_MS))
    week = ("--since", format_ms(END_MS - DAYS * MS_PER_DAY), "--until", format_ms(END_MS))
    base = ("--db", url, "--endpoints", str(endpoints))
    return {
        "stats 24h --json": hookconsole(*base, "stats", *day, "--json"),
        "stats 7d --json": hookconsole(*base, "stats", *week, "--json"),
        "stats 24h --no-gaps": hookconsole(*base, "stats", *day, "--json", "--no-gaps"),
        "report --since 24h": hookconsole(*base, "report", *day, "--out", str(out / "day.html")),
        "report --since 7d": hookconsole(*base, "report", *week, "--out", str(out / "week.html")),
        "replay --dry-run (undelivered)": hookconsole(
            *base, "replay", "--status", "undelivered", "--dry-run"
        ),
        "whatif --since 7d": hookconsole(*base, "whatif", *week, "--schedule", SVIX, "--json"),
        "prune --dry-run (30%)": hookconsole(*base, "prune", "--older-than", _prune_age(), "--dry-run"),
    }


def _prune_age() -> str:
    """`--older-than` that selects the deliveries of the first 30% of the 7 days (prune reads it from now)."""
    cut = END_MS - DAYS * MS_PER_DAY + int(0.3 * DAYS * MS_PER_DAY)
    return f"{(int(time.time() * 1000) - cut) // MS_PER_MINUTE}m"


@dataclass(frozen=True)
class Target:
    """Issue 24's targets for one command: time ratio for 4x the traffic, peak RSS of the large store's run,
    wall time on the 15M PostgreSQL store."""

    ratio: float | None = None
    rss_mb: int | None = None
    seconds_15m_pg: float | None = None

    def verdict(self, kind: str, scale: int, small: Run, large: Run) -> str:
        """Each target that applies at this scale, with `ok` or `MISSED`."""
        parts = []
        if self.ratio is not None:
            if scale == 4:
                met = not large.killed and large.seconds <= self.ratio * small.seconds
                parts.append(f"time <= {self.ratio:g}x {'ok' if met else 'MISSED'}")
            else:
                parts.append(f"time <= {self.ratio:g}x (for 4x)")
        if self.rss_mb is not None:
            parts.append(f"<= {self.rss_mb} MB {'ok' if large.rss_mb <= self.rss_mb else 'MISSED'}")
        if self.seconds_15m_pg is not None and kind == "postgresql" and scale >= 15:
            met = not large.killed and large.seconds <= self.seconds_15m_pg
            parts.append(f"15M <= {self.seconds_15m_pg:g} s {'ok' if met else 'MISSED'}")
        return "; ".join(parts) or "-"


TARGETS = {
    "stats 24h --json": Target(ratio=1.5, seconds_15m_pg=1),
    "stats 7d --json": Target(ratio=1.5, seconds_15m_pg=1),
    "report --since 24h": Target(ratio=1.5, rss_mb=300),
    "report --since 7d": Target(ratio=1.5, rss_mb=300, seconds_15m_pg=5),
    "whatif --since 7d": Target(ratio=5),
    "replay --dry-run (undelivered)": Target(rss_mb=300),
}


def _attempts(url: str) -> int:
    store = open_store(url)
    try:
        with store.read() as conn:
            return int(conn.execute(text("SELECT count(*) FROM delivery_attempt")).scalar_one())
    finally:
        store.close()


def _size(kind: str, scale: int) -> int:
    """The store's size on disk in bytes."""
    if kind == "sqlite":
        return _sqlite_path(scale).stat().st_size
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
            (_pg_schema(scale),),
        ).fetchone()
    return int(row[0]) if row else 0


def prune(kind: str, scale: int, url: str, endpoints: Path) -> None:
    """Prune 30% of the store for real, with --vacuum; the next build re-ingests what went."""
    before = _size(kind, scale)
    run = measure(
        hookconsole(
            *("--db", url, "--endpoints", str(endpoints), "prune", "--older-than", _prune_age()),
            *("--include-undelivered", "--yes", "--vacuum"),
        ),
        timeout=3 * TIMEOUT_S,
    )
    _mark(kind, scale, 0)
    after = _size(kind, scale)
    print(
        f"  {kind} x{scale}: prune 30% --vacuum: {run} (target <= 2 min);"
        f" size {before / 1e6:,.0f} MB -> {after / 1e6:,.0f} MB",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=15, help="the large store's traffic in 1M stores")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), action="append", help="default: both")
    parser.add_argument("--build-only", action="store_true", help="build (or complete) the stores and stop")
    parser.add_argument("--prune", action="store_true", help="then prune 30%% of each large store for real")
    parser.add_argument("--sections", action="store_true", help="then time each section of report --since 7d")
    parser.add_argument("--only", action="append", help="only this command (repeatable), e.g. 'whatif'")
    args = parser.parse_args(argv)
    kinds = args.store or ["sqlite", "postgresql"]
    endpoints = _part_log(0, 0).parent / "endpoints.toml"
    for kind in kinds:
        urls = {scale: build(kind, scale) for scale in (1, args.scale)}
        if args.build_only:
            continue
        print(f"{kind}: 1M-attempt store vs {args.scale}x its traffic over the same {DAYS} days", flush=True)
        for scale in (1, args.scale):
            size = _size(kind, scale) / 1e6
            print(f"  x{scale}: {_attempts(urls[scale]):,} attempts, {size:,.0f} MB on disk", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            small, large = (commands(urls[s], endpoints, Path(tmp)) for s in (1, args.scale))
            for name, command in small.items():
                if args.only and not any(word in name for word in args.only):
                    continue
                a, b = measure(command), measure(large[name])
                ratio = "-" if a.killed or b.killed else f"{b.seconds / a.seconds:.2f}x"
                verdict = TARGETS.get(name, Target()).verdict(kind, args.scale, a, b)
                print(
                    f"  {name:32} 1M: {a} | x{args.scale}: {b} | time {ratio},"
                    f" cpu {b.cpu / max(a.cpu, 0.01):.2f}x, rss {b.rss_mb / max(a.rss_mb, 1):.2f}x"
                    f" | target {verdict}",
                    flush=True,
                )
        if args.sections:
            for scale in (1, args.scale):
                print_sections(f"{kind} x{scale}", urls[scale], DAYS)
        if args.prune:
            prune(kind, args.scale, urls[args.scale], endpoints)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"  (the builder's own peak RSS: {peak} MB)", flush=True)


if __name__ == "__main__":
    main()
