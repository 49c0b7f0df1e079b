"""JSON inputs to ECS: any JSON lines (ECS documents pass through), Suricata EVE, Zeek JSON
logs, and Windows events exported as JSON (Winlogbeat, NXLog, mordor, evtx JSON).

JSON nested deeper than ``max_depth`` is refused and kept as a parse failure (a bomb of
``[[[[...`` must not reach Elasticsearch's depth limit or our stack).
"""

from __future__ import annotations

from typing import Any

import orjson

from socmon.collectors.event import failure, mark_failure, put, set_endpoint, set_user
from socmon.collectors.parsers.windows import WindowsRecordParser
from socmon.collectors.parsers.zeektsv import TsvError, TsvHeader
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Event


class TooDeep(ValueError):
    pass


def depth_ok(text: str, max_depth: int) -> bool:
    """Cheap pre-check: nesting can only exceed max_depth if there are that many brackets."""
    if text.count("{") + text.count("[") <= max_depth:
        return True
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "}]":
            depth -= 1
    return True


def loads(text: str, max_depth: int) -> Any:
    if not depth_ok(text, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth}")
    return orjson.loads(text)


def _ts(tp: TimeParser, v: Any) -> str | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return tp.epoch(v)
    if isinstance(v, str):
        return tp.isoish(v)
    return None


def _ids_event(
    tp: TimeParser,
    obj: dict[str, Any],
    line: str,
    *,
    module: str,
    dataset: str,
    alert: bool,
    observer: tuple[str, str],
    ts_key: str,
    source: tuple[str, str],
    destination: tuple[str, str],
    protocol: str | None,
) -> Event:
    """The part of an IDS record (Suricata EVE, Zeek) that both map alike: event, observer,
    ``@timestamp`` from ``obj[ts_key]``, source and destination from their (address, port)
    keys, and network transport / protocol / community_id."""
    ev: Event = {
        "event": {
            "original": line,
            "kind": "alert" if alert else "event",
            "dataset": dataset,
            "module": module,
            "category": ["network"],
            "type": ["info"],
        },
        "observer": {"vendor": observer[0], "product": observer[1], "type": "ids"},
    }
    ts = _ts(tp, obj.get(ts_key))
    if ts:
        ev["@timestamp"] = ts
    else:
        mark_failure(ev, f"{module}: bad {ts_key} {str(obj.get(ts_key))[:40]!r}")
    for side, (host, port) in (("source", source), ("destination", destination)):
        if obj.get(host):
            set_endpoint(ev, side, str(obj[host]), obj.get(port))
    net: dict[str, Any] = {}
    if obj.get("proto"):
        net["transport"] = str(obj["proto"]).lower()
    if protocol is not None:
        net["protocol"] = protocol
    if obj.get("community_id"):
        net["community_id"] = obj["community_id"]
    if net:
        ev["network"] = net
    return ev


def _set_url(ev: Event, original: Any, domain: Any) -> None:
    """``url.original`` / ``path`` / ``query`` from a request target, ``url.domain``."""
    url: dict[str, Any] = {}
    if original:
        url["original"] = original
        path, _, query = str(original).partition("?")
        url["path"] = path
        if query:
            url["query"] = query
    if domain:
        url["domain"] = domain
    if url:
        ev["url"] = url


class JsonBase:
    dataset = "json"

    def __init__(self, tp: TimeParser | None = None, max_depth: int = 32) -> None:
        self.tp = tp or TimeParser()
        self.max_depth = max_depth

    def __call__(self, line: str) -> Event:
        try:
            obj = loads(line, self.max_depth)
        except TooDeep as e:
            ev = failure(line, str(e), self.dataset)
            ev["error"]["type"] = "json_too_deep"
            return ev
        except orjson.JSONDecodeError as e:
            return failure(line, f"invalid JSON: {e}", self.dataset)
        if not isinstance(obj, dict):
            return failure(line, f"JSON {type(obj).__name__}, not an object", self.dataset)
        try:
            return self.convert(obj, line)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            return failure(line, f"{self.dataset}: {type(e).__name__}: {e}", self.dataset)

    def convert(self, obj: dict[str, Any], line: str) -> Event:
        raise NotImplementedError


