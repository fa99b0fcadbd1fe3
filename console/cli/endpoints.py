"""`hookconsole endpoints check`: validate endpoints.toml without printing any secret."""

from __future__ import annotations

import click

from console.cli.context import app_context, fail, store_options
from console.domain.urls import mask_url
from console.endpoints import check_endpoints


@click.group("endpoints")
def endpoints_group() -> None:
    """Endpoint configuration."""


@endpoints_group.command("check")
@store_options
def check_command() -> None:
    """Check endpoints.toml: keys, URLs, schemes, and that every secret reference resolves."""
    app = app_context()
    config, problems = check_endpoints(app.endpoints_path)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        fail(f"{app.endpoints_path}: {len(problems)} problem(s)")
    assert config is not None
    for endpoint in config.endpoints:
        click.echo(
            f"ok  {endpoint.id:<16} {endpoint.scheme.value:<9} {mask_url(endpoint.url)}  ({len(endpoint.secret_refs)} secret(s) resolve)"
        )
