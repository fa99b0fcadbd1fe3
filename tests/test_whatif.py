"""What-if retry policies on a small crafted history, every figure checked by hand, on both stores.

Health of ep_a per minute (from its attempts): 10:00 down (1 of 2 succeeded: not most), 10:02 up, 10:05 down,
10:10 up, 10:20 up, 10:30 down; minutes in between keep the last state. ep_b: 10:00 down, nothing later.
The recorded history ends at 10:31.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.analytics.whatif import run_whatif
from console.domain.times import MS_PER_MINUTE, parse_rfc3339_ms
from console.domain.whatif import PolicyFigures, parse_schedule
from console.ingest.service import ingest_sources
from console.report.whatif_section import delay_text
from console.store import Store
from tests.helpers import log_line, run, write_jsonl


def T(clock: str) -> str:
    return f"2026-05-05T{clock}Z"


HISTORY = [
    log_line("evt_1", "ep_a", 1, attempted_at=T("10:00:00"), status_code=500),
    log_line("evt_2", "ep_a", 1, attempted_at=T("10:00:30"), status_code=200),
    log_line("evt_3", "ep_a", 1, attempted_at=T("10:02:00"), status_code=200),
    log_line("evt_4", "ep_a", 1, attempted_at=T("10:05:00"), status_code=500),
    log_line("evt_5", "ep_a", 1, attempted_at=T("10:10:00"), status_code=200),
    log_line(
        "evt_1", "ep_a", 2, attempted_at=T("10:20:00"), status_code=200
    ),  # observed: delivered after 20m
    log_line("evt_4", "ep_a", 2, attempted_at=T("10:30:00"), status_code=500),  # observed: never delivered
    log_line("evt_6", "ep_b", 1, attempted_at=T("10:00:00.100"), status_code=503),
    log_line("evt_7", "ep_b", 1, attempted_at=T("10:00:00.900"), status_code=503),
]
SINCE = parse_rfc3339_ms(T("09:00:00"))
UNTIL = parse_rfc3339_ms(T("11:00:00"))


@pytest.fixture
def history(store: Store, tmp_path: Path) -> Store:
    ingest_sources(store, [str(write_jsonl(tmp_path / "h.jsonl", HISTORY))])
    return store


def figures(f: PolicyFigures) -> tuple[object, ...]:
    return (
        f.deliveries,
        f.first_failed,
        f.delivered,
        f.exhausted,
        f.pending,
        f.delay_p50_ms,
        f.delay_p95_ms,
        f.peak_per_s,
        f.attempts,
    )


def test_schedules_against_the_crafted_history(history: Store) -> None:
    schedules = [parse_schedule(s) for s in ("1m,5m", "2m", "30m")]
    result = run_whatif(history, schedules, SINCE, UNTIL, page=2)  # pages of 2: several pages
    assert result.history_end_ms == parse_rfc3339_ms(T("10:31:00"))
    by_label = {p.label: p for p in result.policies}
    assert list(by_label) == ["observed", "1m,5m", "2m", "30m"]
    m = MS_PER_MINUTE

    def endpoint(label: str, endpoint_id: str) -> tuple[object, ...]:
        return next(figures(f) for f in by_label[label].endpoints if f.endpoint_id == endpoint_id)

    # observed: evt_1 delivered 20 m after its first attempt, evt_4 never; ep_b's two failures in one second.
    assert endpoint("observed", "ep_a") == (5, 2, 4, 1, 0, 20 * m, 20 * m, 1, 7)
    assert endpoint("observed", "ep_b") == (2, 2, 0, 2, 0, None, None, 2, 2)
    # 1m,5m: evt_1 retries 10:01 (down, as 10:00) and 10:06 (down, as 10:05): exhausted;
    # evt_4 retries 10:06 (down) and 10:11 (up, as 10:10): delivered 6 m after its first attempt.
    # ep_b retries both at 10:01 and 10:06, in the same second each time: peak 2, both exhausted.
    # evt_1's second retry and evt_4's first both fall at 10:06:00: a peak of 2 attempts in one second.
    assert endpoint("1m,5m", "ep_a") == (5, 2, 4, 1, 0, 6 * m, 6 * m, 2, 9)
    assert endpoint("1m,5m", "ep_b") == (2, 2, 0, 2, 0, None, None, 2, 6)
    # 2m: evt_1 retries at 10:02 (up): delivered after 2 m; evt_4 at 10:07 (down): exhausted. evt_1's retry
    # lands in the same second as evt_3's first attempt: peak 2.
    assert endpoint("2m", "ep_a") == (5, 2, 4, 1, 0, 2 * m, 2 * m, 2, 7)
    # 30m: evt_1 at 10:30 (down): exhausted; evt_4's retry at 10:35 is after the history: pending, not sent.
    assert endpoint("30m", "ep_a") == (5, 2, 3, 1, 1, None, None, 1, 6)
    assert endpoint("30m", "ep_b") == (2, 2, 0, 2, 0, None, None, 2, 4)
    total = by_label["1m,5m"].total
    assert figures(total) == (7, 4, 4, 3, 0, 6 * m, 6 * m, 2, 15)
    assert figures(by_label["observed"].total) == (7, 4, 4, 3, 0, 20 * m, 20 * m, 2, 9)


def test_percentiles_of_the_added_delay(history: Store, tmp_path: Path) -> None:
    # Ten failures at ep_c, one a minute from 10:00 to 10:09; extra successes make 10:01 and 10:03 up.
    lines = []
    for n in range(10):
        lines.append(log_line(f"evt_c{n}", "ep_c", 1, attempted_at=T(f"10:0{n}:00"), status_code=500))
    # Health of ep_c: minutes 10:00..10:09 down (the failures); make 10:01, 10:03 up by extra successes there.
    for n, minute in enumerate(["01", "03"]):
        for k in range(3):
            lines.append(
                log_line(f"evt_ok{n}{k}", "ep_c", 1, attempted_at=T(f"10:{minute}:3{k}"), status_code=200)
            )
    ingest_sources(history, [str(write_jsonl(tmp_path / "c.jsonl", lines))])
    result = run_whatif(history, [parse_schedule("1m,1m,1m")], SINCE, UNTIL, endpoint_ids=("ep_c",))
    (c,) = result.policies[1].endpoints
    # 10:00 -> 10:01 up (1 m). 10:01 is up: evt_c1 first attempt failed there anyway, retries 10:02 (down),
    # 10:03 (up: 2 m). 10:02 -> 10:03 up (1 m). 10:03 -> 10:04 down, 10:05 down, 10:06 down: exhausted.
    # 10:04..10:09: every later minute is down (10:09 carries on): exhausted. Delays 1m, 2m, 1m: the
    # nearest-rank p50 is the 2nd of 3 (1 m), the p95 the 3rd (2 m).
    assert (c.first_failed, c.delivered - 6, c.exhausted) == (10, 3, 7)
    assert (c.delay_p50_ms, c.delay_p95_ms) == (MS_PER_MINUTE, 2 * MS_PER_MINUTE)


def test_cli_whatif_json_and_table(history: Store, store_url: str) -> None:
    args = ["--db", store_url, "whatif", "--since", T("09:00:00"), "--until", T("11:00:00")]
    done = run(*args, "--schedule", "1m,5m", "--schedule", "2m", "--endpoint", "ep_a", "--json")
    assert done.exit_code == 0, done.stderr
    data = orjson.loads(done.stdout)
    assert [p["schedule"] for p in data["policies"]] == ["observed", "1m,5m", "2m"]
    first = data["policies"][1]
    assert first["retry_delays_s"] == [60.0, 300.0]
    assert first["total"]["delivered"] == 4 and first["total"]["added_delay_s"] == {
        "p50": 360.0,
        "p95": 360.0,
    }
    assert [e["endpoint_id"] for e in first["endpoints"]] == ["ep_a"]
    assert "Retry-After" in data["retry_after"]
    text = run(*args, "--schedule", "1m,5m")
    assert text.exit_code == 0, text.stderr
    assert "1m,5m" in text.stdout and "ep_b" in text.stdout and "Retry-After" in text.stdout


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("5s,,5m", "comma-separated"),
        ("5s,soon", "retry 2 of"),
        ("0s", "longer than 0"),
        ("20d,20d", "30 days"),
    ],
)
def test_cli_refuses_a_bad_schedule(history: Store, store_url: str, schedule: str, message: str) -> None:
    done = run("--db", store_url, "whatif", "--schedule", schedule)
    assert done.exit_code == 2
    assert "--schedule" in done.stderr and message in done.stderr


def test_report_includes_the_comparison_with_whatifs_figures(
    history: Store, store_url: str, tmp_path: Path
) -> None:
    """`report --whatif-schedule` adds the table `whatif` prints: the same figures as `whatif --json`."""
    window = ["--since", T("09:00:00"), "--until", T("11:00:00")]
    schedules = ["--schedule", "1m,5m", "--schedule", "30m"]
    expected = orjson.loads(run("--db", store_url, "whatif", *window, *schedules, "--json").stdout)
    out = tmp_path / "r.html"
    done = run(
        "--db",
        store_url,
        "report",
        *window,
        "--whatif-schedule",
        "1m,5m",
        "--whatif-schedule",
        "30m",
        "--out",
        str(out),
        "--plotlyjs",
        "cdn",
    )
    assert done.exit_code == 0, done.stderr
    page = out.read_text()
    assert page.count("<h2>What-if retry schedules</h2>") == 1
    body = page.split("<h2>What-if retry schedules</h2>", 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    shown = [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]

    def delay(seconds: float | None) -> str:
        return delay_text(None if seconds is None else round(seconds * 1000))

    def row(label: str, f: dict[str, Any]) -> list[str]:
        return [
            label,
            f["endpoint_id"],
            *(
                f"{f[k]:,}"
                for k in ("deliveries", "first_attempt_failed", "delivered", "exhausted", "pending")
            ),
            delay(f["added_delay_s"]["p50"]),
            delay(f["added_delay_s"]["p95"]),
            f"{f['peak_attempts_per_s']:,}",
            f"{f['attempts']:,}",
        ]

    policies = expected["policies"]
    assert [p["schedule"] for p in policies] == ["observed", "1m,5m", "30m"]
    wanted = [row(p["schedule"], f) for p in policies for f in p["endpoints"]]
    wanted += [row(p["schedule"], p["total"]) for p in policies]
    assert shown == wanted and len(shown) == 9  # three policies x (two endpoints + all)
    plain = tmp_path / "plain.html"
    assert run("--db", store_url, "report", *window, "--out", str(plain), "--plotlyjs", "cdn").exit_code == 0
    assert "What-if" not in plain.read_text()  # only when asked
    bad = run("--db", store_url, "report", "--whatif-schedule", "5s,soon", "--out", str(tmp_path / "x.html"))
    assert bad.exit_code == 2 and "--whatif-schedule" in bad.stderr and "retry 2 of '5s,soon'" in bad.stderr
