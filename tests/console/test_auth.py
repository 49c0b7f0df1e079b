"""Signing in and out, sessions (cookie flags, idle and absolute expiry), CSRF, throttling,
password change, disabled users, the first-user hint, audit records, the users CLI."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner
from fastapi.testclient import TestClient

from socmon.api.app import create_app
from socmon.api.console import sessions, users
from socmon.api.console.app import FIRST_USER_HINT
from tests.api.conftest import UNIT_A
from tests.console.conftest import PASSWORD, csrf_of, make_user, sign_in

HINT_VI = "Chưa có người dùng nào. Hãy tạo quản trị viên đầu tiên trên máy chủ:"
WRONG_VI = "Sai tên đăng nhập hoặc mật khẩu."


def _post_login(http: TestClient, name: str, password: str):  # type: ignore[no-untyped-def]
    page = http.get("/login")
    return http.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def test_login_form_and_first_user_hint(client, ctx):
    page = client.get("/login")
    assert page.status_code == 200
    assert '<input id="username" name="username"' in page.text
    assert 'name="password" type="password"' in page.text
    assert HINT_VI in page.text and "socmon users create" in page.text
    make_user(ctx, "first", "admin", None)
    ctx.client.indices.refresh(index=users.users_index(ctx.names))
    assert HINT_VI not in client.get("/login").text


def test_first_user_hint_logged_at_start(ctx, caplog):
    from socmon.api.console.app import announce_first_user

    with caplog.at_level("WARNING"):
        announce_first_user(ctx)
    assert FIRST_USER_HINT in caplog.text


def test_sign_in_cookie_flags_and_redirect(app, ctx):
    make_user(ctx, "ana", "analyst", [UNIT_A])
    http = TestClient(app, raise_server_exceptions=False)
    page = http.get("/login?next=/alerts%3Ff%3D1")
    r = http.post(
        "/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "/alerts?f=1",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/alerts?f=1"
    cookie = next(v for k, v in r.headers.multi_items() if v.startswith("socmon_session="))
    low = cookie.lower()
    assert "httponly" in low and "samesite=lax" in low and "secure" not in low
    # Over TLS the cookie is Secure.
    https = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    r = _post_login(https, "ana", PASSWORD)
    cookie = next(v for k, v in r.headers.multi_items() if v.startswith("socmon_session="))
    assert "secure" in cookie.lower()
    # An off-site next is ignored.
    r = http.post(
        "/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(http.get("/login").text),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    # already signed in: the form redirects; sign in from a fresh client instead
    fresh = TestClient(app, raise_server_exceptions=False)
    page = fresh.get("/login")
    r = fresh.post(
        "/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_safe_next():
    from socmon.api.console.pages.account import safe_next

    assert safe_next("/alerts?f=1") == "/alerts?f=1"
    for bad in (
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "",
        None,
        "alerts",
    ):
        assert safe_next(bad) == "/", bad


def test_wrong_password_and_login_csrf(app, ctx):
    make_user(ctx, "ana", "analyst", [UNIT_A])
    http = TestClient(app, raise_server_exceptions=False)
    r = _post_login(http, "ana", "not the password")
    assert r.status_code == 401 and WRONG_VI in r.text
    r = _post_login(http, "nobody-here", "whatever password")
    assert r.status_code == 401 and WRONG_VI in r.text
    # A form posted from elsewhere has no matching token: refused.
    other = TestClient(app, raise_server_exceptions=False)
    r = other.post(
        "/login",
        data={"username": "ana", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "socmon_session" not in r.headers.get("set-cookie", "")


def test_throttle_per_user_and_per_address(app, ctx):
    s = ctx.settings.api
    make_user(ctx, "ana", "analyst", [UNIT_A])
    make_user(ctx, "bao", "analyst", [UNIT_A])
    http = TestClient(app, raise_server_exceptions=False)
    for _ in range(s.console_login_user_failures):
        assert _post_login(http, "ana", "bad password!").status_code == 401
    # Now even the right password is refused, with the time to wait.
    r = _post_login(http, "ana", PASSWORD)
    assert r.status_code == 429
    assert "Tên đăng nhập này đã đăng nhập sai quá nhiều lần" in r.text
    assert 0 < int(r.headers["Retry-After"]) <= s.console_login_window_seconds
    # Another user from the same address is not throttled by ana's failures.
    assert _post_login(TestClient(app), "bao", PASSWORD).status_code == 303
    # Per address: a spray over many names from one address.
    ctx.settings.api.console_login_address_failures = 3
    app2 = create_app(ctx)
    spray = TestClient(app2, raise_server_exceptions=False)
    for i in range(3):
        assert _post_login(spray, f"user{i}", "bad password!").status_code == 401
    r = _post_login(spray, "bao", PASSWORD)
    assert r.status_code == 429 and "Địa chỉ của bạn đã đăng nhập sai quá nhiều lần" in r.text


def test_session_idle_and_absolute_expiry(app, ctx):
    make_user(ctx, "ana", "analyst", [UNIT_A])
    ctx.settings.api.console_session_idle_seconds = 1
    s = sign_in(app, "ana")
    time.sleep(1.3)
    r = s.get("/alerts")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    # the expired session was deleted, not just refused
    ctx.client.indices.refresh(index=sessions.sessions_index(ctx.names))
    assert ctx.client.count(index=sessions.sessions_index(ctx.names))["count"] == 0

    ctx.settings.api.console_session_idle_seconds = 3600
    ctx.settings.api.console_session_max_hours = 5 / 3600  # 5 s after sign-in
    s = sign_in(app, "ana")
    assert s.get("/alerts").status_code == 200
    time.sleep(5.5)
    assert s.get("/alerts").status_code == 303  # used all along, but the absolute limit passed


def test_logout_ends_the_session(app, ctx):
    make_user(ctx, "ana", "analyst", [UNIT_A])
    s = sign_in(app, "ana")
    token = s.http.cookies.get(sessions.COOKIE)
    r = s.post("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # The old cookie, replayed, no longer works.
    replay = TestClient(app, raise_server_exceptions=False, cookies={sessions.COOKIE: token})
    assert replay.get("/alerts", follow_redirects=False).status_code == 303


def test_csrf_refused_on_state_changes(app, ctx):
    from tests.api.conftest import index_alerts, make_alert

    aid, doc = make_alert(1, UNIT_A)
    index_alerts(ctx.client, ctx.names, [(aid, doc)])
    make_user(ctx, "ana", "analyst", [UNIT_A])
    s = sign_in(app, "ana")
    url = f"/alerts/{aid}/notes"
    assert s.http.post(url, data={"text": "x"}, follow_redirects=False).status_code == 403
    bad = {"text": "x", "csrf_token": "not-the-token"}
    assert s.http.post(url, data=bad, follow_redirects=False).status_code == 403
    # htmx sends the token as a header
    r = s.http.post(
        url, data={"text": "x"}, headers={"X-CSRF-Token": s.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert s.post(url, {"text": "y"}).status_code == 303
    got = ctx.client.get(index=ctx.names.alerts, id=aid)["_source"]
    assert [n["text"] for n in got["notes"]] == ["x", "y"]


def test_password_change(app, ctx):
    make_user(ctx, "ana", "analyst", [UNIT_A])
    other = sign_in(app, "ana")  # another browser
    s = sign_in(app, "ana")
    new = "a much longer passphrase"
    r = s.post("/account/password", {"current": "wrong", "new": new, "confirm": new})
    assert r.status_code == 422 and "Mật khẩu hiện tại không đúng." in r.text
    r = s.post("/account/password", {"current": PASSWORD, "new": "short", "confirm": "short"})
    assert r.status_code == 422 and "Mật khẩu mới phải có ít nhất 12 ký tự." in r.text
    r = s.post("/account/password", {"current": PASSWORD, "new": new, "confirm": new})
    assert r.status_code == 303
    assert s.get("/account/password?done=1").status_code == 200  # this browser continues
    assert other.get("/alerts").status_code == 303  # the other one is signed out
    assert _post_login(TestClient(app), "ana", PASSWORD).status_code == 401
    assert _post_login(TestClient(app), "ana", new).status_code == 303
    stored = ctx.client.get(index=users.users_index(ctx.names), id="ana")["_source"]
    assert stored["password_hash"].startswith("$argon2id$")


def test_disabled_user_cannot_sign_in(app, ctx):
    ctx.settings.api.key_cache_seconds = 1.0
    make_user(ctx, "ana", "analyst", [UNIT_A])
    s = sign_in(app, "ana")
    # disabled elsewhere (the CLI is another process): refused within key_cache_seconds
    users.set_disabled(ctx.client, ctx.names, "ana", True, "test")
    time.sleep(1.1)
    assert s.get("/alerts").status_code == 303
    assert _post_login(TestClient(app), "ana", PASSWORD).status_code == 401


def test_audit_records_carry_the_users_name(app, ctx, client):
    from tests.api.conftest import index_alerts, make_alert

    aid, doc = make_alert(1, UNIT_A)
    index_alerts(ctx.client, ctx.names, [(aid, doc)])
    make_user(ctx, "ana", "analyst", [UNIT_A])
    s = sign_in(app, "ana")
    assert s.post(f"/alerts/{aid}/status", {"status": "acknowledged"}).status_code == 303
    assert s.post("/logout").status_code == 303
    ctx.client.indices.refresh(index=ctx.names.audit)
    hits = ctx.client.search(index=ctx.names.audit, size=100, sort=[{"@timestamp": "asc"}])
    rows = [
        (h["_source"]["actor"], h["_source"]["action"], h["_source"]["object"]["id"])
        for h in hits["hits"]["hits"]
    ]
    assert rows == [
        ("user:ana", "console.login", "ana"),
        ("user:ana", "alert.status", aid),
        ("user:ana", "console.logout", "ana"),
    ]


def test_users_cli(ctx, api_settings, monkeypatch):
    from socmon.cli import cli

    monkeypatch.setenv("SOCMON_ES_URL", api_settings.es.url)
    monkeypatch.setenv("SOCMON_ES_INDEX_PREFIX", ctx.names.prefix)
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--name",
            "lan",
            "--role",
            "analyst",
            "--unit",
            UNIT_A,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli,
        ["users", "create", "--name", "lan", "--role", "viewer", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code != 0 and "already exists" in r.output
    r = runner.invoke(
        cli,
        ["users", "create", "--name", "x", "--role", "viewer", "--password-stdin"],
        input="short\n",
    )
    assert r.exit_code != 0 and "at least 12" in r.output
    r = runner.invoke(cli, ["users", "list", "--json"])
    listed = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(u["name"], u["role"], u["units"], u["disabled"]) for u in listed] == [
        ("lan", "analyst", [UNIT_A], False)
    ]
    assert "password" not in r.output
    assert users.authenticate(ctx.client, ctx.names, "lan", PASSWORD) is not None
    assert runner.invoke(cli, ["users", "disable", "lan"]).exit_code == 0
    assert users.authenticate(ctx.client, ctx.names, "lan", PASSWORD) is None
    assert runner.invoke(cli, ["users", "enable", "lan"]).exit_code == 0
    new = "another long password"
    r = runner.invoke(cli, ["users", "passwd", "lan", "--password-stdin"], input=new + "\n")
    assert r.exit_code == 0, r.output
    assert users.authenticate(ctx.client, ctx.names, "lan", new) is not None
    assert runner.invoke(cli, ["users", "--help"]).exit_code == 0
    ctx.client.indices.refresh(index=ctx.names.audit)
    actions = [
        h["_source"]["action"]
        for h in ctx.client.search(index=ctx.names.audit, size=50, sort=["@timestamp"])["hits"][
            "hits"
        ]
    ]
    assert actions == ["user.create", "user.disable", "user.enable", "user.password"]
