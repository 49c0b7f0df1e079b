"""Threshold detections derived from traffic, each counted per sliding window
(``windows.WindowCounter``): port and host scans, SYN floods and brute force from ended flows,
DNS tunnelling from suspicious queries. Each crossing is one alert event in ``out``."""

from __future__ import annotations

from typing import Any

from socmon.collectors.network.dns import entropy
from socmon.collectors.network.ecs import TRANSPORTS, EventFactory, endpoints, ip_str, iso
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
        self.scan_ports = WindowCounter(w, settings.scan_ports_threshold, distinct=True)
        self.scan_hosts = WindowCounter(w, settings.scan_hosts_threshold, distinct=True)
        self.synflood = WindowCounter(w, settings.synflood_threshold, distinct=False)
        self.brute = WindowCounter(w, settings.bruteforce_threshold, distinct=False)
        self.dns_tunnel = WindowCounter(w, settings.dns_tunnel_queries_threshold, distinct=False)
        self.brute_ports = set(settings.bruteforce_ports)

    # ------------------------------------------------------------------ from ended flows
    def flow_ended(self, f: Flow) -> None:
        if f.proto not in (6, 17):
            return
        oa, _op = f.orig()
        ra, rp = f.resp()
        if f.is_probe():
            w = self.scan_ports.add((oa, ra, f.v6), rp, f.last)
            if w is not None:
                self._scan(f, "vertical", w.start, w.count, len(w.items), oa, ra, None)
            w = self.scan_hosts.add((oa, rp, f.proto, f.v6), ra, f.last)
            if w is not None:
                self._scan(f, "horizontal", w.start, w.count, len(w.items), oa, None, rp)
        if f.half_open():
            w = self.synflood.add((ra, rp, f.v6), oa, f.last)
            if w is not None:
                self._synflood(f, ra, rp, w.start, w.count, len(w.items))
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

    def _synflood(self, f: Flow, ra: int, rp: int, start: float, count: int, srcs: int) -> None:
        s = self.s
        dip = ip_str(ra, f.v6)
        ev = self.factory.alert_base("network.synflood", f.last, "syn-flood")
        ev["destination"] = {"ip": dip, "address": dip, "port": rp}
        ev["related"] = {"ip": [dip]}
        ev["network"] = {"transport": "tcp", "type": "ipv6" if f.v6 else "ipv4"}
        ev["synflood"] = {
            "half_open_connections": count,
            "sources_sampled": srcs,
            "window_seconds": s.detection_window,
        }
        ev["event"]["start"] = iso(start)
        ev["message"] = (
            f"{count} half-open TCP connections to {dip}:{rp} within {s.detection_window:g}s"
        )
        self.out.append((self.factory.id("synflood", dip, rp, start), ev))

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

    def _scan(
        self,
        f: Flow,
        kind: str,
        start: float,
        probes: int,
        distinct: int,
        oa: int,
        ra: int | None,
        rp: int | None,
    ) -> None:
        sip = ip_str(oa, f.v6)
        ev = self.factory.alert_base("network.scan", f.last, f"{kind}-scan")
        ev["source"] = {"ip": sip, "address": sip}
        ev["related"] = {"ip": [sip]}
        if ra is not None:
            dip = ip_str(ra, f.v6)
            ev["destination"] = {"ip": dip, "address": dip}
            ev["related"]["ip"].append(dip)
        if rp is not None:
            ev["destination"] = {"port": rp}
        ev["network"] = {
            "transport": TRANSPORTS.get(f.proto, str(f.proto)),
            "type": "ipv6" if f.v6 else "ipv4",
        }
        ev["scan"] = {
            "type": kind,
            "probes": probes,
            "distinct_ports" if kind == "vertical" else "distinct_hosts": distinct,
            "window_seconds": self.s.detection_window,
        }
        ev["event"]["start"] = iso(start)
        what = "ports" if kind == "vertical" else "hosts"
        ev["message"] = (
            f"{sip} probed {distinct} distinct {what} within {self.s.detection_window:g}s"
        )
        self.out.append((self.factory.id("scan", kind, sip, ra or 0, rp or 0, start), ev))

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
