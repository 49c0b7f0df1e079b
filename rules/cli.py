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
@click.option("--json", "as_json", is_flag=True, help="Only JSON lines (no summary table).")
@click.option("--no-events", is_flag=True, help="Print event ids instead of whole events.")
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="In directories, read only files whose name or relative path matches GLOB "
    "(repeatable; default: every file socmon can read, by extension or content).",
)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def hunt(
    ctx: click.Context,
    rule_paths: tuple[Path, ...],
    fmt: str,
    as_json: bool,
    no_events: bool,
    include: tuple[str, ...],
    inputs: tuple[Path, ...],
) -> None:
    """Run Sigma rules (correlations included) over INPUT... (log files, EVTX, JSON, pcaps,
    or directories, read recursively): one JSON line per detection, then a summary table. No
    Elasticsearch needed. Exits 2 when an input cannot be read."""
    from socmon.rules.engine import StreamingEngine
    from socmon.rules.evaluate import attach_correlator
    from socmon.rules.hunt import detection_json
    from socmon.rules.hunt import hunt as run_hunt
    from socmon.rules.loader import load_rules

    if not rule_paths:
        det = settings_from(ctx).detection
        rule_paths = (*det.rule_paths, *det.extra_rule_paths)
    loaded = load_rules(rule_paths)
    engine = StreamingEngine.from_rules(loaded)
    attach_correlator(engine)
    bad = [p for p in engine.problems if p.fatal]
    if bad and not as_json:
        click.echo(f"{len(bad)} rules not usable (see `socmon rules check`)", err=True)
    out = sys.stdout.buffer

    def emit(d: object) -> None:
        from socmon.rules.detection import Detection

        assert isinstance(d, Detection)
        out.write(orjson.dumps(detection_json(d, not no_events), default=str) + b"\n")

    result = run_hunt(
        rule_paths, inputs, fmt=fmt, on_detection=emit, engine=engine, include=include
    )
    out.flush()
    for p in result.skipped:
        click.echo(f"skipped {p}", err=True)
    if not as_json:
        _summary(result, len(engine.rules))
    for p in result.unreadable:
        click.echo(f"error: cannot read {p}", err=True)
    if result.unreadable:
        sys.exit(2)


def _summary(result: Any, rules: int) -> None:
    counts = Counter((d.rule_id, d.rule_title, d.level) for d in result.detections)
    click.echo("", err=True)
    click.echo(f"{'count':>7}  {'level':<13} {'rule':<40} title", err=True)
    for (rid, title, level), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        click.echo(f"{n:>7}  {level:<13} {rid[:40]:<40} {title}", err=True)
    click.echo(
        f"{result.files} files, {result.events} events, {len(result.detections)} detections "
        f"from {len(counts)} rules, {rules} rules loaded, {result.input_errors} input errors, "
        f"{len(result.skipped)} files skipped, {len(result.unreadable)} inputs unreadable",
        err=True,
    )


def _add_pack_commands() -> None:
    from socmon.rules.pack_cli import coverage_cmd, import_cmd, update_cmd

    for cmd in (import_cmd, update_cmd, coverage_cmd):
        rules.add_command(cmd)


_add_pack_commands()
