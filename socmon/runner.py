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
import threading
import time
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
from socmon.stop_signals import StopSignals
from socmon.storage_sink import StorageSink

log = logging.getLogger(__name__)

LAYERS = ("alerting", "rules", "collectors", "api")
SLOW_STOP_SECONDS = 5.0


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

    with StopSignals() as signals:  # before anything starts: no SIGTERM is lost or fatal
        ensure_elasticsearch(settings)
        ctx = build_context(settings)
        apply_templates(ctx.client, ctx.names, settings.es)
        ctx.writer.start()
        services = build_services(ctx)
        if settings.metrics.port:
            serve_metrics(settings.metrics.port, settings.metrics.bind)
        started: list[Service] = []
        if signals.received() is None:
            for svc in services:
                svc.start()
                started.append(svc)
            log.info("socmon running", extra={"services": [s.name for s in started]})
        log.info("stopping", extra={"signal": signals.wait()})
        for svc in reversed(started):
            _stop(svc)
        ctx.writer.close()
        log.info("socmon stopped")


def _stop(svc: Service) -> None:
    """Stop one service; a failure or a slow stop is logged by name (the next one still stops)."""
    t0 = time.monotonic()
    try:
        svc.stop()
    except Exception:
        log.exception("service did not stop cleanly", extra={"service": svc.name})
    took = time.monotonic() - t0
    if took > SLOW_STOP_SECONDS:
        log.warning("service slow to stop", extra={"service": svc.name, "seconds": round(took, 1)})


@click.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Start everything the settings enable: the local Elasticsearch (when SOCMON_ES_URL is
    unset), index templates, collectors, detection, alerting and the API. Stops cleanly on
    SIGTERM/SIGINT, flushing in-flight events to Elasticsearch or the spool."""
    run_until_signalled(settings_from(ctx))
