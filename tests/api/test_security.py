"""The penetration test of issue 16, run against the real node: each request the test sent,
expecting the fixed behaviour (one section per finding)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time

import pytest
from fastapi.testclient import TestClient

from socmon.api.app import create_app
from socmon.api.problems import ProblemError
from tests.api.conftest import UNIT_A, UNIT_B, h, index_alerts, make_alert
from tests.api.test_rules import RULE

# ------------------------------------------------------------------ 1: hostile rule YAML


def billion_laughs(levels: int) -> str:
    """The pen-test's rule: nested aliases expanded into a detection field (9**levels)."""
    lines = [
        "title: laughs",
        "logsource: {product: linux}",
        "detection:",
        '  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines += ["  sel:", f"    date: *l{levels - 1}", "  condition: sel"]
    return "\n".join(lines) + "\n"


RULE_ROUTES = [
    ("/api/v1/rules/validate", lambda y: {"yaml": y}, "analyst@A"),
    ("/api/v1/rules", lambda y: {"yaml": y}, "admin"),
    ("/api/v1/rules/test", lambda y: {"yaml": y, "events": [{"date": "x"}]}, "admin"),
    ("/api/v1/rules/preview", lambda y: {"yaml": y, "start": "now-1h"}, "admin@A"),
]


def test_hostile_yaml_refused_quickly_on_every_rule_route(client, keys):
    """Billion laughs and deep nesting on the four routes that check rules (one application
    for all: a fixture per case costs seconds of index setup)."""
    laughs = billion_laughs(6)  # before the fix: ~7 s here; 7 levels: 12.9 s / 34.7 MB
    deep = "title: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n"  # before: a 500
    for url, body, who in RULE_ROUTES:
        for text, words, line in ((laughs, "anchors (&l0) are not accepted", 4), (deep, "nest", 2)):
            t = time.perf_counter()
            r = client.post(url, json=body(text), headers=h(keys[who]))
            elapsed = time.perf_counter() - t
            assert r.status_code == (200 if url.endswith("validate") else 422), (url, r.text[:300])
            problems = r.json()["problems"] if url.endswith("validate") else r.json()["errors"]
            assert words in problems[0]["msg"] and problems[0]["line"] == line, (url, problems)
            assert elapsed < 1.0 and len(r.content) < 4096, (url, elapsed, len(r.content))


def test_echoed_values_are_bounded(client, keys):
    """A long value pySigma quotes in its error is cut, not echoed whole."""
    long_value = "v" * 150_000
    text = RULE.replace("source.ip|cidr: 10.0.0.0/8", f"source.ip|cidr: {long_value}")
    r = client.post("/api/v1/rules/validate", json={"yaml": text}, headers=h(keys["analyst"]))
    assert r.status_code == 200 and r.json()["valid"] is False
    assert len(r.content) < 4096
    assert "more characters" in r.json()["problems"][0]["msg"]


# ------------------------------------------------------------------ 2: cursors


def _cursor(client, url, key):
    r = client.get(url, headers=h(key))
    assert r.status_code == 200, r.text
    cur = r.json()["next_cursor"]
    assert cur
    return cur


def _forge(cursor: str, **changes) -> str:
    """What the pen test did: decode the state, change it, encode it again."""
    body, _, sig = cursor.partition(".")
    state = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    state.update(changes)
    enc = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    return f"{enc}.{sig}" if sig else enc


def test_cursors_are_signed_and_bound_to_their_list(client, keys, ctx):
    index_alerts(ctx.client, ctx.names, [make_alert(i) for i in range(6)])
    ad = keys["admin"]
    alerts = _cursor(client, "/api/v1/alerts?size=2&sort=risk_score", ad)
    assert client.get(f"/api/v1/alerts?cursor={alerts}", headers=h(ad)).status_code == 200
    # page size beyond api.max_page_size, or nonsense, in a re-encoded cursor: refused
    for z in (5000, 0, "x"):
        forged = _forge(alerts, z=z)
        r = client.get("/api/v1/alerts", params={"cursor": forged}, headers=h(ad))
        assert r.status_code == 400, (z, r.status_code, r.text[:200])
    # an unsigned cursor as the old code made them
    body = alerts.partition(".")[0]
    assert client.get(f"/api/v1/alerts?cursor={body}", headers=h(ad)).status_code == 400
    # an alerts cursor (with its point in time) given to /events and /audit
    for url in ("/api/v1/events", "/api/v1/audit"):
        r = client.get(url, params={"cursor": alerts}, headers=h(ad))
        assert r.status_code == 400, (url, r.text[:200])


def test_cursor_secret_rotation(app, ctx, keys):
    from pydantic import SecretStr

    from socmon.api.cursors import decode_cursor, encode_cursor

    ctx.settings.api.cursor_secret = SecretStr("old-secret")
    ctx.extras.pop("cursor_keys", None)
    old = encode_cursor(ctx, "alerts", {"z": 10})
    ctx.settings.api.cursor_secret = SecretStr("new-secret")
    ctx.settings.api.cursor_secret_previous = SecretStr("old-secret")
    ctx.extras.pop("cursor_keys", None)
    assert decode_cursor(ctx, "alerts", old) == {"z": 10}  # previous secret still accepted
    new = encode_cursor(ctx, "alerts", {"z": 10})
    assert new != old
    ctx.settings.api.cursor_secret_previous = None
    ctx.extras.pop("cursor_keys", None)
    assert decode_cursor(ctx, "alerts", new) == {"z": 10}
    with pytest.raises(ProblemError):  # rotated out
        decode_cursor(ctx, "alerts", old)


# ------------------------------------------------------------------ 3: OIDC fails closed


def test_oidc_units_fail_closed(ctx, oidc):
    index_alerts(ctx.client, ctx.names, [make_alert(1, UNIT_A), make_alert(2, UNIT_B)])
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:

        def get(token):
            return c.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})

        for units in ([], "", None, [""], ["  "], [UNIT_A, "*"], {"a": 1}, 7, [1, 2], [None]):
            r = get(oidc(socmon_role="viewer", socmon_units=units))
            assert r.status_code == 403, (units, r.status_code, r.text[:200])
        r = get(oidc(socmon_role="viewer", socmon_units="*"))
        assert r.status_code == 200 and r.json()["total"] == 2
        # PyJWT's reasons are not echoed
        r = get(oidc(socmon_role="viewer", socmon_units="*", aud="other"))
        assert r.status_code == 401 and r.json()["detail"] == "invalid token"
        r = get(oidc(socmon_role="viewer", socmon_units="*", aud=None))
        assert r.status_code == 401  # a token without an audience


