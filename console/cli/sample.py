"""`hookconsole sample`: write a deterministic sample delivery log and its endpoints.toml."""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.context import fail
from console.cli.numbers import FiniteRange
from console.domain import formatting as fmt
from console.domain.times import now_ms, parse_rfc3339_ms
from console.sandbox.sample import DEFAULT_END, generate


@click.command("sample")
@click.option(
    "--events", type=click.IntRange(1, 10_000_000), default=8000, show_default=True, help="Number of events."
)
@click.option("--days", type=FiniteRange(0.01, 3650), default=7.0, show_default=True, help="Days of history.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed: same seed, same log.")
@click.option(
    "--end", "end", default=DEFAULT_END, show_default=True, help="End of the log: RFC 3339 or 'now'."
)
@click.option(
    "--gzip", "compress", is_flag=True, help="Write deliveries.jsonl.gz instead of deliveries.jsonl."
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder."
)
def sample_command(events: int, days: float, seed: int, end: str, compress: bool, out_dir: Path) -> None:
    """Generate a realistic delivery log with incidents, its endpoints.toml and sandbox secrets."""
    try:
        end_ms = now_ms() if end == "now" else parse_rfc3339_ms(end)
    except ValueError as exc:
        fail(f"--end: {exc}")
    summary = generate(out_dir, events=events, days=days, seed=seed, end_ms=end_ms, compress=compress)
    click.echo(
        f"wrote {fmt.count(summary.attempts)} attempts of {fmt.count(summary.events)} events to {summary.path}"
    )
