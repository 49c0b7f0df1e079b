"""Authentication (keys, OIDC/JWT), declared roles, limits, system routes, OpenAPI."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter
from fastapi.testclient import TestClient

from socmon.api.app import UndeclaredRoleError, create_app
from socmon.api.keys import create_key, list_keys
from socmon.es import make_client
from tests.api.conftest import UNIT_A, UNIT_B, h, index_alerts, make_alert


def test_missing_bad_and_revoked_keys(client, keys, ctx):
    r = client.get("/api/v1/alerts")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Unauthorized"
    assert "WWW-Authenticate" in r.headers
    assert client.get("/api/v1/alerts", headers=h("smk_nope_nope")).status_code == 401
    assert client.get("/api/v1/alerts", headers=h("garbage")).status_code == 401
    # Bearer form of an API key works too.
    r = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {keys['viewer']}"})
    assert r.status_code == 200
    # A key is stored only as a hash.
    raw = ctx.client.search(index=f"{ctx.names.prefix}-apikeys", size=100)["hits"]["hits"]
    assert raw and all(keys["viewer"] not in json.dumps(x["_source"]) for x in raw)
    # Revoke through the API (admin of the province) -> refused at once.
    key_id = keys["viewer@A"].split("_")[1]
    assert client.get("/api/v1/alerts", headers=h(keys["viewer@A"])).status_code == 200
    r = client.delete(f"/api/v1/keys/{key_id}", headers=h(keys["admin"]))
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert client.get("/api/v1/alerts", headers=h(keys["viewer@A"])).status_code == 401
    assert client.delete("/api/v1/keys/doesnotexist", headers=h(keys["admin"])).status_code == 404


def test_keys_api_create_list_and_audit(client, keys, ctx):
    r = client.post(
        "/api/v1/keys",
        json={"name": "grafana", "role": "viewer", "units": [UNIT_A]},
        headers=h(keys["admin"]),
    )
    assert r.status_code == 201
    new = r.json()
    assert new["key"].startswith("smk_") and new["units"] == [UNIT_A]
    assert client.get("/api/v1/alerts", headers=h(new["key"])).status_code == 200
    listed = client.get("/api/v1/keys", headers=h(keys["admin"])).json()
    assert any(k["key_id"] == new["key_id"] for k in listed)
    assert all("key" not in k and "hash" not in k for k in listed)
    # A unit-bound admin cannot manage keys.
    assert client.get("/api/v1/keys", headers=h(keys["admin@A"])).status_code == 403
    assert (
        client.post(
            "/api/v1/keys", json={"name": "x", "role": "root"}, headers=h(keys["admin"])
        ).status_code
        == 422
    )
    audit = client.get("/api/v1/audit", params={"object_type": "key"}, headers=h(keys["admin"]))
    assert [a["action"] for a in audit.json()["items"]] == ["key.create"]


def test_cli_keys(ctx, api_settings, monkeypatch):
    from click.testing import CliRunner

    from socmon.cli import cli

    monkeypatch.setenv("SOCMON_ES_URL", api_settings.es.url)
    monkeypatch.setenv("SOCMON_ES_INDEX_PREFIX", ctx.names.prefix)
    monkeypatch.setenv(
        "SOCMON_COLLECTORS_ORGANIZATION_UNITS", json.dumps([{"id": UNIT_A, "name": "A"}])
    )
    runner = CliRunner()
    create = ["keys", "create", "--name", "ops", "--role", "analyst", "--json"]
    # units must be configured, non-blank, '*' alone (issue 16 item 4)
    for bad in (["--unit", "nope"], ["--unit", "  "], ["--unit", UNIT_A, "--unit", "*"]):
        r = runner.invoke(cli, [*create, *bad])
        assert r.exit_code == 2 and "--unit" in r.output, (bad, r.output)
    r = runner.invoke(cli, [*create, "--unit", UNIT_A])
    assert r.exit_code == 0, r.output
    made = json.loads(r.output.strip().splitlines()[-1])
    assert made["key"].startswith("smk_") and made["units"] == [UNIT_A]
    r = runner.invoke(cli, ["keys", "list"])
    assert made["key_id"] in r.output and made["key"] not in r.output
    r = runner.invoke(cli, ["keys", "revoke", made["key_id"]])
    assert r.exit_code == 0
    assert next(k for k in list_keys(ctx.client, ctx.names) if k.key_id == made["key_id"]).revoked
    assert runner.invoke(cli, ["keys", "revoke", "nope"]).exit_code != 0
    assert runner.invoke(cli, ["serve", "--help"]).exit_code == 0


def test_undeclared_role_refused_at_startup(ctx):
    rogue = APIRouter()

    @rogue.get("/api/v1/rogue")
    def rogue_route() -> dict[str, str]:
        return {}

    with pytest.raises(UndeclaredRoleError, match="/api/v1/rogue"):
        create_app(ctx, extra_routers=[rogue])


def test_rate_limit_per_key(ctx, keys):
    ctx.settings.api.rate_limit_per_minute = 60
    ctx.settings.api.rate_limit_burst = 3
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        codes = [c.get("/api/v1/alerts", headers=h(keys["viewer"])).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200]
        assert codes[3] == 429
        r = c.get("/api/v1/alerts", headers=h(keys["viewer"]))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        # Another key has its own bucket.
        assert c.get("/api/v1/alerts", headers=h(keys["analyst"])).status_code == 200


def test_body_and_page_limits(ctx, keys):
    ctx.settings.api.max_body_bytes = 2000
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        r = c.post(
            "/api/v1/rules/validate",
            content=b'{"yaml": "' + b"x" * 5000 + b'"}',
            headers={**h(keys["admin"]), "Content-Type": "application/json"},
        )
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        r = c.get("/api/v1/alerts", params={"size": 501}, headers=h(keys["viewer"]))
        assert r.status_code == 422


def test_query_time_limit(ctx, keys):
    """A node that accepts the connection and never answers (a hung node): the search gives
    up after api.query_timeout (+ the transport margin) with 504, not a 500 or a hang."""
    index_alerts(ctx.client, ctx.names, [make_alert(i) for i in range(3)])
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
            assert c.get("/api/v1/stats", headers=h(keys["viewer"])).status_code == 200
            ctx.settings.api.key_cache_seconds = 3600  # the key stays verified
            ctx.settings.api.query_timeout = 0.5
            real = ctx.client
            port = hung.getsockname()[1]
            ctx.client = make_client(ctx.settings.es, hosts=[f"http://127.0.0.1:{port}"])
            try:
                t0 = time.monotonic()
                r = c.get("/api/v1/stats", headers=h(keys["viewer"]))
                took = time.monotonic() - t0
            finally:
                ctx.client = real
        assert r.status_code == 504, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert 0.5 <= took < 0.5 + 2.0 + 5.0, took  # query_timeout + the transport margin
    finally:
        hung.close()


def test_health_ready_metrics(client, ctx, keys):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["templates"] is True
    ctx.engine_ready = lambda: False
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["engine"] is False
    ctx.engine_ready = None
    r = client.get("/api/v1/alerts", headers=h(keys["viewer"]))
    # W3C Server Timing syntax: metric-name;dur=milliseconds (what bench/console.py reads)
    timing = re.fullmatch(r"app;dur=([0-9]+\.[0-9])", r.headers["server-timing"])
    assert timing and 0 < float(timing.group(1)) < 60_000, r.headers["server-timing"]
    m = client.get("/metrics")
    assert m.status_code == 200
    assert 'socmon_api_requests_total{method="GET",route="/api/v1/alerts",status="200"}' in m.text


def test_metrics_token(ctx):
    from pydantic import SecretStr

    ctx.settings.api.metrics_token = SecretStr("s3cret")
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_readyz_when_templates_missing(ctx, es_client):
    from socmon.indices import IndexNames

    ctx.names = IndexNames(ctx.names.prefix + "-missing")
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["templates"] is False


def test_openapi_complete(client):
    doc = client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    schemes = doc["components"]["securitySchemes"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(schemes)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
            if path.startswith("/api/v1"):
                assert op.get("security"), (method, path)
                assert "401" in op["responses"] and "403" in op["responses"], (method, path)


# ---------------------------------------------------------------- OIDC / JWT


def test_jwt_bearer(ctx, oidc):
    index_alerts(ctx.client, ctx.names, [make_alert(1, UNIT_A), make_alert(2, UNIT_B)])
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:

        def get(token):
            return c.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})

        r = get(oidc(socmon_role="viewer", socmon_units=[UNIT_A]))
        assert r.status_code == 200 and r.json()["total"] == 1
        r = get(oidc(socmon_role="viewer", socmon_units=["*"]))
        assert r.json()["total"] == 2  # the province, explicitly
        assert get(oidc(socmon_role="viewer")).status_code == 403  # no units claim: nothing
        assert get(oidc(socmon_role="viewer", iss="https://evil")).status_code == 401
        assert get(oidc(socmon_role="viewer", aud="other")).status_code == 401
        assert get(oidc(socmon_role="viewer", exp=int(time.time()) - 10)).status_code == 401
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert get(oidc(key=other, socmon_role="viewer")).status_code == 401
        assert get(oidc()).status_code == 403  # no role claim
        r = c.post(
            "/api/v1/rules/validate",
            json={"yaml": "x: 1"},
            headers={"Authorization": f"Bearer {oidc(socmon_role='viewer', socmon_units='*')}"},
        )
        assert r.status_code == 403


def test_jwt_refused_without_issuer(client):
    r = client.get("/api/v1/alerts", headers={"Authorization": "Bearer eyJhbGciOi.x.y"})
    assert r.status_code == 401


def test_create_key_validation(ctx):
    with pytest.raises(ValueError):
        create_key(ctx.client, ctx.names, "x", "superuser", None, "t")
