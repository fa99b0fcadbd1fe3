"""Options are read once where they enter: a `--where` expression is parsed once per command (the filter carries
its tree down to the SQL), and a replay reads each secret once per run (the check before the job is created
hands its secrets to the run)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest

import console.endpoints
from console.domain import where
from console.domain.endpoint import Secret
from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.operations import Operations
from console.store import Store
from tests.helpers import replay_cli, run
from tests.sandbox import IndependentReceiver, serve_app, write_endpoints
from tests.test_replay import SPECS, seed_store

EXPRESSION = 'currency = "INR" and not amount > 5000'  # every seeded payload: amount 500, INR


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each expression text was parsed (a counting wrapper on the parser)."""
    seen: Counter[str] = Counter()
    parse = where._Parser.parse

    def counted(self: where._Parser) -> where.Expr:
        seen[" ".join(t.text for t in self.tokens)] += 1
        return parse(self)

    monkeypatch.setattr(where._Parser, "parse", counted)
    return seen


@pytest.mark.parametrize(
    "command",
    [
        ("stats", "--json"),
        ("replay", "--dry-run", "--json"),
        ("report", "--out", "{tmp}/r.html"),
    ],
)
def test_a_where_expression_is_parsed_once_per_command(
    store: Store, tmp_path: Path, parses: Counter[str], command: tuple[str, ...]
) -> None:
    seed_store(store, tmp_path, events=3)
    config = write_endpoints(tmp_path, 9, SPECS)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    done = run("--db", store.url, "--endpoints", str(config), *args, "--where", EXPRESSION)
    assert done.exit_code == 0, done.stderr
    assert sum(parses.values()) == 1, parses


def test_a_replay_that_sends_parses_its_where_once(
    store: Store, tmp_path: Path, parses: Counter[str]
) -> None:
    seed_store(store, tmp_path, events=3)
    receiver = IndependentReceiver({s.id: (s.scheme, s.secrets[0]) for s in SPECS})
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS)
        done = replay_cli(store, config, "--where", EXPRESSION, "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    assert orjson.loads(done.stdout)["counts"]["delivered"] == 9  # 3 undelivered at each of 3 endpoints
    assert sum(parses.values()) == 1, parses


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each secret reference was read (a counting wrapper on the one resolver)."""
    seen: Counter[str] = Counter()
    resolve = console.endpoints.resolve_secret

    def counted(ref: str, base_dir: Path, env: Mapping[str, str] | None = None) -> Secret:
        seen[ref] += 1
        return resolve(ref, base_dir, env)

    monkeypatch.setattr(console.endpoints, "resolve_secret", counted)
    return seen


def test_a_replay_reads_each_secret_once_per_run(
    store: Store, tmp_path: Path, resolved: Counter[str]
) -> None:
    seed_store(store, tmp_path, events=3)
    receiver = IndependentReceiver({s.id: (s.scheme, s.secrets[0]) for s in SPECS})
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS)
        done = replay_cli(store, config, "--yes", "--json")
        assert done.exit_code == 0, done.stderr
        assert orjson.loads(done.stdout)["counts"]["delivered"] == 9
        assert len(resolved) == len(SPECS) and set(resolved.values()) == {1}, resolved
        # Another run (another job) reads them again, once: a rotated secret is picked up.
        job_id = orjson.loads(done.stdout)["id"]
        resolved.clear()
        again = replay_cli(store, config, "--force", "--reason", "twice", "--yes", "--json")
    assert again.exit_code == 0, again.stderr
    assert orjson.loads(again.stdout)["id"] != job_id
    assert len(resolved) == len(SPECS) and set(resolved.values()) == {1}, resolved


def test_the_console_reads_each_secret_once_per_run(
    store: Store, tmp_path: Path, resolved: Counter[str]
) -> None:
    """The console makes a replay service per call: the secrets checked when the job is made still go to its run."""
    seed_store(store, tmp_path, events=3)
    receiver = IndependentReceiver({s.id: (s.scheme, s.secrets[0]) for s in SPECS})
    with serve_app(receiver) as port:
        ops = Operations(store.url, write_endpoints(tmp_path, port, SPECS))
        try:
            plan = ops.plan_replay(ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED)))
            job_id = ops.create_job(plan)
            view = asyncio.run(asyncio.wait_for(ops.start_job(job_id, lambda _progress: None).run(), 30))
        finally:
            ops.reset()
    assert view.counts == {"delivered": 9}
    assert len(resolved) == len(SPECS) and set(resolved.values()) == {1}, resolved
