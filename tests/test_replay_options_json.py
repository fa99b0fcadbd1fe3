"""`replay show --json` and `replay list --json` give a job's options as data (ordered, skip_superseded, where,
to, ...), not only inside the selection's text; a job's `--to` URL is masked there as everywhere."""

from __future__ import annotations

from pathlib import Path

import orjson

from console.store import Store
from tests.helpers import replay_cli, run
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints
from tests.test_replay_job_options import NOTE, STANDARD, _failed_events


def test_show_and_list_give_the_options_as_data(store: Store, tmp_path: Path) -> None:
    _failed_events(store, tmp_path, ("ep_a",), 3)
    spec = EndpointSpec("ep_a", "standard", (STANDARD,))
    receiver = IndependentReceiver({"ep_a": ("standard", STANDARD)})
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, [spec])
        where = f'note = "{NOTE}"'
        result = replay_cli(
            store,
            config,
            "--where",
            where,
            "--ordered",
            "--skip-superseded",
            "--concurrency",
            "3",
            "--yes",
            "--json",
        )
    assert result.exit_code == 0, result.stderr
    job_id = orjson.loads(result.stdout)["id"]
    expected = {
        "ordered": True,
        "skip_superseded": True,
        "force": False,
        "concurrency": 3,
        "limit": None,
        "where": where,
        "to": None,
    }
    shown = orjson.loads(run("--db", store.url, "replay", "show", job_id, "--json").stdout)
    assert shown["options"] == expected
    (listed,) = orjson.loads(run("--db", store.url, "replay", "list", "--json").stdout)
    assert listed["id"] == job_id and listed["options"] == expected
