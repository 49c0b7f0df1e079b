"""Threshold detections derived from traffic, each counted per sliding window
(``windows.WindowCounter``): brute force from ended flows, DNS tunnelling from suspicious
queries. Each crossing is one alert event in ``out``. Scans, sweeps and floods are Sigma
correlations over the flow events (rules/sigma/network/connection_scans.yml)."""

from __future__ import annotations

from typing import Any

from socmon.collectors.network.dns import entropy
from socmon.collectors.network.ecs import EventFactory, endpoints, ip_str, iso
from socmon.collectors.network.flows import ACK, SYN, Flow
from socmon.collectors.network.windows import WindowCounter
from socmon.settings.network import NetworkSettings

Out = list[tuple[str, dict[str, Any]]]


class ThresholdDetections:
    def __init__(self, settings: NetworkSettings, factory: EventFactory, out: Out) -> None:
        self.s = settings
        self.factory = factory
        self.out = out
        w = settings.detection_window
        self.brute = WindowCounter(w, settings.bruteforce_threshold, distinct=False)
        self.dns_tunnel = WindowCounter(w, settings.dns_tunnel_queries_threshold, distinct=False)
        self.brute_ports = set(settings.bruteforce_ports)

    # ------------------------------------------------------------------ from ended flows
    def flow_ended(self, f: Flow) -> None:
        if f.proto not in (6, 17):
            return
        oa, _op = f.orig()
        ra, rp = f.resp()
        if (
            f.proto == 6
            and rp in self.brute_ports
            and f.orig_flags & ACK
            and f.orig_flags & SYN
            and f.last - f.first <= self.s.bruteforce_max_duration
        ):
            w = self.brute.add((oa, ra, rp, f.v6), None, f.last)
            if w is not None:
                self._bruteforce(f, oa, ra, rp, w.start, w.count)

    def _bruteforce(self, f: Flow, oa: int, ra: int, rp: int, start: float, count: int) -> None:
        s = self.s
        sip, dip = ip_str(oa, f.v6), ip_str(ra, f.v6)
        ev = self.factory.alert_base("network.bruteforce", f.last, "brute-force")
        ev["event"]["category"] = ["network", "authentication", "intrusion_detection"]
        endpoints(ev, sip, None, dip, rp)
        ev["network"] = {"transport": "tcp", "type": "ipv6" if f.v6 else "ipv4"}
        ev["bruteforce"] = {
            "short_connections": count,
            "window_seconds": s.detection_window,
            "max_duration_seconds": s.bruteforce_max_duration,
        }
        ev["event"]["start"] = iso(start)
        ev["message"] = (
            f"{count} short connections from {sip} to {dip}:{rp} within {s.detection_window:g}s"
        )
        self.out.append((self.factory.id("bruteforce", sip, dip, rp, start), ev))

    # ------------------------------------------------------------------ from DNS queries
    def dns_query(self, q: dict[str, Any], ts: float, sip: str) -> None:
        """A DNS query seen from ``sip``: long or high-entropy labels, TXT/NULL types count
        towards a tunnel alert for its registered domain."""
        s = self.s
        sub = q.get("subdomain", "")
        longest = max((len(x) for x in sub.split(".")), default=0) if sub else 0
        ent = entropy(sub.replace(".", "")) if len(sub) >= 16 else 0.0
        suspicious = (
            longest >= s.dns_long_label
            or ent >= s.dns_entropy_threshold
            or q.get("type") in ("TXT", "NULL")
        )
        if not suspicious:
            return
        domain = q.get("registered_domain", q.get("name", ""))
        w = self.dns_tunnel.add(domain, sub[:64], ts)
        if w is None:
            return
        out = self.factory.alert_base("network.dns_tunnel", ts, "dns-tunnel")
        out["source"] = {"ip": sip, "address": sip}
        out["related"] = {"ip": [sip], "hosts": [domain]}
        out["dns"] = {"question": {"registered_domain": domain, "name": q.get("name")}}
        out["dns_tunnel"] = {
            "suspicious_queries": w.count,
            "distinct_subdomains_sampled": len(w.items),
            "window_seconds": s.detection_window,
            "max_label_length": longest,
            "subdomain_entropy": round(ent, 3),
        }
        out["event"]["start"] = iso(w.start)
        out["message"] = (
            f"{w.count} suspicious DNS queries (long/high-entropy labels, TXT/NULL) for "
            f"{domain} within {s.detection_window:g}s"
        )
        self.out.append((self.factory.id("dns_tunnel", domain, w.start), out))
