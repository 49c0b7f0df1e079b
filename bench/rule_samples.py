"""A sample for a Sigma rule made from a real record: the record's fields set to values the
rule's positive selections ask for (``Image|endswith: '\\finger.exe'`` -> ``Image:
'\\finger.exe'``, ``DestinationPort: 79`` -> ``'79'``, ``Initiated: 'true'`` -> ``'true'``).

SigmaHQ's regression corpus has no sample for most categories (none for network_connection);
this gives every rule of a category a record of the real shape (Sysmon's field names, types
and spelling) that should fire it. Whether it does is decided by an independent evaluator
(``bench.zircolite_method``): a sample the independent evaluation does not match is "no
sample" (a regular expression, conflicting selections), not a finding.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

_MISSING = object()  # the field must be absent
_UNSUPPORTED = {"re", "base64", "base64offset", "utf16le", "utf16be", "wide", "utf16", "fieldref"}


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    s = str(v)
    # an unescaped wildcard stands for any text: an x will do; escaped ones are literal
    s = re.sub(r"(?<!\\)[*?]", "x", s)
    return re.sub(r"\\([*?\\])", r"\1", s)


def _value(modifiers: list[str], values: list[Any]) -> Any:
    """A value for one detection item, None if its modifiers are not supported."""
    if _UNSUPPORTED & set(modifiers) or not values:
        return None
    if "all" in modifiers:
        return " ".join(_text(v) for v in values)
    v = values[0]
    if v is None:
        return _MISSING
    if "cidr" in modifiers:
        net = ipaddress.ip_network(str(v), strict=False)
        return str(net.network_address + (1 if net.num_addresses > 1 else 0))
    if "exists" in modifiers:
        return "x" if v else _MISSING
    return _text(v)


def _positive_blocks(detection: dict[str, Any]) -> list[str]:
    cond = detection.get("condition")
    text = " ".join(cond) if isinstance(cond, list) else str(cond)
    out = []
    for name in detection:
        if name == "condition":
            continue
        for m in re.finditer(r"(\bnot\s+(?:1\s+of\s+|all\s+of\s+)?)?([\w*]+)", text):
            pattern = m.group(2).replace("*", ".*")
            if m.group(1) is None and re.fullmatch(pattern, name):
                out.append(name)
                break
    return out


def sample(rule: dict[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
    """``base`` (an ``evtx`` JSON record or a flat JSON line) with the rule's positive
    selections applied; None when a selection cannot be written as a value."""
    detection = rule.get("detection")
    if not isinstance(detection, dict):
        return None
    rec = copy.deepcopy(base)
    data = rec["Event"].setdefault("EventData", {}) if isinstance(rec.get("Event"), dict) else rec
    if not isinstance(data, dict):
        return None
    for name in _positive_blocks(detection):
        block = detection[name]
        if isinstance(block, list):  # a list of maps is an OR: the first will do
            block = block[0] if block and isinstance(block[0], dict) else None
        if not isinstance(block, dict):
            return None  # keywords
        for key, values in block.items():
            field, *modifiers = str(key).split("|")
            if field in ("EventID", "Channel", "Provider_Name"):
                continue
            value = _value(modifiers, values if isinstance(values, list) else [values])
            if value is None:
                return None
            if value is _MISSING:
                data.pop(field, None)
            else:
                data[field] = value
    return rec
