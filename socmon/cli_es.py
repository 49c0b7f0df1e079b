"""`socmon es`, `socmon setup`, `socmon retention`, `socmon config`: Elasticsearch plumbing."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import orjson

from socmon.cli import settings_from
from socmon.es import is_reachable, make_client
from socmon.indices import IndexNames, apply_templates, delete_expired_event_indices
from socmon.settings import PACKAGE_DIR, Settings

# shipped in the package (a checkout's deploy/es.sh links to it)
ES_SCRIPT = PACKAGE_DIR / "deploy" / "es.sh"


def run_es_script(settings: Settings, action: str) -> int:
    """Run es.sh with the local-node settings passed as environment variables."""
    env = dict(os.environ)
    env["SOCMON_ES_LOCAL_PORT"] = str(settings.es.local_port)
    env["SOCMON_ES_LOCAL_HEAP"] = settings.es.local_heap
    env["SOCMON_ES_LOCAL_NODES"] = str(settings.es.local_nodes)
    env["SOCMON_VAR_DIR"] = str(settings.var_dir)
    if settings.es.local_java_home is not None:
        env["SOCMON_ES_LOCAL_JAVA_HOME"] = str(settings.es.local_java_home)
    return subprocess.call(["bash", str(ES_SCRIPT), action], env=env)


def ensure_elasticsearch(settings: Settings) -> None:
    """Provision the local node when no cluster is configured; check the cluster otherwise."""
    if settings.es.provisioned:
        if run_es_script(settings, "up") != 0:
            raise click.ClickException("the local Elasticsearch node could not be started")
    else:
        client = make_client(settings.es)
        if not is_reachable(client):
            raise click.ClickException(f"Elasticsearch at {settings.es.url} is not reachable")


@click.group()
def es() -> None:
    """Manage the local Elasticsearch node (used when SOCMON_ES_URL is not set)."""


def _local_only(settings: Settings, action: str) -> None:
    if not settings.es.provisioned:
        click.echo(
            f"SOCMON_ES_URL is set ({settings.es.url}): socmon does not manage that cluster; "
            f"nothing to {action}.",
            err=True,
        )
        sys.exit(0 if action == "stop" else 1)


@es.command()
@click.option(
    "--nodes",
    type=click.IntRange(1, 9),
    default=None,
    help="Nodes of the local cluster (default: es.local_nodes, 1): HTTP ports "
    "es.local_port.., transport ports +100, data and logs per node under var/es/.",
)
@click.pass_context
def up(ctx: click.Context, nodes: int | None) -> None:
    """Download (cached), start and wait for a local Elasticsearch (one node, or a cluster of
    --nodes) on 127.0.0.1. Idempotent: does nothing when it already runs."""
    s = settings_from(ctx)
    if nodes is not None:
        s = s.model_copy(update={"es": s.es.model_copy(update={"local_nodes": nodes})})
    _local_only(s, "start")
    sys.exit(run_es_script(s, "up"))


@es.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the local node cleanly (its data is kept)."""
    s = settings_from(ctx)
    _local_only(s, "stop")
    sys.exit(run_es_script(s, "down"))


@es.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Say whether Elasticsearch runs and is healthy (exit 0 only when healthy)."""
    s = settings_from(ctx)
    if s.es.provisioned:
        sys.exit(run_es_script(s, "status"))
    client = make_client(s.es)
    if is_reachable(client):
        h = client.cluster.health()
        click.echo(f"reachable url={s.es.url} health={h['status']}")
        sys.exit(0 if h["status"] in ("green", "yellow") else 1)
    click.echo(f"unreachable url={s.es.url}")
    sys.exit(3)


@es.command()
@click.confirmation_option(prompt="Delete the local node's data?")
@click.pass_context
def purge(ctx: click.Context) -> None:
    """Stop the local node and delete its data."""
    s = settings_from(ctx)
    _local_only(s, "purge")
    sys.exit(run_es_script(s, "purge"))


@click.command()
@click.pass_context
def setup(ctx: click.Context) -> None:
    """Apply socmon's index templates and create its indices (idempotent)."""
    s = settings_from(ctx)
    client = make_client(s.es)
    if not is_reachable(client):
        raise click.ClickException(
            f"Elasticsearch at {s.es.effective_url} is not reachable"
            + (" (start it with `socmon es up`)" if s.es.provisioned else "")
        )
    written = apply_templates(client, IndexNames(s.es.index_prefix), s.es, redecide=True)
    click.echo(f"applied {len(written)} index templates: {', '.join(written)}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.pass_context
def retention(ctx: click.Context, dry_run: bool) -> None:
    """Delete daily event indices older than storage.retention_days."""
    s = settings_from(ctx)
    client = make_client(s.es)
    names = IndexNames(s.es.index_prefix)
    if dry_run:
        import datetime as dt

        cutoff = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=s.storage.retention_days)
        click.echo(f"would delete {names.events_pattern} indices dated before {cutoff}")
        return
    deleted = delete_expired_event_indices(client, names, s.storage.retention_days)
    click.echo(f"deleted {len(deleted)} indices" + (": " + ", ".join(deleted) if deleted else ""))


@click.command()
@click.option("--docs", is_flag=True, help="Print the settings reference (docs/configuration.md).")
@click.pass_context
def config(ctx: click.Context, docs: bool) -> None:
    """Validate the settings and print them as JSON (secrets masked)."""
    if docs:
        from socmon.settings.docs import render

        click.echo(render(), nl=False)
        return
    s = settings_from(ctx)
    click.echo(orjson.dumps(s.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())
