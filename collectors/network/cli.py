"""``socmon capture``: live capture to ECS JSON lines (stdout) or Elasticsearch."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click
import orjson

from socmon.cli import settings_from
from socmon.stop_signals import StopSignals


@click.command()
@click.option(
    "--interface",
    "-i",
    "interfaces",
    multiple=True,
    help="Interface to capture on (repeatable; 'any' = all). Default: network.interfaces.",
)
@click.option(
    "--filter", "-f", "bpf", default=None, help="BPF filter (default network.bpf_filter)."
)
@click.option("--snaplen", "-s", type=int, default=None, help="Bytes kept per packet.")
@click.option("--duration", "-d", type=float, default=None, help="Stop after this many seconds.")
@click.option(
    "--es/--stdout",
    "to_es",
    default=False,
    help="Store events in Elasticsearch instead of printing JSON lines.",
)
@click.pass_context
def capture(
    ctx: click.Context,
    interfaces: tuple[str, ...],
    bpf: str | None,
    snaplen: int | None,
    duration: float | None,
    to_es: bool,
) -> None:
    """Capture packets live and emit network events (flows, DNS, HTTP, TLS, ARP, ICMP and
    the derived detection events). Needs root or CAP_NET_RAW. Stops on Ctrl-C/SIGTERM or
    after --duration, emitting the flows still open."""
    from socmon.collectors.network.live import CaptureError, LiveCapture

    settings = settings_from(ctx)
    net = settings.network.model_copy(
        update={k: v for k, v in {"bpf_filter": bpf, "snaplen": snaplen}.items() if v is not None}
    )
    ifaces = list(interfaces) or list(settings.network.interfaces) or ["any"]
    writer: Any = None
    if to_es:
        from socmon.bulk import BulkWriter
        from socmon.es import make_client
        from socmon.indices import IndexNames
        from socmon.storage_sink import StorageSink

        names = IndexNames(settings.es.index_prefix)
        writer = BulkWriter(
            make_client(settings.es), settings.storage, names, spool_dir=settings.storage.spool_dir
        )
        writer.start()
        sink = StorageSink(writer, names)

        def emit(doc_id: str, ev: dict[str, Any]) -> None:
            sink.emit(doc_id, ev, None)

    else:
        lock = threading.Lock()
        out = sys.stdout.buffer

        def emit(doc_id: str, ev: dict[str, Any]) -> None:
            line = orjson.dumps({"_id": doc_id, **ev}) + b"\n"
            with lock:
                out.write(line)
                out.flush()

    captures = [LiveCapture(net, iface, emit) for iface in ifaces]
    started = []
    try:
        for c in captures:
            c.start()
            started.append(c)
    except CaptureError as e:
        for c in started:
            c.stop()
        raise click.ClickException(str(e)) from None
    deadline = None if duration is None else time.monotonic() + duration
    with StopSignals() as signals:
        while signals.wait(0.2) is None:
            if deadline is not None and time.monotonic() >= deadline:
                break
    for c in captures:
        c.stop()
        click.echo(
            f"{c.iface}: {c.captured} packets captured, {c.queue_drops} dropped (queue full), "
            f"{c.kernel_drops} dropped by the kernel",
            err=True,
        )
    if writer is not None:
        writer.close()