def test_oidc_without_audience_refuses_to_start():
    from socmon.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="oidc_audience"):
        load_settings(api={"oidc_issuer": "https://sso", "oidc_jwks_url": "http://127.0.0.1/j"})


# ------------------------------------------------------------------ 4: key units


BAD_UNITS = [
    (["  "], "blank"),
    ([""], "blank"),
    ([UNIT_A, "*"], "'*'"),
    (["*", "*"], "'*'"),
    (["unit-nobody-configured"], "unknown unit"),
    ([], "at least 1 item"),
]


def test_key_units_validated(client, keys):
    """One application for all cases (a fixture per case costs seconds of index setup)."""
    failures = []
    for units, why in BAD_UNITS:
        r = client.post(
            "/api/v1/keys",
            json={"name": "k", "role": "viewer", "units": units},
            headers=h(keys["admin"]),
        )
        if r.status_code != 422 or why not in r.text:
            failures.append(f"{units}: {r.status_code} {r.text[:200]}")
    assert not failures, failures


def test_key_units_accepted(client, keys):
    ad = h(keys["admin"])
    r = client.post(
        "/api/v1/keys", json={"name": "k", "role": "viewer", "units": [UNIT_A]}, headers=ad
    )
    assert r.status_code == 201 and r.json()["units"] == [UNIT_A]
    r = client.post(
        "/api/v1/keys", json={"name": "p", "role": "viewer", "units": ["*"]}, headers=ad
    )
    assert r.status_code == 201 and r.json()["units"] == ["*"]


# ------------------------------------------------------------------ 5: /events query


