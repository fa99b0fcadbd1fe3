"""The replay's impact preview and its ordering safety, on SQLite and PostgreSQL: superseded events found on
crafted histories (a reversal after a redemption, out-of-order arrivals, user-keyed events), the figures
checked by hand, `--skip-superseded` recording why, and `--ordered` observed at a real receiver."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import inspect

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ItemState, ReplaySelection
from console.domain.times import parse_rfc3339_ms
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.replay.drain import OVERHEAD_S
from console.replay.impact_view import drain_time
from console.replay.service import ReplayService
from console.store import Store, open_store
from tests.helpers import log_line, replay_cli, run, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

SPEC = EndpointSpec("ep_std", extra={"rate_per_s": 2, "max_in_flight": 1})
OTHER = EndpointSpec("ep_gh", "github", ("github-secret",))


def event(
    event_id: str,
    event_type: str,
    occurred: str,
    attempted: str,
    status: int | None,
    *,
    user: str | None,
    reward: str | None,
    amount: Any = ...,
    currency: str | None = None,
    endpoint: str = "ep_std",
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event": event_type,
        "event_id": event_id,
        "timestamp": f"2026-05-05T{occurred}Z",
    }
    for key, value in (("user_id", user), ("reward_id", reward), ("amount", amount), ("currency", currency)):
        if value is not None and value is not ...:
            payload[key] = value
    return log_line(
        event_id,
        endpoint,
        1,
        event_type=event_type,
        attempted_at=f"2026-05-05T{attempted}Z",
        status_code=status,
        payload=payload,
    )


# To send at ep_std (undelivered): red, b, late, u1, o. Superseded: red (by rev), late (by early), u1 (by u2).
HISTORY = [
    # A reversal delivered after the redemption failed: replaying the redemption would undo the reversal.
    event(
        "evt_red",
        "reward.redeemed",
        "10:00:00",
        "10:00:00",
        503,
        user="u1",
        reward="r1",
        amount=500,
        currency="INR",
    ),
    event(
        "evt_rev",
        "reward.reversed",
        "10:05:00",
        "10:05:00",
        200,
        user="u1",
        reward="r1",
        amount=500,
        currency="INR",
    ),
    # The older event was delivered, the newer one failed: nothing stale to protect.
    event(
        "evt_a",
        "reward.issued",
        "10:00:00",
        "10:00:00",
        200,
        user="u2",
        reward="r2",
        amount=1,
        currency="INR",
    ),
    event(
        "evt_b",
        "reward.redeemed",
        "10:10:00",
        "10:10:00",
        503,
        user="u2",
        reward="r2",
        amount="250.50",
        currency="INR",
    ),
    # Out of order: `late` occurred first but arrived (was first attempted) after `early`, which was delivered.
    event(
        "evt_early",
        "reward.redeemed",
        "09:30:00",
        "09:30:00",
        200,
        user="u3",
        reward="r3",
        amount=5,
        currency="EUR",
    ),
    event(
        "evt_late",
        "reward.issued",
        "09:00:00",
        "11:00:00",
        503,
        user="u3",
        reward="r3",
        amount=100,
        currency="EUR",
    ),
    # No reward id: keyed by the user; a reward event of the same user is another key.
    event(
        "evt_u1",
        "user.updated",
        "10:00:00",
        "10:00:00",
        503,
        user="u9",
        reward=None,
        amount=7,
        currency="EUR",
    ),
    event("evt_u2", "user.updated", "10:30:00", "10:30:00", 200, user="u9", reward=None),
    event(
        "evt_u3",
        "reward.issued",
        "09:40:00",
        "09:40:00",
        503,
        user="u9",
        reward="r9",
        amount=...,
        currency=None,
        endpoint="ep_gh",
    ),
    # A newer event delivered to another endpoint does not supersede this one here.
    event(
        "evt_o",
        "reward.issued",
        "10:20:00",
        "10:20:00",
        503,
        user="u1",
        reward="r5",
        amount=3,
        currency="INR",
    ),
    event("evt_o2", "reward.reversed", "10:40:00", "10:40:00", 200, user="u1", reward="r5", endpoint="ep_gh"),
]


def seed(store: Store, folder: Path, lines: list[dict[str, Any]]) -> None:
    ingest_sources(store, [str(write_jsonl(folder / "log.jsonl", lines))])


def plan_for(store: Store, config: Path, **options: Any) -> Any:
    service = ReplayService(store, load_endpoints(config))
    flt = DeliveryFilter(endpoint_ids=("ep_std",), state=DeliveryState.UNDELIVERED)
    return service.plan(ReplaySelection(flt, **options))


def test_superseded_and_impact_figures_by_hand(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, HISTORY)
    config = write_endpoints(tmp_path, 9, [SPEC, OTHER])
    plan = plan_for(store, config)
    impact = plan.impact
    assert impact.deliveries == 5 and plan.to_send == 5
    assert (impact.users, impact.rewards) == (4, 4)  # u1 (red, o), u2, u3, u9; r1, r2, r3, r5 (u1 has none)
    assert impact.amounts == {"EUR": "107", "INR": "753.5"}
    assert impact.oldest_ms == _ms("09:00:00") and impact.newest_ms == _ms("10:20:00")
    assert impact.superseded == 3
    assert {(e, n) for e, _, n in impact.superseded_sample} == {
        ("evt_red", "evt_rev"),
        ("evt_late", "evt_early"),
        ("evt_u1", "evt_u2"),
    }
    assert {ep for _, ep, _ in impact.superseded_sample} == {"ep_std"}
    by_event = {i.event_id: i for i in plan.items}
    assert by_event["evt_red"].superseded_by == "evt_rev" and by_event["evt_b"].superseded_by is None
    assert by_event["evt_o"].superseded_by is None  # the newer r5 event went to ep_gh only
    assert all(i.skip_reason is None for i in plan.items)  # shown, not left out, without --skip-superseded
    (drain,) = [e.drain for e in plan.endpoints]
    assert drain.latency_ms == pytest.approx(100.0) and drain.rate_per_s == 2 and drain.in_flight == 1
    # 1 in flight at 100 ms = 10/s; the rate of 2/s is lower; plus the runner's own cost per request
    assert drain.seconds == pytest.approx(5 / 2 + 5 * OVERHEAD_S)


def _ms(clock: str) -> int:
    return parse_rfc3339_ms(f"2026-05-05T{clock}Z")


def test_dry_run_shows_the_preview_as_text_and_json(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, HISTORY)
    config = write_endpoints(tmp_path, 9, [SPEC, OTHER])
    base = ("--db", store.url, "--endpoints", str(config), "replay", "--endpoint", "ep_std", "--dry-run")
    text = run(*base)
    assert text.exit_code == 0, text.stderr
    assert "impact: 4 users, 4 rewards; amounts: 107 EUR, 753.5 INR" in text.stdout
    assert "superseded: 3 (sent anyway; --skip-superseded leaves them out)" in text.stdout
    assert "drain ep_std: ~2s (1 in flight, 2/s, latency 100 ms)" in text.stdout
    assert "Retry-After: not stored" in text.stdout
    data = orjson.loads(run(*base, "--json", "--skip-superseded").stdout)
    assert data["impact"]["superseded"] == 3 and data["to_send"] == 2 and data["skipped"] == 3
    assert {"event_id": "evt_red", "endpoint_id": "ep_std", "newer_event_id": "evt_rev"} in data["impact"][
        "superseded_sample"
    ]
    assert (
        "superseded: 3 (sent anyway; --skip-superseded leaves them out), e.g. evt_late at ep_std (newer "
        in (text.stdout)
    )
    assert data["endpoints"][0]["drain"]["seconds"] == 1.0  # the 2 left to send, at 2/s


def test_skip_superseded_records_the_reason_and_sends_the_rest(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, HISTORY)
    receiver = IndependentReceiver({s.id: (s.scheme, s.secrets[0]) for s in (SPEC, OTHER)})
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, [SPEC, OTHER])
        result = replay_cli(store, config, "--endpoint", "ep_std", "--skip-superseded", "--yes", "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    job = orjson.loads(result.stdout)
    assert job["counts"]["delivered"] == 2 and job["counts"]["skipped"] == 3
    assert {e for (_, e) in receiver.acks} == {"evt_b", "evt_o"}
    items = {i.event_id: i for i in ReplayService(store).items(job["id"])}
    assert items["evt_red"].state is ItemState.SKIPPED and "superseded by evt_rev" in (
        items["evt_red"].reason or ""
    )
    assert "superseded by evt_early" in (items["evt_late"].reason or "")
    assert "superseded by evt_u2" in (items["evt_u1"].reason or "")
    assert "skip superseded" in job["selection"]


def test_ordered_sends_one_key_at_a_time_in_the_order_events_occurred(store: Store, tmp_path: Path) -> None:
    # Three rewards, four events each, first attempted in the reverse of the order they occurred, all failed.
    lines = [
        event(
            f"evt_{r}_{n}",
            "reward.updated",
            f"10:{n:02d}:00",
            f"11:{59 - n * 3 - k:02d}:00",
            503,
            user=f"u_{r}",
            reward=f"rw_{r}",
            amount=1,
            currency="INR",
        )
        for k, r in enumerate("xyz")
        for n in range(4)
    ]
    seed(store, tmp_path, lines)
    spec = EndpointSpec("ep_std")
    receiver = IndependentReceiver({"ep_std": (spec.scheme, spec.secrets[0])}, latency_s=0.05)
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, [spec])
        result = replay_cli(store, config, "--ordered", "--concurrency", "8", "--yes", "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    assert orjson.loads(result.stdout)["counts"]["delivered"] == 12
    for r in "xyz":
        arrivals = [q for q in receiver.requests if q["event_id"].startswith(f"evt_{r}_")]
        assert [q["event_id"] for q in arrivals] == [f"evt_{r}_{n}" for n in range(4)]
        gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(arrivals)]
        assert min(gaps) >= 0.045  # the next one went only after the previous one was answered
    starts = sorted(q["at"] for q in receiver.requests)
    # The first request goes alone (the endpoint's probe); then the three rewards go in parallel.
    assert starts[3] - starts[1] < 0.045


def test_chosen_pairs_get_the_preview_of_exactly_those(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, HISTORY)
    config = write_endpoints(tmp_path, 9, [SPEC, OTHER])
    service = ReplayService(store, load_endpoints(config))
    pairs = (("evt_red", "ep_std"), ("evt_b", "ep_std"), ("evt_u3", "ep_gh"))
    plan = service.plan(
        ReplaySelection(DeliveryFilter(state=DeliveryState.ANY), pairs=pairs, skip_superseded=True)
    )
    # evt_red is superseded and skipped: the figures cover the two sent (evt_u3 has no amount)
    assert plan.impact is not None and plan.impact.deliveries == 2 and plan.impact.superseded == 1
    assert plan.impact.amounts == {"INR": "250.5"} and plan.impact.users == 2
    assert [i.event_id for i in plan.items if i.skip_reason] == ["evt_red"]


def test_an_older_store_gets_the_ordering_indexes_when_opened(store_url: str) -> None:
    first = open_store(store_url)
    with first.write() as conn:
        for name in ("ix_event_reward_time", "ix_event_user_time"):
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("CREATE INDEX ix_event_reward ON event (reward_id)")
        conn.exec_driver_sql("UPDATE meta SET value = '4' WHERE key = 'schema_version'")  # before version 5
    first.close()
    again = open_store(store_url)
    try:
        with again.read() as conn:
            names = {i["name"] for i in inspect(conn).get_indexes("event")}
    finally:
        again.close()
    assert {"ix_event_reward_time", "ix_event_user_time"} <= names and "ix_event_reward" not in names


def test_a_limit_counts_delivered_deliveries_as_the_plan_does(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, HISTORY)
    config = write_endpoints(tmp_path, 9, [SPEC, OTHER])
    service = ReplayService(store, load_endpoints(config))
    flt = DeliveryFilter(endpoint_ids=("ep_std",), state=DeliveryState.ANY)
    plan = service.plan(ReplaySelection(flt, limit=3))  # evt_early, evt_a (delivered), evt_red: one to send
    assert plan.to_send == 1 and plan.impact is not None and plan.impact.deliveries == 1
    assert plan.impact.superseded == 1 and plan.impact.amounts == {"INR": "500"}
    forced = service.plan(ReplaySelection(flt, limit=3, force=True))
    assert forced.to_send == 3 and forced.impact is not None and forced.impact.deliveries == 3


def test_event_ids_with_quotes_and_non_ascii_come_back_exactly(store: Store, tmp_path: Path) -> None:
    odd, newer = 'evt_"q\\1,[é]', "evt_ü'}"
    lines = [
        event(odd, "reward.redeemed", "10:00:00", "10:00:00", 503, user="u1", reward='r"1'),
        event(newer, "reward.reversed", "10:05:00", "10:05:00", 200, user="u1", reward='r"1'),
        event("evt_alone", "reward.issued", "10:00:00", "10:00:00", 503, user="u2", reward="r2"),
    ]
    seed(store, tmp_path, lines)
    config = write_endpoints(tmp_path, 9, [SPEC])
    plan = plan_for(store, config)
    assert plan.impact is not None and plan.impact.superseded == 1
    assert plan.impact.superseded_sample == ((odd, "ep_std", newer),)
    assert {i.event_id: i.superseded_by for i in plan.items} == {odd: newer, "evt_alone": None}
    nothing = plan_for(store, config, pairs=(("evt_alone", "ep_std"),))
    assert nothing.impact is not None and nothing.impact.superseded == 0 and nothing.impact.deliveries == 1


def test_drain_time_reads_as_an_estimate_and_never_as_about_under_a_second() -> None:
    assert drain_time(None) == "unknown"
    assert drain_time(0.2) == "<1s"
    assert drain_time(40) == "~40s"
    assert drain_time(3 * 3600 + 1800) == "~3h 30m"


def test_the_preview_says_which_business_fields_no_payload_holds(store: Store, tmp_path: Path) -> None:
    """A payload keeping its fields where no path looks (here `body.`) once read as "0 users, 0 rewards": the
    preview now says which field was not found in how many of the events to send."""
    lines = [
        log_line(
            f"evt_{i}",
            "ep_std",
            1,
            status_code=503,
            payload={"body": {"reward_id": f"r{i}", "amount": 5}, **({"user_id": "u1"} if i < 2 else {})},
        )
        for i in range(3)
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    config = write_endpoints(tmp_path, 9, [SPEC])
    base = ("--db", store.url, "--endpoints", str(config), "replay", "--dry-run")
    text = run(*base)
    assert text.exit_code == 0, text.stderr
    assert (
        "user id: not found in 1 of 3 events; reward id: not found in 3 of 3 events; amount: not found in 3 "
        "of 3 events (their paths: docs/payload-fields.md)"
    ) in text.stdout.splitlines()
    data = orjson.loads(run(*base, "--json").stdout)["impact"]
    assert data["events"] == 3 and data["fields_not_found"] == {"user": 1, "reward": 3, "amount": 3}
    complete = orjson.loads(
        run(
            "--db",
            store.url,
            "--endpoints",
            str(config),
            "replay",
            "--dry-run",
            "--json",
            "--event-id",
            "evt_0",
        ).stdout
    )["impact"]
    assert complete["fields_not_found"] == {"reward": 1, "amount": 1}


def test_one_of_a_kind_reads_in_the_singular(store: Store, tmp_path: Path) -> None:
    """ "impact: 1 users, 1 rewards" and "1 endpoint(s)" read as a person would write them."""
    seed(
        store,
        tmp_path,
        [event("evt_1", "reward.redeemed", "10:00:00", "10:00:00", 503, user="u1", reward="r1")],
    )
    config = write_endpoints(tmp_path, 9, [SPEC])
    text = run("--db", store.url, "--endpoints", str(config), "replay", "--dry-run")
    assert "impact: 1 user, 1 reward; amounts: -" in text.stdout.splitlines()
    assert text.stdout.startswith("replay plan: 1 to send, 0 skipped, 1 endpoint\n")
