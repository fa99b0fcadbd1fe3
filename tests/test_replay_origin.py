"""Who, why and where to, on SQLite and PostgreSQL: every job records its operator and reason; a replay to
another target (`--to`) reaches it signed and leaves the real endpoint's records and figures unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from console.domain.filters import DeliveryFilter
from console.domain.replay import JobOrigin, ReplaySelection
from console.endpoints import load_endpoints
from console.replay.plan import ReplayError
from console.replay.service import ReplayService
from console.replay.targets import default_operator, job_origin
from console.store import Store
from console.store.recount import verify_derived_state
from tests.helpers import replay_cli, run, table_count
from tests.sandbox import IndependentReceiver, serve_app, write_endpoints
from tests.test_replay import SPECS, STANDARD, seed_store


def _base(store: Store, config: Path) -> list[str]:
    return ["--db", store.url, "--endpoints", str(config), "replay"]


def test_operator_and_reason_are_recorded_and_shown(store: Store, tmp_path: Path) -> None:
    seed_store(store, tmp_path, events=2)
    receiver = IndependentReceiver({s.id: (s.scheme, s.secrets[0]) for s in SPECS})
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS)
        sent = run(
            *_base(store, config),
            "--endpoint",
            "ep_std",
            "--operator",
            "alice",
            "--reason",
            "INC-42: receiver was down",
            "--yes",
            "--json",
        )
        default = run(*_base(store, config), "--endpoint", "ep_gh", "--yes", "--json")
    assert sent.exit_code == 0, sent.stderr
    job = orjson.loads(sent.stdout)
    assert job["operator"] == "alice" and job["reason"] == "INC-42: receiver was down"
    assert job["target_url"] is None
    assert orjson.loads(default.stdout)["operator"] == default_operator() and "@" in default_operator()
    shown = orjson.loads(run("--db", store.url, "replay", "show", job["id"], "--json").stdout)
    assert (shown["operator"], shown["reason"]) == ("alice", "INC-42: receiver was down")
    listed = orjson.loads(run("--db", store.url, "replay", "list", "--json").stdout)
    assert {(j["operator"], j["reason"]) for j in listed} == {
        ("alice", "INC-42: receiver was down"),
        (default_operator(), None),
    }
    text = run("--db", store.url, "replay", "show", job["id"]).stdout
    assert "by alice: INC-42: receiver was down" in text
    assert "INC-42" in run("--db", store.url, "replay", "list").stdout
    folder = tmp_path / "export"
    exported = run(
        "--db", store.url, "export", "--format", "html,csv,json", "--since", "3650d", "--out", str(folder)
    )
    assert exported.exit_code == 0, exported.stderr
    replays = orjson.loads((folder / "replays.json").read_bytes())
    assert {(r["job_id"], r["operator"], r["reason"]) for r in replays} >= {
        (job["id"], "alice", "INC-42: receiver was down")
    }
    assert "operator,reason,target_url" in (folder / "replays.csv").read_text()
    page = (folder / "report.html").read_text()
    assert "<td>alice</td>" in page and "INC-42: receiver was down" in page


def test_reason_is_required_with_force(store: Store, tmp_path: Path) -> None:
    seed_store(store, tmp_path, events=2)
    config = write_endpoints(tmp_path, 9, SPECS)
    result = run(*_base(store, config), "--status", "delivered", "--force", "--yes")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "hookconsole: --reason is required with --force (say why already delivered events are sent again)"
    )
    assert table_count(store, "replay_job") == 0
    blank = run(*_base(store, config), "--force", "--reason", "  ", "--yes")
    assert blank.exit_code == 1 and "--reason is required" in blank.stderr


AGES = {"oldest_undelivered_age_s", "idle_s", "generated_at"}  # move with the clock, not with the store


def _without_ages(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ages(v) for k, v in value.items() if k not in AGES}
    if isinstance(value, list):
        return [_without_ages(v) for v in value]
    return value


def _figures(store: Store) -> Any:
    figures = _without_ages(
        orjson.loads(run("--db", store.url, "stats", "--endpoint", "ep_std", "--json").stdout)
    )
    assert figures["attempts"] > 0
    return figures


def test_replay_to_another_target_leaves_the_real_endpoint_unchanged(store: Store, tmp_path: Path) -> None:
    seed_store(store, tmp_path, events=4)
    real = IndependentReceiver({s.id: (s.scheme, s.secrets[0]) for s in SPECS})
    staging = IndependentReceiver({"ep_std": ("standard", STANDARD)})
    before = _figures(store)
    with store.read() as conn:
        deliveries_before = conn.exec_driver_sql(
            "SELECT * FROM delivery ORDER BY event_id, endpoint_id"
        ).fetchall()
    with serve_app(real) as port, serve_app(staging) as staging_port:
        config = write_endpoints(tmp_path, port, SPECS)
        url = f"http://127.0.0.1:{staging_port}/hooks/ep_std"
        sent = run(
            *_base(store, config),
            "--endpoint",
            "ep_std",
            "--to",
            url,
            "--reason",
            "try on staging",
            "--yes",
            "--json",
        )
    assert sent.exit_code == 0, sent.stderr + sent.stdout
    job = orjson.loads(sent.stdout)
    assert job["state"] == "done" and job["counts"]["delivered"] == 4 and job["target_url"] == url
    assert real.requests == [] and staging.rejected == []
    assert {e for (_, e), n in staging.acks.items() if n == 1} == {f"evt_ep_std_{i:03d}" for i in range(4)}
    assert _figures(store) == before  # attempts, deliveries, success rates, latency: as they were
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT * FROM delivery ORDER BY event_id, endpoint_id").fetchall() == (
            deliveries_before
        )
        assert (
            conn.exec_driver_sql(
                "SELECT COUNT(*) FROM delivery_attempt WHERE trigger = 'manual'"
            ).scalar_one()
            == 0
        )
        rows = conn.exec_driver_sql(
            "SELECT job_id, endpoint_id, target_url, attempt, outcome FROM replay_target_attempt"
        ).fetchall()
    assert sorted(rows) == [(job["id"], "ep_std", url, 1, "success")] * 4
    assert verify_derived_state(store) == []
    shown = run("--db", store.url, "replay", "show", job["id"]).stdout
    assert f"sent to {url} instead" in shown
    dry = run(*_base(store, config), "--endpoint", "ep_std", "--to", url, "--dry-run")
    assert f"target: {url} instead of the endpoints' URLs" in dry.stdout


TOKEN = "tok3n-5ecret"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://staging.example.com/hooks", "plain http is only allowed to loopback addresses"),
        ("ftp://127.0.0.1/x", "must be an http(s) URL"),
        (
            "https://user:pw@staging.example.com/hooks",
            "'https://***@staging.example.com/hooks' carries credentials",
        ),
        (f"http://{TOKEN}@127.0.0.1:9/hooks", "'http://***@127.0.0.1:9/hooks' carries credentials"),
        (f"https://staging.example.com/hooks?access_token={TOKEN}", "?access_token=***' carries credentials"),
        (f"https://staging.example.com/hooks?a=1&signature={TOKEN}", "&signature=***' carries credentials"),
        (f"https://staging.example.com/hooks?Auth={TOKEN}", "?Auth=***' carries credentials"),
    ],
)
def test_to_refuses_urls_replays_may_not_go_to(store: Store, tmp_path: Path, url: str, message: str) -> None:
    seed_store(store, tmp_path, events=2)
    config = write_endpoints(tmp_path, 9, SPECS)
    result = run(*_base(store, config), "--endpoint", "ep_std", "--to", url, "--yes")
    assert result.exit_code == 2 and "Invalid value for '--to'" in result.stderr and message in result.stderr
    assert "pw" not in result.stderr and TOKEN not in result.stderr
    assert table_count(store, "replay_job") == 0
    with pytest.raises(ReplayError, match=r"^--to: "):  # the service refuses it too
        job_origin("bob", None, False, url)


def test_a_stored_target_with_a_token_is_shown_masked_and_never_sent(store: Store, tmp_path: Path) -> None:
    seed_store(store, tmp_path, events=2)
    staging = IndependentReceiver({"ep_std": ("standard", STANDARD)})
    with serve_app(staging) as staging_port:
        config = write_endpoints(tmp_path, 9, SPECS)
        clean = f"http://127.0.0.1:{staging_port}/hooks/ep_std"
        service = ReplayService(store, load_endpoints(config))
        plan = service.plan(ReplaySelection(DeliveryFilter(endpoint_ids=("ep_std",))))
        job_id = service.create_job(plan, JobOrigin("bob", "old job", clean))
        with store.write() as conn:  # as an older version stored it
            conn.exec_driver_sql(f"UPDATE replay_job SET target_url = '{clean.replace('//', f'//{TOKEN}@')}'")
        shown = [
            run("--db", store.url, "replay", *args)
            for args in (("list",), ("list", "--json"), ("show", job_id), ("show", job_id, "--json"))
        ]
        resumed = replay_cli(store, config, "resume", job_id, "--yes")
    for result in shown:
        assert result.exit_code == 0, result.stderr
        assert TOKEN not in result.output and f"***@127.0.0.1:{staging_port}" in result.output
    assert resumed.exit_code == 1 and "carries credentials" in resumed.stderr
    assert TOKEN not in resumed.stderr and staging.requests == []


def test_to_secret_signs_with_another_secret(store: Store, tmp_path: Path) -> None:
    seed_store(store, tmp_path, events=2)
    other = "whsec_" + "QUJD" * 8
    staging = IndependentReceiver({"ep_std": ("standard", other)})
    with serve_app(staging) as staging_port:
        config = write_endpoints(tmp_path, 9, SPECS)
        url = f"http://127.0.0.1:{staging_port}/hooks/ep_std"
        missing = run(
            *_base(store, config),
            "--endpoint",
            "ep_std",
            "--to",
            url,
            "--to-secret",
            "env:HC_NO_SUCH",
            "--yes",
        )
        sent = run(
            *_base(store, config),
            "--endpoint",
            "ep_std",
            "--to",
            url,
            "--to-secret",
            "env:HC_STAGING",
            "--yes",
            "--json",
            env={"HC_STAGING": other},
        )
    assert (
        missing.exit_code == 1
        and "--to-secret env:HC_NO_SUCH: environment variable HC_NO_SUCH is not set" in (missing.stderr)
    )
    assert sent.exit_code == 0, sent.stderr
    job = orjson.loads(sent.stdout)
    assert job["counts"]["delivered"] == 2 and job["target_secret"] == "env:HC_STAGING"
    assert staging.rejected == [] and len(staging.acks) == 2
    assert other not in sent.stdout


def test_resume_of_a_job_to_another_target_goes_there(store: Store, tmp_path: Path) -> None:
    seed_store(store, tmp_path, events=3)
    real = IndependentReceiver({s.id: (s.scheme, s.secrets[0]) for s in SPECS})
    staging = IndependentReceiver({"ep_std": ("standard", STANDARD)})
    with serve_app(real) as port, serve_app(staging) as staging_port:
        config = write_endpoints(tmp_path, port, SPECS)
        url = f"http://127.0.0.1:{staging_port}/hooks/ep_std"
        service = ReplayService(store, load_endpoints(config))
        plan = service.plan(ReplaySelection(DeliveryFilter(endpoint_ids=("ep_std",))))
        job_id = service.create_job(plan, job_origin("bob", None, False, url))  # planned, never run
        resumed = replay_cli(store, config, "resume", job_id, "--yes", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert orjson.loads(resumed.stdout)["counts"]["delivered"] == 3
    assert real.requests == [] and len(staging.acks) == 3
    assert table_count(store, "replay_target_attempt") == 3
