"""Beats input (collectors/sources/beats_server.py, lumberjack v2) at the protocol level: ACKs
only once durable (whole and partial windows), compressed frames, bad frames, oversize
windows and events, slow and idle clients, backpressure, TLS. Frames are built here with
``struct`` from the protocol description in elastic/go-lumber (``protocol/v2``), not with
socmon's own frame helpers. The real Beats client (go-lumber) is in test_beats_go.py."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socmon.collectors.enrich import Enricher
from socmon.collectors.metrics import BAD_INPUT
from socmon.collectors.sources.beats_server import BeatsServer
from socmon.pipeline import Ack
from socmon.settings import load_settings
from socmon.settings.collectors import BeatsSource


class HeldSink:
    """Keeps events; acknowledges (makes durable) only the first ``n`` when told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.acks: list[Ack] = []
        self.lock = threading.Lock()

    def emit(self, doc_id: str, event: dict[str, Any], ack: Ack | None = None) -> None:
        with self.lock:
            self.events.append((doc_id, event))
            if ack is not None:
                self.acks.append(ack)

    def release(self, n: int | None = None) -> None:
        with self.lock:
            n = len(self.acks) if n is None else n
            acks, self.acks = self.acks[:n], self.acks[n:]
        for a in acks:
            a()

    def wait(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.events) >= n, f"{len(self.events)} of {n} events"


def W(n: int) -> bytes:
    return b"2W" + struct.pack(">I", n)


def J(seq: int, doc: dict[str, Any] | bytes) -> bytes:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return b"2J" + struct.pack(">II", seq, len(body)) + body


def C(frames: bytes) -> bytes:
    z = zlib.compress(frames)
    return b"2C" + struct.pack(">I", len(z)) + z


def doc(i: int) -> dict[str, Any]:
    return {
        "@timestamp": "2026-01-01T00:00:00.000Z",
        "message": "Jan  1 00:00:00 pc-01 sshd[1]: Failed password for root from "
        f"192.0.2.{i % 250} port {1000 + i} ssh2",
        "input": {"type": "filestream"},
        "log": {"offset": i * 100, "file": {"path": "/var/log/auth.log", "inode": "7"}},
        "agent": {"id": "a1", "name": "pc-01", "type": "filebeat"},
    }


def read_acks(c: socket.socket, until: int, timeout: float = 5.0) -> list[int]:
    """ACK sequence numbers received until one equals ``until``."""
    c.settimeout(timeout)
    buf, out = b"", []
    while until not in out:
        data = c.recv(4096)
        if not data:
            break
        buf += data
        while len(buf) >= 6:
            assert buf[:2] == b"2A", buf[:6]
            out.append(struct.unpack(">I", buf[2:6])[0])
            buf = buf[6:]
    return out


def nothing_to_read(c: socket.socket, wait: float = 0.3) -> bool:
    c.settimeout(wait)
    try:
        return not c.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True


def closed_by_server(c: socket.socket, timeout: float = 5.0) -> bool:
    c.settimeout(timeout)
    try:
        while c.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def bad(kind: str) -> float:
    return BAD_INPUT.labels(kind, "beats")._value.get()


@contextlib.contextmanager
def beats_server(**kw: Any) -> Iterator[tuple[BeatsServer, HeldSink]]:
    s = load_settings()
    sink = HeldSink()
    srv = BeatsServer(
        BeatsSource(bind="127.0.0.1", port=0, **kw), s.collectors, sink, Enricher(s.collectors)
    )
    srv.start()
    try:
        yield srv, sink
    finally:
        sink.release()
        srv.stop()


def test_window_acknowledged_only_when_durable_and_resend_same_ids() -> None:
    with beats_server() as (srv, sink), socket.create_connection(("127.0.0.1", srv.port)) as c:
        c.sendall(W(3) + b"".join(J(i + 1, doc(i)) for i in range(3)))
        sink.wait(3)
        assert nothing_to_read(c), "ACK before the events were durable"
        sink.release()
        assert read_acks(c, 3)[-1] == 3
        ids = [i for i, _ in sink.events]
        assert len(set(ids)) == 3
        # the same window again (a client that lost our ACK): the same ids
        c.sendall(W(3) + b"".join(J(i + 1, doc(i)) for i in range(3)))
        sink.wait(6)
        assert [i for i, _ in sink.events[3:]] == ids
        sink.release()
        assert read_acks(c, 3)[-1] == 3
    ev = sink.events[0][1]
    assert ev["event"]["dataset"] == "sshd" and ev["source"]["ip"] == "192.0.2.0"
    assert ev["log"]["file"]["path"] == "/var/log/auth.log"