_TS_KEYS = ("@timestamp", "timestamp", "time", "ts", "date", "datetime", "eventTime")


class JsonLinesParser(JsonBase):
    """Any JSON object. ECS documents (``@timestamp`` plus an ``ecs`` or ``event`` object)
    pass through; other shapes are kept under ``json`` with ``@timestamp`` taken from a usual
    time key and ``message`` from ``message``/``msg``. Windows, Suricata and Zeek records are
    recognised and converted."""

    dataset = "json"

    def __init__(self, tp: TimeParser | None = None, max_depth: int = 32) -> None:
        super().__init__(tp, max_depth)
        self.suricata = SuricataParser(self.tp, max_depth)
        self.zeek = ZeekParser(self.tp, max_depth)
        self.windows = WindowsJsonParser(self.tp, max_depth)

    def convert(self, obj: dict[str, Any], line: str) -> Event:
        if "event_type" in obj and ("src_ip" in obj or "flow_id" in obj):
            return self.suricata.convert(obj, line)
        if ("uid" in obj and "id.orig_h" in obj) or "_path" in obj:
            return self.zeek.convert(obj, line)
        if WindowsJsonParser.looks_windows(obj):
            return self.windows.convert(obj, line)
        if "@timestamp" in obj and (
            isinstance(obj.get("ecs"), dict) or isinstance(obj.get("event"), dict)
        ):
            ev = obj
            e = ev.setdefault("event", {})
            if isinstance(e, dict):
                e.setdefault("original", line)
                e.setdefault("kind", "event")
                e.setdefault("dataset", "json")
            ts = _ts(self.tp, ev["@timestamp"])
            if ts:
                ev["@timestamp"] = ts
            else:
                mark_failure(ev, f"bad @timestamp {str(ev['@timestamp'])[:40]!r}")
                del ev["@timestamp"]
            return ev
        ev = {"event": {"original": line, "kind": "event", "dataset": "json"}, "json": obj}
        for k in _TS_KEYS:
            if k in obj:
                ts = _ts(self.tp, obj[k])
                if ts:
                    ev["@timestamp"] = ts
                    break
        msg = obj.get("message", obj.get("msg"))
        if isinstance(msg, str):
            ev["message"] = msg
        return ev


