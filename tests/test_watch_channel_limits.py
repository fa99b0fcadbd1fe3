"""A channel's try is bounded: a whole-try deadline (a body dripped slowly included), a bounded read of the
answer, a command waited for without its children; Slack text is escaped. Real loopback servers and programs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
from pathlib import Path

import orjson

from console.domain.times import now_ms
from console.store import Store
from console.store.alerts import pending_outbox, save_transitions
from console.watch.channels import ChannelSender
from console.watch.logs import Log
from console.watch.outbox import OutboxDelivery
from console.watch.rules import AlertsConfig, parse_alerts
from tests.test_watch_channels import RULE, _fire_and_resolve
from tests.watch_servers import answering
from tests.watch_support import receiving, wait_for

NOTE = {"id": "alert_1", "rule": "r", "endpoint": "ep_a", "state": "firing", "summary": "ep_a: r firing"}


def _try(config_text: str, body: bytes = orjson.dumps(NOTE)) -> tuple[bool, str | None]:
    config = parse_alerts(config_text)
    sender = ChannelSender(config)

    async def once() -> tuple[bool, str | None]:
        try:
            result = await sender.try_send(config.channels[0], "alert_1", body)
            return result.ok, result.error
        finally:
            await sender.aclose()

    return asyncio.run(once())


async def _deliver(store: Store, config: AlertsConfig, stream: io.StringIO | None = None) -> int:
    sender = ChannelSender(config)
    try:
        return await OutboxDelivery(store, config, sender, Log(stream or io.StringIO())).deliver_due()
    finally:
        await sender.aclose()


def test_a_body_dripped_slowly_ends_the_try_at_its_timeout() -> None:
    # 40 bytes, one every 0.1 s: each read gets data in time, only a deadline on the whole try stops it
    with answering(chunk=1, pause_s=0.1, limit=40) as drip:
        ok, error = _try(f'[[channel]]\nkind = "webhook"\nurl = "{drip.url}"\ntimeout_s = 0.5\n')
        assert not ok and error == "timeout: no complete answer within 0.5s"
        assert wait_for(lambda: drip.finished() != [], timeout=10)
        assert drip.finished()[0] < 40, "the connection was dropped at the deadline"


def test_a_huge_answer_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    # announces 1.5 GB and writes up to 128 MB as fast as it can
    with answering(chunk=1 << 16, pause_s=0, limit=128 << 20, length=1_500_000_000) as big:
        ok, error = _try(f'[[channel]]\nkind = "slack"\nurl = "{big.url}"\n')
        assert ok, "the try counts by its status (200)"
        assert error == "answer longer than 64 KiB; not read past that"
        assert wait_for(lambda: big.finished() != [], timeout=30)
        assert big.finished()[0] < 32 << 20, "the connection was closed, not drained"


def test_a_huge_answer_is_logged_once_as_a_warning_and_the_notification_is_sent(sqlite_store: Store) -> None:
    with answering(chunk=1 << 16, pause_s=0, limit=4 << 20) as big:
        config = parse_alerts(f'[[channel]]\nkind = "webhook"\nname = "big"\nurl = "{big.url}"\n')
        save_transitions(sqlite_store, [], [("big", "alert_1", orjson.dumps(NOTE))], now_ms())
        stream = io.StringIO()
        assert asyncio.run(_deliver(sqlite_store, config, stream)) == 1
    assert pending_outbox(sqlite_store) == []
    assert "channel big answered alert_1: answer longer than 64 KiB; not read past that" in stream.getvalue()


def test_a_command_leaving_a_child_holding_its_output_is_sent_once(
    sqlite_store: Store, tmp_path: Path
) -> None:
    out, pid_file = tmp_path / "notes.jsonl", tmp_path / "child.pid"
    script = tmp_path / "note.py"
    script.write_text(
        "import subprocess, sys\n"
        f"open({str(out)!r}, 'ab').write(sys.stdin.buffer.read() + b'\\n')\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('notified', flush=True)\n"
    )
    config = parse_alerts(
        RULE + f'[[channel]]\nkind = "command"\ncommand = ["{sys.executable}", "{script}"]\ntimeout_s = 2\n'
    )
    try:
        _fire_and_resolve(sqlite_store, tmp_path, config)
        assert asyncio.run(_deliver(sqlite_store, config)) == 0, "a later pass sends nothing again"
    finally:
        for pid in pid_file.read_text().split() if pid_file.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    states = [orjson.loads(line)["state"] for line in out.read_bytes().splitlines()]
    assert states == ["firing", "resolved"], "each notification ran once"
    with sqlite_store.read() as conn:
        tries = [r[0] for r in conn.exec_driver_sql("SELECT tries FROM alert_outbox ORDER BY seq").all()]
    assert tries == [1, 1] and pending_outbox(sqlite_store) == []


def test_a_command_over_its_timeout_fails_and_its_last_output_line_is_named(tmp_path: Path) -> None:
    hangs, fails = tmp_path / "hangs.py", tmp_path / "fails.py"
    hangs.write_text(
        "import sys, time\nsys.stderr.write('last words\\n')\nsys.stderr.flush()\ntime.sleep(30)\n"
    )
    fails.write_text("import sys\nsys.stderr.write('x' * 100000 + '\\nthe reason\\n')\nsys.exit(4)\n")
    for script, timeout, expected in (
        (hangs, 0.5, f"{sys.executable} did not finish within 0.5s"),
        (fails, 10, f"{sys.executable} exited 4: the reason"),
    ):
        ok, error = _try(
            f'[[channel]]\nkind = "command"\ncommand = ["{sys.executable}", "{script}"]\ntimeout_s = {timeout}\n'
        )
        assert not ok and error == expected


def test_slack_text_is_escaped_so_ids_cannot_mention_or_link(store: Store, tmp_path: Path) -> None:
    endpoint = "ep_<!channel>&<https://evil.example|click>"
    with receiving() as slack:
        config = parse_alerts(RULE + f'[[channel]]\nkind = "slack"\nurl = "{slack.url}"\n')
        _fire_and_resolve(store, tmp_path, config, endpoint_id=endpoint)
        texts = [b["text"] for b in slack.bodies()]
    assert len(texts) == 2
    for text in texts:
        assert "<" not in text.replace("&lt;", "") and ">" not in text.replace("&gt;", "")
        assert "ep_&lt;!channel&gt;&amp;&lt;https://evil.example|click&gt;" in text
