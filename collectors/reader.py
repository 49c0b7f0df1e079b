"""Read whole files once (``socmon parse``, EVTX files, backfills): every format, plain,
``.gz`` or ``.zip``, line-oriented or a JSON document (array or one pretty-printed object, as
Suricata samples and EVTX JSON exports come), EVTX via the ``evtx`` package, pcap via the
network collector (``collectors.network``, loaded lazily)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson

from socmon.collectors.event import failure
from socmon.collectors.inputs import InputProblem
from socmon.collectors.lines import LineHandler
from socmon.collectors.metrics import report_bad
from socmon.collectors.parsers.jsonfmt import JsonBase, TooDeep, depth_ok, loads
from socmon.collectors.parsers.registry import detect
from socmon.collectors.parsers.windows import WindowsRecordParser
from socmon.pipeline import Ack

log = logging.getLogger(__name__)


class NetworkUnavailable(RuntimeError):
    pass


def _open_streams(path: Path) -> Iterator[tuple[str, IO[bytes]]]:
    name = str(path)
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.is_dir():
                    with z.open(info) as f:
                        yield f"{name}!{info.filename}", f
    elif name.endswith(".gz"):
        with gzip.open(path, "rb") as g:
            yield name, g  # type: ignore[misc]
    else:
        with open(path, "rb") as f:
            yield name, f


def _inner_name(label: str) -> str:
    name = label.rsplit("!", 1)[-1]
    return name[:-3] if name.endswith(".gz") else name


def guess_format(label: str, head: bytes) -> str:
    name = _inner_name(label).lower()
    if name.endswith(".evtx") or head[:8] == b"ElfFile\x00":
        return "evtx"
    if name.endswith((".pcap", ".pcapng", ".cap")) or head[:4] in (
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\x0a\x0d\x0d\x0a",
        b"\x4d\x3c\xb2\xa1",
        b"\xa1\xb2\x3c\x4d",
    ):
        return "pcap"
    text = head.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "jsondoc"
    if stripped.startswith("{"):
        first = stripped.split("\n", 1)[0].strip()
        if not (first.endswith("}") and len(first) > 2):
            return "jsondoc"
    return detect(text.splitlines()[:30])


def read_file(
    path: Path,
    fmt: str,
    handler_for: Any,
    ack: Ack | None = None,
) -> int:
    """Emit every record of ``path``; ``handler_for(fmt, label) -> LineHandler``. Returns the
    number of records."""
    n = 0
    for label, stream in _open_streams(path):
        head = stream.peek(65536)[:65536] if hasattr(stream, "peek") else b""
        f = fmt
        if f == "auto":
            f = guess_format(label, head)
        elif (
            f in ("jsonl", "suricata", "zeek", "winjson") and guess_format(label, head) == "jsondoc"
        ):
            f = f"jsondoc:{f}"
        if f == "evtx":
            n += read_evtx(
                path if label == str(path) else stream, label, handler_for("winjson", label)
            )
        elif f == "pcap":
            n += read_pcap(path, handler_for)
        elif f.startswith("jsondoc"):
            inner = f.split(":", 1)[1] if ":" in f else "jsonl"
            n += read_json_document(stream, label, handler_for(inner, label))
        else:
            n += read_lines(stream, label, handler_for(f, label))
    return n


READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, NetworkUnavailable)


def read_files(paths: Iterable[Path], fmt: str, handler_for: Any) -> list[InputProblem]:
    """``read_file`` each path; the files that could not be read (fully), with the reason."""
    problems: list[InputProblem] = []
    for path in paths:
        try:
            read_file(path, fmt, handler_for)
        except READ_ERRORS as e:
            report_bad("read_error", "file", str(path), 0, str(e))
            problems.append(InputProblem(str(path), f"{type(e).__name__}: {e}"))
    return problems


def file_identity(label: str, head: bytes) -> str:
    return (
        "read:" + hashlib.blake2b(label.encode() + b"\0" + head[:1024], digest_size=8).hexdigest()
    )


def read_lines(stream: IO[bytes], label: str, handler: LineHandler) -> int:
    limit = handler.settings.max_line_bytes
    head = stream.peek(1024)[:1024] if hasattr(stream, "peek") else b""
    ident = file_identity(label, head)
    offset = 0
    n = 0
    for lineno, raw in enumerate(stream, 1):
        pos = offset
        offset += len(raw)
        line = raw[:-1] if raw.endswith(b"\n") else raw
        truncated = len(line) > limit
        if truncated:
            line = line[:limit]
        if not line.strip() or handler.header(line):
            continue
        handler.handle(
            line, ident, pos, None, path=label, truncated=truncated, where=f"line {lineno}"
        )
        n += 1
    return n


def read_json_document(stream: IO[bytes], label: str, handler: LineHandler) -> int:
    data = stream.read()
    ident = file_identity(label, data[:1024])
    text = data.decode("utf-8", "replace")
    try:
        doc = _load_stream(text, handler.settings.max_json_depth + 1)
    except (TooDeep, ValueError) as e:
        report_bad("parse_failure", "file", label, 0, f"JSON document: {e}")
        handler.emit_event(
            failure(text[: handler.settings.max_line_bytes], f"JSON document: {e}", "json"),
            ident,
            0,
            path=label,
        )
        return 1
    items = doc if isinstance(doc, list) else [doc]
    parser = handler.parser(handler.resolved or "jsonl")
    n = 0
    for i, item in enumerate(items):
        original = orjson.dumps(item).decode()
        if isinstance(item, dict) and isinstance(parser, JsonBase):
            try:
                ev = parser.convert(item, original)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                ev = failure(original, f"{type(e).__name__}: {e}", parser.dataset)
        else:
            ev = handler.parse_text(original, i)
        handler.emit_event(ev, ident, i, path=label)
        n += 1
    return n


def _load_stream(text: str, max_depth: int) -> Any:
    """One JSON document, an array, or several documents one after the other (as the EVTX
    JSON exports in sigmahq/regression_data are)."""
    try:
        return loads(text, max_depth)
    except orjson.JSONDecodeError:
        pass
    if not depth_ok(text, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth}")
    dec = json.JSONDecoder()
    out: list[Any] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n:
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def read_evtx(
    source: str | Path | IO[bytes],
    label: str,
    handler: LineHandler,
    after_record: int = 0,
    on_acked: Callable[[int], None] | None = None,
) -> int:
    """EVTX records (``evtx`` package) -> Windows events. Ids: computer, channel, record
    number and the record's ``TimeCreated`` (record numbers alone repeat: each exported file
    and each cleared log starts again at 1).

    Records numbered ``<= after_record`` are skipped; ``on_acked(n)`` is called once record
    ``n`` is durable. Both use the number in the record header (what the file is ordered by),
    not the ``EventRecordID`` of the XML: the two are equal in logs Windows wrote, but not in
    exported or re-assembled files."""
    import evtx

    if isinstance(source, str | Path):
        parser = evtx.PyEvtxParser(str(source))
    else:
        parser = evtx.PyEvtxParser(io.BytesIO(source.read()))
    win = WindowsRecordParser(handler.tp)
    n = 0
    try:
        records = parser.records_json()
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except (RuntimeError, OSError, ValueError) as e:
                report_bad("parse_failure", "evtx", label, n, f"evtx record: {e}")
                continue
            if not isinstance(rec, dict):
                continue
            rid = rec.get("event_record_id", n)
            if isinstance(rid, int) and rid <= after_record:
                continue
            data = rec.get("data", "")
            created = ""
            try:
                obj = orjson.loads(data)
                ev = win.from_record(obj, data)
                created = _system_time(obj)
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as e:
                ev = failure(str(data)[:65536], f"evtx: {type(e).__name__}: {e}", "windows")
            wl = ev.get("winlog", {})
            ident = f"evtx:{wl.get('computer_name', '')}:{wl.get('channel', '')}"
            ack = partial(on_acked, rid) if on_acked is not None and isinstance(rid, int) else None
            # record numbers restart (a cleared log, every small exported file starts at 1):
            # the record's own time makes the id tell two records with one number apart
            position = f"{rid}@{created}" if created else rid
            handler.emit_event(ev, ident, position, ack, path=label, where=f"record {rid}")
            n += 1
    except (RuntimeError, OSError) as e:
        report_bad("read_error", "evtx", label, n, str(e))
    return n


def first_record(path: str | Path) -> str | None:
    """``"<number>@<SystemTime>"`` of the first record of an EVTX file (None: unreadable or
    empty): which file this is, as far as checkpoints care."""
    import evtx

    try:
        rec = next(iter(evtx.PyEvtxParser(str(path)).records_json()), None)
        if not isinstance(rec, dict):
            return None
        return f"{rec.get('event_record_id')}@{_system_time(orjson.loads(rec.get('data', '')))}"
    except (RuntimeError, OSError, ValueError):
        return None


def _system_time(obj: Any) -> str:
    """``Event.System.TimeCreated.SystemTime`` of an EVTX JSON record ("" when absent)."""
    node = obj.get("Event", obj) if isinstance(obj, dict) else None
    system = node.get("System") if isinstance(node, dict) else None
    created = system.get("TimeCreated") if isinstance(system, dict) else None
    attrs = created.get("#attributes") if isinstance(created, dict) else None
    st = attrs.get("SystemTime") if isinstance(attrs, dict) else None
    return st if isinstance(st, str) else ""


def read_pcap(path: Path, handler_for: Any) -> int:
    """Packets -> events through the network collector (its ids are kept)."""
    try:
        from socmon.collectors.network.reader import read_pcap_events
    except ImportError as e:
        raise NetworkUnavailable(
            "pcap needs the network collector (collectors.network), which is not available "
            f"in this build: {e}"
        ) from None
    handler = handler_for("jsonl", str(path))
    n = 0
    for did, ev in read_pcap_events(path):
        handler.enricher.apply(ev, source_kind="pcap", source=str(path), path=str(path))
        handler.sink.emit(did, ev, None)
        n += 1
    return n
