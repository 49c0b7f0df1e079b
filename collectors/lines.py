"""From raw bytes of one record to an emitted event: decode (invalid UTF-8 replaced and
flagged), guard (binary, over-long), parse (never raises), enrich, emit with its
deterministic id. Shared by every line-oriented source (files, syslog, stdin, ``parse``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from socmon.collectors.enrich import Enricher, SourceEnricher
from socmon.collectors.event import PARSE_FAILURE, add_tag, failure
from socmon.collectors.metrics import EVENTS, report_bad
from socmon.collectors.parsers.registry import Parser, detect_line, make
from socmon.collectors.timeparse import TimeParser
from socmon.ids import IdPrefix
from socmon.pipeline import Ack, Event, EventSink
from socmon.settings.collectors import CollectorSettings

log = logging.getLogger(__name__)

TRUNCATED = "_truncated"
INVALID_UTF8 = "_invalid_utf8"
BINARY = "_binary"


class LineHandler:
    def __init__(
        self,
        fmt: str,
        settings: CollectorSettings,
        enricher: Enricher,
        sink: EventSink,
        *,
        source_kind: str,
        source: str,
        tp: TimeParser | None = None,
        log_format: str | None = None,
        zeek_path: str | None = None,
    ) -> None:
        self.fmt = fmt
        self.settings = settings
        self.enricher = enricher
        self.sink = sink
        self.source_kind = source_kind
        self.source = source
        self.tp = tp or TimeParser(settings.timezone)
        self.log_format = log_format
        self.zeek_path = zeek_path
        self._parsers: dict[str, Parser] = {}
        self._resolved: str | None = None if fmt == "auto" else fmt
        self._counter = EVENTS.labels(source_kind, fmt)
        # per-source constants worked out once: enrichment by (path, sender), id prefixes
        self._enrich: dict[tuple[str | None, str | None], SourceEnricher] = {}
        self._ids: dict[str, IdPrefix] = {}

    @property
    def resolved(self) -> str | None:
        """The format of the input once known (given, or detected from its first lines)."""
        return self._resolved

    def parser(self, fmt: str) -> Parser:
        p = self._parsers.get(fmt)
        if p is None:
            p = make(
                fmt,
                self.tp,
                max_depth=self.settings.max_json_depth,
                log_format=self.log_format,
                zeek_path=self.zeek_path,
            )
            self._parsers[fmt] = p
        return p

    def header(self, raw: bytes) -> bool:
        """A header line of a format whose records depend on it (Zeek TSV ``#fields``,
        Windows Firewall ``#Fields:``...):
        the parser keeps it and it is no event. Callers pass every line starting with ``#``."""
        if raw[:1] != b"#":
            return False
        text = raw.decode("utf-8", "replace").rstrip("\r")
        fmt = self._resolved
        if fmt is None:
            fmt = detect_line(text)
            if fmt is None:
                return False
            self._resolved = fmt
        take = getattr(self.parser(fmt), "header", None)
        return take is not None and bool(take(text))

    def prime(self, stream: Iterable[bytes]) -> None:
        """Read the header lines of a file up to where reading resumes (the records after a
        checkpoint need the block's ``#fields``)."""
        for raw in stream:
            if raw[:1] == b"#":
                self.header(raw.rstrip(b"\n"))

    def parse_text(self, text: str, position: object) -> Event:
        fmt = self._resolved
        if fmt is None:
            fmt = detect_line(text) or "syslog"
            self._resolved = fmt
        try:
            ev = self.parser(fmt)(text)
            if self.fmt == "auto" and PARSE_FAILURE in ev.get("tags", ()):
                other = detect_line(text)
                if other and other != fmt:
                    ev2 = self.parser(other)(text)
                    if PARSE_FAILURE not in ev2.get("tags", ()):
                        ev = ev2
        except RecursionError:
            ev = failure(text, "input nested too deeply", fmt)
            report_bad("json_too_deep", self.source_kind, self.source, position, "recursion")
        except Exception as e:  # a parser bug must not stop the collector
            log.exception("parser error", extra={"source": self.source, "position": position})
            ev = failure(text, f"parser error: {type(e).__name__}: {e}", fmt)
            report_bad("parser_error", self.source_kind, self.source, position, str(e))
        return ev

    def decode(self, raw: bytes, position: object) -> tuple[str, list[str]]:
        flags: list[str] = []
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            text = raw.decode("utf-8", "replace")
            flags.append(INVALID_UTF8)
            report_bad("invalid_utf8", self.source_kind, self.source, position, str(e))
        if "\x00" in text:
            text = text.replace("\x00", "\ufffd")
            flags.append(BINARY)
            report_bad("binary", self.source_kind, self.source, position, "NUL bytes in line")
        if text.endswith("\r"):
            text = text[:-1]
        return text, flags

    def handle(
        self,
        raw: bytes,
        identity: str,
        position: int | str,
        ack: Ack | None = None,
        *,
        path: str | None = None,
        sender: str | None = None,
        truncated: bool = False,
        extra: Event | None = None,
        where: object = None,
    ) -> Event:
        """Parse and emit one record. ``position`` goes into the id; bad input is reported at
        ``where`` when given (e.g. a line number where the id position is a content hash)."""
        loc = position if where is None else where
        if not truncated:
            # the usual record: valid UTF-8, no NUL, not cut (decode() and its flags otherwise)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                if "\x00" not in text:
                    if text.endswith("\r"):
                        text = text[:-1]
                    return self.emit_event(
                        self.parse_text(text, loc),
                        identity,
                        position,
                        ack,
                        path=path,
                        sender=sender,
                        extra=extra,
                        where=where,
                    )
        text, flags = self.decode(raw, loc)
        if truncated:
            flags.append(TRUNCATED)
            report_bad(
                "truncated",
                self.source_kind,
                self.source,
                loc,
                f"record longer than {self.settings.max_line_bytes} bytes",
            )
        ev = self.parse_text(text, loc)
        return self.emit_event(
            ev,
            identity,
            position,
            ack,
            path=path,
            sender=sender,
            flags=flags,
            extra=extra,
            where=where,
        )

    def emit_event(
        self,
        ev: Event,
        identity: str,
        position: int | str,
        ack: Ack | None = None,
        *,
        path: str | None = None,
        sender: str | None = None,
        flags: list[str] | None = None,
        extra: Event | None = None,
        where: object = None,
    ) -> Event:
        if flags:
            for f in flags:
                add_tag(ev, f)
        if "tags" in ev and PARSE_FAILURE in ev["tags"]:
            err = ev.get("error")
            reason = err.get("message", "") if isinstance(err, dict) else ""
            loc = position if where is None else where
            report_bad("parse_failure", self.source_kind, self.source, loc, str(reason))
            ev.setdefault("socmon", {})["parse_failure"] = True
        if extra:
            for k, v in extra.items():
                cur = ev.get(k)
                if isinstance(cur, dict) and isinstance(v, dict):
                    for k2, v2 in v.items():
                        cur.setdefault(k2, v2)
                else:
                    ev.setdefault(k, v)
        if path is not None and self.source_kind == "file":
            lg = ev.get("log")
            if not isinstance(lg, dict):
                lg = ev["log"] = {}
            lg["file"] = {"path": path}
            if isinstance(position, int):
                lg["offset"] = position
        so = ev.get("socmon")
        pf = so.get("parse_failure") if isinstance(so, dict) else None
        se = self._enrich.get((path, sender))
        if se is None:
            if len(self._enrich) > 1024:  # syslog senders come and go: keep it bounded
                self._enrich.clear()
            se = self._enrich[(path, sender)] = self.enricher.for_source(
                self.source_kind, self.source, path=path, sender=sender
            )
        se.apply(ev)
        if pf:
            ev["socmon"]["parse_failure"] = True
        self._counter.inc()
        ids = self._ids.get(identity)
        if ids is None:
            if len(self._ids) > 1024:
                self._ids.clear()
            ids = self._ids[identity] = IdPrefix(identity)
        self.sink.emit(ids.id(position), ev, ack)
        return ev
