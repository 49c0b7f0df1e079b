"""`socmon keys create|list|revoke` and `socmon serve`."""

from __future__ import annotations

import getpass
import json

import click

from socmon.cli import settings_from


def _client_names(ctx: click.Context):  # type: ignore[no-untyped-def]
    from socmon.es import make_client
    from socmon.indices import IndexNames

    s = settings_from(ctx)
    return make_client(s.es), IndexNames(s.es.index_prefix)


@click.group()
def keys() -> None:
    """API keys: create (shown once, stored only as a hash), list, revoke."""


@keys.command("create")
@click.option("--name", required=True, help="A name for the key (who or what uses it).")
@click.option(
    "--role",
    type=click.Choice(["viewer", "analyst", "admin"]),
    required=True,
    help="viewer: read alerts/reports/stats; analyst: triage, notes, exceptions; "
    "admin: rules, keys.",
)
@click.option(
    "--unit",
    "units",
    multiple=True,
    help="Organisation unit (organization.id, one of collectors.organization_units) the key is "
    "bound to; repeat. None, or '*' alone: the province.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the key and its record as JSON.")
@click.pass_context
def create(ctx: click.Context, name: str, role: str, units: tuple[str, ...], as_json: bool) -> None:
    """Create an API key and print it (it cannot be shown again)."""
    from socmon.api.keys import configured_units, create_key

    client, names = _client_names(ctx)
    try:
        key, rec = create_key(
            client,
            names,
            name,
            role,
            list(units) or None,
            f"cli:{getpass.getuser()}",
            known_units=configured_units(settings_from(ctx)),
        )
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--unit") from None
    if as_json:
        click.echo(json.dumps({"key": key, **rec.public()}))
    else:
        click.echo(key)
        click.echo(
            f"key id {rec.key_id}: role {rec.role}, units "
            f"{', '.join(rec.public()['units'])} (store the key now; it is shown once)",
            err=True,
        )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List keys (ids, names, roles, units, revoked); never the keys themselves."""
    from socmon.api.keys import list_keys

    client, names = _client_names(ctx)
    for rec in list_keys(client, names):
        d = rec.public()
        if as_json:
            click.echo(json.dumps(d))
        else:
            state = "revoked" if rec.revoked else "active"
            click.echo(
                f"{rec.key_id}  {state:7}  {rec.role:7}  {','.join(d['units']):20}  "
                f"{rec.name}  {rec.created}"
            )


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke a key by its id (takes effect within api.key_cache_seconds)."""
    from socmon.api.keys import revoke_key

    client, names = _client_names(ctx)
    if revoke_key(client, names, key_id, f"cli:{getpass.getuser()}") is None:
        raise click.ClickException(f"no key with id {key_id}")
    click.echo(f"revoked {key_id}")


@click.command()
@click.option("--bind", default=None, help="Address (default: api.bind).")
@click.option("--port", type=int, default=None, help="Port (default: api.port).")
@click.pass_context
def serve(ctx: click.Context, bind: str | None, port: int | None) -> None:
    """Serve the HTTP API alone (without collectors or detection) with uvicorn."""
    from socmon.api.server import make_server
    from socmon.indices import IndexNames, apply_templates

    s = settings_from(ctx)
    if bind:
        s.api.bind = bind
    from socmon.es import make_client

    apply_templates(make_client(s.es), IndexNames(s.es.index_prefix), s.es)
    make_server(s, port=port).run()
