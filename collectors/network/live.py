"""Live capture: scapy's raw packet socket (Linux ``AF_PACKET``), an interface or all of them,
with a BPF filter and a snap length.

Two threads per capture, so parsing never stalls the socket: the *capture* thread only
receives raw frames (``recv_raw``: no scapy dissection) and puts them on a bounded queue
without blocking (a full queue drops the frame and counts it,
``socmon_network_dropped_packets_total{where="queue_full"}``); the *parser* thread drains the
queue in batches into the ``PacketProcessor`` and emits events. The kernel's own drop
counters (``PACKET_STATISTICS``) are read every second into
``socmon_network_dropped_packets_total{where="kernel"}``.

Needs root or CAP_NET_RAW: without it, ``CaptureError`` with a message saying so.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from socmon.collectors.network import metrics
from socmon.collectors.network.engine import PacketProcessor
from socmon.settings.network import NetworkSettings

log = logging.getLogger(__name__)

SOL_PACKET = 263
PACKET_STATISTICS = 6
ALL = ("any", "all", "*", "")

Emit = Callable[[str, dict[str, Any]], None]


class CaptureError(Exception):
    """Live capture cannot start (permissions, unknown interface, bad filter)."""


PERMISSION_HELP = (
    "live capture on {iface} needs root or the CAP_NET_RAW capability (CAP_NET_ADMIN too for "
    "promiscuous mode): run socmon as root, or grant the interpreter the capabilities, e.g. "
    "`setcap cap_net_raw,cap_net_admin=eip $(readlink -f .venv/bin/python)`"
)


def open_socket(iface: str, bpf: str, snaplen: int) -> Any:
    """An scapy L2 listening socket, or CaptureError with a clear reason."""
    try:
        from scapy.arch.linux import L2ListenSocket
    except ImportError as e:  # not Linux
        raise CaptureError(f"live capture is supported on Linux only ({e})") from None
    name = None if iface in ALL else iface
    try:
        sock = L2ListenSocket(iface=name, filter=bpf or None, promisc=name is not None)
    except PermissionError:
        raise CaptureError(PERMISSION_HELP.format(iface=iface or "all interfaces")) from None
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            raise CaptureError(PERMISSION_HELP.format(iface=iface)) from None
        if e.errno in (errno.ENODEV, errno.ENXIO, errno.EINVAL):
            raise CaptureError(f"interface {iface!r} not found ({e.strerror})") from None
        raise CaptureError(f"cannot capture on {iface!r}: {e}") from None
    except ImportError as e:
        raise CaptureError(
            f"BPF filter {bpf!r} needs libpcap or tcpdump to compile ({e})"
        ) from None
    except Exception as e:  # scapy raises Scapy_Exception for bad filters
        if bpf:
            raise CaptureError(f"cannot use BPF filter {bpf!r}: {e}") from None
        raise CaptureError(f"cannot capture on {iface!r}: {e}") from None
    return sock


# ARPHRD_* hardware type of the receiving interface -> pcap link type of its frames.
ARPHRD_LINKTYPES = {1: 1, 772: 1, 65534: 101, 768: 101, 776: 101, 823: 101, 512: 9, 801: 105}
PACKET_OUTGOING = 4
ARPHRD_LOOPBACK = 772


class LiveCapture:
    """One interface (or all): capture thread + parser thread."""

    def __init__(
        self,
        settings: NetworkSettings,
        iface: str,
        emit: Emit,
        processor: PacketProcessor | None = None,
    ) -> None:
        self.s = settings
        self.iface = iface or "any"
        self.name = f"network-capture-{self.iface}"
        self.emit = emit
        self.processor = processor or PacketProcessor(
            settings, f"live:{socket.gethostname()}:{self.iface}", "live", observer=self.iface
        )
        self.queue: queue.Queue[tuple[float, int, bytes, int]] = queue.Queue(settings.capture_queue)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sock: Any = None
        self.captured = 0
        self.queue_drops = 0
        self.kernel_drops = 0

    def start(self) -> None:
        """Open the socket (raises CaptureError) and start both threads."""
        self.sock = open_socket(self.iface, self.s.bpf_filter, self.s.snaplen)
        for target, name in ((self._capture_loop, "capture"), (self._parse_loop, "parse")):
            t = threading.Thread(target=target, name=f"{self.name}-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info("live capture started", extra={"interface": self.iface, "bpf": self.s.bpf_filter})

    def _capture_loop(self) -> None:
        sock = self.sock
        fd = sock.ins.fileno()
        snaplen = self.s.snaplen
        put = self.queue.put_nowait
        cap = metrics.CAPTURED.labels(self.iface)
        drops = metrics.DROPPED.labels(self.iface, "queue_full")
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], 0.25)
                if not ready:
                    continue
                # scapy's raw receive (VLAN tags restored from auxdata), no dissection
                data, sa_ll, ts = sock._recv_raw(sock.ins, 65535)
            except (OSError, ValueError) as e:
                if self._stop.is_set():
                    break
                log.warning(
                    "capture receive error", extra={"interface": self.iface, "error": str(e)}
                )
                continue
            if not data:
                continue
            hatype = sa_ll[3] if sa_ll and len(sa_ll) > 3 else 1
            if hatype == ARPHRD_LOOPBACK and sa_ll[2] == PACKET_OUTGOING:
                continue  # loopback shows each packet twice; keep the incoming copy
            self.captured += 1
            cap.inc()
            wirelen = len(data)
            if wirelen > snaplen:
                data = data[:snaplen]
            try:
                put((ts or time.time(), ARPHRD_LINKTYPES.get(hatype, 1), data, wirelen))
            except queue.Full:
                self.queue_drops += 1
                drops.inc()

    def _parse_loop(self) -> None:
        q = self.queue
        proc = self.processor
        next_tick = time.monotonic() + 1.0
        while True:
            batch = []
            try:
                batch.append(q.get(timeout=0.25))
                while len(batch) < 4096:
                    batch.append(q.get_nowait())
            except queue.Empty:
                pass
            if batch:
                try:
                    proc.run(batch)
                except Exception:  # never let one bad batch kill the capture
                    log.exception("packet processing failed", extra={"interface": self.iface})
                self._drain()
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + 1.0
                proc.tick(time.time())
                self._drain()
                self._kernel_stats()
            if self._stop.is_set() and q.empty():
                break
        proc.finish()
        self._drain()

    def _drain(self) -> None:
        out = self.processor.out
        for doc_id, ev in out:
            metrics.EVENTS.labels(ev["event"]["dataset"]).inc()
            self.emit(doc_id, ev)
        out.clear()

    def _kernel_stats(self) -> None:
        """PACKET_STATISTICS: packets and drops since the last read (the kernel resets them)."""
        try:
            raw = self.sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        except (OSError, AttributeError):
            return
        _packets, drops = struct.unpack("II", raw)
        if drops:
            self.kernel_drops += drops
            metrics.DROPPED.labels(self.iface, "kernel").inc(drops)

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        if self.sock is not None:
            self._kernel_stats()
            with contextlib.suppress(OSError):
                self.sock.close()
        log.info(
            "live capture stopped",
            extra={
                "interface": self.iface,
                "captured": self.captured,
                "queue_drops": self.queue_drops,
                "kernel_drops": self.kernel_drops,
            },
        )
