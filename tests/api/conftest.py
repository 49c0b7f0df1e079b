"""Fixtures for the API tests: an application on the test's index prefix, keys of every
role bound to the province or to one unit, and alert documents of alerting's shape."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from elasticsearch import Elasticsearch
from fastapi import FastAPI
from fastapi.testclient import TestClient

from socmon.api.app import create_app
from socmon.api.context import ApiContext
from socmon.api.keys import create_key
from socmon.indices import IndexNames
from socmon.settings import Settings
from socmon.settings.collectors import OrganizationUnit

UNIT_A = "so-tttt"
UNIT_B = "ubnd-xa-a"


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_alert(
    n: int,
    unit: str = UNIT_A,
    status: str = "open",
    severity: str = "high",
    rule_id: str = "rule-ssh",
    at: dt.datetime | None = None,
    **extra: Any,
) -> tuple[str, dict[str, Any]]:
    """An alert document as alerting writes it (see socmon/templates/alerts.json)."""
    t = at or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=n))
    aid = hashlib.sha1(f"{rule_id}-{unit}-{n}".encode()).hexdigest()[:20]
    doc: dict[str, Any] = {
        "id": aid,
        "@timestamp": iso(t),
        "first_seen": iso(t),
        "last_seen": iso(t + dt.timedelta(minutes=1)),
        "kind": "detection",
        "status": status,
        "severity": severity,
        "risk_score": 50 + n % 50,
        "event_count": 1 + n % 7,
        "group_key": f"{unit}|10.0.0.{n % 250}",
        "rule": {
            "id": rule_id,
            "name": f"Rule {rule_id}",
            "level": severity,
            "tags": ["attack.credential_access", "attack.t1110"],
        },
        "threat": {"technique": {"id": ["T1110"], "name": ["Brute Force"]}},
        "organization": {"id": unit, "name": f"Unit {unit}"},
        "host": {"name": f"host-{n % 5}"},
        "source": {"ip": f"10.0.0.{n % 250}"},
        "message": f"alert number {n} ssh brute force",
        "events": [
            {
                "@timestamp": iso(t),
                "source": {"ip": f"10.0.0.{n % 250}"},
                "organization": {"id": unit},
                "message": "Failed password",
            }
        ],
        "history": [],
        "notes": [],
    }
    doc.update(extra)
    return aid, doc


def index_alerts(
    client: Elasticsearch, names: IndexNames, docs: list[tuple[str, dict[str, Any]]]
) -> None:
    ops: list[dict[str, Any]] = []
    for aid, doc in docs:
        ops.append({"index": {"_index": names.alerts, "_id": aid}})
        ops.append(doc)
    if ops:
        resp = client.bulk(operations=ops, refresh="wait_for")
        assert not resp["errors"], resp


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    s = settings.model_copy(deep=True)
    s.api.rate_limit_per_minute = 100_000
    s.api.rate_limit_burst = 100_000
    s.api.auth_failures_burst = 100_000  # tests/api/test_security.py tests the throttle
    # the units keys may be bound to (api.keys.configured_units)
    s.collectors.organization_units = [
        OrganizationUnit(id=UNIT_A, name="Unit A"),
        OrganizationUnit(id=UNIT_B, name="Unit B"),
    ]
    return s


@pytest.fixture
def ctx(api_settings: Settings, es_client: Elasticsearch, names: IndexNames) -> ApiContext:
    return ApiContext(settings=api_settings, client=es_client, names=names)


@pytest.fixture
def app(ctx: ApiContext) -> FastAPI:
    return create_app(ctx)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # a loopback client, as a local Prometheus or a test on the host is (api.metrics_networks)
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000)) as c:
        yield c


@pytest.fixture
def keys(ctx: ApiContext) -> dict[str, str]:
    """role -> key for the province ('admin'), and '<role>@A' / '<role>@B' for unit keys."""
    out: dict[str, str] = {}
    for role in ("viewer", "analyst", "admin"):
        out[role], _ = create_key(
            ctx.client, ctx.names, f"{role}-prov", role, None, "test", refresh=False
        )
        out[f"{role}@A"], _ = create_key(
            ctx.client, ctx.names, f"{role}-a", role, [UNIT_A], "test", refresh=False
        )
        out[f"{role}@B"], _ = create_key(
            ctx.client, ctx.names, f"{role}-b", role, [UNIT_B], "test", refresh=False
        )
    ctx.client.indices.refresh(index=f"{ctx.names.prefix}-apikeys")
    return out


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@pytest.fixture
def oidc(ctx):
    """A JWKS served on a local port, and a function minting tokens signed by its key."""
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(priv.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    body = json.dumps({"keys": [jwk]}).encode()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    issuer = "https://sso.example.gov.vn/realms/socmon"
    ctx.settings.api.oidc_issuer = issuer
    ctx.settings.api.oidc_jwks_url = f"http://127.0.0.1:{srv.server_address[1]}/jwks"
    ctx.settings.api.oidc_audience = "socmon-api"

    def mint(key=priv, **claims):
        now = int(time.time())
        base = {"iss": issuer, "aud": "socmon-api", "sub": "u1", "iat": now, "exp": now + 300}
        base.update(claims)
        return jwt.encode(base, key, algorithm="RS256", headers={"kid": "k1"})

    yield mint
    srv.shutdown()