class SuricataParser(JsonBase):
    dataset = "suricata.eve"

    def convert(self, obj: dict[str, Any], line: str) -> Event:
        et = obj.get("event_type")
        if not isinstance(et, str):
            return failure(line, "suricata: no event_type", self.dataset)
        app = obj.get("app_proto")
        ev = _ids_event(
            self.tp,
            obj,
            line,
            module="suricata",
            dataset=self.dataset,
            alert=et == "alert",
            observer=("OISF", "Suricata"),
            ts_key="timestamp",
            source=("src_ip", "src_port"),
            destination=("dest_ip", "dest_port"),
            protocol=str(app).lower() if app and app != "failed" else None,
        )
        eve: dict[str, Any] = {"event_type": et}
        for k in ("flow_id", "in_iface", "pcap_cnt", "tx_id", "app_proto", "proto", "tcp"):
            if k in obj:
                eve[k] = obj[k]
        if obj.get("in_iface"):
            ev["observer"]["ingress"] = {"interface": {"name": obj["in_iface"]}}
        sub = obj.get(et)
        if isinstance(sub, dict):
            eve[et] = sub
        flow = obj.get("flow")
        if isinstance(flow, dict):
            eve["flow"] = flow
            _flow(ev, flow, self.tp)
        ev["suricata"] = {"eve": eve}
        fn = getattr(self, f"_{et}", None)
        if fn is not None and isinstance(sub, dict):
            fn(ev, sub)
        return ev

    def _alert(self, ev: Event, a: dict[str, Any]) -> None:
        e = ev["event"]
        e["category"] = ["network", "intrusion_detection"]
        e["type"] = ["info"]
        sid = a.get("signature_id")
        rule: dict[str, Any] = {}
        if sid is not None:
            rule["id"] = str(sid)
        if a.get("signature"):
            rule["name"] = a["signature"]
            ev["message"] = a["signature"]
        if a.get("category"):
            rule["category"] = a["category"]
        if a.get("rev") is not None:
            rule["version"] = str(a["rev"])
        ev["rule"] = rule
        if isinstance(a.get("severity"), int):
            e["severity"] = a["severity"]
        act = a.get("action")
        if act:
            e["action"] = act
            if act == "blocked":
                e["type"] = ["denied"]

    def _flow(self, ev: Event, f: dict[str, Any]) -> None:
        ev["event"]["type"] = ["connection", "end"]
        outcome = suricata_flow_outcome(ev["suricata"]["eve"], f)
        if outcome:
            ev["event"]["outcome"] = outcome

    def _dns(self, ev: Event, d: dict[str, Any]) -> None:
        e = ev["event"]
        e["type"] = ["protocol"]
        dns: dict[str, Any] = {}
        if d.get("type"):
            dns["type"] = d["type"]
        if d.get("id") is not None:
            dns["id"] = str(d["id"])
        if d.get("rrname"):
            dns["question"] = {"name": d["rrname"]}
            if d.get("rrtype"):
                dns["question"]["type"] = d["rrtype"]
        elif isinstance(d.get("queries"), list) and d["queries"]:
            q = d["queries"][0]
            if isinstance(q, dict):
                dns["question"] = {"name": q.get("rrname"), "type": q.get("rrtype")}
        if d.get("rcode"):
            dns["response_code"] = d["rcode"]
        answers = d.get("answers")
        if isinstance(answers, list):
            dns["answers"] = [
                {"name": a.get("rrname"), "type": a.get("rrtype"), "data": str(a.get("rdata", ""))}
                for a in answers
                if isinstance(a, dict)
            ]
        ev["dns"] = dns

    def _http(self, ev: Event, h: dict[str, Any]) -> None:
        ev["event"]["category"] = ["network", "web"]
        ev["event"]["type"] = ["protocol"]
        http: dict[str, Any] = {}
        if h.get("http_method"):
            http["request"] = {"method": h["http_method"]}
        if h.get("http_refer"):
            http.setdefault("request", {})["referrer"] = h["http_refer"]
        if isinstance(h.get("status"), int):
            http["response"] = {"status_code": h["status"]}
        if isinstance(h.get("length"), int):
            http.setdefault("response", {})["body"] = {"bytes": h["length"]}
        if h.get("protocol"):
            http["version"] = str(h["protocol"]).replace("HTTP/", "")
        ev["http"] = http
        _set_url(ev, h.get("url"), h.get("hostname"))
        if h.get("http_user_agent"):
            ev["user_agent"] = {"original": h["http_user_agent"]}

    def _tls(self, ev: Event, t: dict[str, Any]) -> None:
        ev["event"]["type"] = ["protocol"]
        tls: dict[str, Any] = {}
        if t.get("version"):
            v = str(t["version"])
            tls["version_protocol"] = "tls" if "TLS" in v.upper() else v.split(" ")[0].lower()
            tls["version"] = v.split(" ")[-1].replace("v", "")
        if t.get("sni"):
            tls["client"] = {"server_name": t["sni"]}
        ja3 = t.get("ja3")
        if isinstance(ja3, dict) and ja3.get("hash"):
            tls.setdefault("client", {})["ja3"] = ja3["hash"]
        server: dict[str, Any] = {}
        if t.get("subject"):
            server["subject"] = t["subject"]
        if t.get("issuerdn"):
            server["issuer"] = t["issuerdn"]
        ja3s = t.get("ja3s")
        if isinstance(ja3s, dict) and ja3s.get("hash"):
            server["ja3s"] = ja3s["hash"]
        if server:
            tls["server"] = server
        ev["tls"] = tls

    def _fileinfo(self, ev: Event, f: dict[str, Any]) -> None:
        ev["event"]["category"] = ["network", "file"]
        ev["event"]["type"] = ["info"]
        file: dict[str, Any] = {}
        if f.get("filename"):
            name = str(f["filename"])
            file["path"] = name
            file["name"] = name.rsplit("/", 1)[-1]
        if isinstance(f.get("size"), int):
            file["size"] = f["size"]
        hashes = {k: f[k] for k in ("md5", "sha1", "sha256") if f.get(k)}
        if hashes:
            file["hash"] = hashes
        if f.get("magic"):
            file["mime_type"] = f["magic"]
        ev["file"] = file

    def _anomaly(self, ev: Event, a: dict[str, Any]) -> None:
        ev["event"]["type"] = ["info"]
        ev["event"]["action"] = str(a.get("event", a.get("type", "anomaly")))
        if a.get("event"):
            ev["message"] = str(a["event"])


