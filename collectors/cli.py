"""``socmon collect`` (run the configured sources into Elasticsearch) and ``socmon parse``
(print ECS events as JSON lines, no Elasticsearch)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any, BinaryIO

import click
import orjson

from socmon.cli import settings_from
from socmon.pipeline import Ack, Event
from socmon.settings.collectors import ALL_FORMATS, LINE_FORMATS
from socmon.stop_signals import StopSignals


class PrintSink:
    """Writes each event as one JSON line (with its id in ``_id`` when asked)."""

    def __init__(self, out: BinaryIO, with_id: bool = False) -> None:
        self.out = out
        self.with_id = with_id
        self.count = 0

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        doc = {"_id": doc_id, **event} if self.with_id else event
        self.out.write(orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        self.count += 1
        if ack is not None:
            ack()


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(ALL_FORMATS),
    default="auto",
    show_default=True,
    help="Input format; auto detects it per file.",
)
@click.option(
    "--year", type=int, default=None, help="Year of timestamps that have none (BSD syslog)."
)
@click.option(
    "--reference-time",
    default=None,
    help="ISO time that year-less timestamps are placed before (default: now).",
)
@click.option(
    "--timezone", default=None, help="Zone of timestamps that carry none (default: settings)."
)
@click.option("--with-id", is_flag=True, help="Add the deterministic document id as _id.")
@click.option("--log-format", default=None, help="nginx log_format / Apache LogFormat string.")
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="In directories, read only files whose name or relative path matches GLOB "
    "(repeatable; default: every file socmon can read, by extension or content).",
)
@click.argument("paths", nargs=-1, required=True)
@click.pass_context
def parse(
    ctx: click.Context,
    fmt: str,
    year: int | None,
    reference_time: str | None,
    timezone: str | None,
    with_id: bool,
    log_format: str | None,
    include: tuple[str, ...],
    paths: tuple[str, ...],
) -> None:
    """Parse PATH... (files, .gz, .zip, .evtx, pcap, directories read recursively, or - for
    stdin) and print the ECS events as JSON lines on stdout. No Elasticsearch needed. Exits 2
    when an input cannot be read."""
    from socmon.collectors.enrich import Enricher
    from socmon.collectors.inputs import expand_inputs
    from socmon.collectors.lines import LineHandler
    from socmon.collectors.reader import read_files
    from socmon.collectors.sources.stdin import StdinReader
    from socmon.collectors.timeparse import TimeParser

    settings = settings_from(ctx).collectors
    ref = dt.datetime.fromisoformat(reference_time) if reference_time else None
    if ref is not None and ref.tzinfo is None:
        ref = ref.replace(tzinfo=dt.UTC)
    sink = PrintSink(sys.stdout.buffer, with_id)
    enricher = Enricher(settings)

    def handler_for(f: str, label: str) -> LineHandler:
        tp = TimeParser(timezone or settings.timezone, year=year, reference=ref)
        return LineHandler(
            f,
            settings,
            enricher,
            sink,
            source_kind="parse",
            source=label,
            tp=tp,
            log_format=log_format,
            zeek_path=Path(label).name.split(".")[0] if f == "zeek" else None,
        )

    problems = []
    for p in paths:
        if p == "-":
            StdinReader(handler_for("auto" if fmt in ("evtx", "pcap") else fmt, "stdin")).run()
            continue
        chosen = expand_inputs([p], include)
        for skipped in chosen.skipped:
            click.echo(f"skipped {skipped}", err=True)
        problems += chosen.unreadable + read_files(chosen.files, fmt, handler_for)
    sys.stdout.buffer.flush()
    for problem in problems:
        click.echo(f"error: cannot read {problem}", err=True)
    if problems:
        sys.exit(2)


@click.command()
@click.option("--stdin", "use_stdin", is_flag=True, help="Also read events from standard input.")
@click.option(
    "--stdin-format",
    type=click.Choice(["auto", *LINE_FORMATS]),
    default=None,
    help="Format of standard input (default: settings collectors.stdin_format).",
)
@click.pass_context
def collect(ctx: click.Context, use_stdin: bool, stdin_format: str | None) -> None:
    """Run the configured collectors (files, syslog, Beats, EVTX, stdin) into Elasticsearch until
    SIGTERM/SIGINT (or end of stdin when only stdin is read). Checkpoints advance only when
    events are durable, so a restart after kill -9 re-reads nothing twice."""
    from socmon.cli_es import ensure_elasticsearch
    from socmon.collectors.enrich import Enricher
    from socmon.collectors.lines import LineHandler
    from socmon.collectors.services import build_sources
    from socmon.collectors.sources.stdin import StdinReader
    from socmon.indices import apply_templates
    from socmon.runner import build_context

    settings = settings_from(ctx)
    ensure_elasticsearch(settings)
    rc = build_context(settings)
    apply_templates(rc.client, rc.names, settings.es)
    rc.writer.start()
    services: list[Any] = build_sources(settings, rc.events, rc.writer.flush)
    reader: StdinReader | None = None
    cs = settings.collectors
    if use_stdin or cs.stdin:
        handler = LineHandler(
            stdin_format or cs.stdin_format,
            cs,
            Enricher(cs),
            rc.events,
            source_kind="stdin",
            source="stdin",
        )
        reader = StdinReader(handler)
    if not services and reader is None:
        raise click.ClickException(
            "nothing to collect: configure collectors.files/syslog/beats/evtx or pass --stdin"
        )
    with StopSignals() as signals:
        for s in services:
            s.start()
        if reader is not None:
            reader.start()
        click.echo(
            f"collecting from {len(services)} source(s)" + (" + stdin" if reader else ""), err=True
        )
        while signals.wait(0.2) is None:
            if reader is not None and reader.finished.is_set() and not services:
                break
        for s in reversed(services):
            s.stop()
        rc.writer.close()
