"""Administration pages (server side): users (create, disable/enable, reset password, role and
units), API keys (create, revoke), the audit log (filters, unit scope, pages) and pipeline
health. Each action is checked by an independent reader: signing in, the API with the key,
the audit index read directly, Elasticsearch's own cluster health."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from socmon.api.console import users
from tests.api.conftest import UNIT_A, UNIT_B, index_alerts, make_alert
from tests.console.conftest import PASSWORD, sign_in

NEW_PASSWORD = "another long passphrase"


def can_sign_in(app, name: str, password: str) -> bool:  # type: ignore[no-untyped-def]
    http = TestClient(app, raise_server_exceptions=False)
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    r = http.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    return r.status_code == 303


def audit_docs(ctx, object_id: str) -> list[dict]:  # type: ignore[type-arg]
    ctx.client.indices.refresh(index=ctx.names.audit)
    resp = ctx.client.search(
        index=ctx.names.audit,
        query={"term": {"object.id": object_id}},
        sort=[{"@timestamp": "asc"}],
        size=100,
    )
    return [h["_source"] for h in resp["hits"]["hits"]]


def test_user_lifecycle_from_the_console(app, ctx, signed):
    admin = signed["admin"]
    page = admin.get("/admin/users")
    assert page.status_code == 200 and 'data-user="viewer-a"' in page.text

    r = admin.post(
        "/admin/users",
        {"name": "le.van.c", "role": "viewer", "units": UNIT_B, "password": PASSWORD},
    )
    assert r.status_code == 303, r.text[:300]
    u = users.get_user(ctx.client, ctx.names, "le.van.c")
    assert u is not None and u.role == "viewer" and u.units == (UNIT_B,)
    c = sign_in(app, "le.van.c")  # the new user works; bound to unit B
    index_alerts(ctx.client, ctx.names, [make_alert(1, UNIT_A), make_alert(2, UNIT_B)])
    assert c.get(f"/alerts?f=1&unit={UNIT_A}").status_code == 403

    # a duplicate name and a short password are refused with a reason, nothing created
    r = admin.post("/admin/users", {"name": "le.van.c", "role": "viewer", "password": PASSWORD})
    assert r.status_code == 422 and "already exists" in r.text
    r = admin.post("/admin/users", {"name": "short.pw", "role": "viewer", "password": "x" * 5})
    assert r.status_code == 422 and users.get_user(ctx.client, ctx.names, "short.pw") is None

    # role and units: analyst of unit A (change seen by the user's next sign-in)
    r = admin.post("/admin/users/le.van.c/access", {"role": "analyst", "units": UNIT_A})
    assert r.status_code == 303
    u = users.get_user(ctx.client, ctx.names, "le.van.c")
    assert u is not None and (u.role, u.units) == ("analyst", (UNIT_A,))

    # disable: the open session ends at once and sign-in is refused; enable: back
    assert admin.post("/admin/users/le.van.c/disabled", {"disabled": "true"}).status_code == 303
    r = c.get("/alerts")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert not can_sign_in(app, "le.van.c", PASSWORD)
    assert admin.post("/admin/users/le.van.c/disabled", {"disabled": "false"}).status_code == 303
    assert can_sign_in(app, "le.van.c", PASSWORD)

    # reset password: the old one stops working, the new one works
    r = admin.post("/admin/users/le.van.c/password", {"password": NEW_PASSWORD})
    assert r.status_code == 303
    assert not can_sign_in(app, "le.van.c", PASSWORD)
    assert can_sign_in(app, "le.van.c", NEW_PASSWORD)

    # an admin may not disable nor demote themselves (no lock-out)
    assert admin.post("/admin/users/admin/disabled", {"disabled": "true"}).status_code == 422
    r = admin.post("/admin/users/admin/access", {"role": "viewer", "units": ""})
    assert r.status_code == 422
    assert admin.post("/admin/users/nobody.here/disabled", {"disabled": "true"}).status_code == 404

    # every change audited with the admin's name, in order
    actions = [(d["action"], d["actor"]) for d in audit_docs(ctx, "le.van.c")]
    changes = [a for a in actions if not a[0].startswith("console.")]
    assert changes == [
        ("user.create", "user:admin"),
        ("user.access", "user:admin"),
        ("user.disable", "user:admin"),
        ("user.enable", "user:admin"),
        ("user.password_reset", "user:admin"),
    ]
    # no password or hash ever reaches the audit trail
    assert "password_hash" not in str(audit_docs(ctx, "le.van.c"))


def test_user_list_filters_and_pages(ctx, signed):
    # listed users need no password: records indexed directly (55 argon2 hashes take minutes)
    for i in range(55):
        doc = {"name": f"u{i:03d}", "role": "viewer", "units": ["*"], "created": "2026-12-01"}
        ctx.client.index(index=users.users_index(ctx.names), id=doc["name"], document=doc)
    ctx.client.indices.refresh(index=users.users_index(ctx.names))
    admin = signed["admin"]
    rows = re.compile(r'data-user="([^"]+)"')
    first = rows.findall(admin.get("/admin/users?q=u0").text)
    second = rows.findall(admin.get("/admin/users?q=u0&page=2").text)
    assert len(first) == 50 and len(second) == 5
    assert sorted(first + second) == [f"u{i:03d}" for i in range(55)]
    only = rows.findall(admin.get("/admin/users?role=analyst").text)
    assert sorted(only) == ["analyst", "analyst-a", "analyst-b"]


def test_api_keys_from_the_console(client, ctx, signed):
    admin = signed["admin"]
    r = admin.post("/admin/keys", {"name": "siem-export", "role": "viewer", "units": UNIT_A})
    assert r.status_code == 200
    key = re.search(r'<code id="new-key">(smk_[^<]+)</code>', r.text).group(1)  # type: ignore[union-attr]
    key_id = key[4:].split("_", 1)[0]
    # the key works on the API, scoped to unit A
    assert client.get("/api/v1/alerts", headers={"X-API-Key": key}).status_code == 200
    r = client.get(f"/api/v1/alerts?unit={UNIT_B}", headers={"X-API-Key": key})
    assert r.status_code == 403
    listing = admin.get("/admin/keys").text
    assert f'data-key="{key_id}"' in listing and key not in listing  # shown once only
    assert admin.post(f"/admin/keys/{key_id}/revoke").status_code == 303
    assert client.get("/api/v1/alerts", headers={"X-API-Key": key}).status_code == 401
    assert f'data-key="{key_id}"' not in admin.get("/admin/keys").text
    assert f'data-key="{key_id}"' in admin.get("/admin/keys?revoked=1").text
    assert admin.post("/admin/keys/0123abcd/revoke").status_code == 404
    assert [d["action"] for d in audit_docs(ctx, key_id)] == ["key.create", "key.revoke"]
    assert all(d["actor"] == "user:admin" for d in audit_docs(ctx, key_id))


def test_console_forms_need_the_csrf_token(ctx, signed):
    admin = signed["admin"]
    r = admin.http.post(
        "/admin/users",
        data={"name": "forged", "role": "admin", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert users.get_user(ctx.client, ctx.names, "forged") is None
    r = admin.http.post("/admin/keys", data={"name": "x", "role": "admin"})
    assert r.status_code == 403


def test_audit_log_filters_scope_and_pages(ctx, signed):
    (ida, da), (idb, db) = make_alert(1, UNIT_A), make_alert(2, UNIT_B)
    index_alerts(ctx.client, ctx.names, [(ida, da), (idb, db)])
    assert signed["analyst@A"].post(f"/alerts/{ida}/notes", {"text": "a"}).status_code == 303
    assert signed["analyst@B"].post(f"/alerts/{idb}/notes", {"text": "b"}).status_code == 303
    # a unit-A admin sees unit A's records only; the province admin sees both
    html_a = signed["admin@A"].get("/admin/audit?object_type=alert").text
    assert ida in html_a and idb not in html_a
    html = signed["admin"].get("/admin/audit?object_type=alert").text
    assert ida in html and idb in html
    assert signed["admin"].get("/admin/audit?actor=user:analyst-b").text.count(idb) >= 1
    assert ida not in signed["admin"].get("/admin/audit?actor=user:analyst-b").text
    # cursor pages: 60 notes -> the page size, then the rest, no record twice
    for i in range(60):
        signed["analyst@A"].post(f"/alerts/{ida}/notes", {"text": f"n{i}"})
    rows = re.compile(r"<time datetime=\"([^\"]+)\">")
    first = signed["admin"].get(f"/admin/audit?object_id={ida}")
    nxt = re.search(r'href="(/admin/audit\?cursor=[^"]+)" rel="next"', first.text)
    assert nxt, "no next page"
    second = signed["admin"].get(nxt.group(1).replace("&amp;", "&"))
    n1, n2 = len(rows.findall(first.text)), len(rows.findall(second.text))
    assert (n1, n2) == (50, 11)  # 61 notes, api.default_page_size 50 per page


def test_pipeline_health(ctx, signed, api_settings):
    now = dt.datetime.now(dt.UTC)
    stamp = now.isoformat().replace("+00:00", "Z")
    old = (now - dt.timedelta(hours=30)).isoformat().replace("+00:00", "Z")
    index = ctx.names.events(now.date())
    ops: list[dict] = []  # type: ignore[type-arg]
    for i, (ds, ts) in enumerate([("fw.cisco", stamp)] * 3 + [("web.nginx", old)]):
        ops += [
            {"index": {"_index": index, "_id": f"e{i}"}},
            {"@timestamp": ts, "event": {"dataset": ds, "ingested": stamp}},
        ]
    ctx.client.bulk(operations=ops, refresh="wait_for")
    ctx.client.index(
        index=ctx.names.deadletter,
        id="n1",
        document={
            "@timestamp": stamp,
            "index": "notification",
            "reason": "smtp 550 refused",
            "error_type": "notification_email",
            "doc_id": "n1",
            "status": 5,
        },
        refresh="wait_for",
    )
    spool = api_settings.storage.spool_dir
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "000001-7.ndjson").write_bytes(b"x" * 100)
    (spool / "000002-5.ndjson").write_bytes(b"y" * 50)

    html = signed["admin"].get("/admin/health").text
    es_status = ctx.client.cluster.health()["status"]
    assert f'class="es-{es_status}">{es_status}<' in html
    # sources: the silent one (last event 30 h ago) first, with its event count
    src = re.findall(r"<td>(fw\.cisco|web\.nginx)</td><td class=\"num\">(\d+)</td>", html)
    assert src == [("web.nginx", "1"), ("fw.cisco", "3")]
    # 4 events ingested in the 5-minute window
    assert "(4 " in html or "(4 events" in html
    assert (
        "12 documents in 2 segments (150 bytes)" in html
        or "12 bản ghi trong 2 phân đoạn (150 byte)" in html
    )
    assert "smtp 550 refused" in html
    # unit admins do not see the province's pipeline
    assert signed["admin@A"].get("/admin/health").status_code == 403
