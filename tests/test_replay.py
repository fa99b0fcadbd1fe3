"""Replay end to end over loopback, on SQLite and PostgreSQL: signed with each scheme and checked by an
independent receiver, exactly once, recorded as manual attempts; and every way it must refuse or stop."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import pytest

from console.domain.filters import DeliveryFilter
from console.ingest.service import ingest_sources
from console.replay.service import ReplayService
from console.store import Store
from console.store.recount import verify_derived_state
from console.store.stats import read_stats
from tests.helpers import log_line, replay_cli, run, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

STANDARD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPECS = [
    EndpointSpec("ep_std", "standard", (STANDARD,)),
    EndpointSpec("ep_stripe", "stripe", ("whsec_stripe_test_secret",)),
    EndpointSpec("ep_gh", "github", ("github-secret",)),
]


def seed_store(store: Store, folder: Path, events: int = 12) -> None:
    """Per endpoint: `events` undelivered events (refused, then 503) and 3 delivered ones."""
    lines = []
    for spec in SPECS:
        for i in range(events):
            event_id = f"evt_{spec.id}_{i:03d}"
            lines.append(
                log_line(
                    event_id,
                    spec.id,
                    1,
                    attempted_at=f"2026-05-05T10:{i % 60:02d}:00Z",
                    status_code=None,
                    latency_ms=None,
                    error="connection refused",
                )
            )
            lines.append(
                log_line(
                    event_id, spec.id, 2, attempted_at=f"2026-05-05T11:{i % 60:02d}:00Z", status_code=503
                )
            )
        for i in range(3):
            lines.append(log_line(f"evt_{spec.id}_ok{i}", spec.id, 1, attempted_at="2026-05-05T09:00:00Z"))
    ingest_sources(store, [str(write_jsonl(folder / "log.jsonl", lines))])


def undelivered(store: Store, endpoint_id: str) -> int:
    return read_stats(store, DeliveryFilter(endpoint_ids=(endpoint_id,))).overall.undelivered


@pytest.fixture
def receiver() -> IndependentReceiver:
    return IndependentReceiver({s.id: (s.scheme, s.secrets[0]) for s in SPECS})


@pytest.mark.parametrize("endpoint_id", [s.id for s in SPECS])
def test_replay_delivers_every_undelivered_event_once(
    store: Store, tmp_path: Path, receiver: IndependentReceiver, endpoint_id: str
) -> None:
    seed_store(store, tmp_path)
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS)
        result = replay_cli(store, config, "--endpoint", endpoint_id, "--yes", "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    job = orjson.loads(result.stdout)
    assert job["state"] == "done" and job["counts"]["delivered"] == 12 and job["total"] == 12
    assert receiver.rejected == []
    acked = {event for (endpoint, event), n in receiver.acks.items() if endpoint == endpoint_id}
    assert acked == {f"evt_{endpoint_id}_{i:03d}" for i in range(12)}
    assert all(n == 1 for n in receiver.acks.values())
    assert undelivered(store, endpoint_id) == 0
    assert all(undelivered(store, s.id) == 12 for s in SPECS if s.id != endpoint_id)
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT attempt, trigger, replay_job_id, outcome FROM delivery_attempt WHERE trigger = 'manual'"
        ).fetchall()
    assert len(rows) == 12 and {r[0] for r in rows} == {3} and {r[2] for r in rows} == {job["id"]}
    assert verify_derived_state(store) == []
    # Stats show the replay next to the original traffic: attempts went up, the backlog went down.
    assert read_stats(store, DeliveryFilter(endpoint_ids=(endpoint_id,))).overall.attempts == 12 * 3 + 3


def test_secret_rotation_and_bad_secret(store: Store, tmp_path: Path, receiver: IndependentReceiver) -> None:
    seed_store(store, tmp_path, events=4)
    rotated = [EndpointSpec("ep_std", "standard", ("whsec_" + "QUJD" * 8, STANDARD)), *SPECS[1:]]
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, rotated)  # new secret first, old one still signing
        ok = replay_cli(store, config, "--endpoint", "ep_std", "--yes", "--json")
        assert ok.exit_code == 0 and orjson.loads(ok.stdout)["counts"]["delivered"] == 4
        wrong = [SPECS[0], EndpointSpec("ep_stripe", "stripe", ("whsec_wrong",)), SPECS[2]]
        config = write_endpoints(tmp_path, port, wrong)
        bad = replay_cli(store, config, "--endpoint", "ep_stripe", "--yes", "--json")
    assert bad.exit_code == 1
    job = orjson.loads(bad.stdout)
    assert job["state"] == "failed" and job["counts"]["failed"] == 4
    assert len([r for r in receiver.rejected if r[0] == "ep_stripe"]) == 4  # one 401 each: not retried
    with store.read() as conn:
        statuses = conn.exec_driver_sql(
            "SELECT status_code, outcome FROM delivery_attempt WHERE trigger = 'manual' AND endpoint_id = 'ep_stripe'"
        ).fetchall()
    assert statuses and set(statuses) == {(401, "http_error")}
    assert undelivered(store, "ep_stripe") == 4


def test_refusals_send_nothing(store: Store, tmp_path: Path, receiver: IndependentReceiver) -> None:
    seed_store(store, tmp_path, events=3)
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS, missing_secret="ep_gh")
        missing = replay_cli(store, config, "--yes")
        assert missing.exit_code == 1
        assert (
            "endpoint 'ep_gh': secret file:secrets/ep_gh.0.secret" in missing.stderr
            and "nothing was sent" in missing.stderr
        )
        config = write_endpoints(tmp_path, port, SPECS[:2])
        unknown = replay_cli(store, config, "--yes")
        assert unknown.exit_code == 1 and "ep_gh are in the selection but not in" in unknown.stderr
        config = write_endpoints(tmp_path, port, SPECS)
        nothing = replay_cli(store, config, "--yes", "--event-type", "no.such.type")
        assert nothing.exit_code == 0 and "nothing matches the selection" in nothing.stdout
        dry = replay_cli(store, config, "--dry-run", "--json")
        plan = orjson.loads(dry.stdout)
        assert (
            plan["dry_run"]
            and plan["to_send"] == 9
            and {e["id"] for e in plan["endpoints"]} == {s.id for s in SPECS}
        )
        no_tty = replay_cli(store, config)
        assert no_tty.exit_code == 1 and "refusing to send without --yes" in no_tty.stderr
        jobs = replay_cli(store, config, "list", "--json")
    assert receiver.requests == []
    assert orjson.loads(jobs.stdout) == []
    remote = tmp_path / "remote.toml"
    remote.write_text(
        '[[endpoint]]\nid = "ep_std"\nurl = "http://hooks.example.com/x"\nscheme = "standard"\nsecret = "env:X"\n'
    )
    refused = replay_cli(store, remote, "--endpoint", "ep_std", "--yes")
    assert refused.exit_code == 1 and "plain http is only allowed to loopback" in refused.stderr


def test_delivered_are_skipped_unless_forced(
    store: Store, tmp_path: Path, receiver: IndependentReceiver
) -> None:
    seed_store(store, tmp_path, events=2)
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS)
        skipped = replay_cli(store, config, "--status", "delivered", "--yes", "--json")
        forced = replay_cli(
            store,
            config,
            "--status",
            "delivered",
            "--force",
            "--reason",
            "receiver lost its data",
            "--endpoint",
            "ep_std",
            "--yes",
            "--json",
        )
    first, second = orjson.loads(skipped.stdout), orjson.loads(forced.stdout)
    assert first["counts"]["skipped"] == 9 and first["counts"]["delivered"] == 0 and first["state"] == "done"
    assert second["counts"]["delivered"] == 3 and len(receiver.requests) == 3


def test_circuit_breaker_pauses_a_failing_endpoint(
    store: Store, tmp_path: Path, receiver: IndependentReceiver
) -> None:
    seed_store(store, tmp_path, events=30)
    for i in range(30):
        receiver.status_script[f"evt_ep_std_{i:03d}"] = [(500, {})] * 10
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS)
        result = replay_cli(
            store, config, "--endpoint", "ep_std", "--concurrency", "1", "--max-tries", "2", "--yes", "--json"
        )
        shown = replay_cli(store, config, "show", orjson.loads(result.stdout)["id"])
    job = orjson.loads(result.stdout)
    assert result.exit_code == 1 and job["counts"]["failed"] == 30
    sent = {r["event_id"] for r in receiver.requests}
    assert len(sent) == 5  # five items failed in a row, then the endpoint was paused
    with store.read() as conn:
        reasons = {
            r[0] for r in conn.exec_driver_sql("SELECT last_error FROM replay_item WHERE state = 'failed'")
        }
    assert any(r and r.startswith("circuit breaker: ep_std failed 5 items in a row") for r in reasons)
    assert (
        "items not delivered:" in shown.stdout
        and "circuit breaker: ep_std failed 5 items in a row" in shown.stdout
    )


def test_cancel_and_show_unknown_job(store: Store, tmp_path: Path) -> None:
    config = write_endpoints(tmp_path, 9, SPECS)
    result = replay_cli(store, config, "show", "rj_nope")
    assert result.exit_code == 1 and "no replay job 'rj_nope'" in result.stderr
    result = replay_cli(store, config, "cancel", "rj_nope")
    assert result.exit_code == 1


def test_a_failed_replay_says_why(store: Store, tmp_path: Path) -> None:
    seed_store(store, tmp_path, events=3)
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_endpoints(tmp_path, port, SPECS)
    result = replay_cli(store, config, "--endpoint", "ep_std", "--max-tries", "2", "--yes", "--json")
    job = orjson.loads(result.stdout)
    assert result.exit_code == 1 and job["counts"]["failed"] == 3
    assert job["reasons"] == [{"reason": "connection refused (gave up after 2 tries)", "items": 3}]
    missing = str(tmp_path / "no-such-endpoints.toml")  # show and list only read the store
    shown = replay_cli(store, missing, "show", job["id"])
    assert shown.exit_code == 0, shown.stderr
    assert (
        "most common reasons for failing:\n       3  connection refused (gave up after 2 tries)"
        in shown.stdout
    )
    assert shown.stdout.count("connection refused (gave up after 2 tries)") == 4  # the summary and each item
    data = orjson.loads(replay_cli(store, missing, "show", job["id"], "--json").stdout)
    assert {i["last_error"] for i in data["items_not_delivered"]} == {
        "connection refused (gave up after 2 tries)"
    }
    listed = replay_cli(store, missing, "list", "--json")
    assert listed.exit_code == 0 and orjson.loads(listed.stdout)[0]["reasons"] == job["reasons"]
    # A job written before items kept their last try's error still shows it, from the job's attempts.
    with store.write() as conn:
        conn.exec_driver_sql("UPDATE replay_item SET last_error = 'gave up after 2 tries'")
    shown = replay_cli(store, missing, "show", job["id"])
    assert "gave up after 2 tries; last try: connection refused" in shown.stdout
    service = ReplayService(store)
    assert [(r.reason, r.items) for r in service.failure_reasons(job["id"])] == [("gave up after 2 tries", 3)]


def test_named_or_forced_events_are_selected_whatever_their_state(
    store: Store, tmp_path: Path, receiver: IndependentReceiver
) -> None:
    seed_store(store, tmp_path, events=2)
    delivered, undelivered_id = "evt_ep_std_ok0", "evt_ep_std_000"
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS)
        base = ("--db", store.url, "--endpoints", str(config), "replay")
        named = run(*base, "--event-id", delivered, "--event-id", undelivered_id, "--dry-run")
        assert "note: named events and --force select deliveries whatever their state" in named.stdout
        assert (
            f"{delivered}  ep_std" in named.stdout
            and "already delivered (--force sends it again)" in named.stdout
        )
        plan = orjson.loads(run(*base, "--event-id", delivered, "--dry-run", "--json").stdout)
        assert plan["state"] == "any" and plan["skipped"] == 1 and plan["items"][0]["event_id"] == delivered
        forced = run(*base, "--force", "--reason", "resend one", "--event-id", delivered, "--yes", "--json")
        explicit = run(
            *base, "--force", "--event-id", delivered, "--status", "undelivered", "--dry-run", "--json"
        )
    assert forced.exit_code == 0, forced.stderr
    assert orjson.loads(forced.stdout)["counts"]["delivered"] == 1
    assert receiver.acks[("ep_std", delivered)] == 1 and len(receiver.requests) == 1
    assert orjson.loads(explicit.stdout)["to_send"] == 0  # an explicit --status still applies
