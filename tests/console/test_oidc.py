"""Console sign-in at a real OpenID provider (oidc-provider-mock in a thread, PKCE enforced:
tests/console/oidc_provider.py), the whole redirect dance through the application: success
(the session scopes by the units claim, the user is recorded and audited), refusals (no role,
no units, disabled, a name taken by another subject: audited), wrong, replayed and expired
states, a foreign nonce, a wrong PKCE verifier, the provider's errors, an unreachable
provider; never a 500. Expected texts are the catalogue's Vietnamese, written out here."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from socmon.api.auth import RateLimiter
from socmon.api.console import oidc_logins, users
from socmon.api.context import ApiContext
from socmon.cli import cli
from tests.api.conftest import UNIT_A, UNIT_B, index_alerts, make_alert
from tests.console.conftest import csrf_of, make_user
from tests.console.oidc_provider import MockProvider, allow_public_clients, running, s256

pytestmark = pytest.mark.es

CLIENT_ID = "socmon-console"
BUTTON_VI = "Đăng nhập bằng Sở TTTT SSO"
BAD_STATE_VI = "Lượt đăng nhập này không bắt đầu trên trình duyệt này"
NO_ROLE_VI = "Tài khoản của bạn tại nhà cung cấp chưa có vai trò socmon (claim socmon_role)."
NO_UNITS_VI = "chưa được gắn với đơn vị nào (claim socmon_units)"
DISABLED_VI = "Tài khoản này đã bị vô hiệu hóa trong socmon."
DENIED_VI = "Việc đăng nhập đã bị hủy hoặc bị từ chối tại nhà cung cấp."
CODE_REFUSED_VI = "Nhà cung cấp từ chối hoàn tất việc đăng nhập"
INVALID_TOKEN_VI = "Không xác minh được mã định danh (ID token) của nhà cung cấp."
UNREACHABLE_VI = "Không kết nối được với nhà cung cấp đăng nhập."
NAME_TAKEN_VI = "Một tài khoản khác tại nhà cung cấp đã đăng nhập với tên người dùng này."


@pytest.fixture
def provider(ctx: ApiContext) -> Iterator[MockProvider]:
    with running() as p:
        s = ctx.settings.api
        s.oidc_issuer, s.oidc_client_id = p.issuer, CLIENT_ID
        s.oidc_client_secret = SecretStr("s3cret")  # a confidential client (the usual case)
        s.oidc_provider_name = "Sở TTTT SSO"
        yield p


def begin(http: TestClient, next_url: str = "/alerts") -> str:
    """Press the provider's button on /login; the provider's authorization URL."""
    page = http.get("/login")
    assert page.status_code == 200
    assert 'id="oidc-sign-in" href="/login/oidc?next=/"' in page.text
    r = http.get("/login/oidc", params={"next": next_url}, follow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    return r.headers["location"]


def callback_path(location: str) -> str:
    u = urlsplit(location)
    assert u.path == "/login/oidc/callback", location
    return f"{u.path}?{u.query}"


def dance(http: TestClient, provider: MockProvider, sub: str, next_url: str = "/alerts") -> Any:
    """Sign in as ``sub`` at the provider; the application's answer to the callback."""
    back = provider.authorize(begin(http, next_url), sub)
    return http.get(callback_path(back), follow_redirects=False)


def refused(r: Any, status: int, text: str) -> None:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert text in r.text, r.text[:2000]
    assert '<input id="username" name="username"' in r.text  # back on the sign-in page
    assert not any(v.startswith("socmon_session=") for _, v in r.headers.multi_items())


def audit_of(ctx: ApiContext, action: str) -> list[dict[str, Any]]:
    ctx.client.indices.refresh(index=ctx.names.audit)
    q = {"term": {"action": action}}
    hits = ctx.client.search(index=ctx.names.audit, query=q, size=50)["hits"]["hits"]
    return [h["_source"] for h in hits]


