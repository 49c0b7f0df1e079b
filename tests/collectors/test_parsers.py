"""Parsers to ECS on small hand-written lines (no Elasticsearch)."""

from __future__ import annotations

import datetime as dt

import orjson

from socmon.collectors.parsers.cefkv import CefParser, KvParser, parse_cef_extension
from socmon.collectors.parsers.jsonfmt import JsonLinesParser, SuricataParser, ZeekParser
from socmon.collectors.parsers.registry import AuditdParser, detect_line
from socmon.collectors.parsers.syslog import SyslogParser
from socmon.collectors.parsers.web import WebParser
from socmon.collectors.parsers.windows import WindowsRecordParser
from socmon.collectors.timeparse import TimeParser

TP = TimeParser("UTC", reference=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))


def test_rfc3164_sshd_failed_password() -> None:
    ev = SyslogParser(TP)(
        "<38>Feb 25 14:34:10 belka sshd[31602]: Failed password for invalid user ROOT "
        "from 194.117.26.69 port 50273 ssh2"
    )
    assert ev["@timestamp"] == "2026-02-25T14:34:10.000Z"
    assert ev["host"]["name"] == "belka"
    assert ev["process"] == {"name": "sshd", "pid": 31602}
    assert ev["log"]["syslog"]["facility"]["name"] == "auth"
    assert ev["log"]["syslog"]["severity"]["name"] == "info"
    assert ev["event"]["dataset"] == "sshd"
    assert ev["event"]["outcome"] == "failure"
    assert ev["event"]["category"] == ["authentication"]
    assert ev["user"]["name"] == "ROOT"
    assert ev["source"] == {"ip": "194.117.26.69", "address": "194.117.26.69", "port": 50273}


def test_sshd_accepted_and_state_carries_client() -> None:
    p = SyslogParser(TP)
    p("Mar  1 10:00:00 h sshd[77]: Connection from 192.0.2.9 port 5000 on 10.0.0.1 port 22")
    ok = p("Mar  1 10:00:01 h sshd[77]: Accepted publickey for bob from 192.0.2.9 port 5000 ssh2")
    assert ok["event"]["outcome"] == "success" and ok["user"]["name"] == "bob"
    later = p(
        "Mar  1 10:00:02 h sshd[77]: fatal: Read from socket failed: Connection reset [preauth]"
    )
    assert later["source"]["ip"] == "192.0.2.9"
    assert later["event"]["outcome"] == "failure"


def test_rfc5424_structured_data_and_escapes() -> None:
    ev = SyslogParser(TP)(
        '<165>1 2026-03-04T05:06:07.123+02:00 web01 app 1234 ID47 [exampleSDID@32473 iut="3" '
        'eventSource="Appl\\"ication" eventID="1011"][meta a="b\\]c"] \ufeffAn application event'
    )
    assert ev["@timestamp"] == "2026-03-04T03:06:07.123Z"
    sl = ev["log"]["syslog"]
    assert sl["appname"] == "app" and sl["procid"] == "1234" and sl["msgid"] == "ID47"
    assert sl["structured_data"]["exampleSDID@32473"]["eventSource"] == 'Appl"ication'
    assert sl["structured_data"]["meta"]["a"] == "b]c"
    assert ev["message"] == "An application event"
    assert "tags" not in ev


def test_sudo_su_pam() -> None:
    p = SyslogParser(TP)
    ok = p(
        "Jan  2 03:04:05 h sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
        "COMMAND=/usr/bin/id"
    )
    assert ok["event"]["outcome"] == "success" and ok["process"]["command_line"] == "/usr/bin/id"
    assert ok["user"]["name"] == "alice" and ok["user"]["effective"]["name"] == "root"
    bad = p(
        "Jan  2 03:04:05 h sudo:    eve : 3 incorrect password attempts ; TTY=pts/1 ; "
        "PWD=/tmp ; USER=root ; COMMAND=/bin/sh"
    )
    assert bad["event"]["outcome"] == "failure"
    su = p("Jan  2 03:04:05 h su[9]: FAILED su for root by mallory")
    assert su["event"]["outcome"] == "failure" and su["user"]["name"] == "mallory"
    pam = p(
        "Jan  2 03:04:05 h login[9]: pam_unix(login:auth): authentication failure; logname= "
        "uid=0 euid=0 tty=tty1 ruser= rhost=203.0.113.5  user=bob"
    )
    assert pam["event"]["outcome"] == "failure" and pam["source"]["ip"] == "203.0.113.5"


