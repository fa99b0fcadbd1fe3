"""`endpoints import` carries each dispatcher's real signing into the skeleton: Convoy's project signature
header and versions and the endpoint's advanced_signatures (the signature then equals Convoy's own), Svix's
old keys as a note (never their values); paused endpoints disabled; the grants import needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from console.domain.endpoint import ConvoySigning
from console.domain.times import format_ms
from console.endpoints import EndpointsError, load_endpoints
from console.signing import sign
from tests.convoy_server import ConvoyTables
from tests.helpers import run
from tests.source_tables import dispatcher_schema, source_url
from tests.svix_server import SvixTables
from tests.test_signing_convoy_options import convoy_header

pytestmark = pytest.mark.postgres

PROJECTS = {
    "proj_shop": ("org_1", "shop", ("ep_crm", "ep_pay")),
    "proj_ops": ("org_1", "ops", ("ep_pager",)),
}
SHOP_VERSIONS = [
    {"uid": "01HV1", "hash": "SHA256", "encoding": "hex", "created_at": "2026-01-01T00:00:00Z"},
    {"uid": "01HV2", "hash": "SHA512", "encoding": "base64", "created_at": "2026-03-01T00:00:00Z"},
]
SECRETS = ("value-one-deleted", "value-two-active", "value-three-newest")


@pytest.fixture
def convoy() -> Any:
    with dispatcher_schema("convoy") as (conn, schema):
        tables = ConvoyTables(conn, PROJECTS)
        conn.execute(
            "UPDATE project_configurations SET signature_header = 'X-Shop-Signature', signature_versions = %s "
            "WHERE id = 'cfg_proj_shop'",
            (orjson.dumps(SHOP_VERSIONS).decode(),),
        )
        secrets = [
            {"uid": "s1", "value": SECRETS[0], "deleted_at": "2026-02-01T00:00:00Z", "expires_at": None},
            {"uid": "s2", "value": SECRETS[1], "deleted_at": None, "expires_at": "2026-12-01T00:00:00Z"},
            {"uid": "s3", "value": SECRETS[2], "created_at": "2026-11-30T00:00:00Z"},
        ]
        conn.execute(
            "UPDATE endpoints SET secrets = %s WHERE id = 'ep_pay'", (orjson.dumps(secrets).decode(),)
        )
        conn.execute("UPDATE endpoints SET advanced_signatures = false WHERE id = 'ep_crm'")
        conn.execute("UPDATE endpoints SET status = 'paused' WHERE id = 'ep_pager'")
        yield tables, schema


def test_convoy_import_writes_the_projects_signing(tmp_path: Any, convoy: Any) -> None:
    _tables, schema = convoy
    out = tmp_path / "endpoints.toml"
    result = run("endpoints", "import", source_url("convoy", schema), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    config = load_endpoints(out)
    shop = (("SHA256", "hex"), ("SHA512", "base64"))
    found = {e.id: (e.convoy, e.secret_refs, e.enabled) for e in config.endpoints}
    assert found == {
        "ep_crm": (ConvoySigning("X-Shop-Signature", False, shop), ("env:EP_CRM_SECRET",), True),
        # the deleted secret is not in rotation any more: two placeholders, for the two Convoy signs with
        "ep_pay": (
            ConvoySigning("X-Shop-Signature", True, shop),
            ("env:EP_PAY_SECRET", "env:EP_PAY_SECRET_2"),
            True,
        ),
        "ep_pager": (ConvoySigning(), ("env:EP_PAGER_SECRET",), False),  # paused: disabled
    }
    text = out.read_text() + result.stdout + result.stderr
    assert not any(secret in text for secret in SECRETS)
    assert "top-secret-value" not in text

    # Signed with the imported settings and the secrets in rotation, a request carries what Convoy sends.
    body, t = b'{"event":"reward.redeemed","amount":500}', 1_795_000_000
    for endpoint_id, secrets in (("ep_pay", list(SECRETS[1:])), ("ep_crm", ["crm-secret"])):
        endpoint = config.get(endpoint_id)
        assert endpoint is not None
        from_tables = ConvoySigning(
            "X-Shop-Signature",
            endpoint_id == "ep_pay",
            tuple((v["hash"], v["encoding"]) for v in SHOP_VERSIONS),
        )
        headers = sign("convoy", secrets, "evt_1", t, body, endpoint.convoy)
        assert headers["X-Shop-Signature"] == convoy_header(from_tables, secrets, t, body)


def test_convoy_settings_it_cannot_sign_with_are_flagged(tmp_path: Any, convoy: Any) -> None:
    tables, schema = convoy
    tables.conn.execute(
        "UPDATE project_configurations SET signature_versions = %s WHERE id = 'cfg_proj_ops'",
        ('[{"uid": "v1", "hash": "SHA1", "encoding": "hex"}]',),
    )
    tables.conn.execute("UPDATE endpoints SET is_encrypted = true, secrets = '[]' WHERE id = 'ep_pager'")
    out = tmp_path / "endpoints.toml"
    result = run("endpoints", "import", source_url("convoy", schema, project="ops"), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert "# convoy_versions: version 1: hash must be SHA256 or SHA512" in text
    assert "Convoy keeps this endpoint's secrets encrypted" in text
    assert 'convoy_versions = [{ hash = "SHA1", encoding = "hex" }]' in text
    with pytest.raises(EndpointsError, match="endpoint 'ep_pager': convoy_versions: version 1: hash"):
        load_endpoints(out)


def test_convoy_import_needs_select_on_the_project_configuration(tmp_path: Any, convoy: Any) -> None:
    """ingest reads three tables; endpoints import reads endpoints, projects and project_configurations."""
    tables, schema = convoy
    role = f"{schema}_reader"
    conn = tables.conn
    conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT ON delivery_attempts, event_deliveries, events TO {role}")
        url = source_url("convoy", schema).replace("postgres@", f"{role}@")
        read = run("--db", str(tmp_path / "store.db"), "ingest", url)
        assert read.exit_code == 0, read.stderr
        for table in ("endpoints", "projects", "project_configurations"):
            result = run("endpoints", "import", url)
            assert result.exit_code == 1
            assert f"no permission to read {schema}.{table} (GRANT SELECT ON it" in result.stderr
            conn.execute(f"GRANT SELECT ON {table} TO {role}")
        result = run("endpoints", "import", url)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.count('convoy_header = "X-Shop-Signature"') == 2
    finally:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


APPS = {"app_shop": ("org_1", "shop", ("ep_crm", "ep_pay", "ep_pos"))}


def _chrono(at: datetime) -> str:
    """A time as Svix's serde writes a DateTime<Utc>: RFC 3339, nanoseconds, Z."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def test_svix_import_notes_old_keys_still_valid_without_their_values(tmp_path: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    soon, later, gone = now + timedelta(hours=2), now + timedelta(hours=20), now - timedelta(hours=1)
    keys = {
        "ep_pay": [
            {"signingKey": "OLDKEY-MARKER-1", "expiration": _chrono(later)},
            {"signingKey": "OLDKEY-MARKER-2", "expiration": _chrono(soon)},
            {"signingKey": "OLDKEY-MARKER-3", "expiration": _chrono(gone)},
        ],
        "ep_crm": [{"signingKey": "OLDKEY-MARKER-4", "expiration": _chrono(gone)}],  # expired: no note
    }
    with dispatcher_schema("svix") as (conn, schema):
        SvixTables(conn, APPS)
        for endpoint, old in keys.items():
            conn.execute(
                "UPDATE endpoint SET old_keys = %s WHERE id = %s", (orjson.dumps(old).decode(), endpoint)
            )
        conn.execute("UPDATE endpoint SET old_keys = 'null'::jsonb WHERE id = 'ep_pos'")
        out = tmp_path / "endpoints.toml"
        result = run("endpoints", "import", source_url("svix", schema), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    pay = text.split('id = "ep_pay"')[1].split("[[endpoint]]")[0]
    first, last = format_ms(int(soon.timestamp() * 1000)), format_ms(int(later.timestamp() * 1000))
    assert (
        "# Svix still signs with 2 old secrets of this endpoint besides its current one (rotated out; "
        f"the first valid until {first}, the last until {last}, by the dispatcher's clock)."
    ) in pay
    assert (
        "# List them as further secrets so that verifying accepts either and replays are signed with each: "
        'secret = ["env:EP_PAY_SECRET", "env:EP_PAY_SECRET_2", "env:EP_PAY_SECRET_3"]'
    ) in pay
    assert text.count("Svix still signs with") == 1
    assert "OLDKEY-MARKER" not in text + result.stdout + result.stderr
    assert "secret-key-bytes" not in text
    config = load_endpoints(out)  # the note is a comment: the skeleton loads as it is
    assert [e.secret_refs for e in config.endpoints] == [
        ("env:EP_CRM_SECRET",),
        ("env:EP_PAY_SECRET",),
        ("env:EP_POS_SECRET",),
    ]