# Zeek conn_state values of an attempt that was refused, never answered or never completed
# (Zeek's scan policy counts the same kinds of connection as failed attempts)
ZEEK_FAILED_STATES = frozenset({"S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR"})


def zeek_conn_outcome(state: Any, history: Any, proto: Any) -> str | None:
    """``failure`` for a connection attempt that failed: a failed conn_state, or a TCP
    connection whose originator never acknowledged nor sent data (its ``history`` has no
    ``A``/``D``: a SYN answered by SYN-ACK and then abandoned, as in a SYN flood); else
    ``success``. None without a conn_state."""
    if not isinstance(state, str) or not state:
        return None
    if state in ZEEK_FAILED_STATES:
        return "failure"
    if (
        proto == "tcp"
        and isinstance(history, str)
        and history[:1] == "S"
        and "A" not in history
        and "D" not in history
    ):
        return "failure"
    return "success"


def suricata_flow_outcome(eve: dict[str, Any], flow: dict[str, Any]) -> str | None:
    """``failure`` for a flow record of an attempt that failed: TCP whose client never sent an
    ACK (``tcp.tcp_flags_ts`` without 0x10: unanswered, refused or half-open), other
    transports without a packet back; else ``success``."""
    tcp = eve.get("tcp")
    if isinstance(tcp, dict) and isinstance(tcp.get("tcp_flags_ts"), str):
        try:
            client = int(tcp["tcp_flags_ts"], 16)
        except ValueError:
            return None
        return "success" if client & 0x10 else "failure"
    back = flow.get("pkts_toclient")
    if isinstance(back, int) and not isinstance(back, bool):
        return "failure" if back == 0 else "success"
    return None


def _flow(ev: Event, f: dict[str, Any], tp: TimeParser) -> None:
    src = ev.get("source")
    dst = ev.get("destination")
    if isinstance(src, dict):
        if isinstance(f.get("bytes_toserver"), int):
            src["bytes"] = f["bytes_toserver"]
        if isinstance(f.get("pkts_toserver"), int):
            src["packets"] = f["pkts_toserver"]
    if isinstance(dst, dict):
        if isinstance(f.get("bytes_toclient"), int):
            dst["bytes"] = f["bytes_toclient"]
        if isinstance(f.get("pkts_toclient"), int):
            dst["packets"] = f["pkts_toclient"]
    start = _ts(tp, f.get("start"))
    if start:
        ev["event"]["start"] = start
    end = _ts(tp, f.get("end"))
    if end:
        ev["event"]["end"] = end


