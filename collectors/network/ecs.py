"""Shared helpers to build the network collector's ECS events."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import socket
import struct
from typing import Any

from socmon.ids import doc_id

TRANSPORTS = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp", 47: "gre", 2: "igmp"}


_SECOND_CACHE: dict[int, str] = {}


def iso(ts: float) -> str:
    """ISO 8601 UTC with microseconds (``2026-11-24T10:00:00.000123Z``); the formatted second
    is cached (events come in time order, so most calls hit the cache)."""
    sec = int(ts) if ts == ts else 0
    micros = round((ts - sec) * 1e6)
    if micros >= 1_000_000:
        sec, micros = sec + 1, micros - 1_000_000
    prefix = _SECOND_CACHE.get(sec)
    if prefix is None:
        try:
            d = dt.datetime.fromtimestamp(sec, dt.UTC)
        except (OverflowError, OSError, ValueError):
            d = dt.datetime.fromtimestamp(0, dt.UTC)
        prefix = d.strftime("%Y-%m-%dT%H:%M:%S")
        if len(_SECOND_CACHE) > 4096:
            _SECOND_CACHE.clear()
        _SECOND_CACHE[sec] = prefix
    return f"{prefix}.{micros:06d}Z"


def ip_str(value: int, v6: bool) -> str:
    if v6:
        return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))
    return socket.inet_ntoa(struct.pack("!I", value))


def ip_bytes(value: int, v6: bool) -> bytes:
    return value.to_bytes(16 if v6 else 4, "big")


def mac_str(b: bytes) -> str:
    """ECS style: upper case, dash separated (``00-11-22-33-44-55``)."""
    return "-".join(f"{x:02X}" for x in b)


class EventFactory:
    """Builds the common part of every event and its deterministic id."""

    def __init__(self, source: str, org_id: str, org_name: str, observer: str | None) -> None:
        self.source = source
        # Ids hash the source once; each event's id only adds its own key (faster than
        # socmon.ids.doc_id over all parts, same properties: deterministic, 22 URL-safe chars).
        self._hasher = hashlib.blake2b(doc_id(source).encode(), digest_size=16)
        self.org = {"id": org_id, "name": org_name}
        self.observer = observer

    def base(self, dataset: str, ts: float, category: list[str], etype: list[str]) -> dict:
        ev: dict[str, Any] = {
            "@timestamp": iso(ts),
            "event": {
                "kind": "event",
                "category": category,
                "type": etype,
                "dataset": dataset,
                "module": "socmon",
            },
            "organization": dict(self.org),
            "ecs": {"version": "8.11.0"},
        }
        if self.observer:
            ev["observer"] = {"name": self.observer, "type": "sensor"}
        return ev

    def alert_base(self, dataset: str, ts: float, action: str) -> dict:
        """A derived (stateful) detection event: ``event.kind: signal`` is ECS for
        'the collector concluded something', a Sigma rule turns it into an alert."""
        ev = self.base(dataset, ts, ["network", "intrusion_detection"], ["info"])
        ev["event"]["kind"] = "signal"
        ev["event"]["action"] = action
        return ev

    def id(self, *parts: str | int | float) -> str:
        """Deterministic: the same capture gives the same ids (floats by repr, exact)."""
        h = self._hasher.copy()
        h.update("|".join(map(repr, parts)).encode("utf-8", "surrogatepass"))
        return base64.urlsafe_b64encode(h.digest())[:22].decode("ascii")


def endpoints(ev: dict, sip: str, sport: int | None, dip: str, dport: int | None) -> None:
    ev["source"] = {"ip": sip, "address": sip}
    ev["destination"] = {"ip": dip, "address": dip}
    if sport is not None:
        ev["source"]["port"] = sport
    if dport is not None:
        ev["destination"]["port"] = dport
    ev["related"] = {"ip": [sip] if sip == dip else [sip, dip]}