def test_iptables_ufw_and_auditd() -> None:
    ev = SyslogParser(TP)(
        "Jan  2 03:04:05 fw kernel: [12345.678] [UFW BLOCK] IN=eth0 OUT= MAC=aa SRC=198.51.100.7 "
        "DST=10.0.0.2 LEN=60 PROTO=TCP SPT=4444 DPT=22 WINDOW=1024"
    )
    assert ev["event"]["dataset"] == "ufw" and ev["event"]["outcome"] == "failure"
    assert ev["source"]["ip"] == "198.51.100.7" and ev["destination"]["port"] == 22
    assert ev["network"]["transport"] == "tcp"
    a = AuditdParser(TP)(
        "type=USER_LOGIN msg=audit(1364475353.159:24270): pid=3280 uid=0 auid=0 ses=1 "
        'msg=\'op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=192.0.2.3 '
        "terminal=ssh res=failed'"
    )
    assert a["event"]["dataset"] == "auditd" and a["event"]["outcome"] == "failure"
    assert a["user"]["name"] == "root" and a["source"]["ip"] == "192.0.2.3"
    assert a["@timestamp"] == "2013-03-28T12:55:53.159Z"


def test_access_logs_and_custom_format() -> None:
    ev = WebParser("nginx", TP)(
        '203.0.113.9 - bob [10/Oct/2025:13:55:36 -0700] "GET /a/b.php?x=1&y=2 HTTP/1.1" 404 '
        '209 "http://ref/" "curl/8.0"'
    )
    assert ev["@timestamp"] == "2025-10-10T20:55:36.000Z"
    assert ev["http"]["request"]["method"] == "GET"
    assert ev["url"] == {"original": "/a/b.php?x=1&y=2", "path": "/a/b.php", "query": "x=1&y=2"}
    assert ev["http"]["response"] == {"status_code": 404, "body": {"bytes": 209}}
    assert ev["user_agent"]["original"] == "curl/8.0"
    assert ev["event"]["outcome"] == "failure" and ev["source"]["ip"] == "203.0.113.9"
    custom = WebParser("nginx", TP, '$remote_addr [$time_local] "$request" $status $request_time')(
        '198.51.100.1 [10/Oct/2025:13:55:36 +0000] "POST /login HTTP/2.0" 200 0.012'
    )
    assert custom["http"]["response"]["status_code"] == 200
    assert custom["url"]["path"] == "/login" and custom["source"]["ip"] == "198.51.100.1"


def test_cef_escaping_and_kv_fortigate() -> None:
    ev = CefParser(TP)(
        "Sep 19 08:26:10 host CEF:0|Security|threat\\|manager|1.0|100|worm successfully stopped"
        "|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=Detected a threat. No action needed\\= ok "
        "cs1Label=foo cs1=a b\\\\c rt=1695111970000"
    )
    assert ev["observer"]["product"] == "threat|manager"
    assert ev["event"]["code"] == "100" and ev["event"]["severity"] == 10
    assert ev["message"] == "Detected a threat. No action needed= ok"
    assert ev["cef"]["extensions"]["foo"] == "a b\\c"
    assert ev["source"]["ip"] == "10.0.0.1" and ev["source"]["port"] == 1232
    assert ev["@timestamp"] == "2023-09-19T08:26:10.000Z"
    assert parse_cef_extension("a=1 b=x\\=y z") == {"a": "1", "b": "x=y z"}
    kv = KvParser(TP)(
        'date=2019-05-10 time=11:37:47 logid="0000000013" type="traffic" subtype="forward" '
        'level="notice" vd="vdom1" eventtime=1557513467369913239 tz="-0700" srcip=10.1.100.11 '
        'srcport=58012 srcintf="port12" dstip=23.59.154.35 dstport=80 action="deny" '
        'policyid=1 proto=6 service="HTTP" devname="FGT" devid="FG100"'
    )
    assert kv["event"]["dataset"] == "fortinet.firewall" and kv["event"]["outcome"] == "failure"
    assert kv["source"]["ip"] == "10.1.100.11" and kv["destination"]["port"] == 80
    assert kv["@timestamp"] == "2019-05-10T18:37:47.000Z"
    assert kv["observer"]["name"] == "FGT"