def test_partial_acks_of_the_durable_part_then_the_whole_window() -> None:
    with (
        beats_server(partial_ack_interval=0.2) as (srv, sink),
        socket.create_connection(("127.0.0.1", srv.port)) as c,
    ):
        c.sendall(W(5) + b"".join(J(i + 1, doc(i)) for i in range(5)))
        sink.wait(5)
        sink.release(2)
        got = read_acks(c, 2)
        assert got[-1] == 2 and all(s <= 2 for s in got)
        sink.release()
        assert read_acks(c, 5)[-1] == 5


def test_pipelined_windows_are_acknowledged_in_order() -> None:
    with beats_server() as (srv, sink), socket.create_connection(("127.0.0.1", srv.port)) as c:
        c.sendall(
            W(2)
            + J(1, doc(0))
            + J(2, doc(1))
            + W(3)
            + b"".join(J(i + 1, doc(10 + i)) for i in range(3))
        )
        sink.wait(5)
        sink.release()
        acks = read_acks(c, 3)
        assert acks[acks.index(2) :] == [2, 3]


def test_compressed_frames() -> None:
    with beats_server() as (srv, sink), socket.create_connection(("127.0.0.1", srv.port)) as c:
        frames = b"".join(J(i + 1, doc(i)) for i in range(100))
        c.sendall(W(100) + C(frames))
        sink.wait(100)
        sink.release()
        assert read_acks(c, 100)[-1] == 100
    assert len({i for i, _ in sink.events}) == 100


def test_compressed_frame_split_in_tiny_chunks() -> None:
    with beats_server() as (srv, sink), socket.create_connection(("127.0.0.1", srv.port)) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = W(10) + C(b"".join(J(i + 1, doc(i)) for i in range(10)))
        for k in range(0, len(data), 7):
            c.sendall(data[k : k + 7])
            time.sleep(0.001)
        sink.wait(10)
        sink.release()
        assert read_acks(c, 10)[-1] == 10


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (b"1W" + struct.pack(">I", 1), "version"),
        (W(1) + b"2X" + b"\0" * 8, "unknown frame type"),
        (J(1, doc(0)), "outside a window"),
        (W(1) + J(1, doc(0)) + J(2, doc(1)), "outside a window"),
        (W(100_000), "window of 100000"),
        (W(1) + b"2C" + struct.pack(">I", 9) + b"notzlib!!", "compressed frame"),
        (W(1) + C(b"2J" + struct.pack(">II", 1, 50) + b"{}"), "ends inside a frame"),
        (W(1) + C(C(J(1, doc(0)))), "inside a compressed frame"),
        (W(1) + b"2D" + b"\0" * 8, "v1"),
    ],
)
def test_bad_frames_are_counted_and_close_the_connection(stream: bytes, why: str) -> None:
    before = bad("beats_frame")
    with beats_server() as (srv, _), socket.create_connection(("127.0.0.1", srv.port)) as c:
        c.sendall(stream)
        assert closed_by_server(c)
    assert bad("beats_frame") == before + 1


def test_a_bad_frame_after_good_events_keeps_them() -> None:
    """Events handed over before the bad frame are stored; the client sends its window again
    (nothing lost), and the same ids make that resend harmless."""
    with beats_server() as (srv, sink), socket.create_connection(("127.0.0.1", srv.port)) as c:
        c.sendall(W(3) + J(1, doc(0)) + J(2, doc(1)) + b"2Z")
        assert closed_by_server(c)
        assert len(sink.events) == 2


