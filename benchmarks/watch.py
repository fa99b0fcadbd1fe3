"""`watch`: a /metrics scrape and one rule evaluation on a 7-day and a 35-day store of the same traffic density.

The scrape (the full exposition text, as the HTTP handler builds it) folds the attempts that arrived since the
previous one into the store's running totals and reads them, the undelivered index, the outbox and the alert state,
so a 5x longer history should cost about the same: target ratio <= 1.2 for a steady scrape (the first one is shown
too). One evaluation of a success-rate rule over every endpoint: target <= 50 ms on the 35-day store.
Both run with the clock at the end of the logs, so the windows hold traffic.
A scrape right after late data arrives (attempts from 30 days back, ingested between scrapes) costs what arrived,
not the history: on a 1-year store as on a 7-day one of the same density, target ratio <= 1.5 and <= 50 ms.
`watch` CPU per evaluation: the process CPU time of evaluating the six kinds of rules on the 35-day store.
Evaluating many rules, each with a stored state per endpoint, grows linearly: 4x the rules (2,000 then 8,000, on a
small copy of a store) should take about 4x as long, the second and later evaluations included (target ratio <= 5).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from prometheus_client.exposition import generate_latest

from benchmarks.common import END_MS, history_stores, report, sample_log, sqlite_store_from
from console.domain.times import MS_PER_DAY, format_ms
from console.ingest.service import ingest_sources
from console.store import open_store
from console.watch.evaluate import evaluate
from console.watch.metrics import make_registry
from console.watch.rules import parse_alerts
from console.watch.state import run_evaluation

RULES = parse_alerts(
    '[[rule]]\nname = "endpoint-down"\nmetric = "success_rate"\nbelow = 0.5\nwindow = "5m"\nmin_attempts = 5\n'
).rules
ALL_RULES = parse_alerts(
    '[[rule]]\nname = "down"\nmetric = "success_rate"\nbelow = 0.5\n\n'
    '[[rule]]\nname = "first"\nmetric = "first_attempt_success_rate"\nbelow = 0.8\nwindow = "15m"\n\n'
    '[[rule]]\nname = "backlog"\nmetric = "undelivered"\nabove = 100\n\n'
    '[[rule]]\nname = "stuck"\nmetric = "oldest_undelivered_age_s"\nabove = 3600\n\n'
    '[[rule]]\nname = "slow"\nmetric = "latency_p95_ms"\nabove = 2000\n\n'
    '[[rule]]\nname = "burn"\nkind = "burn_rate"\nslo = 0.999\n'
).rules


def _stores(quick: bool) -> dict[int, Path]:
    if not quick:
        return history_stores()
    return {
        days: sqlite_store_from(sample_log("watch-quick", events=400 * days, days=days), "store")
        for days in (1, 5)
    }


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _many_rules(db: Path) -> None:
    """A later evaluation of 2,000 and of 8,000 always-firing rules over every endpoint, on a copy of `db`."""
    seconds: dict[int, float] = {}
    endpoints = 0
    for count in (2_000, 8_000):
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "store.db"
            shutil.copyfile(db, copy)
            store = open_store(str(copy))
            try:
                rules = parse_alerts(
                    "".join(
                        f'[[rule]]\nname = "r{i}"\nmetric = "success_rate"\nbelow = 1.01\n\n'
                        for i in range(count)
                    )
                ).rules
                first = run_evaluation(store, rules, (), END_MS)  # makes a state per rule and endpoint
                endpoints = len({o.endpoint_id for o in first.observations})
                started = time.perf_counter()
                run_evaluation(store, rules, (), END_MS + 60_000)
                seconds[count] = time.perf_counter() - started
            finally:
                store.close()
    report(
        "watch many rules",
        endpoints=endpoints,
        rules_2000=f"{seconds[2_000] * 1000:.0f} ms",
        rules_8000=f"{seconds[8_000] * 1000:.0f} ms",
        ratio=f"{seconds[8_000] / seconds[2_000]:.2f} (target <= 5)",
    )


def _late_lines(path: Path, round_: int, count: int = 50) -> None:
    """`count` attempts from 30 days before the logs' end: history arriving late."""
    at = format_ms(END_MS - 30 * MS_PER_DAY)
    lines = (
        {
            "event_id": f"evt_late_{os.getpid()}_{round_}_{i}",
            "event_type": "reward.redeemed",
            "endpoint_id": "ep_late",
            "attempt": 1,
            "attempted_at": at,
            "status_code": 200 if i % 4 else 503,
            "latency_ms": 120.0,
            "payload": {"event": "reward.redeemed", "event_id": f"evt_late_{os.getpid()}_{round_}_{i}"},
        }
        for i in range(count)
    )
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def _late_scrape(quick: bool, repeat: int) -> None:
    """A scrape right after late data arrived, on a 7-day and a 1-year store of the same density, measured in
    turns (one round on each store, then the next), so the machine's load falls on both alike."""
    per_day = 50 if quick else 400
    first: dict[int, float] = {}
    samples: dict[int, list[float]] = {7: [], 365: []}
    with tempfile.TemporaryDirectory() as folder:
        stores = {}
        registries = {}
        try:
            for days in samples:
                db = sqlite_store_from(sample_log("watch-year", events=per_day * days, days=days), "store")
                copy = Path(folder) / f"store{days}.db"
                shutil.copyfile(db, copy)
                stores[days] = open_store(str(copy))
                started = time.perf_counter()
                registries[days], _ = make_registry(stores[days], clock=lambda: END_MS)  # seeds the totals
                first[days] = (time.perf_counter() - started) * 1000
            for round_ in range(repeat):
                for days, store in stores.items():
                    late = Path(folder) / f"late{days}_{round_}.jsonl"
                    _late_lines(late, round_)
                    ingest_sources(store, [str(late)])
                    started = time.perf_counter()
                    text = generate_latest(registries[days])
                    samples[days].append(time.perf_counter() - started)
                    assert b'hookconsole_late_attempts_total{endpoint="ep_late"' in text
        finally:
            for store in stores.values():
                store.close()
    median = {days: _median_ms(values) for days, values in samples.items()}
    report(
        "watch scrape after late data",
        store_7d=f"{median[7]:.1f} ms (seeding the store {first[7]:.0f} ms)",
        store_365d=f"{median[365]:.1f} ms (seeding {first[365]:.0f} ms; target <= 50 ms)",
        ratio=f"{median[365] / median[7]:.2f} (target <= 1.5)",
    )