def test_suricata_zeek_json() -> None:
    s = SuricataParser(TP)(
        '{"timestamp":"2017-03-25T16:49:58.856335-0600","flow_id":1,"event_type":"alert",'
        '"src_ip":"84.92.227.177","src_port":6668,"dest_ip":"10.192.19.6","dest_port":57966,'
        '"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2000355,"rev":5,'
        '"signature":"ET CHAT IRC authorization message","category":"Misc activity",'
        '"severity":3}}'
    )
    assert s["@timestamp"] == "2017-03-25T22:49:58.856Z"
    assert s["rule"]["id"] == "2000355" and s["rule"]["category"] == "Misc activity"
    assert s["event"]["kind"] == "alert" and s["destination"]["ip"] == "10.192.19.6"
    z = ZeekParser(TP)(
        '{"ts":1300475167.096535,"uid":"CXWv6p3arKYeMETxOg","id.orig_h":"141.142.220.202",'
        '"id.orig_p":5353,"id.resp_h":"224.0.0.251","id.resp_p":5353,"proto":"udp",'
        '"query":"_ipp._tcp.local","qtype_name":"PTR","rcode_name":"NOERROR","_path":"dns"}'
    )
    assert z["event"]["dataset"] == "zeek.dns" and z["dns"]["question"]["name"] == "_ipp._tcp.local"
    assert z["zeek"]["dns"]["id"]["orig_h"] == "141.142.220.202"
    assert detect_line('{"ts":1,"uid":"x","id.orig_h":"1.2.3.4"}') == "zeek"


def test_json_lines_any_shape_and_too_deep() -> None:
    p = JsonLinesParser(TP, max_depth=8)
    ecs = p('{"@timestamp":"2026-01-01T00:00:00Z","event":{"kind":"event"},"host":{"name":"a"}}')
    assert ecs["host"]["name"] == "a" and ecs["@timestamp"] == "2026-01-01T00:00:00.000Z"
    other = p('{"time":"2026-01-01 01:02:03","msg":"hi","host":"x"}')
    assert other["json"]["host"] == "x" and other["message"] == "hi"
    deep = p("[" * 50 + "]" * 50)
    assert "_parse_failure" in deep["tags"] and deep["error"]["type"] == "json_too_deep"


def test_windows_flat_and_record_shapes_for_sigma() -> None:
    w = WindowsRecordParser(TP)
    flat = w.flat(
        {
            "EventID": 4688,
            "Channel": "security",
            "SourceName": "Microsoft-Windows-Security-Auditing",
            "Hostname": "WS5",
            "@timestamp": "2020-10-29T08:23:20.533Z",
            "CommandLine": "SharpView.exe Get-ObjectAcl",
            "NewProcessName": "C:\\ProgramData\\SharpView.exe",
            "ParentProcessName": "C:\\Windows\\System32\\cmd.exe",
            "SubjectUserName": "pgustavo",
            "NewProcessId": "0xea8",
        },
        None,
    )
    assert flat["event"]["code"] == "4688" and flat["winlog"]["channel"] == "Security"
    assert flat["process"]["command_line"] == "SharpView.exe Get-ObjectAcl"
    assert flat["process"]["executable"] == "C:\\ProgramData\\SharpView.exe"
    assert flat["process"]["pid"] == 0xEA8
    assert flat["user"]["name"] == "pgustavo"
    assert flat["winlog"]["event_data"]["NewProcessName"] == "C:\\ProgramData\\SharpView.exe"
    rec = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "TimeCreated": {"#attributes": {"SystemTime": "2025-11-27T07:40:10.165324Z"}},
                "EventRecordID": 5,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "pc1",
            },
            "EventData": {
                "Image": "C:\\x\\a.exe",
                "CommandLine": "a.exe -x",
                "ParentImage": "C:\\y\\b.exe",
                "OriginalFileName": "A.EXE",
                "ProcessId": 42,
                "User": "DOM\\u",
            },
        }
    }
    ev = w.from_record(rec, orjson.dumps(rec).decode())
    assert ev["@timestamp"] == "2025-11-27T07:40:10.165Z"
    assert ev["event"]["code"] == "1" and ev["winlog"]["record_id"] == 5
    assert ev["process"]["pid"] == 42 and ev["process"]["name"] == "a.exe"
    assert ev["process"]["parent"]["executable"] == "C:\\y\\b.exe"
    assert ev["process"]["pe"]["original_file_name"] == "A.EXE"
    assert ev["winlog"]["event_data"]["ProcessId"] == "42"
    assert ev["user"]["name"] == "DOM\\u"
    assert ev["event"]["category"] == ["process"]


def test_unparsed_line_is_kept() -> None:
    ev = SyslogParser(TP)("\x01\x02 garbage without header")
    assert ev["tags"] == ["_parse_failure"] and ev["event"]["original"].startswith("\x01")
    assert ev["error"]["message"]