class ZeekParser(JsonBase):
    """Zeek logs, JSON or the default tab-separated form (``zeektsv``; one parser per file,
    as it keeps the file's current header). The log kind comes from ``_path``, ``#path`` or
    the file name (``path``)."""

    dataset = "zeek"

    def __init__(
        self, tp: TimeParser | None = None, max_depth: int = 32, path: str | None = None
    ) -> None:
        super().__init__(tp, max_depth)
        self.path = path
        self.tsv = TsvHeader()

    def header(self, line: str) -> bool:
        """A TSV header line (``#fields``...): kept for the records after it, not an event."""
        return line[:1] == "#" and self.tsv.line(line)

    def __call__(self, line: str) -> Event:
        if line[:1] == "{":
            return super().__call__(line)
        if line[:1] == "#":
            # a header line handed over as a record: the source does not keep per-file
            # header state (LineHandler.header); file inputs, stdin and `socmon parse` do
            return failure(line, "zeek: TSV header line outside a file input", self.dataset)
        try:
            obj = self.tsv.record(line)
        except TsvError as e:
            return failure(line, f"zeek: {e}", self.dataset)
        if self.tsv.path:
            obj["_path"] = self.tsv.path
        try:
            return self.convert(obj, line)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            return failure(line, f"{self.dataset}: {type(e).__name__}: {e}", self.dataset)

    def convert(self, obj: dict[str, Any], line: str) -> Event:
        kind = obj.get("_path") or self.path or _guess_zeek(obj)
        kind = str(kind)
        service = obj.get("service")
        ev = _ids_event(
            self.tp,
            obj,
            line,
            module="zeek",
            dataset=f"zeek.{kind}",
            alert=kind == "notice",
            observer=("Zeek", "Zeek"),
            ts_key="ts",
            source=("id.orig_h", "id.orig_p"),
            destination=("id.resp_h", "id.resp_p"),
            protocol=str(service).split(",")[0].lower() if service else None,
        )
        if obj.get("uid"):
            ev["event"]["id"] = str(obj["uid"])
        # ES would read "id.orig_h" as a path: store the record with nested keys.
        ev["zeek"] = {kind: _nest(obj)}
        fn = getattr(self, f"_{kind}", None)
        if fn is not None:
            fn(ev, obj)
        return ev

    def _conn(self, ev: Event, o: dict[str, Any]) -> None:
        ev["event"]["type"] = ["connection"]
        if isinstance(o.get("duration"), int | float):
            ev["event"]["duration"] = int(o["duration"] * 1e9)
        for side, b, p in (
            ("source", "orig_bytes", "orig_pkts"),
            ("destination", "resp_bytes", "resp_pkts"),
        ):
            d = ev.get(side)
            if isinstance(d, dict):
                if isinstance(o.get(b), int):
                    d["bytes"] = o[b]
                if isinstance(o.get(p), int):
                    d["packets"] = o[p]
        if o.get("conn_state"):
            ev["event"]["action"] = o["conn_state"]
        outcome = zeek_conn_outcome(o.get("conn_state"), o.get("history"), o.get("proto"))
        if outcome:
            ev["event"]["outcome"] = outcome

    def _ssh(self, ev: Event, o: dict[str, Any]) -> None:
        """Zeek's SSH analyser infers the login outcome (``auth_success``) and counts the
        attempts of the connection (``auth_attempts``): an authentication event when it did."""
        ev["event"]["type"] = ["protocol"]
        ev.setdefault("network", {})["protocol"] = "ssh"
        success = o.get("auth_success")
        if isinstance(success, bool):
            ev["event"]["category"] = ["network", "authentication"]
            ev["event"]["outcome"] = "success" if success else "failure"
            ev["event"]["action"] = "ssh-login"

    def _dns(self, ev: Event, o: dict[str, Any]) -> None:
        ev["event"]["type"] = ["protocol"]
        dns: dict[str, Any] = {}
        if o.get("query"):
            dns["question"] = {"name": o["query"]}
            if o.get("qtype_name"):
                dns["question"]["type"] = o["qtype_name"]
            if o.get("qclass_name"):
                dns["question"]["class"] = o["qclass_name"]
        if o.get("rcode_name"):
            dns["response_code"] = o["rcode_name"]
        if o.get("trans_id") is not None:
            dns["id"] = str(o["trans_id"])
        if isinstance(o.get("answers"), list):
            dns["answers"] = [{"data": str(a)} for a in o["answers"]]
        ev["dns"] = dns

    def _http(self, ev: Event, o: dict[str, Any]) -> None:
        ev["event"]["category"] = ["network", "web"]
        ev["event"]["type"] = ["protocol"]
        http: dict[str, Any] = {}
        if o.get("method"):
            http["request"] = {"method": o["method"]}
        if o.get("referrer"):
            http.setdefault("request", {})["referrer"] = o["referrer"]
        if isinstance(o.get("request_body_len"), int):
            http.setdefault("request", {})["body"] = {"bytes": o["request_body_len"]}
        if isinstance(o.get("status_code"), int):
            http["response"] = {"status_code": o["status_code"]}
        if isinstance(o.get("response_body_len"), int):
            http.setdefault("response", {})["body"] = {"bytes": o["response_body_len"]}
        if o.get("version"):
            http["version"] = str(o["version"])
        ev["http"] = http
        _set_url(ev, o.get("uri"), o.get("host"))
        if o.get("user_agent"):
            ev["user_agent"] = {"original": o["user_agent"]}
        if o.get("username"):
            set_user(ev, str(o["username"]))

    def _ssl(self, ev: Event, o: dict[str, Any]) -> None:
        ev["event"]["type"] = ["protocol"]
        tls: dict[str, Any] = {}
        if o.get("version"):
            v = str(o["version"])
            tls["version_protocol"] = "tls" if v.upper().startswith("TLS") else v.lower()
            tls["version"] = v.upper().replace("TLSV", "").replace("SSLV", "")
        if o.get("cipher"):
            tls["cipher"] = o["cipher"]
        if o.get("server_name"):
            tls["client"] = {"server_name": o["server_name"]}
        if isinstance(o.get("established"), bool):
            tls["established"] = o["established"]
        if o.get("subject") or o.get("issuer"):
            tls["server"] = {k: o[k] for k in ("subject", "issuer") if o.get(k)}
        ev["tls"] = tls

    def _notice(self, ev: Event, o: dict[str, Any]) -> None:
        ev["event"]["category"] = ["network", "intrusion_detection"]
        if o.get("note"):
            ev["rule"] = {"name": o["note"]}
            ev["event"]["action"] = o["note"]
        if o.get("msg"):
            ev["message"] = o["msg"]
        if o.get("src") and "source" not in ev:
            set_endpoint(ev, "source", str(o["src"]), o.get("p"))
        if o.get("dst") and "destination" not in ev:
            set_endpoint(ev, "destination", str(o["dst"]))

    def _weird(self, ev: Event, o: dict[str, Any]) -> None:
        if o.get("name"):
            ev["event"]["action"] = o["name"]
            ev["message"] = str(o["name"]) + (f": {o['addl']}" if o.get("addl") else "")

    def _files(self, ev: Event, o: dict[str, Any]) -> None:
        ev["event"]["category"] = ["network", "file"]
        file: dict[str, Any] = {}
        if o.get("filename"):
            file["name"] = o["filename"]
        if o.get("mime_type"):
            file["mime_type"] = o["mime_type"]
        for k in ("total_bytes", "seen_bytes"):
            if isinstance(o.get(k), int):
                file["size"] = o[k]
                break
        hashes = {k: o[k] for k in ("md5", "sha1", "sha256") if o.get(k)}
        if hashes:
            file["hash"] = hashes
        if file:
            ev["file"] = file
        # files.log (before Zeek 5) names hosts in tx_hosts/rx_hosts
        for side, key in (("source", "tx_hosts"), ("destination", "rx_hosts")):
            hosts = o.get(key)
            if side not in ev and isinstance(hosts, list) and hosts:
                set_endpoint(ev, side, str(hosts[0]))


