"""Prometheus metrics of the network collector (``socmon_network_*``).

The packet hot path counts in plain Python ints (a Prometheus ``inc`` takes a lock); the
processor publishes its counters here in batches (``publish``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from socmon.metrics import REGISTRY

PACKETS = Counter(
    "socmon_network_packets_total",
    "Packets processed by the network collector, by source kind (pcap, live).",
    ["source"],
    registry=REGISTRY,
)
BYTES = Counter(
    "socmon_network_bytes_total",
    "Bytes of packets processed (wire length), by source kind.",
    ["source"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "socmon_network_events_total",
    "Events emitted by the network collector, by dataset (network.flow, network.dns, ...).",
    ["dataset"],
    registry=REGISTRY,
)
MALFORMED = Counter(
    "socmon_network_malformed_total",
    "Bad input met by the network collector, by reason (truncated_record, "
    "corrupt_record_header, short_frame, bad_ip_header, truncated_tcp, dns_malformed, "
    "unsupported_linktype, ...).",
    ["reason"],
    registry=REGISTRY,
)
FRAGMENTS = Counter(
    "socmon_network_ip_fragments_total",
    "IP fragments seen (not reassembled; non-first fragments carry no ports).",
    registry=REGISTRY,
)
FLOWS_EVICTED = Counter(
    "socmon_network_flows_evicted_total",
    "Flows emitted early because the flow table reached network.flow_max.",
    registry=REGISTRY,
)
FLOWS_ACTIVE = Gauge(
    "socmon_network_flows_active",
    "Flows currently in the flow table.",
    registry=REGISTRY,
)
DROPPED = Counter(
    "socmon_network_dropped_packets_total",
    "Packets lost in live capture, by where (kernel: the socket's PACKET_STATISTICS drops; "
    "queue_full: our capture->parser queue was full).",
    ["interface", "where"],
    registry=REGISTRY,
)
CAPTURED = Counter(
    "socmon_network_captured_packets_total",
    "Packets received from the kernel by live capture, by interface.",
    ["interface"],
    registry=REGISTRY,
)
PCAP_FILES = Counter(
    "socmon_network_pcap_files_total",
    "Capture files read, by outcome (done, unreadable).",
    ["outcome"],
    registry=REGISTRY,
)
