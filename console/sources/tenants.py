"""Which tenants a source reads: `app=` (Svix applications) or `project=` (Convoy projects), within `org=`.

Svix's `application.uid` is unique only within an organisation, Convoy's project name only within an
organisation (and among live projects): a name that matches in several organisations is refused, with the
candidates listed, rather than read together.
"""

from __future__ import annotations

from typing import Any

from console.ingest.log_files import SourceError
from console.sources.url import SourceURL

MAX_LISTED = 5


def resolve_scope(
    conn: Any,
    url: SourceURL,
    *,
    kind: str,
    table: str,
    name_column: str,
    org_column: str,
    wanted: str | None,
    org: str | None,
    live: str = "true",
    org_names: str | None = None,
    name_label: str = "name",
) -> list[str] | None:
    """The ids of the tenants to read (None: every tenant). `org_names`: a query `SELECT id FROM ... WHERE
    id = %s OR name = %s` resolving an organisation given by name (Convoy), else `org=` is the id itself."""
    orgs: list[str] | None = None
    if org is not None:
        orgs = [org]
        if org_names is not None:
            orgs = [org_id for (org_id,) in conn.execute(org_names, (org, org)).fetchall()]
            if not orgs:
                raise SourceError(f"{url.display}: no organisation with id or name {org!r}")
    if wanted is None:
        if orgs is None:
            return None
        rows = conn.execute(
            f"SELECT id FROM {table} WHERE {org_column} = ANY(%s) AND {live} ORDER BY id", (orgs,)
        ).fetchall()
        if not rows:
            raise SourceError(f"{url.display}: no {kind} in organisation {org!r}")
        return [tenant_id for (tenant_id,) in rows]
    query = f"SELECT id, {org_column} FROM {table} WHERE (id = %s OR {name_column} = %s) AND {live}"
    params: list[Any] = [wanted, wanted]
    if orgs is not None:
        query += f" AND {org_column} = ANY(%s)"
        params.append(orgs)
    rows = conn.execute(query + " ORDER BY id", params).fetchall()
    if not rows:
        within = f" in organisation {org!r}" if org is not None else ""
        raise SourceError(f"{url.display}: no {kind} with id or {name_label} {wanted!r}{within}")
    by_id = [tenant_id for tenant_id, _ in rows if tenant_id == wanted]
    if by_id:
        return [wanted]  # an id is unique
    if len({org_id for _, org_id in rows}) > 1 or len(rows) > 1:
        listed = ", ".join(f"{tenant_id} (organisation {org_id})" for tenant_id, org_id in rows[:MAX_LISTED])
        more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
        raise SourceError(
            f"{url.display}: {wanted!r} names {len(rows)} {kind}s: {listed}{more}; "
            "give its id, or org=ORGANISATION to choose"
        )
    ((tenant_id, _),) = rows  # one row: more were refused above
    return [tenant_id]
