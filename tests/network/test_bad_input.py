"""Bad input: damaged files, odd frames and random bytes are counted, never a crash or hang."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap, wrpcapng

from socmon.collectors.network.engine import PacketProcessor
from socmon.collectors.network.pcapfile import PcapError, iter_packets
from socmon.collectors.network.reader import read_pcap_events
from socmon.settings.network import NetworkSettings
from tests.network.helpers import events, of, write_pcap


def _pkts(n: int = 20) -> list:
    return [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i, dport=80, flags="S")
        for i in range(n)
    ]


def test_truncated_file_counts_and_keeps_what_came_before(tmp_path: Path) -> None:
    full = write_pcap(tmp_path / "full.pcap", _pkts())
    data = full.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 30])
    evs, proc = events(cut)
    assert len(of(evs, "network.flow")) == 19
    assert proc.stats["truncated_record"] == 1


def test_corrupt_record_header_stops_the_file_cleanly(tmp_path: Path) -> None:
    data = bytearray(write_pcap(tmp_path / "ok.pcap", _pkts()).read_bytes())
    rec = 24 + 16 + 54  # global header + first record (54-byte frame)
    struct.pack_into("<I", data, rec + 8, 0x7FFFFFFF)  # caplen of record 2
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(bytes(data))
    evs, proc = events(bad)
    assert len(of(evs, "network.flow")) == 1
    assert proc.stats["corrupt_record_header"] == 1


def test_not_a_capture_and_empty_file(tmp_path: Path) -> None:
    for name, content in (("text.pcap", b"hello, world\n" * 10), ("empty.pcap", b"")):
        p = tmp_path / name
        p.write_bytes(content)
        evs, proc = events(p)
        assert len(evs) == 1 and "_parse_failure" in evs[0]["tags"]
        assert proc.stats["not_a_capture"] == 1
    with pytest.raises(PcapError), open(tmp_path / "text.pcap", "rb") as f:
        list(iter_packets(f, {}))


def test_gzip_and_pcapng(tmp_path: Path) -> None:
    plain = write_pcap(tmp_path / "a.pcap", _pkts())
    gz = tmp_path / "a.pcap.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    ng = tmp_path / "a.pcapng"
    pk = _pkts()
    for i, p in enumerate(pk):
        p.time = 1_760_000_000 + i
    wrpcapng(str(ng), pk)
    for p in (gz, ng):
        evs, proc = events(p)
        assert len(of(evs, "network.flow")) == 20, p
        assert not proc.stats, p
    evs, _ = events(ng)
    assert evs[0]["@timestamp"].startswith("2025-10-09T08:53:")
    # a truncated gzip stream keeps what could be read
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(gz.read_bytes()[:-40])
    evs, _ = events(cut)
    assert 0 < len(of(evs, "network.flow")) <= 20


def test_wrong_linktype_zero_length_and_jumbo_frames(tmp_path: Path) -> None:
    jumbo = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(b"j" * 9000)
    p = tmp_path / "odd.pcap"
    wrpcap(str(p), [jumbo])
    data = bytearray(p.read_bytes())
    data += struct.pack("<IIII", 1_760_000_001, 0, 0, 0)  # a zero-length frame
    p.write_bytes(bytes(data))
    evs, proc = events(p)
    (flow,) = of(evs, "network.flow")
    assert flow["network"]["bytes"] == 9028
    assert proc.stats["empty_frame"] == 1

    wrong = bytearray(write_pcap(tmp_path / "w.pcap", _pkts(3)).read_bytes())
    struct.pack_into("<I", wrong, 20, 147)  # DLT_USER0: nothing can dissect it
    q = tmp_path / "wrong.pcap"
    q.write_bytes(bytes(wrong))
    evs, proc = events(q)
    assert evs == [] and proc.stats["unsupported_linktype"] == 3


_LINKTYPES = st.sampled_from([1, 0, 101, 113, 276, 105, 127, 9, 147])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_LINKTYPES, st.binary(max_size=200)), max_size=20))
def test_random_bytes_as_packets(frames: list[tuple[int, bytes]]) -> None:
    proc = PacketProcessor(NetworkSettings(flow_max=100), "random")
    proc.run([(1_760_000_000.0 + i, lt, b, len(b)) for i, (lt, b) in enumerate(frames)])
    proc.finish()
    assert proc.packets == len(frames)


_ETH_IP = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2"))[:14]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([53, 80, 443, 21, 5353, 8080]),
    st.sampled_from(["tcp", "udp"]),
    st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=6),
)
def test_random_payloads_reach_the_protocol_parsers(
    port: int, transport: str, payloads: list[bytes]
) -> None:
    """Valid headers, random application bytes: DNS/HTTP/TLS/FTP parsers must cope."""
    frames = []
    for i, pl in enumerate(payloads):
        l4 = (
            TCP(sport=40000, dport=port, flags="PA" if i else "S")
            if transport == "tcp"
            else UDP(sport=40000, dport=port)
        )
        if i % 2 and transport == "tcp":
            l4 = TCP(sport=port, dport=40000, flags="PA")
            pkt = Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / l4 / Raw(pl)
        else:
            pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / l4 / Raw(pl)
        b = bytes(pkt)
        frames.append((1_760_000_000.0 + i, 1, b, len(b)))
    proc = PacketProcessor(NetworkSettings(), "random-payload")
    proc.run(frames)
    proc.finish()
    assert "inspector_error" not in proc.stats, proc.stats
    assert of([e for _, e in proc.out], "network.flow")


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=600))
def test_random_files(tmp_path_factory: pytest.TempPathFactory, blob: bytes) -> None:
    p = tmp_path_factory.mktemp("rnd") / "x.pcap"
    for head in (b"", b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", b"\x0a\x0d\x0d\x0a"):
        p.write_bytes(head + blob)
        list(read_pcap_events(p))
