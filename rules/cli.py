"""``socmon rules ...`` (check rules) and ``socmon hunt`` (run rules over files)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click
import orjson

from socmon.cli import settings_from


@click.group()
def rules() -> None:
    """Sigma rules: validate them (check), import packs (import, update), ATT&CK coverage."""


@rules.command("check")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary, not each problem.")
@click.option("--json", "as_json", is_flag=True, help="Problems and summary as JSON.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def check(paths: tuple[Path, ...], quiet: bool, as_json: bool) -> None:
    """Load and compile the Sigma rules under PATH... (files or directories) for streaming
    detection; print each problem with file, rule id and reason and a summary. Exit status 1
    when any rule is invalid."""
    from socmon.rules.engine import StreamingEngine
    from socmon.rules.loader import load_rules

    loaded = load_rules(paths)
    n_sigma = len(loaded.rules)
    engine = StreamingEngine.from_rules(loaded)
    fatal = [p for p in engine.problems if p.fatal]
    warnings = [p for p in engine.problems if not p.fatal]
    by_kind = Counter(p.kind for p in fatal)
    summary = {
        "files": loaded.files,
        "rules": n_sigma + len(loaded.correlations),
        "compiled": len(engine.rules),
        "correlations": len(loaded.correlations),
        "invalid": len(fatal),
        "warnings": len(warnings),
        "invalid_by_reason": dict(by_kind.most_common()),
        "unanchored": len(engine.unanchored),
    }
    if as_json:
        out: dict[str, object] = {"summary": summary}
        out["problems"] = [
            {
                "source": p.source,
                "rule_id": p.rule_id,
                "kind": p.kind,
                "reason": p.reason,
                "fatal": p.fatal,
            }
            for p in engine.problems
        ]
        click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        if not quiet:
            for p in engine.problems:
                click.echo(str(p))
        click.echo(
            f"{summary['files']} files, {summary['rules']} rules: {summary['compiled']} compiled "
            f"for streaming, {len(loaded.correlations)} correlations, {len(fatal)} invalid, "
            f"{len(warnings)} warnings"
        )
        for kind, n in by_kind.most_common():
            click.echo(f"  invalid [{kind}]: {n}")
    if fatal:
        sys.exit(1)


@rules.command("pipeline")
@click.option(
    "--shipped",
    is_flag=True,
    help="The file for the default settings (no placeholders), as shipped in the package.",
)
@click.pass_context
def pipeline(ctx: click.Context, shipped: bool) -> None:
    """Print socmon's field mapping as a pySigma pipeline file, for sigma-cli:
    `socmon rules pipeline > socmon.yml; sigma convert -t lucene -p socmon.yml RULES`.
    Placeholders (`%name%`) get the values of detection.placeholders."""
    from socmon.rules.pipeline_export import pipeline_yaml

    placeholders = None if shipped else settings_from(ctx).detection.placeholders
    click.echo(pipeline_yaml(placeholders), nl=False)


@click.command()
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Sigma rule file or directory (repeatable; default: detection.rule_paths and "
    "extra_rule_paths, i.e. the rules socmon ships).",
)
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    help="Input format (as `socmon parse --format`); auto detects it per file.",
)
@click.option(
    "--output",
    "out_fmt",
    type=click.Choice(["jsonl", "csv", "timeline"]),
    default="jsonl",
    show_default=True,
    help="Detections on stdout, in time order: JSON lines, CSV, or a timeline (one row each).",
)
@click.option("--json", "as_json", is_flag=True, help="Only the detections (no summary).")
@click.option("--no-events", is_flag=True, help="JSON lines: event ids instead of whole events.")
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="In directories, read only files whose name or relative path matches GLOB "
    "(repeatable; default: every file socmon can read, by extension or content).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes reading files in parallel, one file each at a time (default: every core).",
)
@click.option(
    "--no-cache", is_flag=True, help="Compile the rules, do not use the compiled rule cache."
)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def hunt(
    ctx: click.Context,
    rule_paths: tuple[Path, ...],
    fmt: str,
    out_fmt: str,
    as_json: bool,
    no_events: bool,
    include: tuple[str, ...],
    workers: int | None,
    no_cache: bool,
    inputs: tuple[Path, ...],
) -> None:
    """Run Sigma rules (correlations included) over INPUT... (log files, EVTX, JSON, pcaps,
    or directories, read recursively) on every core: one row per detection in time order
    (JSON lines, CSV or a timeline), then a summary by level and rule on stderr, and a
    progress bar there when it is a terminal. The compiled rules are cached
    (detection.rule_cache_dir). No Elasticsearch needed. Exits 2 when an input cannot be
    read."""
    import time

    from socmon.rules.cache import CacheStats, cache_for, engine_for_paths
    from socmon.rules.evaluate import attach_correlator
    from socmon.rules.hunt import default_workers
    from socmon.rules.hunt import hunt as run_hunt
    from socmon.rules.hunt_output import Writer, slim, summary_lines

    t0 = time.perf_counter()
    det = settings_from(ctx).detection
    if not rule_paths:
        rule_paths = (*det.rule_paths, *det.extra_rule_paths)
    stats = CacheStats()
    cache = None if no_cache else cache_for(det)
    engine = engine_for_paths(rule_paths, cache, det.placeholders, stats=stats)
    attach_correlator(engine)
    t_rules = time.perf_counter() - t0
    bad = [p for p in engine.problems if p.fatal]
    if bad and not as_json:
        click.echo(f"{len(bad)} rules not usable (see `socmon rules check`)", err=True)
    writer = Writer(sys.stdout.buffer, out_fmt, with_events=not no_events)
    bar: Any = None
    if sys.stderr.isatty():
        bar = click.progressbar(length=1, label="hunting", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

    result = run_hunt(
        rule_paths,
        inputs,
        fmt=fmt,
        on_detection=writer.write,
        engine=engine,
        include=include,
        workers=workers or default_workers(),
        progress=progress,
        keep=None if out_fmt == "jsonl" and not no_events else slim,
    )
    if bar is not None:
        bar.render_finish()
    sys.stdout.buffer.flush()
    for p in result.skipped:
        click.echo(f"skipped {p}", err=True)
    if not as_json:
        for line in summary_lines(result.detections):
            click.echo(line, err=True)
        n_rules = len({d.rule_id for d in result.detections})
        click.echo(
            f"{result.files} files, {result.events} events, {len(result.detections)} "
            f"detections from {n_rules} rules, {len(engine.rules)} rules loaded "
            f"(rule cache: {stats.outcome or 'off'}, {t_rules:.2f} s), {result.workers} "
            f"workers, {result.input_errors} input errors, {len(result.skipped)} files "
            f"skipped, {len(result.unreadable)} inputs unreadable, "
            f"{time.perf_counter() - t0:.1f} s",
            err=True,
        )
    for p in result.unreadable:
        click.echo(f"error: cannot read {p}", err=True)
    if result.unreadable:
        sys.exit(2)


def _add_pack_commands() -> None:
    from socmon.rules.pack_cli import coverage_cmd, import_cmd, update_cmd

    for cmd in (import_cmd, update_cmd, coverage_cmd):
        rules.add_command(cmd)


_add_pack_commands()
