"""The ``socmon`` command line. Every command has ``--help``.

Commands of later layers are loaded lazily from their packages (see ``LAZY_COMMANDS``), so
``socmon es up`` does not import scapy or pySigma, and the plumbing layer does not import the
layers above it at module level.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from socmon.logs import configure_logging
from socmon.settings import Settings, SettingsError, load_settings

# command name -> "module:attribute" of a click.Command
LAZY_COMMANDS: dict[str, str] = {
    "es": "socmon.cli_es:es",
    "setup": "socmon.cli_es:setup",
    "retention": "socmon.cli_es:retention",
    "run": "socmon.runner:run",
    "config": "socmon.cli_es:config",
    "collect": "socmon.collectors.cli:collect",
    "capture": "socmon.collectors.network.cli:capture",
    "parse": "socmon.collectors.cli:parse",
    "rules": "socmon.rules.cli:rules",
    "hunt": "socmon.rules.cli:hunt",
    "alerts": "socmon.alerting.cli:alerts",
    "keys": "socmon.api.cli:keys",
    "users": "socmon.api.console.cli:users",
    "serve": "socmon.api.cli:serve",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, attr = LAZY_COMMANDS[cmd_name].split(":")
            # a missing dependency raises ModuleNotFoundError: main() says so and exits 3
            module = importlib.import_module(module_name)
            cmd: click.Command = getattr(module, attr)
            return cmd
        return super().get_command(ctx, cmd_name)


class AppContext:
    """Settings loaded once per invocation, shared by subcommands."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except SettingsError as e:
                raise click.ClickException(str(e)) from None
            configure_logging(self._settings.log.level, self._settings.log.format)
        return self._settings


def settings_from(ctx: click.Context) -> Settings:
    app = ctx.find_object(AppContext)
    if app is None:
        app = AppContext(None)
    return app.settings


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    envvar="SOCMON_CONFIG",
    help="YAML settings file (also SOCMON_CONFIG). Environment variables SOCMON_* override it.",
)
@click.version_option(package_name="socmon")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """socmon: collect logs and traffic, store them in Elasticsearch, detect incidents with
    Sigma rules, alert and report."""
    ctx.obj = AppContext(config)


MISSING_DEPENDENCY_EXIT = 3


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="socmon")
    except ModuleNotFoundError as e:
        # a package socmon depends on is not installed: an install error, said in one line
        # rather than a traceback, and never a feature quietly turned off
        click.echo(
            f"socmon: a required package is missing: {e.name or e}. Install socmon with its "
            "dependencies (deploy/bootstrap.sh in a checkout, or pip install of the package).",
            err=True,
        )
        sys.exit(MISSING_DEPENDENCY_EXIT)
