"""``socmon rules import|update|coverage``: rule packs into the rule store, ATT&CK coverage."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import click
import orjson

from socmon.cli import settings_from

_FILTERS = (
    click.option("--status", multiple=True, help="Only rules of this Sigma status (repeatable)."),
    click.option("--level", multiple=True, help="Only rules of this level (repeatable)."),
    click.option("--product", multiple=True, help="Only this logsource product (repeatable)."),
    click.option("--category", multiple=True, help="Only this logsource category (repeatable)."),
    click.option(
        "--enable", "enable_new", is_flag=True, help="Enable new rules (default: disabled)."
    ),
    click.option(
        "--overwrite-local",
        is_flag=True,
        help="Replace rules created, edited or deleted in socmon (default: a conflict).",
    ),
    click.option("--json", "as_json", is_flag=True, help="The report as JSON."),
)


def _with_filters(f: Any) -> Any:
    for opt in reversed(_FILTERS):
        f = opt(f)
    return f


def _store(ctx: click.Context) -> tuple[Any, Any, Any]:
    from socmon.es import is_reachable, make_client
    from socmon.indices import IndexNames, templates_applied

    s = settings_from(ctx)
    client = make_client(s.es)
    if not is_reachable(client):
        raise click.ClickException(f"Elasticsearch at {s.es.effective_url} is not reachable")
    names = IndexNames(s.es.index_prefix)
    if not templates_applied(client, names):
        raise click.ClickException("socmon's index templates are missing: run `socmon setup`")
    return s, client, names


def _run_import(ctx: click.Context, path: Path, source: str, as_json: bool, **opts: Any) -> None:
    from socmon.rules.packs import PackError, PackFilter, import_pack

    s, client, names = _store(ctx)
    filt = PackFilter(
        tuple(opts["status"]), tuple(opts["level"]), tuple(opts["product"]), tuple(opts["category"])
    )
    try:
        report = import_pack(
            client,
            names,
            path,
            filt,
            source=source,
            enable_new=opts["enable_new"],
            overwrite=opts["overwrite_local"],
            placeholders=s.detection.placeholders,
        )
    except PackError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        _print_report(report)
    if report.errors:
        sys.exit(1)


def _print_report(report: Any) -> None:
    for s in report.skipped:
        click.echo(f"skipped {s.path}: {s.rule_id or '-'}: [{s.kind}] {s.reason}")
    for rid, why in report.conflicts:
        click.echo(f"conflict {rid}: {why}")
    for rid, why in report.errors:
        click.echo(f"error {rid}: {why}")
    sm = report.summary()
    click.echo(
        f"{sm['source']}: {sm['files']} files: {sm['imported']} imported, {sm['updated']} "
        f"updated, {sm['unchanged']} unchanged, {sm['filtered']} filtered, {sm['skipped']} "
        f"skipped, {sm['conflicts']} conflicts, {sm['errors']} errors"
    )
    for why, n in report.filtered.most_common():
        click.echo(f"  filtered [{why}]: {n}")
    click.echo(f"  {'product':<16} imported updated unchanged skipped conflicts errors")
    for prod, c in report.by_product().items():
        click.echo(
            f"  {prod:<16} {c.get('imported', 0):>8} {c.get('updated', 0):>7} "
            f"{c.get('unchanged', 0):>9} {c.get('skipped', 0):>7} {c.get('conflicts', 0):>9} "
            f"{c.get('errors', 0):>6}"
        )
    secs = ", ".join(f"{k} {v:.2f} s" for k, v in report.seconds.items())
    click.echo(f"  time: {secs}")


@click.command("import")
@_with_filters
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.pass_context
def import_cmd(ctx: click.Context, path: Path, as_json: bool, **opts: Any) -> None:
    """Import the Sigma rules of PATH (a SigmaHQ checkout, a release zip or a folder of
    rules) into the rule store: new rules get version 1, changed ones a new version (author
    "import"), unchanged ones nothing; every change audited. Deprecated and unsupported rules
    are left out unless selected with --status. Exit status 1 when a rule could not be
    written."""
    _run_import(ctx, path, str(path), as_json, **opts)


@click.command("update")
@_with_filters
@click.argument("url")
@click.pass_context
def update_cmd(ctx: click.Context, url: str, as_json: bool, **opts: Any) -> None:
    """Fetch a rule release zip from URL (HTTP or HTTPS, e.g. SigmaHQ's sigma_core or
    sigma_all_rules release asset) and import it as `socmon rules import` does."""
    from socmon.rules.packs import PackError, fetch

    with tempfile.TemporaryDirectory(prefix="socmon-pack-") as tmp:
        dest = Path(tmp) / "pack.zip"
        try:
            n = fetch(url, dest)
        except PackError as e:
            raise click.ClickException(str(e)) from None
        if not as_json:
            click.echo(f"fetched {n} bytes from {url}")
        _run_import(ctx, dest, url, as_json, **opts)


@click.command("coverage")
@click.option("--json", "as_json", is_flag=True, help="Per tactic and technique, as JSON.")
@click.option(
    "--layer",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write an ATT&CK Navigator layer (format 4.5) to this file ('-': stdout only).",
)
@click.option("--since", default=None, help="Count alerts from this time (e.g. now-30d).")
@click.pass_context
def coverage_cmd(ctx: click.Context, as_json: bool, layer: Path | None, since: str | None) -> None:
    """ATT&CK coverage of the rules `socmon run` detects with (the rule store's enabled rules
    and the rule files of detection.rule_paths): per tactic, the techniques covered, their
    rules and alerts (all units)."""
    from socmon.rules.coverage import alert_counts, coverage, enabled_rules, navigator_layer

    s, client, names = _store(ctx)
    det = s.detection

    def search(**kw: Any) -> dict[str, Any]:
        return dict(client.search(**kw).body)

    refs = enabled_rules(search, names, [*det.rule_paths, *det.extra_rule_paths])
    filters = [{"range": {"@timestamp": {"gte": since}}}] if since else []
    cov = coverage(refs, alert_counts(search, names, [r.rule_id for r in refs], filters))
    if layer is not None:
        text = orjson.dumps(navigator_layer(cov), option=orjson.OPT_INDENT_2).decode()
        if str(layer) == "-":
            click.echo(text)
            return
        layer.write_text(text + "\n", encoding="utf-8")
    if as_json:
        click.echo(orjson.dumps(cov.as_json(), option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"{'tactic':<24} {'techniques':>10} {'rules':>6} {'detections':>10}")
    for tac in cov.tactics:
        click.echo(
            f"{tac['name']:<24} {len(tac['techniques']):>10} {tac['rules']:>6} "
            f"{tac['detections']:>10}"
        )
    j = cov.as_json()
    click.echo(
        f"{j['rules']} enabled rules, {j['rules_with_attack']} with ATT&CK tags, "
        f"{j['techniques_covered']} techniques covered (ATT&CK {j['attack_version']}), "
        f"{len(j['unknown_techniques'])} technique tags ATT&CK does not know or has revoked"
    )
