"""``socmon hunt``'s outputs: JSON lines, CSV or a timeline (one row per detection, in the
order given: time order), and the summary by level and rule."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

import orjson

from socmon.rules.detection import Detection

FORMATS = ("jsonl", "csv", "timeline")
LEVELS = ("critical", "high", "medium", "low", "informational")
# one row per detection: time, level, rule and where it happened (the first matched event)
COLUMNS = (
    "timestamp",
    "level",
    "rule_id",
    "title",
    "host",
    "event_code",
    "channel",
    "event_id",
    "record_id",
    "source",
    "tags",
)


def detection_json(d: Detection, with_events: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id,
        "rule_id": d.rule_id,
        "title": d.rule_title,
        "level": d.level,
        "status": d.status,
        "mode": d.mode,
        "timestamp": d.timestamp,
        "first_timestamp": d.first_timestamp,
        "tags": d.tags,
        "attack_techniques": d.attack_techniques,
    }
    if d.group_by:
        out["group_by"] = d.group_by
    if with_events:
        out["events"] = [{"id": m.id, "event": m.event} for m in d.events]
    else:
        out["event_ids"] = [m.id for m in d.events]
    return out


def _get(event: dict[str, Any], dotted: str) -> Any:
    cur: Any = event
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


# the event fields a CSV/timeline row shows
ROW_FIELDS = (
    "@timestamp",
    "host.name",
    "winlog.computer_name",
    "event.code",
    "winlog.channel",
    "event.dataset",
    "winlog.record_id",
    "socmon.source",
)


def slim(event: dict[str, Any]) -> dict[str, Any]:
    """The part of an event that ``row`` shows (nested as in the event)."""
    out: dict[str, Any] = {}
    for dotted in ROW_FIELDS:
        v = _get(event, dotted)
        if v is None:
            continue
        *parents, last = dotted.split(".") if dotted != "@timestamp" else [dotted]
        cur = out
        for p in parents:
            cur = cur.setdefault(p, {})
        cur[last] = v
    return out


def row(d: Detection) -> dict[str, str]:
    """The CSV/timeline row of a detection."""
    ev = d.events[0].event if d.events else {}
    host = _get(ev, "host.name") or _get(ev, "winlog.computer_name") or ""
    return {
        "timestamp": d.timestamp or "",
        "level": d.level,
        "rule_id": d.rule_id,
        "title": d.rule_title,
        "host": str(host),
        "event_code": str(_get(ev, "event.code") or ""),
        "channel": str(_get(ev, "winlog.channel") or _get(ev, "event.dataset") or ""),
        "event_id": ",".join(m.id for m in d.events),
        "record_id": str(_get(ev, "winlog.record_id") or ""),
        "source": str(_get(ev, "socmon.source") or "").removeprefix("hunt:"),
        "tags": " ".join(d.tags),
    }


class Writer:
    """Writes detections to a binary stream in one of ``FORMATS``."""

    def __init__(self, out: IO[bytes], fmt: str, with_events: bool = True) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r} (one of {', '.join(FORMATS)})")
        self.out = out
        self.fmt = fmt
        self.with_events = with_events
        self._csv_header = False

    def write(self, d: Detection) -> None:
        if self.fmt == "jsonl":
            self.out.write(orjson.dumps(detection_json(d, self.with_events), default=str) + b"\n")
        elif self.fmt == "csv":
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
            if not self._csv_header:
                w.writeheader()
                self._csv_header = True
            w.writerow(row(d))
            self.out.write(buf.getvalue().encode())
        else:  # timeline: fixed columns, one line per detection, sortable as text
            r = row(d)
            line = (
                f"{r['timestamp']:<24}  {r['level']:<13}  {r['host'][:24]:<24}  "
                f"{r['event_code']:>5}  {r['title']}  [{r['rule_id']}]\n"
            )
            self.out.write(line.encode())


def summary_lines(detections: Iterable[Detection]) -> list[str]:
    """Detections by level (most severe first) and by rule (most frequent first)."""
    ds = list(detections)
    by_level = Counter(d.level for d in ds)
    lines = ["", "by level:"]
    order = [lv for lv in LEVELS if lv in by_level] + sorted(set(by_level) - set(LEVELS))
    for lv in order:
        lines.append(f"{by_level[lv]:>9}  {lv}")
    counts = Counter((d.rule_id, d.rule_title, d.level) for d in ds)
    lines += ["", "by rule:", f"{'count':>9}  {'level':<13} {'rule':<40} title"]
    for (rid, title, level), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0])):
        lines.append(f"{n:>9}  {level:<13} {rid[:40]:<40} {title}")
    return lines
