"""`hookconsole endpoints check`: validate endpoints.toml without printing any secret."""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.context import app_context, fail, store_options
from console.domain.endpoint import Scheme
from console.domain.urls import mask_url
from console.endpoints import check_endpoints_file


@click.group("endpoints")
def endpoints_group() -> None:
    """Endpoint configuration."""


@endpoints_group.command("check")
@store_options
def check_command() -> None:
    """Check endpoints.toml: keys, URLs, schemes, and that every secret reference resolves."""
    app = app_context()
    config, problems = check_endpoints_file(app.endpoints_path)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        fail(f"{app.endpoints_path}: {len(problems)} problem(s)")
    assert config is not None
    for endpoint in config.endpoints:
        signing = ""
        if endpoint.scheme is Scheme.CONVOY:
            convoy = endpoint.convoy
            versions = ", ".join(f"v{n} {h}/{e}" for n, (h, e) in enumerate(convoy.versions, start=1))
            signing = f"  [{convoy.header}: {'advanced' if convoy.advanced else 'simple'}, {versions}]"
        click.echo(
            f"ok  {endpoint.id:<16} {endpoint.scheme.value:<9} {mask_url(endpoint.url)}  ({len(endpoint.secret_refs)} secret(s) resolve){signing}"
        )


@endpoints_group.command("import")
@click.argument("source", metavar="SOURCE")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the skeleton here instead of stdout (an existing file is not overwritten without --force).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def import_command(source: str, out: Path | None, force: bool) -> None:
    """Write an endpoints.toml skeleton from a dispatcher's endpoints (svix+postgresql://..., convoy+postgresql://...).

    Ids, URLs and the scheme come from the dispatcher (for Convoy also its signature header, hash, encoding and
    form); each secret is an env:NAME placeholder: secrets are never read, copied or printed.
    """
    from console.sources.endpoints_file import render_endpoints
    from console.sources.service import list_endpoints
    from console.sources.url import parse_source_url

    url = parse_source_url(source)
    endpoints = list_endpoints(source)
    if not endpoints:
        fail(f"{url.display}: the dispatcher has no endpoints (that are not deleted)")
    text = render_endpoints(endpoints, url.display)
    if out is None:
        click.echo(text, nl=False)
        return
    if out.exists() and not force:
        fail(f"--out {out}: exists already (use --force to overwrite it)")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--out {out}: cannot be written ({exc.strerror})")
    click.echo(
        f"wrote {len(endpoints)} endpoint(s) to {out}; set their secrets' env: variables, then run `hookconsole endpoints check`",
        err=True,
    )