def http_client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def test_button_only_when_configured(app, ctx):
    http = http_client(app)
    assert "/login/oidc" not in http.get("/login").text
    assert http.get("/login/oidc").status_code == 404
    with running() as p:
        ctx.settings.api.oidc_issuer, ctx.settings.api.oidc_client_id = p.issuer, CLIENT_ID
        page = http.get("/login")
        assert "Đăng nhập bằng SSO" in page.text  # the default provider name
        assert 'name="password" type="password"' in page.text  # the password form stays
        en = http.get("/login", headers={"Accept-Language": "en"})
        assert "Sign in with SSO" in en.text
        # the page asked for after sign-in goes through the provider's button too
        page = http.get("/login?next=/alerts%3Fstatus%3Dopen")
        assert 'href="/login/oidc?next=/alerts%3Fstatus%3Dopen"' in page.text


def test_sign_in_scoped_session_recorded_and_audited(app, ctx, provider):
    a = [make_alert(i, UNIT_A, rule_id="rule-a") for i in range(3)]
    b = [make_alert(i, UNIT_B, rule_id="rule-b") for i in range(2)]
    index_alerts(ctx.client, ctx.names, a + b)
    provider.set_user(
        "sub-ana", preferred_username="ana", socmon_role="analyst", socmon_units=[UNIT_A]
    )
    http = http_client(app)
    auth_url = begin(http, "/alerts?status=open")
    q = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    assert auth_url.startswith(provider.issuer + "/oauth2/authorize?")
    assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["scope"] == "openid profile email"
    assert q["redirect_uri"] == "http://testserver/login/oidc/callback"
    assert len(q["state"]) >= 43 and len(q["nonce"]) >= 43 and q["state"] != q["nonce"]
    r = http.get(callback_path(provider.authorize(auth_url, "sub-ana")), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/alerts?status=open", r.text[:500]
    cookie = next(v for _, v in r.headers.multi_items() if v.startswith("socmon_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    # the token request: client_secret_basic (discovery names no method), the PKCE verifier
    (tok,) = provider.token_requests
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:s3cret".encode()).decode()
    assert tok["authorization"] == basic and "client_secret" not in tok
    assert s256(tok["code_verifier"]) == q["code_challenge"]
    # the session is the console's: scoped to unit A, CSRF on changes
    queue = http.get("/alerts", follow_redirects=False)
    assert queue.status_code == 200
    for aid, _ in a:
        assert aid in queue.text
    for aid, _ in b:
        assert aid not in queue.text
    assert "oidc:ana" in queue.text and 'href="/account/password"' not in queue.text
    assert http.get(f"/alerts/{b[0][0]}").status_code == 404
    assert http.get("/account/password").status_code == 404  # no password in socmon
    token = csrf_of(queue.text)
    assert http.post("/logout", data={}, follow_redirects=False).status_code == 403
    # the user record: password-less, from the claims
    rec = users.get_user(ctx.client, ctx.names, "oidc:ana")
    assert rec is not None and rec.source == "oidc"
    assert (rec.role, rec.units, rec.disabled) == ("analyst", (UNIT_A,), False)
    (login,) = audit_of(ctx, "console.login")
    assert login["actor"] == "user:oidc:ana" and login["object"]["id"] == "oidc:ana"
    assert login["after"]["method"] == "oidc" and login["after"]["subject"] == "sub-ana"
    r = http.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 200 and "Bạn đã đăng xuất khỏi socmon." in r.text  # see below
    # signing in again takes the claims as they are now (province-wide, viewer)
    provider.set_user("sub-ana", preferred_username="ana", socmon_role="viewer", socmon_units="*")
    assert dance(http, provider, "sub-ana").status_code == 303
    rec = users.get_user(ctx.client, ctx.names, "oidc:ana")
    assert rec is not None and (rec.role, rec.units) == ("viewer", None)
    queue = http.get("/alerts")
    assert all(aid in queue.text for aid, _ in a + b)


def session_cookie(http: TestClient) -> str:
    token = http.cookies.get("socmon_session")
    assert token
    return str(token)


def test_sign_out_ends_the_session_at_the_provider_too(app, ctx, provider):
    provider.set_user("sub-ana", preferred_username="ana", socmon_role="viewer", socmon_units="*")
    http = http_client(app)
    assert dance(http, provider, "sub-ana", "/alerts").status_code == 303
    old = session_cookie(http)
    token = csrf_of(http.get("/alerts").text)
    r = http.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 200, r.text[:500]
    # where RP-Initiated Logout 1.0 says to go: the end_session_endpoint of the provider's
    # own discovery document, with our client_id and where to come back to
    doc = httpx.get(provider.issuer + "/.well-known/openid-configuration").json()
    back = "http://testserver/login"
    url = (
        doc["end_session_endpoint"]
        + "?"
        + urlencode({"client_id": CLIENT_ID, "post_logout_redirect_uri": back})
    )
    assert f'<meta http-equiv="refresh" content="0;url={html.escape(url)}">' in r.text
    assert f'href="{html.escape(url)}">Đăng xuất tại Sở TTTT SSO</a>' in r.text
    assert "Bạn đã đăng xuất khỏi socmon." in r.text
    assert 'action="/logout"' not in r.text  # an anonymous page now
    assert '<input type="hidden" name="next" value="/login">' in r.text  # language switch
    # the console session is over whatever the provider does next
    dead = http_client(app)
    dead.cookies.set("socmon_session", old)
    assert dead.get("/alerts", follow_redirects=False).status_code == 303
    (out,) = audit_of(ctx, "console.logout")
    assert out["actor"] == "user:oidc:ana" and out["after"] == {"provider_logout": True}
    # the provider's page sends the browser back to /login
    confirm = httpx.post(
        provider.issuer + "/oauth2/end_session/confirm", data={"redirect_uri": back}
    )
    assert confirm.status_code == 302 and confirm.headers["location"] == back


def test_sign_out_stays_local_when_off_or_the_provider_is_away(app, ctx, provider):
    provider.set_user("sub-ana", preferred_username="ana", socmon_role="viewer", socmon_units="*")
    for turn in ("off", "away"):
        http = http_client(app)
        assert dance(http, provider, "sub-ana").status_code == 303
        old = session_cookie(http)
        token = csrf_of(http.get("/alerts").text)
        if turn == "off":
            ctx.settings.api.oidc_logout_at_provider = False
        else:
            ctx.settings.api.oidc_logout_at_provider = True
            ctx.extras.pop("oidc_provider")  # discovery is fetched again, and fails
            with running() as gone:
                ctx.settings.api.oidc_issuer = gone.issuer
        r = http.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", turn
        dead = http_client(app)
        dead.cookies.set("socmon_session", old)
        assert dead.get("/alerts", follow_redirects=False).status_code == 303, turn
        ctx.settings.api.oidc_issuer = provider.issuer


def test_redirect_uri_choice(app, ctx, provider):
    def redirect_uri() -> str:
        return parse_qs(urlsplit(begin(http_client(app))).query)["redirect_uri"][0]

    assert redirect_uri() == "http://testserver/login/oidc/callback"  # the request's URL
    ctx.settings.alerting.base_url = "https://socmon.example/"  # configured: it wins
    assert redirect_uri() == "https://socmon.example/login/oidc/callback"
    ctx.settings.api.oidc_redirect_base = "https://proxy.example"  # and this over both
    assert redirect_uri() == "https://proxy.example/login/oidc/callback"


def test_client_authentication_as_discovery_says(app, ctx, provider, monkeypatch):
    provider.set_user("sub-b", preferred_username="bao", socmon_role="viewer", socmon_units="*")
    # only client_secret_post advertised: the secret goes in the form
    provider.auth_methods = ["client_secret_post"]
    assert dance(http_client(app), provider, "sub-b").status_code == 303
    # a public client (no secret): the client id in the form, PKCE alone proves it
    ctx.settings.api.oidc_client_secret = None
    ctx.extras.pop("oidc_provider")  # a new discovery document for the new provider settings
    provider.auth_methods = ["client_secret_basic", "none"]
    allow_public_clients(monkeypatch)
    assert dance(http_client(app), provider, "sub-b").status_code == 303
    post, public = provider.token_requests
    assert post["client_secret"] == "s3cret" and post["client_id"] == CLIENT_ID
    assert not post["authorization"]
    assert public["client_id"] == CLIENT_ID and "client_secret" not in public
    assert not public["authorization"] and public["code_verifier"]


@pytest.mark.parametrize(
    ("claims", "status", "text", "reason"),
    [
        ({"socmon_units": [UNIT_A]}, 403, NO_ROLE_VI, "socmon_role"),
        ({"socmon_role": "root", "socmon_units": [UNIT_A]}, 403, NO_ROLE_VI, "socmon_role"),
        ({"socmon_role": "analyst"}, 403, NO_UNITS_VI, "socmon_units"),
        ({"socmon_role": "analyst", "socmon_units": []}, 403, NO_UNITS_VI, "socmon_units"),
        ({"socmon_role": "analyst", "socmon_units": [" "]}, 403, NO_UNITS_VI, "socmon_units"),
    ],
)
def test_claims_refused_and_audited(app, ctx, provider, claims, status, text, reason):
    provider.set_user("sub-c", preferred_username="cuong", **claims)
    refused(dance(http_client(app), provider, "sub-c"), status, text)
    assert users.get_user(ctx.client, ctx.names, "oidc:cuong") is None
    (rec,) = audit_of(ctx, "console.login_refused")
    assert rec["actor"] == "user:oidc:cuong" and reason in rec["after"]["reason"]
    assert not audit_of(ctx, "console.login")


def test_wrong_or_foreign_state_refused(app, ctx, provider):
    provider.set_user("sub-d", preferred_username="dung", socmon_role="viewer", socmon_units="*")
    http = http_client(app)
    back = provider.authorize(begin(http), "sub-d")
    path = callback_path(back)
    # a state changed on the way
    bad = path.replace("state=", "state=x")
    refused(http.get(bad, follow_redirects=False), 400, BAD_STATE_VI)
    # the victim of a login CSRF: another browser, without the state cookie
    refused(http_client(app).get(path, follow_redirects=False), 400, BAD_STATE_VI)
    # no state at all, an error without state
    refused(http.get("/login/oidc/callback?code=x", follow_redirects=False), 400, BAD_STATE_VI)
    assert not audit_of(ctx, "console.login")


def test_replayed_callback_and_code_refused(app, ctx, provider):
    provider.set_user("sub-e", preferred_username="em", socmon_role="viewer", socmon_units="*")
    http = http_client(app)
    auth_url = begin(http)
    state = parse_qs(urlsplit(auth_url).query)["state"][0]
    path = callback_path(provider.authorize(auth_url, "sub-e"))
    assert http.get(path, follow_redirects=False).status_code == 303
    # the same callback again, the state cookie put back: the state was used
    http.cookies.set(oidc_logins.COOKIE, state, path=oidc_logins.COOKIE_PATH)
    refused(http.get(path, follow_redirects=False), 400, BAD_STATE_VI)
    # the code again under a fresh state of a browser: the provider refuses it
    code = parse_qs(urlsplit(path).query)["code"][0]
    other = http_client(app)
    new_state = parse_qs(urlsplit(begin(other)).query)["state"][0]
    r = other.get(f"/login/oidc/callback?code={code}&state={new_state}", follow_redirects=False)
    refused(r, 400, CODE_REFUSED_VI)
    assert len(audit_of(ctx, "console.login")) == 1


def _tamper(ctx: ApiContext, auth_url: str, **fields: str) -> None:
    state = parse_qs(urlsplit(auth_url).query)["state"][0]
    doc_id = oidc_logins.state_id(state)
    ctx.client.update(index=oidc_logins.logins_index(ctx.names), id=doc_id, doc=fields)


def test_nonce_mismatch_wrong_verifier_and_expired_state_refused(app, ctx, provider, caplog):
    provider.set_user("sub-f", preferred_username="phuc", socmon_role="viewer", socmon_units="*")
    http = http_client(app)
    # a token minted for another sign-in (its nonce is not the one we sent)
    auth_url = begin(http)
    back = provider.authorize(auth_url, "sub-f")
    _tamper(ctx, auth_url, nonce="n" * 43)
    refused(http.get(callback_path(back), follow_redirects=False), 400, INVALID_TOKEN_VI)
    assert "nonce mismatch" in caplog.text
    # a verifier that does not match the challenge: the provider refuses the code
    auth_url = begin(http)
    back = provider.authorize(auth_url, "sub-f")
    _tamper(ctx, auth_url, verifier="v" * 64)
    refused(http.get(callback_path(back), follow_redirects=False), 400, CODE_REFUSED_VI)
    assert "token endpoint answered invalid_grant" in caplog.text
    # a sign-in that took longer than api.oidc_login_timeout_seconds
    auth_url = begin(http)
    back = provider.authorize(auth_url, "sub-f")
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    _tamper(ctx, auth_url, expires=past)
    refused(http.get(callback_path(back), follow_redirects=False), 400, BAD_STATE_VI)
    assert not audit_of(ctx, "console.login")


def _forged_payload(token: str) -> str:
    """The same signature over other claims (the subject made someone else)."""
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{raw}.{sig}"


def _unsigned(token: str) -> str:
    """The same claims, ``alg: none`` and no signature (RFC 7519 section 6)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none")


@pytest.mark.parametrize(
    ("tamper", "why"),
    [(_forged_payload, "InvalidSignatureError"), (_unsigned, "InvalidAlgorithmError")],
)
def test_id_token_not_verified_refused(app, ctx, provider, caplog, tamper, why):
    provider.set_user("sub-i", preferred_username="ich", socmon_role="admin", socmon_units="*")
    provider.tamper = tamper
    refused(dance(http_client(app), provider, "sub-i"), 400, INVALID_TOKEN_VI)
    assert why in caplog.text
    assert users.get_user(ctx.client, ctx.names, "oidc:ich") is None


def test_expired_id_token_refused(app, ctx, caplog):
    # the provider's tokens expired two minutes before they are issued (beyond the 30 s leeway)
    with running(token_max_age=dt.timedelta(seconds=-120)) as p:
        ctx.settings.api.oidc_issuer, ctx.settings.api.oidc_client_id = p.issuer, CLIENT_ID
        ctx.settings.api.oidc_client_secret = SecretStr("s3cret")
        p.set_user("sub-j", preferred_username="joe", socmon_role="admin", socmon_units="*")
        refused(dance(http_client(app), p, "sub-j"), 400, INVALID_TOKEN_VI)
    assert "ExpiredSignatureError" in caplog.text


def test_provider_errors_are_pages(app, ctx, provider):
    http = http_client(app)
    auth_url = begin(http)
    back = provider.deny(auth_url)
    assert "error=access_denied" in back  # (the mock leaves the state out of it)
    refused(http.get(callback_path(back), follow_redirects=False), 401, DENIED_VI)
    # that sign-in is over: its state is gone
    state = parse_qs(urlsplit(auth_url).query)["state"][0]
    index = oidc_logins.logins_index(ctx.names)
    assert not ctx.client.exists(index=index, id=oidc_logins.state_id(state))
    state = parse_qs(urlsplit(begin(http)).query)["state"][0]
    r = http.get(
        f"/login/oidc/callback?error=temporarily_unavailable&state={state}",
        follow_redirects=False,
    )
    refused(r, 400, "Nhà cung cấp đăng nhập báo lỗi: temporarily_unavailable")
    # a crafted link cannot put sentences on the page
    r = http.get("/login/oidc/callback?error=Call+0123+now", follow_redirects=False)
    refused(r, 400, "Nhà cung cấp đăng nhập báo lỗi: ?")
    assert "Call 0123" not in r.text


def test_starts_throttled_per_address_and_signed_in_users_go_on(app, ctx, provider):
    ctx.extras["console"].oidc_starts = RateLimiter(per_minute=1, burst=2)
    http = http_client(app)
    for _ in range(2):
        assert http.get("/login/oidc", follow_redirects=False).status_code == 303
    r = http.get("/login/oidc", follow_redirects=False)
    refused(r, 429, "Có quá nhiều lượt đăng nhập được bắt đầu từ địa chỉ của bạn.")
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # a signed-in user is not sent to the provider again
    ctx.extras["console"].oidc_starts = RateLimiter(per_minute=60, burst=10)
    provider.set_user("sub-k", preferred_username="khoa", socmon_role="viewer", socmon_units="*")
    assert dance(http, provider, "sub-k").status_code == 303
    r = http.get("/login/oidc?next=/alerts", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/alerts"


def test_unreachable_provider(app, ctx):
    with running() as p:
        issuer = p.issuer
    ctx.settings.api.oidc_issuer, ctx.settings.api.oidc_client_id = issuer, CLIENT_ID
    r = http_client(app).get("/login/oidc", follow_redirects=False)
    refused(r, 503, UNREACHABLE_VI)


def test_disabled_user_and_taken_name_refused(app, ctx, provider, monkeypatch):
    provider.set_user("sub-g", preferred_username="giang", socmon_role="admin", socmon_units="*")
    http = http_client(app)
    assert dance(http, provider, "sub-g").status_code == 303
    assert http.get("/alerts").status_code == 200
    # an administrator disables the OIDC user: the session ends, the next sign-in is refused
    make_user(ctx, "boss", "admin", None)
    from tests.console.conftest import sign_in

    admin = sign_in(app, "boss")
    page = admin.get("/admin/users")
    assert 'data-user="oidc:giang"' in page.text
    assert admin.post("/admin/users/oidc:giang/disabled", {"disabled": "true"}).status_code == 303
    assert http.get("/alerts", follow_redirects=False).status_code == 303  # to /login
    refused(dance(http, provider, "sub-g"), 403, DISABLED_VI)
    (rec,) = audit_of(ctx, "console.login_refused")
    assert rec["actor"] == "user:oidc:giang" and "disabled" in rec["after"]["reason"]
    # role, units and password of an OIDC user come from the provider, not the console
    r = admin.post("/admin/users/oidc:giang/access", {"role": "viewer", "units": ""})
    assert r.status_code == 422
    r = admin.post("/admin/users/oidc:giang/password", {"password": "x" * 20})
    assert r.status_code == 422 and "signs in at the OIDC provider" in r.text
    # nor from the CLI; the CLI lists and enables it
    monkeypatch.setenv("SOCMON_ES_URL", ctx.settings.es.url)
    monkeypatch.setenv("SOCMON_ES_INDEX_PREFIX", ctx.names.prefix)
    runner = CliRunner()
    r = runner.invoke(cli, ["users", "passwd", "oidc:giang", "--password-stdin"], input="y" * 20)
    assert r.exit_code != 0 and "signs in at the OIDC provider" in r.output
    r = runner.invoke(cli, ["users", "list", "--json"])
    assert any(json.loads(line)["name"] == "oidc:giang" for line in r.stdout.splitlines())
    # a password sign-in as the OIDC user is impossible (no password, ':' in the name)
    page = http.get("/login")
    r = http.post(
        "/login",
        data={"username": "oidc:giang", "password": "x" * 20, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 401
    # another subject of the provider with the same user name
    provider.set_user("sub-h", preferred_username="giang", socmon_role="admin", socmon_units="*")
    refused(dance(http, provider, "sub-h"), 403, NAME_TAKEN_VI)


def test_console_only_settings():
    from socmon.settings import SettingsError, load_settings

    s = load_settings(api={"oidc_issuer": "https://sso", "oidc_client_id": "socmon"})
    assert s.api.oidc_audience is None  # console sign-in only: the API takes no bearer JWTs
    with pytest.raises(SettingsError, match="oidc_issuer"):
        load_settings(api={"oidc_client_id": "socmon"})
