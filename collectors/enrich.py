"""Enrichment every collected event gets: organisation unit (from settings: file path glob,
syslog/Beats sender address/CIDR, host name glob, Beats agent name glob; a visible default
otherwise), ``event.created`` (collection time; a source's own is kept; ``event.ingested``
is left to storage, socmon.ingest_time), ``ecs.version``, ``socmon.collector``/
``socmon.source``, ``@timestamp`` when the line had none, and GeoIP of public addresses
when a MaxMind database is configured.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import socket
from functools import lru_cache
from typing import Any

from socmon.collectors.timeparse import now_iso
from socmon.pipeline import Event
from socmon.settings.collectors import CollectorSettings

log = logging.getLogger(__name__)
ECS_VERSION = "8.11.0"


class OrgMapper:
    """First matching unit wins; the order in settings is the order of precedence."""

    def __init__(self, settings: CollectorSettings) -> None:
        self.default = (settings.default_org_id, settings.default_org_name)
        self.units: list[tuple[str, str, list[str], list[Any], list[str]]] = []
        self.agent_units: list[tuple[str, str, list[str]]] = []
        for u in settings.organization_units:
            nets = []
            for s in u.senders:
                try:
                    nets.append(ipaddress.ip_network(s, strict=False))
                except ValueError:
                    log.warning(
                        "organisation unit: bad sender address", extra={"unit": u.id, "value": s}
                    )
            self.units.append((u.id, u.name, u.paths, nets, [h.lower() for h in u.hosts]))
            self.agent_units.append((u.id, u.name, [a.lower() for a in u.agents]))
        self.for_path = lru_cache(maxsize=4096)(self._for_path)
        self.for_sender = lru_cache(maxsize=65536)(self._for_sender)
        self.for_host = lru_cache(maxsize=65536)(self._for_host)
        self.for_agent = lru_cache(maxsize=65536)(self._for_agent)

    def _for_path(self, path: str) -> tuple[str, str] | None:
        for uid, name, paths, _, _ in self.units:
            if any(fnmatch.fnmatch(path, p) for p in paths):
                return uid, name
        return None

    def _for_sender(self, addr: str) -> tuple[str, str] | None:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return None
        for uid, name, _, nets, _ in self.units:
            if any(ip in n for n in nets if n.version == ip.version):
                return uid, name
        return None

    def _for_host(self, host: str) -> tuple[str, str] | None:
        h = host.lower()
        for uid, name, _, _, hosts in self.units:
            if any(fnmatch.fnmatch(h, p) for p in hosts):
                return uid, name
        return None

    def _for_agent(self, agent: str) -> tuple[str, str] | None:
        a = agent.lower()
        for uid, name, agents in self.agent_units:
            if any(fnmatch.fnmatch(a, p) for p in agents):
                return uid, name
        return None

    def resolve(
        self,
        *,
        path: str | None = None,
        sender: str | None = None,
        host: str | None = None,
        agent: str | None = None,
    ) -> tuple[str, str]:
        if not self.units:
            return self.default
        if path:
            r = self.for_path(path)
            if r:
                return r
        if sender:
            r = self.for_sender(sender)
            if r:
                return r
        if host:
            r = self.for_host(host)
            if r:
                return r
        if agent:
            r = self.for_agent(agent)
            if r:
                return r
        return self.default


class GeoIP:
    """MaxMind DB lookups for public source/destination addresses (optional)."""

    def __init__(self, path: str) -> None:
        import maxminddb  # optional dependency, only when configured

        self.reader = maxminddb.open_database(path)
        self.lookup = lru_cache(maxsize=65536)(self._lookup)

    def _lookup(self, ip: str) -> dict[str, Any] | None:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if not a.is_global:
            return None
        try:
            rec = self.reader.get(ip)
        except (ValueError, OSError):
            return None
        return geo_fields(rec) if isinstance(rec, dict) else None

    def apply(self, ev: Event) -> None:
        for side in ("source", "destination", "client", "server"):
            d = ev.get(side)
            if isinstance(d, dict) and isinstance(d.get("ip"), str):
                g = self.lookup(d["ip"])
                if g:
                    d["geo"] = g


def geo_fields(rec: dict[str, Any]) -> dict[str, Any] | None:
    """A MaxMind City/Country record -> ECS ``geo``."""
    g: dict[str, Any] = {}
    country = rec.get("country") or rec.get("registered_country")
    if isinstance(country, dict):
        if country.get("iso_code"):
            g["country_iso_code"] = country["iso_code"]
        names = country.get("names")
        if isinstance(names, dict) and names.get("en"):
            g["country_name"] = names["en"]
    city = rec.get("city")
    if isinstance(city, dict) and isinstance(city.get("names"), dict) and city["names"].get("en"):
        g["city_name"] = city["names"]["en"]
    subs = rec.get("subdivisions")
    if isinstance(subs, list) and subs and isinstance(subs[0], dict):
        names = subs[0].get("names")
        if isinstance(names, dict) and names.get("en"):
            g["region_name"] = names["en"]
    loc = rec.get("location")
    if isinstance(loc, dict) and "latitude" in loc and "longitude" in loc:
        g["location"] = {"lat": loc["latitude"], "lon": loc["longitude"]}
    return g or None


class Enricher:
    def __init__(self, settings: CollectorSettings) -> None:
        self.orgs = OrgMapper(settings)
        self.collector = settings.observer_name or socket.gethostname()
        self._labels: dict[tuple[str, str], str] = {}
        self.geoip: GeoIP | None = None
        if settings.geoip_database is not None:
            try:
                self.geoip = GeoIP(str(settings.geoip_database))
            except Exception as e:  # a bad path must not stop collection
                log.error(
                    "GeoIP database not usable; continuing without GeoIP",
                    extra={"path": str(settings.geoip_database), "reason": str(e)},
                )

    def apply(
        self,
        ev: Event,
        *,
        source_kind: str,
        source: str,
        path: str | None = None,
        sender: str | None = None,
        ingested: str | None = None,
    ) -> Event:
        return self.for_source(source_kind, source, path=path, sender=sender).apply(ev, ingested)

    def label(self, source_kind: str, source: str) -> str:
        label = self._labels.get((source_kind, source))
        if label is None:
            if len(self._labels) > 10_000:
                self._labels.clear()
            label = self._labels[(source_kind, source)] = f"{source_kind}:{source}"
        return label

    def for_source(
        self, source_kind: str, source: str, *, path: str | None = None, sender: str | None = None
    ) -> SourceEnricher:
        """The enrichment of one source, its constant parts (label, organisation unit when
        the path or sender decides it) worked out once."""
        return SourceEnricher(self, self.label(source_kind, source), path, sender)


class SourceEnricher:
    """:meth:`Enricher.apply` for the events of one source (path and sender fixed)."""

    __slots__ = ("collector", "fixed_org", "geoip", "label", "orgs")

    def __init__(
        self, enricher: Enricher, label: str, path: str | None, sender: str | None
    ) -> None:
        self.collector = enricher.collector
        self.label = label
        self.geoip = enricher.geoip
        self.orgs = enricher.orgs
        # resolve() tries path, then sender, then the event's host: when the first two
        # decide (or no unit is configured) the unit is the same for every event
        orgs = self.orgs
        fixed: tuple[str, str] | None = None
        if not orgs.units:
            fixed = orgs.default
        else:
            if path:
                fixed = orgs.for_path(path)
            if fixed is None and sender:
                fixed = orgs.for_sender(sender)
        self.fixed_org = fixed

    def apply(self, ev: Event, ingested: str | None = None) -> Event:
        now = ingested or now_iso()
        e = ev.get("event")
        if not isinstance(e, dict):
            e = {}
            ev["event"] = e
        e.setdefault("created", now)  # ECS: first read by the pipeline (a source's is kept)
        e.setdefault("kind", "event")
        if "@timestamp" not in ev:
            ev["@timestamp"] = now
        host = ev.get("host")
        org = self.fixed_org
        if isinstance(host, dict):
            if org is None:
                hname = host.get("name")
                ag = ev.get("agent")
                aname = ag.get("name") if isinstance(ag, dict) else None
                org = self.orgs.resolve(
                    host=hname if isinstance(hname, str) else None,
                    agent=aname if isinstance(aname, str) else None,
                )
        else:
            ev["host"] = {"name": self.collector}
            if org is None:
                org = self.orgs.default
        ev["organization"] = {"id": org[0], "name": org[1]}
        ev["ecs"] = {"version": ECS_VERSION}
        so = ev.get("socmon")
        if so:  # what the parser set (e.g. socmon.repeat_count) stays
            so["collector"], so["source"] = self.collector, self.label
        else:
            ev["socmon"] = {"collector": self.collector, "source": self.label}
        if self.geoip is not None:
            self.geoip.apply(ev)
        return ev
