"""`socmon users create|list|disable|enable|passwd`: console users (admins also in the console)."""

from __future__ import annotations

import getpass
import json
import sys

import click

from socmon.cli import settings_from


def _setup(ctx: click.Context):  # type: ignore[no-untyped-def]
    from socmon.es import make_client
    from socmon.indices import IndexNames

    s = settings_from(ctx)
    return make_client(s.es), IndexNames(s.es.index_prefix)


def _password_from_stdin() -> str:
    line = sys.stdin.readline()
    if not line:
        raise click.ClickException("no password on standard input")
    return line.rstrip("\r\n")


def _audit(client, names, action: str, name: str, after: object) -> None:  # type: ignore[no-untyped-def]
    from socmon.api.audit import record
    from socmon.api.auth import Principal
    from socmon.api.context import ApiContext

    actor = f"cli:{getpass.getuser()}"
    ctx = ApiContext(settings=None, client=client, names=names)  # type: ignore[arg-type]
    record(ctx, Principal(actor, "admin", None, actor), action, "user", name, None, after)


@click.group()
def users() -> None:
    """Console users: create, list, disable, enable, passwd (argon2id hashes in Elasticsearch)."""


@users.command("create")
@click.option("--name", required=True, help="Sign-in name (letters, digits, . _ @ -).")
@click.option(
    "--role",
    type=click.Choice(["viewer", "analyst", "admin"]),
    required=True,
    help="viewer: read; analyst: triage alerts; admin: rules, users, keys.",
)
@click.option(
    "--unit",
    "units",
    multiple=True,
    help="Organisation unit (organization.id) the user is bound to; repeat. None: the province.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help="Read the password (12 characters at least) from the first line of standard input.",
)
@click.pass_context
def create(
    ctx: click.Context, name: str, role: str, units: tuple[str, ...], password_stdin: bool
) -> None:
    """Create a console user."""
    from socmon.api.console.users import UserError, create_user
    from socmon.indices import apply_templates

    client, names = _setup(ctx)
    apply_templates(client, names, settings_from(ctx).es)
    try:
        user = create_user(client, names, name, role, list(units), _password_from_stdin(), "cli")
    except UserError as e:
        raise click.ClickException(str(e)) from None
    _audit(client, names, "user.create", user.name, user.public())
    click.echo(f"created {user.name}: role {user.role}, units {', '.join(user.public()['units'])}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List users (name, state, role, units, language, created)."""
    from socmon.api.console.users import list_users

    client, names = _setup(ctx)
    for u in list_users(client, names):
        d = u.public()
        if as_json:
            click.echo(json.dumps(d))
        else:
            state = "disabled" if u.disabled else "active"
            click.echo(
                f"{u.name:20}  {state:8}  {u.role:7}  {','.join(d['units']):20}  "
                f"{u.language or '-':3}  {u.created}"
            )


def _set_disabled(ctx: click.Context, name: str, disabled: bool) -> None:
    from socmon.api.console import sessions
    from socmon.api.console.users import UserError, set_disabled

    client, names = _setup(ctx)
    try:
        set_disabled(client, names, name, disabled, f"cli:{getpass.getuser()}")
    except UserError as e:
        raise click.ClickException(str(e)) from None
    ended = sessions.delete_for_user(client, names, name) if disabled else 0
    _audit(client, names, "user.disable" if disabled else "user.enable", name, None)
    word = "disabled" if disabled else "enabled"
    click.echo(f"{word} {name}" + (f" ({ended} session(s) ended)" if disabled else ""))


@users.command("disable")
@click.argument("name")
@click.pass_context
def disable(ctx: click.Context, name: str) -> None:
    """Disable a user and end its sessions at once."""
    _set_disabled(ctx, name, True)


@users.command("enable")
@click.argument("name")
@click.pass_context
def enable(ctx: click.Context, name: str) -> None:
    """Enable a disabled user."""
    _set_disabled(ctx, name, False)


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, required=True, help="Read it from stdin.")
@click.pass_context
def passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password (its sessions end)."""
    from socmon.api.console import sessions
    from socmon.api.console.users import UserError, set_password

    client, names = _setup(ctx)
    try:
        set_password(client, names, name, _password_from_stdin(), f"cli:{getpass.getuser()}")
    except UserError as e:
        raise click.ClickException(str(e)) from None
    sessions.delete_for_user(client, names, name)
    _audit(client, names, "user.password", name, None)
    click.echo(f"password of {name} changed; its sessions ended")