def _nest(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if k.startswith("_"):
            continue
        if "." in k:
            put(out, k, v)
        else:
            if isinstance(out.get(k), dict):
                continue
            out[k] = v
    return out


def _guess_zeek(o: dict[str, Any]) -> str:
    if "conn_state" in o or "history" in o:
        return "conn"
    if ("query" in o and "qtype" in o) or "rcode" in o:
        return "dns"
    if "method" in o and "uri" in o:
        return "http"
    if "cipher" in o or "server_name" in o:
        return "ssl"
    if "note" in o:
        return "notice"
    if ("name" in o and "addl" in o) or ("notice" in o and "name" in o):
        return "weird"
    if "fuid" in o and ("mime_type" in o or "seen_bytes" in o):
        return "files"
    return "unknown"


class WindowsJsonParser(JsonBase):
    """Winlogbeat, NXLog/mordor and evtx-JSON Windows events."""

    dataset = "windows"

    def __init__(self, tp: TimeParser | None = None, max_depth: int = 32) -> None:
        super().__init__(tp, max_depth)
        self.win = WindowsRecordParser(self.tp)

    @staticmethod
    def looks_windows(o: dict[str, Any]) -> bool:
        return (
            isinstance(o.get("Event"), dict)
            or isinstance(o.get("winlog"), dict)
            or ("EventID" in o and ("Channel" in o or "SourceName" in o))
        )

    def convert(self, obj: dict[str, Any], line: str) -> Event:
        if isinstance(obj.get("Event"), dict):
            return self.win.from_record(obj, line)
        if isinstance(obj.get("winlog"), dict):
            return self.win.winlogbeat(obj, line)
        if "EventID" in obj:
            return self.win.flat(obj, line)
        return failure(line, "not a Windows event (no Event, winlog or EventID)", self.dataset)