REFUSED_QUERIES = [
    "admin\\\\~2",  # escaped backslash, then a real fuzzy operator
    "\\*:web-a",
    "host.\\*:web-a",
    "\\_id:abc",
    "\\_index:socmon-*",
    "_exists_:user.name",
    "user.name:/adm.*/",
    'message:"failed password"~5',
    "*dmin",
    "(unbalanced",
    "message:a" + "*b?" * 20,  # too many wildcards
]
ALLOWED_QUERIES = [
    "event.outcome:failure AND source.ip:203.0.113.7",
    "admin\\~2",  # an escaped ~ is a literal character, not an operator
    'message:"Failed password"',
    "user.name:adm*",
    "@timestamp:[now-1h TO now]",
]


def test_events_query_restrictions_hold_when_escaped(client, keys):
    failures = []
    for q in REFUSED_QUERIES:
        r = client.get("/api/v1/events", params={"q": q}, headers=h(keys["viewer"]))
        if r.status_code != 422:
            failures.append(f"refused {q!r}: {r.status_code} {r.text[:200]}")
    for q in ALLOWED_QUERIES:
        r = client.get("/api/v1/events", params={"q": q}, headers=h(keys["viewer"]))
        if r.status_code != 200:
            failures.append(f"allowed {q!r}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------ 6: edge times


EDGE_TIME_URLS = [
    "/api/v1/alerts?start=0001-01-01T00:00:00%2B01:00",
    "/api/v1/alerts?end=9999-12-31T23:59:59-01:00",
    "/api/v1/events?start=0001-01-01T00:00:00%2B01:00",
    "/api/v1/events?end=9999-12-31T23:59:59-01:00",
    "/api/v1/stats?start=0001-01-01T00:00:00%2B01:00",
    "/api/v1/reports?start=0001-01-01T00:00:00%2B01:00",
    "/api/v1/reports/html?end=9999-12-31T23:59:59-01:00",
    "/api/v1/audit?start=0001-01-01T00:00:00%2B01:00",
    "/api/v1/alerts?start=now-99999999999d",
]


def test_out_of_range_times_are_422(client, keys):
    failures = []
    for url in EDGE_TIME_URLS:
        r = client.get(url, headers=h(keys["admin"]))
        if r.status_code != 422:
            failures.append(f"{url}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


def test_out_of_range_times_in_bodies_are_422(client, keys):
    r = client.post(
        "/api/v1/rules/preview",
        json={"yaml": RULE, "start": "0001-01-01T00:00:00+01:00"},
        headers=h(keys["admin"]),
    )
    assert r.status_code == 422, r.text[:200]


# ------------------------------------------------------------------ 8: failed authentication


def test_failed_authentication_throttled_per_address(ctx, keys):
    ctx.settings.api.auth_failures_per_minute = 60
    ctx.settings.api.auth_failures_burst = 5
    app = create_app(ctx)
    calls = []
    real = ctx.client.get
    ctx.client.get = lambda **kw: calls.append(kw) or real(**kw)  # count key lookups
    try:
        attacker = TestClient(app, raise_server_exceptions=False, client=("198.51.100.7", 1))
        other = TestClient(app, raise_server_exceptions=False, client=("198.51.100.8", 1))
        codes = []
        for _ in range(30):
            guess = f"smk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
            codes.append(attacker.get("/api/v1/alerts", headers=h(guess)).status_code)
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
        assert len(calls) == 5  # throttled guesses cost no lookup
        r = attacker.get("/api/v1/alerts", headers=h("smk_x_y"))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        # another address is not affected; nor is a key verified moments ago
        assert other.get("/api/v1/alerts", headers=h(keys["viewer"])).status_code == 200
        assert attacker.get("/api/v1/alerts", headers=h(keys["viewer"])).status_code == 200
    finally:
        ctx.client.get = real


def test_unknown_keys_cached_briefly(ctx):
    from socmon.api.auth import _from_key

    ctx.settings.api.negative_cache_seconds = 60
    calls = []
    real = ctx.client.get
    ctx.client.get = lambda **kw: calls.append(kw) or real(**kw)
    try:
        guess = f"smk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
        assert _from_key(ctx, guess) is None and _from_key(ctx, guess) is None
        assert len(calls) == 1
    finally:
        ctx.client.get = real


def test_key_cache_evicts_least_recently_used(ctx, keys):
    from socmon.api.auth import KeyCache, Principal

    cache = KeyCache(size=100)
    valid = Principal("key:v", "viewer", None, "v")
    cache.put("valid", valid)
    for i in range(10_000):
        cache.put(f"random-{i}", None)
        if i % 50 == 0:
            assert cache.get("valid", 60, 60) == (True, valid)  # in use: kept
    assert len(cache) == 100
    assert cache.get("random-0", 60, 60) == (False, None)  # evicted


# ------------------------------------------------------------------ 9: headers, local docs


def test_security_headers_everywhere(client, keys):
    for url, who, csp_part in [
        ("/api/v1/alerts", "viewer", "default-src 'none'"),
        ("/api/v1/reports/html", "viewer", "style-src 'unsafe-inline'"),
        ("/docs", None, "script-src 'self'"),
        ("/healthz", None, "default-src 'none'"),
        ("/api/v1/alerts", None, "default-src 'none'"),  # a 401 too
    ]:
        r = client.get(url, headers=h(keys[who]) if who else {})
        assert csp_part in r.headers["content-security-policy"], url
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in r.headers  # plain HTTP


def test_docs_served_locally(client):
    page = client.get("/docs")
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert srcs and all(s.startswith("/docs/") for s in srcs), srcs  # nothing from a CDN
    assert "<script>" not in page.text  # no inline script: CSP allows 'self' only
    for s in srcs:
        r = client.get(s)
        assert r.status_code == 200 and len(r.content) > 100, s
    bundle = client.get("/docs/static/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle


# ------------------------------------------------------------------ 10-12: decided


def test_metrics_loopback_or_token(ctx):
    from pydantic import SecretStr

    app = create_app(ctx)
    local = TestClient(app, client=("127.0.0.1", 1))
    remote = TestClient(app, client=("203.0.113.9", 1))
    assert local.get("/metrics").status_code == 200
    assert remote.get("/metrics").status_code == 403  # no token configured
    ctx.settings.api.metrics_token = SecretStr("t0ken")
    assert remote.get("/metrics").status_code == 401
    assert remote.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_other_units_objects_are_not_found(client, keys, ctx):
    aid, doc = make_alert(1, UNIT_B)
    index_alerts(ctx.client, ctx.names, [(aid, doc)])
    a = client.get(f"/api/v1/alerts/{aid}", headers=h(keys["viewer@A"]))
    b = client.get("/api/v1/alerts/made-up-id", headers=h(keys["viewer@A"]))
    assert a.status_code == b.status_code == 404
    assert set(a.json()) == set(b.json()) and a.json()["title"] == b.json()["title"]


def test_errors_without_internals(ctx, keys):
    """A real Elasticsearch 400 (the node's own error object) through the real handler: the
    answer keeps a reference, not the index names and parser text."""
    from elasticsearch import BadRequestError
    from fastapi import APIRouter, Depends

    from socmon.api.auth import public

    try:
        ctx.client.search(
            index=ctx.names.alerts, query={"query_string": {"query": "message:a AND OR b"}}
        )
    except BadRequestError as e:
        real_error = e
    else:
        pytest.fail("Elasticsearch accepted the broken query")
    assert "Failed to parse" in str(real_error)  # what must not reach the caller
    probe = APIRouter(dependencies=[Depends(public)])

    @probe.get("/probe")
    def raise_it() -> None:
        raise real_error

    with TestClient(create_app(ctx, extra_routers=[probe]), raise_server_exceptions=False) as c:
        r = c.get("/probe")
    assert r.status_code == 400
    assert "Failed to parse" not in r.text and "search_phase" not in r.text
    assert re.search(r"reference [0-9a-f]{12}", r.json()["detail"])


def test_signed_cursor_page_size_checked_again(ctx):
    """A cursor the server signed is still refused when its page size is out of bounds (the
    limit may have been lowered since)."""
    from socmon.api.cursors import decode_cursor, encode_cursor

    for z in (0, -1, ctx.settings.api.max_page_size + 1, "10", 2.5, None):
        with pytest.raises(ProblemError) as e:
            decode_cursor(ctx, "events", encode_cursor(ctx, "events", {"z": z}))
        assert e.value.status == 400
    assert decode_cursor(ctx, "events", encode_cursor(ctx, "events", {"z": 1})) == {"z": 1}
