"""Settings section for this layer.

Network collector (issue 4): live capture and pcap files, flow accounting, protocol events and
the thresholds of the derived detection events (see docs/network.md).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from socmon.settings.base import Section


class NetworkSettings(Section):
    """Network collector (issue 4): live capture and pcap files."""

    # --- capture -------------------------------------------------------------------------
    interfaces: list[str] = Field(
        default_factory=list,
        description="Interfaces to capture on in `socmon run` ('any' = all). Empty: no live "
        "capture.",
    )
    bpf_filter: str = Field(
        default="", description="BPF filter for live capture (empty: everything)."
    )
    snaplen: int = Field(
        default=262_144, ge=64, le=262_144, description="Bytes kept of each captured packet."
    )
    capture_queue: int = Field(
        default=100_000,
        ge=100,
        description="Packets buffered between the capture thread and the parser; when full, "
        "packets are dropped and counted (socmon_network_dropped_packets_total{where="
        "'queue_full'}) instead of stalling the socket.",
    )
    pcap_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories watched in `socmon run` for finished .pcap/.pcapng(.gz) files.",
    )
    pcap_poll_interval: float = Field(
        default=5.0, gt=0, description="Seconds between pcap dir scans."
    )
    organization_id: str = Field(
        default="default", description="organization.id of network events."
    )
    organization_name: str = Field(
        default="default", description="organization.name of network events."
    )

    # --- flows ---------------------------------------------------------------------------
    flow_idle_timeout: float = Field(
        default=60.0, gt=0, description="Seconds without packets after which a flow is emitted."
    )
    flow_tcp_closed_linger: float = Field(
        default=1.0,
        ge=0,
        description="Seconds a TCP flow stays after FIN from both sides / RST (catches the "
        "last ACKs) before it is emitted.",
    )
    flow_active_timeout: float = Field(
        default=1800.0, gt=0, description="A long-lived flow is emitted (and restarted) after this."
    )
    flow_max: int = Field(
        default=1_000_000,
        ge=100,
        description="Flow-table bound; the oldest flows are evicted (emitted and counted in "
        "socmon_network_flows_evicted_total) beyond it.",
    )
    flow_sweep_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds (packet time) between timeout sweeps of the flow table.",
    )
    max_payload_inspect: int = Field(
        default=4096,
        ge=256,
        description="Bytes of a TCP stream (per direction) buffered for HTTP/FTP/TLS/DNS parsing.",
    )

    # --- detections (derived events) ----------------------------------------------------
    detection_window: float = Field(
        default=60.0,
        gt=0,
        description="Seconds of the per-key sliding windows of the derived detections (a "
        "key fires when its threshold is reached within any such span, then is quiet as long).",
    )
    bruteforce_threshold: int = Field(
        default=20,
        ge=2,
        description="Short connections from one source to one RDP/FTP/Telnet/VNC service in a "
        "window -> network.bruteforce (SSH: failed logins inferred from the session shape are "
        "counted by the Sigma correlation rule ssh_password_guessing.yml instead).",
    )
    bruteforce_ports: list[int] = Field(
        default_factory=lambda: [21, 23, 3389, 5900],
        description="Destination ports watched for brute force by short connections (FTP, "
        "Telnet, RDP, VNC). 22 is no longer in it: SSH logins are inferred (network.ssh).",
    )
    bruteforce_max_duration: float = Field(
        default=10.0, gt=0, description="A connection shorter than this counts for brute force."
    )
    dns_tunnel_queries_threshold: int = Field(
        default=100,
        ge=2,
        description="Suspicious queries (long/high-entropy labels, TXT/NULL) to one domain in a "
        "window -> network.dns_tunnel.",
    )
    dns_long_label: int = Field(
        default=40, ge=8, le=63, description="A DNS label at least this long is suspicious."
    )
    dns_entropy_threshold: float = Field(
        default=3.8,
        gt=0,
        description="Shannon entropy (bits/char) of the subdomain above which a query is "
        "suspicious (only for subdomains of >= 16 characters).",
    )
    gateway_ips: list[str] = Field(
        default_factory=list,
        description="Gateway addresses: an ARP claim on one by a MAC other than its holder is "
        "flagged arp.gateway=true in the network.arp_anomaly event. Empty: gateways are "
        "learned from traffic (routers handed out by DHCP, and the address most hosts ask for "
        "in ARP, at least 3).",
    )
    arp_hold_seconds: float = Field(
        default=300.0,
        gt=0,
        description="An address claimed in ARP within this many seconds is still held by its "
        "MAC: another MAC claiming it is a conflict (or a flip-flop when it held it before); "
        "after longer silence the address simply changed hands (ip-mac-changed).",
    )
    arp_multi_ip_threshold: int = Field(
        default=5,
        ge=2,
        description="A MAC claiming at least this many IPv4 addresses -> network.arp_anomaly.",
    )
