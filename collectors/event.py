"""Small helpers every parser shares to build ECS events (nested dicts)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, cast

from socmon.pipeline import Event

PARSE_FAILURE = "_parse_failure"


def failure(original: str, reason: str, dataset: str, ts: str | None = None) -> Event:
    """An event for a line we could not parse: kept, never dropped."""
    ev: Event = {
        "event": {"original": original, "kind": "event", "dataset": dataset},
        "message": original,
        "error": {"message": reason, "type": "parse"},
        "tags": [PARSE_FAILURE],
    }
    if ts:
        ev["@timestamp"] = ts
    return ev


def mark_failure(ev: Event, reason: str) -> Event:
    """Flag a partly parsed event (keeps what was parsed)."""
    ev.setdefault("error", {})["message"] = reason
    ev["error"].setdefault("type", "parse")
    tags = ev.setdefault("tags", [])
    if PARSE_FAILURE not in tags:
        tags.append(PARSE_FAILURE)
    return ev


def add_tag(ev: Event, tag: str) -> None:
    tags = ev.get("tags")
    if tags is None:
        ev["tags"] = [tag]
    elif tag not in tags:
        tags.append(tag)


def put(ev: Event, dotted: str, value: Any, *, overwrite: bool = True) -> None:
    """Set ``a.b.c`` in a nested dict, creating intermediate dicts; with ``overwrite`` False
    a value already there is kept."""
    parts = dotted.split(".")
    d = ev
    for p in parts[:-1]:
        nxt = d.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            d[p] = nxt
        d = nxt
    if overwrite:
        d[parts[-1]] = value
    else:
        d.setdefault(parts[-1], value)


def get(ev: Event, dotted: str) -> Any:
    d: Any = ev
    for p in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)


_clean: dict[str, str | None] = {}  # clean_ip's results (logs repeat their addresses)
_MISSING = object()


def clean_ip(value: str) -> str | None:
    """A normalised IP address (``::ffff:1.2.3.4`` -> ``1.2.3.4``), or None."""
    r = _clean.get(value, _MISSING)
    if r is not _MISSING:
        return cast("str | None", r)
    ip = _clean_ip(value)
    if len(_clean) >= 65_536:
        _clean.clear()
    _clean[value] = ip
    return ip


def _clean_ip(value: str) -> str | None:
    """:func:`clean_ip` without the cache."""
    if _IPV4.fullmatch(value):  # the common case, without the ipaddress module
        return value
    v = value.strip().strip("[]")
    if "%" in v:  # zone index
        v = v.split("%", 1)[0]
    try:
        a = ipaddress.ip_address(v)
    except ValueError:
        return None
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return str(a.ipv4_mapped)
    return str(a)


def set_endpoint(ev: Event, side: str, host: str, port: int | str | None = None) -> None:
    """Fill ``<side>.ip`` when ``host`` is an address, else ``<side>.domain``; always
    ``<side>.address``; ``<side>.port`` when given. Also ``related.ip``."""
    d = ev.setdefault(side, {})
    ip = clean_ip(host)
    if ip is not None:
        d["ip"] = ip
        d["address"] = ip
        rel = ev.setdefault("related", {}).setdefault("ip", [])
        if ip not in rel:
            rel.append(ip)
    else:
        d["address"] = host
        d["domain"] = host
    if port is not None:
        try:
            n = int(port)
        except ValueError:
            return
        d["port"] = n


def set_user(ev: Event, name: str) -> None:
    ev.setdefault("user", {})["name"] = name
    rel = ev.setdefault("related", {}).setdefault("user", [])
    if name not in rel:
        rel.append(name)
