"""EventData/UserData of one Windows event record -> the flat ``winlog.event_data`` dict.

Shared by the collectors' Windows parser and ``rules.winevent`` (the detection layer's
shaper), so both give Sigma the same field names:

- named ``<Data Name="X">`` items -> ``X``; names with spaces (Defender's ``Threat Name``) are
  also given without them (``ThreatName``, the Sigma spelling), the original name is kept;
- unnamed ``<Data>`` items -> ``param1``, ``param2``, ... and the list itself as ``Data``
  (classic PowerShell rules match ``Data``);
- ``<UserData><SomeEvent>...</SomeEvent></UserData>`` (WMI-Activity, ...) -> the inner
  element's children, side by side with EventData (EventData wins on a clash).
"""

from __future__ import annotations

from typing import Any


def _text(v: Any) -> Any:
    if type(v) is dict and "#text" in v:
        return v["#text"]
    return v


def _add_block(out: dict[str, Any], block: dict[str, Any]) -> None:
    for k, v in block.items():
        if k == "#attributes":
            continue
        if k == "Data" and type(v) is list:
            texts = [_text(item) for item in v]
            for i, item in enumerate(texts, 1):
                out.setdefault(f"param{i}", item)
            out.setdefault("Data", texts)
            continue
        if type(v) is dict and "#text" in v:
            v = v["#text"]
        out.setdefault(k, v)
        if " " in k:
            out.setdefault(k.replace(" ", ""), v)


def event_data(ev_node: dict[str, Any]) -> dict[str, Any]:
    """The data fields of an ``{"System": ..., "EventData": ..., "UserData": ...}`` node."""
    out: dict[str, Any] = {}
    block = ev_node.get("EventData")
    if type(block) is dict:
        _add_block(out, block)
    elif block is not None:
        out["Data"] = block
    user = ev_node.get("UserData")
    if type(user) is dict:
        if len(user) == 1:
            inner = next(iter(user.values()))
            if type(inner) is dict:
                user = inner
        _add_block(out, user)
    return out


def split_hashes(value: str) -> dict[str, str]:
    """Sysmon's ``SHA1=...,MD5=...,SHA256=...,IMPHASH=...`` -> ``{"sha1": ..., ...}``
    (names and values lower-cased, as ECS ``*.hash.*`` fields)."""
    out: dict[str, str] = {}
    for part in value.split(","):
        name, sep, h = part.partition("=")
        if sep and h.strip():
            out[name.strip().lower()] = h.strip().lower()
    return out
