"""The fault suite: `python -m tests.faults` (or `make faults`) runs each scenario against
`socmon run` as a real process and prints one table row per scenario, then one JSON line.

It uses its own Elasticsearch node (``--es-port``, default ``$SOCMON_TEST_FAULTS_ES_PORT``
or 9254) because scenarios stop and pause it. ``--quick`` uses the test suite's short
durations; the default durations are the documented run (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import click

from tests.faults.harness import Node, Row, table
from tests.faults.scenarios import SCENARIOS, Context, Durations


@click.command(help=__doc__)
@click.option(
    "--es-port",
    default=int(os.environ.get("SOCMON_TEST_FAULTS_ES_PORT", "9254")),
    show_default=True,
    help="Port of the node it runs.",
)
@click.option("--quick", is_flag=True, help="Short faults (the test suite's durations).")
@click.option(
    "--scenario",
    "names",
    multiple=True,
    type=click.Choice(list(SCENARIOS)),
    help="Run only these (repeatable; default: all).",
)
@click.option("--es-down", type=float, help="Seconds Elasticsearch stays stopped.")
@click.option("--receiver-down", type=float, help="Seconds the receiver stays down.")
@click.option("--rate", type=float, help="Normal load, lines/s.")
@click.option("--seed", default=12, show_default=True, help="Seed of the kill moments.")
@click.option("--keep-es", is_flag=True, help="Leave the node running at the end.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep each scenario's files (logs, spool, socmon's logs) here instead of a temporary "
    "directory.",
)
def main(
    es_port: int,
    quick: bool,
    names: tuple[str, ...],
    es_down: float | None,
    receiver_down: float | None,
    rate: float | None,
    seed: int,
    keep_es: bool,
    workdir: Path | None,
) -> None:
    d = Durations.quick() if quick else Durations.full()
    if es_down is not None:
        d.es_down = es_down
    if receiver_down is not None:
        d.receiver_down = receiver_down
    if rate is not None:
        d.rate = rate
    node = Node(es_port)
    rows: list[Row] = []
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="faults-")))
        ctx = Context(node, tmp, d, seed)
        try:
            for name in names or tuple(SCENARIOS):
                click.echo(f"== {name}", err=True)
                rows.append(SCENARIOS[name](ctx))
                click.echo(table(rows[-1:]).splitlines()[-1], err=True)
        finally:
            if not keep_es:
                node.down()
    click.echo(table(rows))
    summary = {
        "bench": "faults",
        "quick": quick,
        "durations": dataclasses.asdict(d),
        "seconds": round(time.monotonic() - t0),
        "clean": [r.scenario for r in rows if r.clean()],
        "rows": [
            {k: v for k, v in dataclasses.asdict(r).items() if k != "missing_seqs"} for r in rows
        ],
    }
    click.echo(json.dumps(summary))
    sys.exit(0)


if __name__ == "__main__":
    main()
