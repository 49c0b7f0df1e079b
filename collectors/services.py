"""``build(ctx)``: the collectors `socmon run` (and `socmon collect`) starts from settings:
one service per file source, syslog listener, Beats listener and EVTX source, all emitting
into ``ctx.events`` with acks, so checkpoints advance only when events are durable."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from socmon.collectors.enrich import Enricher
from socmon.collectors.sources.beats_server import BeatsServer
from socmon.collectors.sources.evtx_files import EvtxTailer
from socmon.collectors.sources.files import FileTailer
from socmon.collectors.sources.syslog_server import SyslogServer
from socmon.pipeline import EventSink
from socmon.settings import Settings

log = logging.getLogger(__name__)


def source_name(kind: str, spec: Any) -> str:
    """A stable name for a source (its checkpoint file name) from its configuration."""
    explicit = getattr(spec, "name", None)
    if explicit:
        return f"{kind}-{explicit}"
    key = repr(getattr(spec, "paths", spec))
    return f"{kind}-{hashlib.blake2b(key.encode(), digest_size=6).hexdigest()}"


class _Wrapped:
    """Adapts a tailer/listener to the runner's Service protocol; stop() flushes the writer
    first so that the final checkpoint covers everything that became durable."""

    def __init__(self, name: str, inner: Any, flush: Any = None) -> None:
        self.name = name
        self.inner = inner
        self.flush = flush
        self._stopped = False

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.inner.stop()
        if self.flush is not None:
            try:
                self.flush(30)
            except Exception:
                log.exception("flush before final checkpoint failed")
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def build_sources(settings: Settings, sink: EventSink, flush: Any = None) -> list[_Wrapped]:
    cs = settings.collectors
    enricher = Enricher(cs)
    cp_dir = cs.checkpoint_dir or Path(settings.var_dir) / "checkpoints"
    out: list[_Wrapped] = []
    for f in cs.files:
        name = source_name("files", f)
        out.append(_Wrapped(name, FileTailer(f, cs, sink, enricher, cp_dir, name), flush))
    for s in cs.syslog:
        srv = SyslogServer(s, cs, sink, enricher)
        out.append(_Wrapped(srv.name, srv))
    for b in cs.beats:
        bsrv = BeatsServer(b, cs, sink, enricher)
        out.append(_Wrapped(bsrv.name, bsrv))
    for e in cs.evtx:
        name = source_name("evtx", e)
        out.append(_Wrapped(name, EvtxTailer(e, cs, sink, enricher, cp_dir, name), flush))
    return out


def build(ctx: Any) -> list[Any]:
    """Services for `socmon run` (socmon.runner.RunContext)."""
    # The network collector (live capture, pcap directories): its own settings section.
    from socmon.collectors.network.services import build as build_network

    network = build_network(ctx)
    if not ctx.settings.collectors.enabled:
        log.info("collectors disabled in settings")
        return network
    return list(build_sources(ctx.settings, ctx.events, ctx.writer.flush)) + network
