"""Windows Firewall (Windows Defender Firewall) log, ``pfirewall.log``: a W3C-style text log
whose ``#Fields:`` header names the space-separated columns (``date time action protocol
src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info
path``, newer builds add ``pid``); ``-`` is an empty value; times are the machine's local time
(the collector's ``timezone``)."""

from __future__ import annotations

import re

from socmon.collectors.event import failure, set_endpoint
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Event

DATASET = "windows.firewall"
DEFAULT_FIELDS = (
    "date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack "
    "tcpwin icmptype icmpcode info path"
)
# a record: date, time, an action word, a protocol (name or number)
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z][A-Z-]+ (?:[A-Z]+|\d+) ")
HEADERS = ("#Version:", "#Software:", "#Time Format:", "#Fields:")
_DIRECTION = {"RECEIVE": "ingress", "SEND": "egress"}


class WindowsFirewallParser:
    dataset = DATASET

    def __init__(self, tp: TimeParser | None = None) -> None:
        self.tp = tp or TimeParser()
        self.fields = DEFAULT_FIELDS.split(" ")

    def header(self, line: str) -> bool:
        """``#Fields:`` sets the columns; the other ``#`` lines of the format are kept out."""
        if line.startswith("#Fields:"):
            self.fields = line[len("#Fields:") :].split()
            return True
        return line.startswith(HEADERS)

    def __call__(self, line: str) -> Event:
        values = line.split()
        if len(values) != len(self.fields):
            return failure(line, f"{len(values)} values for {len(self.fields)} #Fields", DATASET)
        r = {k: v for k, v in zip(self.fields, values, strict=True) if v != "-"}
        ts = self.tp.isoish(f"{r.get('date', '')} {r.get('time', '')}")
        if ts is None:
            return failure(line, "no valid date and time", DATASET)
        action = r.get("action", "").upper()
        ev: Event = {
            "@timestamp": ts,
            "event": {
                "original": line,
                "kind": "event",
                "dataset": DATASET,
                "module": "windows_firewall",
                "category": ["network"],
                "type": ["connection"],
                "action": action.lower(),
            },
            "observer": {"vendor": "Microsoft", "product": "Windows Firewall", "type": "firewall"},
        }
        if action == "DROP":
            ev["event"]["type"].append("denied")
            ev["event"]["outcome"] = "failure"
        elif action == "ALLOW":
            ev["event"]["type"].append("allowed")
            ev["event"]["outcome"] = "success"
        for side, ip, port in (
            ("source", "src-ip", "src-port"),
            ("destination", "dst-ip", "dst-port"),
        ):
            if ip in r:
                set_endpoint(ev, side, r[ip], r.get(port))
        net: dict[str, str] = {}
        if "protocol" in r:
            net["transport"] = r["protocol"].lower()
        if r.get("path") in _DIRECTION:
            net["direction"] = _DIRECTION[r["path"]]
        if net:
            ev["network"] = net
        if "tcpflags" in r:
            ev["windows_firewall"] = {"tcp_flags": r["tcpflags"]}
        if "pid" in r and r["pid"].isdigit():
            ev["process"] = {"pid": int(r["pid"])}
        return ev
