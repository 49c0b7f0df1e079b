"""`socmon alerts`: list and work alerts, manage exceptions, test notification channels."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from socmon.cli import settings_from


def _env(ctx: click.Context) -> tuple[Any, Any, Any]:
    from socmon.es import make_client
    from socmon.indices import IndexNames

    settings = settings_from(ctx)
    return settings, make_client(settings.es), IndexNames(settings.es.index_prefix)


def _out(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _fail(e: Exception) -> None:
    raise click.ClickException(f"{type(e).__name__}: {e}") from None


@click.group()
def alerts() -> None:
    """Alerts: list, show, acknowledge, resolve; exceptions; notification tests."""


@alerts.command("list")
@click.option("--status", multiple=True, help="Only these statuses (repeatable).")
@click.option("--severity", multiple=True, help="Only these severities (repeatable).")
@click.option("--unit", help="Only this organization.id.")
@click.option("--rule", help="Only this rule id.")
@click.option("--limit", default=50, show_default=True, help="How many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
def list_cmd(
    ctx: click.Context,
    status: tuple[str, ...],
    severity: tuple[str, ...],
    unit: str | None,
    rule: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List alerts, newest last_seen first."""
    _settings, client, names = _env(ctx)
    filters: list[dict[str, Any]] = []
    if status:
        filters.append({"terms": {"status": list(status)}})
    if severity:
        filters.append({"terms": {"severity": list(severity)}})
    if unit:
        filters.append({"term": {"organization.id": unit}})
    if rule:
        filters.append({"term": {"rule.id": rule}})
    resp = client.search(
        index=names.alerts,
        query={"bool": {"filter": filters}},
        size=limit,
        sort=[{"last_seen": {"order": "desc", "unmapped_type": "date"}}],
        source_excludes=["events", "history", "event_refs", "notes"],
    )
    rows = [dict(h["_source"], id=h["_id"]) for h in resp["hits"]["hits"]]
    if as_json:
        _out(rows)
        return
    for a in rows:
        click.echo(
            f"{a['id']}  {a.get('status', '-'):<14} {a.get('severity', '-'):<13} "
            f"{(a.get('organization') or {}).get('id', '-'):<12} "
            f"n={a.get('event_count', 0):<7} {a.get('last_seen', '-')}  "
            f"{(a.get('rule') or {}).get('name', '-')}  [{a.get('group_key', '')}]"
        )


@alerts.command()
@click.argument("alert_id")
@click.pass_context
def show(ctx: click.Context, alert_id: str) -> None:
    """Show one alert (JSON)."""
    from socmon.alerting import lifecycle

    _settings, client, names = _env(ctx)
    try:
        _out(lifecycle.get_alert(client, names, alert_id))
    except Exception as e:
        _fail(e)


def _status(ctx: click.Context, alert_id: str, to: str, actor: str, note: str | None) -> None:
    from socmon.alerting import lifecycle

    _settings, client, names = _env(ctx)
    try:
        before, after = lifecycle.change_status(client, names, alert_id, to, actor, note)
    except Exception as e:
        _fail(e)
        return
    click.echo(f"{alert_id}: {before.get('status')} -> {after.get('status')}")


_by = click.option("--by", "actor", required=True, help="Who makes the change (history).")
_note = click.option("--note", help="A note recorded with the change.")


@alerts.command()
@click.argument("alert_id")
@_by
@_note
@click.pass_context
def ack(ctx: click.Context, alert_id: str, actor: str, note: str | None) -> None:
    """Acknowledge an alert."""
    _status(ctx, alert_id, "acknowledged", actor, note)


@alerts.command()
@click.argument("alert_id")
@_by
@_note
@click.option("--false-positive", is_flag=True, help="Close as false positive instead.")
@click.pass_context
def resolve(
    ctx: click.Context, alert_id: str, actor: str, note: str | None, false_positive: bool
) -> None:
    """Resolve an alert (or close it as a false positive)."""
    _status(ctx, alert_id, "false_positive" if false_positive else "resolved", actor, note)


@alerts.command("status")
@click.argument("alert_id")
@click.argument(
    "to",
    type=click.Choice(["open", "acknowledged", "in_progress", "resolved", "false_positive"]),
)
@_by
@_note
@click.pass_context
def status_cmd(ctx: click.Context, alert_id: str, to: str, actor: str, note: str | None) -> None:
    """Move an alert to any allowed status (open reopens a closed alert)."""
    _status(ctx, alert_id, to, actor, note)


@alerts.command()
@click.argument("alert_id")
@click.argument("assignee")
@_by
@click.pass_context
def assign(ctx: click.Context, alert_id: str, assignee: str, actor: str) -> None:
    """Assign an alert to someone ('-' clears)."""
    from socmon.alerting import lifecycle

    _settings, client, names = _env(ctx)
    try:
        lifecycle.assign(client, names, alert_id, None if assignee == "-" else assignee, actor)
    except Exception as e:
        _fail(e)
    click.echo(f"{alert_id}: assigned to {assignee}")


