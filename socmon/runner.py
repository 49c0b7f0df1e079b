"""`socmon run`: start every component the settings enable, in data-flow order.

Each layer above the plumbing may provide a module ``<layer>.services`` with a function
``build(ctx: RunContext) -> list[Service]``. They are called in this order: alerting (it
provides the detection handler), rules (streaming + scheduled detection; it adds an event sink
to ``ctx.events``), collectors (they emit into ``ctx.events``), api. Every layer ships its
``services`` module: one that fails to import (a missing dependency) stops ``socmon run``.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import click
from elasticsearch import Elasticsearch

from socmon.bulk import BulkWriter
from socmon.cli import settings_from
from socmon.es import make_client
from socmon.indices import IndexNames, apply_templates, delete_expired_event_indices
from socmon.pipeline import FanOut
from socmon.settings import Settings
from socmon.storage_sink import StorageSink

log = logging.getLogger(__name__)

LAYERS = ("alerting", "rules", "collectors", "api")


class Service(Protocol):
    name: str

    def start(self) -> None:
        """Start background work and return (non-blocking)."""

    def stop(self) -> None:
        """Stop, flushing what is in flight; must be safe to call twice."""


@dataclass
class RunContext:
    settings: Settings
    client: Elasticsearch
    names: IndexNames
    writer: BulkWriter
    events: FanOut
    # Set by the alerting layer: receives detections from the rules layer. Until it exists,
    # the rules layer writes detections itself.
    detection_handler: Callable[[Any], None] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class RetentionService:
    name = "retention"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        s = self.ctx.settings.storage
        while not self._stop.is_set():
            try:
                delete_expired_event_indices(self.ctx.client, self.ctx.names, s.retention_days)
            except Exception:
                log.exception("retention run failed; will retry")
            self._stop.wait(s.retention_interval)

    def stop(self) -> None:
        self._stop.set()


def build_context(settings: Settings) -> RunContext:
    client = make_client(settings.es)
    names = IndexNames(settings.es.index_prefix)
    writer = BulkWriter(client, settings.storage, names, spool_dir=settings.storage.spool_dir)
    return RunContext(
        settings=settings,
        client=client,
        names=names,
        writer=writer,
        events=FanOut(StorageSink(writer, names)),
    )


def build_services(ctx: RunContext) -> list[Service]:
    from socmon.es_metrics import ClusterMetricsService

    services: list[Service] = [
        RetentionService(ctx),
        ClusterMetricsService(ctx.client, ctx.settings.metrics.es_poll_interval),
    ]
    for layer in LAYERS:
        module = importlib.import_module(f"socmon.{layer}.services")
        built = module.build(ctx)
        log.info(
            "layer services built",
            extra={"layer": layer, "services": [s.name for s in built]},
        )
        services.extend(built)
    return services


def run_until_signalled(settings: Settings) -> None:
    from socmon.cli_es import ensure_elasticsearch
    from socmon.metrics import serve_metrics

    ensure_elasticsearch(settings)
    ctx = build_context(settings)
    apply_templates(ctx.client, ctx.names, settings.es)
    ctx.writer.start()
    services = build_services(ctx)
    if settings.metrics.port:
        serve_metrics(settings.metrics.port, settings.metrics.bind)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("stopping", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    for svc in services:
        svc.start()
    log.info("socmon running", extra={"services": [s.name for s in services]})
    stop.wait()
    for svc in reversed(services):
        try:
            svc.stop()
        except Exception:
            log.exception("service did not stop cleanly", extra={"service": svc.name})
    ctx.writer.close()
    log.info("socmon stopped")


@click.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Start everything the settings enable: the local Elasticsearch (when SOCMON_ES_URL is
    unset), index templates, collectors, detection, alerting and the API. Stops cleanly on
    SIGTERM/SIGINT, flushing in-flight events to Elasticsearch or the spool."""
    run_until_signalled(settings_from(ctx))
