"""`hookconsole receiver` and `hookconsole simulate`: the sandbox's verifying receiver and traffic simulator."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import click

from console import aio
from console.cli.context import app_context, fail, refuse_if_read_only, store_options
from console.cli.durations import SPAN_MAX_MS, Duration
from console.cli.numbers import FiniteRange
from console.demo import PARENT_ENV
from console.domain import formatting as fmt
from console.endpoints import is_loopback
from console.replay.plan import ReplayError, resolve_targets
from console.sandbox.receiver import Faults, Receiver, open_log, serve
from console.sandbox.simulator import SimulationError, SimulationOptions, Simulator


def exit_with_parent() -> None:
    """When started by `demo`, stop as soon as the demo process is gone (even if it was killed)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not parent.isdigit():
        return

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != int(parent):
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@click.command("receiver")
@store_options
@click.option(
    "--port", type=click.IntRange(0, 65535), required=True, help="Port to listen on (0: any free port)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option(
    "--endpoint", "only", multiple=True, metavar="ID", help="Serve only this endpoint (repeatable)."
)
@click.option(
    "--fail-rate", type=FiniteRange(0, 1), default=0.0, help="Share of requests answered with --status."
)
@click.option(
    "--status",
    "status",
    type=click.IntRange(300, 599),
    default=503,
    show_default=True,
    help="Status of injected failures.",
)
@click.option("--timeout-rate", type=FiniteRange(0, 1), default=0.0, help="Share of requests never answered.")
@click.option("--latency-ms", type=FiniteRange(0), default=0.0, help="Delay before answering.")
@click.option("--retry-after", type=click.IntRange(0), help="Retry-After seconds on injected 429/503.")
@click.option(
    "--down-for",
    "down_for",
    type=Duration(SPAN_MAX_MS, seconds=True),
    help="Answer everything with --status for this long after start (e.g. 2m).",
)
@click.option("--seed", type=int, help="Seed for the injected faults.")
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append what is received here (JSON Lines).",
)
def receiver_command(
    port: int,
    host: str,
    only: tuple[str, ...],
    fail_rate: float,
    status: int,
    timeout_rate: float,
    latency_ms: float,
    retry_after: int | None,
    down_for: float | None,
    seed: int | None,
    log_path: Path | None,
) -> None:
    """A receiver that verifies signatures (401 when they fail), dedupes by event id and injects faults."""
    if not is_loopback(host):
        fail(f"--host {host}: the sandbox receiver listens on loopback addresses only")
    down_s = down_for or 0.0
    app = app_context()
    config = app.endpoints()
    unknown = [e for e in only if config.get(e) is None]
    if unknown:
        fail(f"--endpoint {', '.join(unknown)}: not in {config.path}")
    faults = Faults(fail_rate, status, timeout_rate, latency_ms, retry_after, down_s, seed)
    try:
        receiver = Receiver(config, faults, only=only, log=open_log(log_path))
    except LookupError as exc:
        fail(str(exc))

    def ready(bound: int) -> None:
        ids = ", ".join(r.endpoint.id for r in receiver.routes.values())
        click.echo(f"receiver listening on http://{host}:{bound} for {ids}", err=True)

    exit_with_parent()
    serve(receiver, host, port, ready)


@click.command("simulate")
@store_options
@click.option(
    "--rate", type=FiniteRange(0.01, 10_000), default=5.0, show_default=True, help="Events per second."
)
@click.option(
    "--duration",
    type=Duration(SPAN_MAX_MS, seconds=True),
    help="How long to run (e.g. 30s, 10m) [default: until interrupted].",
)
@click.option("--endpoint", "only", multiple=True, metavar="ID", help="Only these endpoints (repeatable).")
@click.option("--seed", type=int, help="Random seed.")
def simulate_command(rate: float, duration: float | None, only: tuple[str, ...], seed: int | None) -> None:
    """Generate reward events and deliver them to the (loopback) endpoints, storing every attempt as it happens."""
    refuse_if_read_only("simulate (sending)")
    duration_s = duration
    app = app_context()
    config = app.endpoints()
    ids = list(only) or [e.id for e in config.endpoints if e.enabled]
    try:
        targets = resolve_targets(config, ids, base_s=1.0, cap_s=20.0)
        simulator = Simulator(app.store(), list(targets.values()), SimulationOptions(rate, duration_s, seed))
    except (ReplayError, SimulationError) as exc:
        fail(str(exc))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, simulator.stop.set)
        await simulator.run()

    exit_with_parent()
    click.echo(f"simulating {rate:g} events/s to {', '.join(targets)} (Ctrl-C stops)", err=True)
    try:
        aio.run(main())
    except SimulationError as exc:
        fail(str(exc))
    s = simulator.summary
    click.echo(
        f"events {fmt.count(s.events)}, attempts {fmt.count(s.attempts)}, delivered {fmt.count(s.delivered)}, failed {fmt.count(s.failed)}"
    )