@alerts.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Run the silent-source and SLA checks once and print what they raised."""
    from socmon.alerting.operational import OperationalChecks

    settings, client, names = _env(ctx)
    checks = OperationalChecks(client, names, settings.alerting)
    _out({"silent_sources": checks.check_silent_sources(), "sla_escalated": checks.check_sla()})


# ---------------------------------------------------------------------- exceptions


@alerts.group()
def exceptions() -> None:
    """Exceptions: suppress known-benign detections (preview before saving)."""


def _load_spec(source: str) -> dict[str, Any]:
    """An exception from a JSON/YAML file, '-' (stdin) or an inline JSON object."""
    if source == "-":
        text = sys.stdin.read()
    elif source.lstrip().startswith("{"):
        text = source
    else:
        text = Path(source).read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise click.ClickException("an exception must be a mapping (JSON or YAML object)")
    return data


@exceptions.command("list")
@click.option("--active", is_flag=True, help="Only enabled, unexpired exceptions.")
@click.pass_context
def exc_list(ctx: click.Context, active: bool) -> None:
    """List exceptions (JSON)."""
    from socmon.alerting import exceptions as exc

    _settings, client, names = _env(ctx)
    _out(exc.list_exceptions(client, names, include_expired=not active))


@exceptions.command("preview")
@click.argument("spec")
@click.pass_context
def exc_preview(ctx: click.Context, spec: str) -> None:
    """How many past alerts SPEC (file, '-' or inline JSON) would have suppressed."""
    from socmon.alerting import exceptions as exc

    _settings, client, names = _env(ctx)
    try:
        _out(exc.preview_details(client, names, _load_spec(spec)))
    except Exception as e:
        _fail(e)


@exceptions.command("add")
@click.argument("spec")
@click.option("--by", "actor", required=True, help="Who creates it.")
@click.option("--yes", is_flag=True, help="Save without showing the preview first.")
@click.pass_context
def exc_add(ctx: click.Context, spec: str, actor: str, yes: bool) -> None:
    """Save an exception (shows its preview and asks first unless --yes)."""
    from socmon.alerting import exceptions as exc

    _settings, client, names = _env(ctx)
    data = _load_spec(spec)
    try:
        if not yes:
            p = exc.preview_details(client, names, data)
            click.echo(
                f"would have suppressed {p['alerts']} past alerts "
                f"({p['events']} events) of {p['examined']} examined"
            )
            click.confirm("save it?", abort=True)
        _out(exc.create(client, names, data, actor))
    except click.Abort:
        raise
    except Exception as e:
        _fail(e)


@exceptions.command("delete")
@click.argument("exception_id")
@click.pass_context
def exc_delete(ctx: click.Context, exception_id: str) -> None:
    """Delete an exception."""
    from socmon.alerting import exceptions as exc

    _settings, client, names = _env(ctx)
    try:
        exc.delete(client, names, exception_id)
    except Exception as e:
        _fail(e)
    click.echo(f"deleted {exception_id}")


# ---------------------------------------------------------------------- notifications


@alerts.command("notify-test")
@click.option("--channel", "channel_names", multiple=True, help="Channel(s) (default: all).")
@click.option("--lang", type=click.Choice(["vi", "en"]), help="Language (default: settings).")
@click.pass_context
def notify_test(ctx: click.Context, channel_names: tuple[str, ...], lang: str | None) -> None:
    """Send a test message through each configured channel, once, and report the result."""
    from socmon.alerting import model
    from socmon.alerting.notify import channels
    from socmon.alerting.notify.message import Notification
    from socmon.alerting.notify.templates import Renderer

    settings = settings_from(ctx).alerting
    chosen = list(channel_names) or list(settings.channels)
    if not chosen:
        raise click.ClickException("no channels configured (alerting.channels)")
    renderer = Renderer(settings.base_url, settings.alert_path, settings.timezone)
    now = model.iso(model.utcnow())
    alert = {
        "id": "test",
        "kind": "detection",
        "rule": {"id": "socmon-notify-test", "name": "socmon notification test"},
        "severity": "informational",
        "risk_score": 0,
        "organization": {"id": "-"},
        "first_seen": now,
        "last_seen": now,
        "event_count": 0,
        "status": "open",
    }
    msg = renderer.render(Notification("new", alert, now), lang or settings.language)
    failed = 0
    for name in chosen:
        cfg = settings.channels.get(name)
        if cfg is None:
            click.echo(f"{name}: not configured", err=True)
            failed += 1
            continue
        try:
            channels.send(cfg, msg, f"test-{name}-{now}")
        except Exception as e:
            click.echo(f"{name} ({cfg.type}): FAILED: {e}", err=True)
            failed += 1
        else:
            click.echo(f"{name} ({cfg.type}): sent")
    if failed:
        raise click.ClickException(f"{failed} channel(s) failed")
