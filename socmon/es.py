"""The Elasticsearch client, built from settings (URL, API key or basic auth, CA bundle)."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from socmon.settings import ElasticsearchSettings


def client_kwargs(es: ElasticsearchSettings) -> dict[str, Any]:
    hosts = [u.strip() for u in es.effective_url.split(",")]
    kw: dict[str, Any] = {
        "hosts": hosts,
        "request_timeout": es.request_timeout,
        "retry_on_timeout": False,  # the bulk writer owns retries
        "max_retries": 0,
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
