"""GeoIP enrichment with a MaxMind DB file: a tiny database written here in the MMDB format
(search tree + data section + metadata), read by the real maxminddb reader."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import Any

from socmon.collectors.enrich import Enricher
from socmon.settings.collectors import CollectorSettings


def _ctrl(t: int, size: int) -> bytes:
    assert size < 29
    if t <= 7:
        return bytes([(t << 5) | size])
    return bytes([size, t - 7])  # extended type


def _enc(v: Any) -> bytes:
    if isinstance(v, str):
        b = v.encode()
        return _ctrl(2, len(b)) + b
    if isinstance(v, float):
        return _ctrl(3, 8) + struct.pack(">d", v)
    if isinstance(v, tuple):  # (type, int): 5 uint16, 6 uint32, 9 uint64
        t, x = v
        b = x.to_bytes(8, "big").lstrip(b"\0")
        return _ctrl(t, len(b)) + b
    if isinstance(v, dict):
        out = _ctrl(7, len(v))
        for k, x in v.items():
            out += _enc(k) + _enc(x)
        return out
    if isinstance(v, list):
        out = _ctrl(11, len(v))
        for x in v:
            out += _enc(x)
        return out
    raise TypeError(v)


def write_mmdb(path: Path, net: str, record: dict[str, Any]) -> None:
    n = ipaddress.ip_network(net)
    bits = format(int(n.network_address), "032b")[: n.prefixlen]
    node_count = len(bits)
    data = _enc(record)
    data_ptr = node_count + 16  # data offset 0
    tree = b""
    for i, bit in enumerate(bits):
        nxt = data_ptr if i == len(bits) - 1 else i + 1
        left, right = (nxt, node_count) if bit == "0" else (node_count, nxt)
        tree += left.to_bytes(3, "big") + right.to_bytes(3, "big")
    meta = {
        "binary_format_major_version": (5, 2),
        "binary_format_minor_version": (5, 0),
        "build_epoch": (9, 1),
        "database_type": "socmon-test",
        "description": {"en": "test"},
        "ip_version": (5, 4),
        "languages": ["en"],
        "node_count": (6, node_count),
        "record_size": (5, 24),
    }
    path.write_bytes(tree + b"\0" * 16 + data + b"\xab\xcd\xefMaxMind.com" + _enc(meta))


def test_geoip_public_addresses_only(tmp_path: Path) -> None:
    db = tmp_path / "test.mmdb"
    write_mmdb(
        db,
        "8.8.8.0/24",
        {
            "country": {"iso_code": "US", "names": {"en": "United States"}},
            "city": {"names": {"en": "Mountain View"}},
            "location": {"latitude": 37.4, "longitude": -122.1},
        },
    )
    e = Enricher(CollectorSettings(geoip_database=db))
    assert e.geoip is not None
    ev = e.apply(
        {"event": {}, "source": {"ip": "8.8.8.8"}, "destination": {"ip": "10.0.0.1"}},
        source_kind="test",
        source="x",
    )
    g = ev["source"]["geo"]
    assert g["country_iso_code"] == "US" and g["city_name"] == "Mountain View"
    assert g["location"] == {"lat": 37.4, "lon": -122.1}
    assert "geo" not in ev["destination"]  # private: not looked up


def test_geoip_bad_path_does_not_stop(tmp_path: Path) -> None:
    e = Enricher(CollectorSettings(geoip_database=tmp_path / "missing.mmdb"))
    assert e.geoip is None
    assert e.apply({"event": {}}, source_kind="t", source="x")["organization"]