def test_compression_bomb_is_refused() -> None:
    before = bad("beats_frame")
    with (
        beats_server(max_batch_bytes=65536) as (srv, sink),
        socket.create_connection(("127.0.0.1", srv.port)) as c,
    ):
        c.sendall(W(1) + C(J(1, b'"' + b"a" * 1_000_000 + b'"')))
        assert closed_by_server(c)
    assert bad("beats_frame") == before + 1 and not sink.events


def test_oversize_event_kept_truncated_and_acknowledged() -> None:
    before = bad("truncated")
    with (
        beats_server(max_event_bytes=2048) as (srv, sink),
        socket.create_connection(("127.0.0.1", srv.port)) as c,
    ):
        big = dict(doc(0), message="x" * 100_000)
        c.sendall(W(2) + J(1, big) + J(2, doc(1)))
        sink.wait(2)
        sink.release()
        assert read_acks(c, 2)[-1] == 2
    first = sink.events[0][1]
    assert "_truncated" in first["tags"] and len(first["event"]["original"]) <= 2048
    assert sink.events[1][1]["event"]["dataset"] == "sshd"  # in sync after the cut
    assert bad("truncated") == before + 1


def test_bad_json_is_kept_as_a_parse_failure_and_acknowledged() -> None:
    with beats_server() as (srv, sink), socket.create_connection(("127.0.0.1", srv.port)) as c:
        c.sendall(W(2) + J(1, b"{not json") + J(2, b"[1,2]"))
        sink.wait(2)
        sink.release()
        assert read_acks(c, 2)[-1] == 2
    for _, ev in sink.events:
        assert "_parse_failure" in ev["tags"] and ev["error"]["message"]


def test_idle_client_closed_and_counted_but_not_while_it_waits_for_our_ack() -> None:
    before = bad("idle_client")
    with beats_server(idle_timeout=0.5, partial_ack_interval=5) as (srv, sink):
        with socket.create_connection(("127.0.0.1", srv.port)) as slow:
            slow.sendall(W(2) + J(1, doc(0))[:5])  # a frame begun, never finished
            assert closed_by_server(slow, timeout=5)
        assert bad("idle_client") == before + 1
        with socket.create_connection(("127.0.0.1", srv.port)) as c:
            c.sendall(W(1) + J(1, doc(1)))
            sink.wait(1)
            time.sleep(1.2)  # longer than idle_timeout: the client waits for us
            sink.release()
            assert read_acks(c, 1) == [1]
        assert bad("idle_client") == before + 1


def test_backpressure_by_not_reading_beyond_the_inflight_bound() -> None:
    with (
        beats_server(max_inflight_events=3) as (srv, sink),
        socket.create_connection(("127.0.0.1", srv.port)) as a,
        socket.create_connection(("127.0.0.1", srv.port)) as b,
    ):
        a.sendall(W(3) + b"".join(J(i + 1, doc(i)) for i in range(3)))
        sink.wait(3)
        b.sendall(W(2) + J(1, doc(10)) + J(2, doc(11)))
        time.sleep(0.5)
        assert len(sink.events) == 3, "read beyond max_inflight_events"
        sink.release()
        assert read_acks(a, 3)[-1] == 3
        sink.wait(5)
        sink.release()
        assert read_acks(b, 2)[-1] == 2


def test_connections_bounded() -> None:
    before = bad("too_many_connections")
    with (
        beats_server(max_connections=1) as (srv, sink),
        socket.create_connection(("127.0.0.1", srv.port)) as a,
    ):
        a.sendall(W(1) + J(1, doc(0)))
        sink.wait(1)
        with socket.create_connection(("127.0.0.1", srv.port)) as b:
            assert closed_by_server(b)
    assert bad("too_many_connections") == before + 1


def test_beats_over_tls(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    with beats_server(cert_file=cert, key_file=key) as (srv, sink):
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        with (
            socket.create_connection(("127.0.0.1", srv.port)) as raw,
            ctx.wrap_socket(raw) as c,
        ):
            c.sendall(W(2) + C(J(1, doc(0)) + J(2, doc(1))))
            sink.wait(2)
            time.sleep(0.3)
            assert len(sink.acks) == 2  # nothing durable yet: no ACK can have gone out
            sink.release()
            assert read_acks(c, 2) == [2]
