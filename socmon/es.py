"""The Elasticsearch client, built from settings (URL, API key or basic auth, CA bundle)."""

from __future__ import annotations

import os
from typing import Any

import orjson
from elasticsearch import Elasticsearch
from elasticsearch.serializer import CompatibilityModeJsonSerializer, JsonSerializer

from socmon.settings import ElasticsearchSettings


class _OrjsonLoads:
    """Answers decoded with orjson: the standard library's decoder was a quarter of an API
    page's server time (a page of 50 alerts). Requests are still encoded by the client's own
    encoder: orjson refuses some of what that encoder accepts (keys that are not strings,
    integers above 64 bits)."""

    def json_loads(self, data: bytes) -> Any:
        return orjson.loads(data)


class _Json(_OrjsonLoads, JsonSerializer):
    pass


class _CompatibilityModeJson(_OrjsonLoads, CompatibilityModeJsonSerializer):
    """Elasticsearch 9 answers ``application/vnd.elasticsearch+json``."""


def serializers() -> dict[str, Any]:
    return {s.mimetype: s for s in (_Json(), _CompatibilityModeJson())}


def client_kwargs(es: ElasticsearchSettings) -> dict[str, Any]:
    hosts = [u.strip() for u in es.effective_url.split(",")]
    kw: dict[str, Any] = {
        "hosts": hosts,
        "request_timeout": es.request_timeout,
        "retry_on_timeout": False,  # the bulk writer owns retries
        "max_retries": 0,
        "serializers": serializers(),
    }
    if es.api_key is not None:
        kw["api_key"] = es.api_key.get_secret_value()
    elif es.username is not None:
        pw = es.password.get_secret_value() if es.password is not None else ""
        kw["basic_auth"] = (es.username, pw)
    if any(h.startswith("https://") for h in hosts):
        kw["verify_certs"] = es.verify_certs
        if es.ca_certs is not None:
            kw["ca_certs"] = str(es.ca_certs)
    return kw


def make_client(es: ElasticsearchSettings, **overrides: Any) -> Elasticsearch:
    """A client for the configured cluster (or the local provisioned node)."""
    # socmon exports no traces: the client's OpenTelemetry span around each request (a no-op
    # tracer whenever opentelemetry-api is installed) was 3% of a console page's server time.
    # The client's own switch, read when a client is built; a deployment that traces sets it.
    os.environ.setdefault("OTEL_PYTHON_INSTRUMENTATION_ELASTICSEARCH_ENABLED", "false")
    kw = client_kwargs(es)
    kw.update(overrides)
    return Elasticsearch(**kw)


def is_reachable(client: Elasticsearch) -> bool:
    """True when the cluster answers a health request (GET / is not served by every build)."""
    try:
        client.options(request_timeout=5).cluster.health()
        return True
    except Exception:
        return False
