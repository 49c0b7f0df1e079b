"""Services of the network collector for ``socmon run``: live capture on each configured
interface, and a watcher that reads finished capture files dropped in ``network.pcap_dirs``.

``build(ctx)`` is called by the collectors layer's ``collectors/services.py``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from socmon.collectors.network import metrics
from socmon.collectors.network.engine import PacketProcessor
from socmon.collectors.network.live import CaptureError, LiveCapture
from socmon.collectors.network.reader import capture_identity, read_pcap_events

log = logging.getLogger(__name__)

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")


class LiveCaptureService:
    """Wraps LiveCapture: a capture that cannot start (no privileges, no such interface) is
    logged with the reason and the service stays idle; ``socmon run`` keeps going."""

    def __init__(self, ctx: Any, iface: str) -> None:
        self.ctx = ctx
        self.iface = iface
        self.name = f"network-capture-{iface}"
        self.capture: LiveCapture | None = None
        self.error: str | None = None

    def start(self) -> None:
        sink = self.ctx.events
        capture = LiveCapture(
            self.ctx.settings.network, self.iface, lambda i, e: sink.emit(i, e, None)
        )
        try:
            capture.start()
        except CaptureError as e:
            self.error = str(e)
            log.error("live capture not started", extra={"interface": self.iface, "reason": str(e)})
            return
        self.capture = capture

    def stop(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            self.capture = None


class PcapDirService:
    """Polls directories for capture files; a file is read once it has not changed for two
    poll intervals. Each file's identity (content hash) is recorded in
    ``<var_dir>/network/pcap-done.json`` after every one of its events was acknowledged
    (durable), so a restart re-reads only unfinished files, and their deterministic ids make
    the re-read create no duplicates."""

    name = "network-pcap-dirs"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        s = ctx.settings
        self.dirs = [Path(d) for d in s.network.pcap_dirs]
        self.interval = s.network.pcap_poll_interval
        self.state_path = Path(s.var_dir) / "network" / "pcap-done.json"
        self.done: dict[str, str] = self._load()
        self._seen: dict[Path, tuple[int, float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.state_path.read_text())
            return {str(k): str(v) for k, v in data.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("pcap state unreadable; starting afresh", extra={"error": str(e)})
            return {}

    def _save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.done))
        os.replace(tmp, self.state_path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
            except Exception:
                log.exception("pcap directory scan failed; will retry")
            self._stop.wait(self.interval)

    def ready_files(self, now: float | None = None) -> list[Path]:
        """Capture files whose size and mtime did not change for two poll intervals."""
        now = time.time() if now is None else now
        out = []
        for d in self.dirs:
            try:
                entries = sorted(d.iterdir())
            except OSError as e:
                log.warning("pcap dir unreadable", extra={"path": str(d), "error": str(e)})
                continue
            for p in entries:
                if not p.is_file() or not p.name.endswith(CAPTURE_SUFFIXES):
                    continue
                st = p.stat()
                prev = self._seen.get(p)
                if prev is None or prev[:2] != (st.st_size, st.st_mtime):
                    self._seen[p] = (st.st_size, st.st_mtime, now)
                    if now - st.st_mtime < 2 * self.interval:
                        continue
                elif now - prev[2] < 2 * self.interval and now - st.st_mtime < 2 * self.interval:
                    continue
                out.append(p)
        return out

    def scan_once(self, now: float | None = None) -> int:
        n = 0
        for p in self.ready_files(now):
            if self._stop.is_set():
                break
            try:
                ident = capture_identity(p)
            except OSError:
                continue
            if ident in self.done:
                continue
            self.read_file(p, ident)
            n += 1
        return n

    def read_file(self, path: Path, ident: str) -> None:
        sink = self.ctx.events
        lock = threading.Lock()
        state = {"emitted": 0, "acked": 0, "finished": False}

        def ack() -> None:
            with lock:
                state["acked"] += 1
                if state["finished"] and state["acked"] == state["emitted"]:
                    self._mark_done(ident, path)

        proc = PacketProcessor(self.ctx.settings.network, ident, "pcap", observer=None)
        for doc_id, ev in read_pcap_events(path, self.ctx.settings.network, processor=proc):
            with lock:
                state["emitted"] += 1
            metrics.EVENTS.labels(ev["event"]["dataset"]).inc()
            sink.emit(doc_id, ev, ack)
        with lock:
            state["finished"] = True
            if state["acked"] == state["emitted"]:
                self._mark_done(ident, path)

    def _mark_done(self, ident: str, path: Path) -> None:
        self.done[ident] = str(path)
        self._save()
        log.info("capture file done", extra={"path": str(path)})


def build(ctx: Any) -> list[Any]:
    """The network collector's services for ``socmon run`` (none when nothing is set)."""
    s = ctx.settings.network
    services: list[Any] = [LiveCaptureService(ctx, iface) for iface in s.interfaces]
    if s.pcap_dirs:
        services.append(PcapDirService(ctx))
    return services
