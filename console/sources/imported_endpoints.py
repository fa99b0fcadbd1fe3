"""The endpoints of a Svix or Convoy server, for `endpoints import`: ids, URLs, names, whether they are off,
how the dispatcher signs for them, and what the operator should know about their secrets. No secret value is
ever selected: only counts and expiry times.

- Convoy signs with its project's configuration (`project_configurations.signature_header` and
  `signature_versions`, a JSON array of {uid, hash, encoding, created_at}, in version order) and the
  endpoint's `advanced_signatures`, with every secret of `endpoints.secrets` not deleted (`deleted_at`).
- Svix signs with the endpoint's key and with each old key (`endpoint.old_keys`, a JSON array of
  {signingKey, expiration}) until it expires (a rotation keeps the previous key valid, 24 hours by default).
"""

from __future__ import annotations

from typing import Any

from console.domain.endpoint import ConvoySigning
from console.domain.times import format_ms, parse_rfc3339_ms
from console.sources.database import check_tables, db_now_ms
from console.sources.dispatcher import ImportedEndpoint
from console.sources.endpoints_file import secret_variable
from console.sources.url import SourceURL

CONVOY_TABLES = ("endpoints", "projects", "project_configurations")


def convoy_endpoints(
    conn: Any, url: SourceURL, scope_ids: list[str] | None, shape: str
) -> list[ImportedEndpoint]:
    """Convoy's live endpoints (of the projects in `scope_ids`, or all), each with its project's signing."""
    cols = check_tables(conn, url, CONVOY_TABLES, shape)["endpoints"]
    table = f'"{url.schema}"'
    where, params = ["true"], []
    if "deleted_at" in cols:
        where.append("e.deleted_at IS NULL")
    if scope_ids is not None:
        where.append("e.project_id = ANY(%s)")
        params.append(scope_ids)
    target = "e.url" if "url" in cols else "e.target_url"
    name = "e.name" if "name" in cols else "NULL"
    secrets = (
        "CASE WHEN jsonb_typeof(e.secrets) = 'array' THEN (SELECT count(*) FROM jsonb_array_elements(e.secrets) s"
        " WHERE s ->> 'deleted_at' IS NULL) ELSE 1 END"
        if "secrets" in cols
        else "1"
    )
    disabled = "e.status IN ('inactive', 'paused')" if "status" in cols else "false"
    advanced = "e.advanced_signatures" if "advanced_signatures" in cols else "NULL::boolean"
    encrypted = "coalesce(e.is_encrypted, false)" if "is_encrypted" in cols else "false"
    rows = conn.execute(
        f"SELECT e.id, {target}, {name}, {secrets}, {disabled}, {advanced}, c.id IS NOT NULL, "
        f"c.signature_header, c.signature_versions, {encrypted} FROM {table}.endpoints e "
        f"LEFT JOIN {table}.projects p ON p.id = e.project_id "
        f"LEFT JOIN {table}.project_configurations c ON c.id = p.project_configuration_id "
        f"WHERE {' AND '.join(where)} ORDER BY e.id",
        params,
    ).fetchall()
    out = []
    for endpoint_id, address, label, count, off, is_advanced, configured, header, versions, sealed in rows:
        notes: list[str] = []
        signing = ConvoySigning() if is_advanced is None else ConvoySigning(advanced=bool(is_advanced))
        if not configured:
            notes.append("its project's configuration is not in the tables: Convoy's defaults are written")
        else:
            header = header if isinstance(header, str) else ""
            signing = ConvoySigning(header, signing.advanced, _convoy_versions(versions))
        if sealed:
            notes.append(
                "Convoy keeps this endpoint's secrets encrypted: how many are in rotation is not known here "
                "(one placeholder is written; add one per secret)"
            )
        out.append(
            ImportedEndpoint(
                endpoint_id,
                address,
                "convoy",
                label,
                max(1, int(count or 1)),
                bool(off),
                convoy=signing,
                notes=tuple(notes),
            )
        )
    return out


def _convoy_versions(value: Any) -> tuple[tuple[str, str], ...]:
    """The (hash, encoding) of each signature version, in order, as stored (checked when the file is)."""
    if not isinstance(value, list):
        return ()
    versions = []
    for item in value:
        item = item if isinstance(item, dict) else {}
        versions.append((str(item.get("hash") or ""), str(item.get("encoding") or "")))
    return tuple(versions)


def svix_endpoints(conn: Any, url: SourceURL, scope_ids: list[str] | None) -> list[ImportedEndpoint]:
    """Svix's live endpoints (of the applications in `scope_ids`, or all), with a note on old keys still valid."""
    where = "WHERE NOT e.deleted"
    params: list[Any] = []
    if scope_ids is not None:
        where += " AND e.app_id = ANY(%s)"
        params.append(scope_ids)
    expirations = (
        "(SELECT array_agg(k ->> 'expiration') FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e.old_keys) = "
        "'array' THEN e.old_keys ELSE '[]'::jsonb END) k WHERE jsonb_typeof(k) = 'object')"
    )
    rows = conn.execute(
        f'SELECT e.id, e.url, e.uid, e.disabled, {expirations} FROM "{url.schema}".endpoint e {where} ORDER BY e.id',
        params,
    ).fetchall()
    now = db_now_ms(conn)
    return [
        ImportedEndpoint(
            endpoint_id,
            target,
            "standard",
            uid,
            1,
            bool(disabled),
            notes=_old_keys_note(endpoint_id, expiries, now),
        )
        for endpoint_id, target, uid, disabled, expiries in rows
    ]


def _old_keys_note(endpoint_id: str, expirations: list[str | None] | None, now_ms: int) -> tuple[str, ...]:
    """What the skeleton says of an endpoint's old keys that Svix still signs with (none once expired)."""
    valid = []
    for text in expirations or ():
        try:
            at = parse_rfc3339_ms(text or "")
        except ValueError:
            continue
        if at > now_ms:
            valid.append(at)
    if not valid:
        return ()
    count = len(valid)
    until = (
        f"valid until {format_ms(valid[0])}"
        if count == 1
        else f"the first valid until {format_ms(min(valid))}, the last until {format_ms(max(valid))}"
    )
    refs = ", ".join(f'"env:{secret_variable(endpoint_id, n)}"' for n in range(count + 1))
    return (
        f"Svix still signs with {count} old secret{'s' if count > 1 else ''} of this endpoint besides its "
        f"current one (rotated out; {until}, by the dispatcher's clock).",
        f"List {'them as further secrets' if count > 1 else 'it as a further secret'} so that verifying "
        f"accepts either and replays are signed with each: secret = [{refs}]",
    )
