"""The one Prometheus registry all components register their metrics on.

Naming follows Prometheus conventions: ``socmon_<component>_<what>_<unit>``, counters end in
``_total``, durations in ``_seconds``, sizes in ``_bytes``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST, start_http_server

# prometheus-client adds a ``*_created`` series (creation time) beside every counter and
# histogram; no rule or dashboard uses them, so they only double the series count.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

__all__ = ["CONTENT_TYPE_LATEST", "REGISTRY", "exposition", "serve_metrics"]


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose /metrics on its own port (used by `socmon run` when the API is off)."""
    start_http_server(port, addr=addr, registry=REGISTRY)
