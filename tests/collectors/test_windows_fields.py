"""Windows parser: Sigma spellings of spaced names, UserData, Hashes split to ECS."""

from __future__ import annotations

from socmon.collectors.parsers.windows import WindowsRecordParser
from socmon.rules.winevent import record_to_ecs


def _rec(channel: str, eid: int, **blocks: object) -> dict[str, object]:
    system = {"Channel": channel, "EventID": eid, "Computer": "pc1", "EventRecordID": 7}
    return {"Event": {"System": system, **blocks}}


def test_spaced_names_and_userdata() -> None:
    p = WindowsRecordParser()
    ev = p.from_record(
        _rec(
            "Microsoft-Windows-Windows Defender/Operational",
            1116,
            EventData={"Threat Name": "HackTool:Win32/Mimikatz", "Data": ["a", {"#text": "b"}]},
        )
    )
    ed = ev["winlog"]["event_data"]
    assert ed["ThreatName"] == ed["Threat Name"] == "HackTool:Win32/Mimikatz"
    assert ed["param1"] == "a" and ed["param2"] == "b" and ed["Data"] == ["a", "b"]
    ud = {"Operation_ClientFailure": {"#attributes": {"xmlns": "x"}, "Operation": "Start"}}
    ev = p.from_record(_rec("Microsoft-Windows-WMI-Activity/Operational", 5858, UserData=ud))
    assert ev["winlog"]["event_data"]["Operation"] == "Start"
    # the detection layer's shaper uses the same flattening
    doc = record_to_ecs(_rec("Microsoft-Windows-WMI-Activity/Operational", 5858, UserData=ud))
    assert doc["winlog"]["event_data"]["Operation"] == "Start"


def test_hashes_split() -> None:
    p = WindowsRecordParser()
    hashes = "SHA1=AB12,MD5=CD34,SHA256=EF56,IMPHASH=0099"
    ev = p.from_record(
        _rec("Microsoft-Windows-Sysmon/Operational", 1, EventData={"Hashes": hashes})
    )
    assert ev["process"]["hash"] == {"sha1": "ab12", "md5": "cd34", "sha256": "ef56"}
    assert ev["process"]["pe"]["imphash"] == "0099"
    assert ev["winlog"]["event_data"]["Hashes"] == hashes
    ev = p.from_record(
        _rec("Microsoft-Windows-Sysmon/Operational", 7, EventData={"Hashes": "MD5=AA"})
    )
    assert ev["file"]["hash"] == {"md5": "aa"}
    ev = p.from_record(
        _rec("Microsoft-Windows-Sysmon/Operational", 7, EventData={"Hashes": "garbage"})
    )
    assert "file" not in ev