def _cpu_per_evaluation(store_path: Path, days: int, repeat: int) -> None:
    """Process CPU time of one evaluation of the six kinds of rules (what `watch` spends every --every)."""
    store = open_store(str(store_path))
    try:
        evaluate(store, ALL_RULES, END_MS)
        samples = []
        for _ in range(repeat):
            started = time.process_time()
            evaluate(store, ALL_RULES, END_MS)
            samples.append(time.process_time() - started)
    finally:
        store.close()
    cpu_ms = _median_ms(samples)
    report(
        "watch CPU per evaluation",
        six_rules=f"{cpu_ms:.1f} ms CPU on {days}d",
        at_every_10s=f"{cpu_ms / 10_000 * 100:.2f}% of a core",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="small 1-day and 5-day stores, for development")
    args = parser.parse_args(argv)
    paths = _stores(args.quick)
    stores = {days: open_store(str(db)) for days, db in paths.items()}
    small_days, large_days = sorted(stores)
    registries = {}
    cold: dict[int, float] = {}
    for days, store in stores.items():
        registry, _ = make_registry(store, clock=lambda: END_MS)
        started = time.perf_counter()
        text = generate_latest(registry)
        cold[days] = (time.perf_counter() - started) * 1000
        assert b"hookconsole_attempts_total" in text
        registries[days] = registry
    scrape: dict[int, list[float]] = {d: [] for d in stores}
    one_rule: dict[int, list[float]] = {d: [] for d in stores}
    all_rules: dict[int, list[float]] = {d: [] for d in stores}
    endpoints = len({o.endpoint_id for o in evaluate(stores[large_days], RULES, END_MS).observations})
    for _ in range(args.repeat):
        for days, store in stores.items():
            started = time.perf_counter()
            generate_latest(registries[days])
            scrape[days].append(time.perf_counter() - started)
            started = time.perf_counter()
            evaluate(store, RULES, END_MS)
            one_rule[days].append(time.perf_counter() - started)
            started = time.perf_counter()
            evaluate(store, ALL_RULES, END_MS)
            all_rules[days].append(time.perf_counter() - started)
    small, large = _median_ms(scrape[small_days]), _median_ms(scrape[large_days])
    report(
        "watch /metrics scrape",
        **{
            f"store_{small_days}d": f"{small:.1f} ms (first {cold[small_days]:.0f} ms)",
            f"store_{large_days}d": f"{large:.1f} ms (first {cold[large_days]:.0f} ms)",
            "ratio": f"{large / small:.2f} (target <= 1.2)",
        },
    )
    report(
        "watch rule evaluation",
        endpoints=endpoints,
        one_rule=f"{_median_ms(one_rule[large_days]):.1f} ms on {large_days}d (target <= 50)",
        six_rules=f"{_median_ms(all_rules[large_days]):.1f} ms",
        ratio=f"{_median_ms(one_rule[large_days]) / _median_ms(one_rule[small_days]):.2f}",
    )
    _many_rules(paths[small_days])
    _cpu_per_evaluation(paths[large_days], large_days, args.repeat)
    _late_scrape(args.quick, max(5, args.repeat // 3))


if __name__ == "__main__":
    main()
