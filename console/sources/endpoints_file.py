"""An endpoints.toml skeleton from a dispatcher's endpoints: ids, URLs, the scheme its dispatcher signs with
(for Convoy, its header, versions and form), notes on secrets; each secret is an `env:NAME` placeholder
(secrets are never read, copied or printed)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from console.domain.endpoint import ConvoySigning
from console.endpoints import convoy_versions_problem, header_problem, url_problem
from console.sources.dispatcher import ImportedEndpoint


def secret_variable(endpoint_id: str, index: int = 0) -> str:
    """The environment variable an imported endpoint's secret is expected in: EP_PAY_SECRET, EP_PAY_SECRET_2."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", endpoint_id).strip("_").upper() or "ENDPOINT"
    if base[0].isdigit():
        base = "EP_" + base
    return f"{base}_SECRET" + (f"_{index + 1}" if index else "")


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render_endpoints(endpoints: Sequence[ImportedEndpoint], source: str) -> str:
    """The TOML text; a comment flags what `endpoints check` will refuse (plain http to a remote host)."""
    lines = [
        f"# Imported from {source} by `hookconsole endpoints import`.",
        "# Set each env: variable to the endpoint's signing secret before replaying (never put it here).",
    ]
    if any(e.convoy is not None for e in endpoints):
        lines.append(
            "# convoy_*: how Convoy signs for each endpoint (its project's signature header and versions, the"
            " endpoint's advanced_signatures)."
        )
    lines.append("")
    for endpoint in endpoints:
        lines.append("[[endpoint]]")
        lines.append(f"id = {_quoted(endpoint.id)}")
        if endpoint.name:
            lines.append(f"name = {_quoted(endpoint.name)}")
        problem = url_problem(endpoint.url)
        if problem:
            lines.append(f"# url {problem}: replays will refuse it until it is changed")
        lines.append(f"url = {_quoted(endpoint.url)}")
        lines.append(f"scheme = {_quoted(endpoint.scheme)}")
        if endpoint.convoy is not None:
            lines += _convoy_lines(endpoint.convoy)
        lines += [f"# {note}" for note in endpoint.notes]
        refs = [f"env:{secret_variable(endpoint.id, n)}" for n in range(max(1, endpoint.secrets))]
        if len(refs) == 1:
            lines.append(f"secret = {_quoted(refs[0])}")
        else:
            lines.append(f"secret = [{', '.join(_quoted(r) for r in refs)}]  # one per secret in rotation")
        if endpoint.disabled:
            lines.append("enabled = false")
        lines.append("")
    return "\n".join(lines)


def _convoy_lines(convoy: ConvoySigning) -> list[str]:
    """How Convoy signs for the endpoint, with a comment on what `endpoints check` will refuse (Convoy cannot
    sign that way either)."""
    versions = [{"hash": h, "encoding": e} for h, e in convoy.versions]
    lines = []
    problem = header_problem(convoy.header)
    if problem:
        lines.append(
            f"# convoy_header: {problem}: set the header Convoy sends (endpoints check refuses this)"
        )
    lines.append(f"convoy_header = {_quoted(convoy.header)}")
    lines.append(f"convoy_advanced = {'true' if convoy.advanced else 'false'}")
    problem = convoy_versions_problem(versions)
    if problem:
        lines.append(
            f"# convoy_versions: {problem}: Convoy cannot sign with them either (endpoints check refuses this)"
        )
    tables = ", ".join(f"{{ hash = {_quoted(h)}, encoding = {_quoted(e)} }}" for h, e in convoy.versions)
    lines.append(f"convoy_versions = [{tables}]")
    return lines
