"""The fault scenarios: each runs `socmon run` under load, injects one fault, waits until
everything that can arrive has arrived, and returns one row of counts."""

from __future__ import annotations

import contextlib
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.faults.harness import (
    SEQ,
    Generator,
    Node,
    Receiver,
    Row,
    Socmon,
    Workdir,
    settle,
)


@dataclass
class Durations:
    """Seconds (and counts) of each fault; ``full()`` is the documented run, ``quick()`` the
    test suite's."""

    rate: float = 200.0  # normal load, lines/s
    warm: float = 8.0  # load before and after a fault
    es_down: float = 180.0
    es_pause: float = 120.0
    kills: int = 10
    kill_gap: float = 6.0  # kills come at random moments 1..kill_gap s after the restart
    receiver_down: float = 600.0
    flood: float = 60.0
    flood_factor: float = 10.0
    spool_limit: int = 256 * 1024
    tmpfs_size: str = "1m"  # mount -o size=

    @classmethod
    def full(cls) -> Durations:
        return cls()

    @classmethod
    def suite(cls) -> Durations:
        """The test suite's: the same faults, shorter (the suite must stay within its time)."""
        return cls(
            warm=3.0,
            es_down=20.0,
            es_pause=10.0,
            kills=4,
            kill_gap=3.0,
            receiver_down=15.0,
            flood=8.0,
        )

    @classmethod
    def quick(cls) -> Durations:
        return cls(
            warm=4.0,
            es_down=30.0,
            es_pause=20.0,
            kills=10,
            kill_gap=3.0,
            receiver_down=30.0,
            flood=15.0,
        )


@dataclass
class Context:
    node: Node
    tmp: Path
    d: Durations
    seed: int = 12


class Session:
    """One scenario's world: fresh indices, log dir, spool and receiver; socmon started."""

    def __init__(self, ctx: Context, name: str, **storage: Any) -> None:
        self.ctx = ctx
        self.name = name
        self.wd = Workdir(ctx.tmp / name)
        self.wd.root.mkdir(parents=True, exist_ok=True)
        self.rx = Receiver()
        self.rx.up()
        self.socmon = Socmon(self.wd, ctx.node, self.rx, **storage)
        self.gen = Generator(self.wd, ctx.d.rate)
        self.t0 = time.monotonic()

    def settle(self, detail: str = "", lost: frozenset[int] = frozenset()) -> Row:
        timeout = 180.0  # without progress
        row = settle(self.name, self.gen, self.ctx.node, self.wd, self.rx, timeout, lost)
        row.seconds = time.monotonic() - self.t0
        row.detail = detail
        return row

    def close(self) -> None:
        self.socmon.close()
        self.rx.down()
        with contextlib.suppress(Exception):
            self.ctx.node.client.indices.delete(
                index=f"{self.wd.prefix}-*", ignore_unavailable=True, allow_no_indices=True
            )


@contextlib.contextmanager
def session(ctx: Context, name: str, **storage: Any) -> Iterator[Session]:
    ctx.node.up()
    s = Session(ctx, name, **storage)
    try:
        s.socmon.start()
        yield s
    finally:
        s.close()


def _outage(ctx: Context, seconds: float) -> float:
    """Stop the node for ``seconds``; returns how long it did not answer."""
    t = time.monotonic()
    ctx.node.down()
    time.sleep(seconds)
    ctx.node.up()
    return time.monotonic() - t


def es_stopped(ctx: Context) -> Row:
    d = ctx.d
    with session(ctx, "es-stopped") as s:
        s.gen.start()
        time.sleep(d.warm)
        down = _outage(ctx, d.es_down)
        time.sleep(d.warm)
        s.gen.stop()
        return s.settle(f"Elasticsearch stopped {d.es_down:.0f} s (unreachable {down:.0f} s)")


def es_paused(ctx: Context) -> Row:
    d = ctx.d
    with session(ctx, "es-paused") as s:
        s.gen.start()
        time.sleep(d.warm)
        ctx.node.pause()
        try:
            time.sleep(d.es_pause)
        finally:
            ctx.node.resume()
        time.sleep(d.warm)
        s.gen.stop()
        return s.settle(f"SIGSTOP {d.es_pause:.0f} s, then SIGCONT")


def kill9(ctx: Context) -> Row:
    d = ctx.d
    rnd = random.Random(ctx.seed)
    with session(ctx, "kill-9") as s:
        s.gen.start()
        time.sleep(d.warm)
        for _ in range(d.kills):
            time.sleep(rnd.uniform(1.0, d.kill_gap))
            s.socmon.kill9()
            s.socmon.start()
        time.sleep(d.warm)
        s.gen.stop()
        return s.settle(f"{d.kills} kills -9 at random moments (seed {ctx.seed}), each restarted")


def _spool_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*") if p.is_file())


def spool_limit(ctx: Context) -> Row:
    d = ctx.d
    limit = d.spool_limit
    with session(ctx, "spool-full-limit", spool_max_bytes=limit, spool_full_policy="block") as s:
        s.gen.start()
        time.sleep(d.warm)
        ctx.node.down()
        peak = 0
        t = time.monotonic()
        while time.monotonic() - t < d.es_down:
            peak = max(peak, _spool_bytes(s.wd.spool))
            time.sleep(0.5)
        ctx.node.up()
        time.sleep(d.warm)
        s.gen.stop()
        blocked = "spool full: blocking" in s.socmon.logs()
        return s.settle(
            f"limit {limit // 1024} KiB, Elasticsearch down {d.es_down:.0f} s; "
            f"peak spool {peak // 1024} KiB; blocked: {'yes' if blocked else 'no'}"
        )


def spool_tmpfs(ctx: Context) -> Row:
    """The spool on a tiny filesystem: writes fail with ENOSPC long before the size limit."""
    d = ctx.d
    with session(ctx, "spool-full-disk", spool_full_policy="block") as s:
        s.socmon.stop()
        shutil.rmtree(s.wd.spool, ignore_errors=True)
        s.wd.spool.mkdir()
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={d.tmpfs_size}", "tmpfs", str(s.wd.spool)],
            capture_output=True,
            text=True,
        )
        if mount.returncode != 0:
            return Row("spool-full-disk", detail=f"skipped: cannot mount tmpfs ({mount.stderr})")
        try:
            s.socmon.start()
            s.gen.start()
            time.sleep(d.warm)
            ctx.node.down()
            time.sleep(d.es_down)
            ctx.node.up()
            time.sleep(d.warm)
            s.gen.stop()
            full = "No space left" in s.socmon.logs() or "ENOSPC" in s.socmon.logs()
            return s.settle(
                f"{d.tmpfs_size} tmpfs spool, Elasticsearch down {d.es_down:.0f} s; "
                f"disk full reported: {'yes' if full else 'no'}"
            )
        finally:
            s.socmon.stop()
            subprocess.run(["umount", "-l", str(s.wd.spool)], check=False)


def corrupt_checkpoint(ctx: Context) -> Row:
    d = ctx.d
    with session(ctx, "corrupt-checkpoint") as s:
        s.gen.start()
        time.sleep(d.warm)
        s.socmon.kill9()
        files = sorted(s.wd.checkpoints.glob("*.json"))
        for f in files:
            data = bytearray(f.read_bytes())
            mid = len(data) // 2
            data[mid : mid + 8] = b"\x00#garb\xff!"
            f.write_bytes(bytes(data))
        s.socmon.start()
        time.sleep(d.warm)
        s.gen.stop()
        reported = "checkpoint file unreadable" in s.socmon.logs()
        return s.settle(
            f"{len(files)} checkpoint file(s) overwritten mid-file after a kill -9; "
            f"reported: {'yes' if reported else 'no'}"
        )


def truncated_segment(ctx: Context) -> Row:
    """Elasticsearch down, batches spooled, socmon killed, one spool segment cut in the
    middle of a document: that segment's tail is lost (the checkpoint passed it when it was
    spooled), and must be reported; nothing else may be lost."""
    d = ctx.d
    with session(ctx, "truncated-segment") as s:
        s.gen.start()
        time.sleep(d.warm)
        ctx.node.down()
        time.sleep(d.warm * 2)
        s.gen.stop()
        # wait until everything sent is durable somewhere (the spool holds the rest)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not s.socmon.logs().count("spooling"):
            time.sleep(0.5)
        time.sleep(d.warm)
        s.socmon.kill9()
        segs = sorted(s.wd.spool.glob("*.ndjson"))
        if len(segs) < 2:
            ctx.node.up()
            return Row("truncated-segment", detail=f"not run: only {len(segs)} spool segment(s)")
        victim = segs[len(segs) // 2]
        body = victim.read_bytes()
        lines = body.splitlines(keepends=True)
        # cut inside the source line of the middle document
        k = (len(lines) // 4) * 2 + 1
        cut = sum(len(x) for x in lines[:k]) + len(lines[k]) // 2
        lost = [int(m.group(1)) for x in lines[k::2] if (m := SEQ.search(x))]
        victim.write_bytes(body[:cut])
        ctx.node.up()
        s.socmon.start()
        row = s.settle(lost=frozenset(lost))
        logs = s.socmon.logs()
        reported = victim.name in logs and "damaged" in logs
        row.detail = (
            f"segment {victim.name} cut at byte {cut} of {len(body)}: {len(lost)} events in "
            f"its tail lost; reported: {'yes' if reported else 'no'}; missing == cut tail: "
            f"{'yes' if row.missing_seqs == sorted(lost)[:20] else 'no'}"
        )
        return row


def receiver_down(ctx: Context) -> Row:
    d = ctx.d
    with session(ctx, "receiver-down") as s:
        s.rx.down()
        s.gen.run_for(d.receiver_down)
        s.rx.up()
        return s.settle(f"receiver down {d.receiver_down:.0f} s under load")


def flood(ctx: Context) -> Row:
    d = ctx.d
    with session(ctx, "flood-10x") as s:
        s.gen.start()
        time.sleep(d.warm * 2)
        normal_peak = s.socmon.peak_rss
        s.gen.stop()
        s.gen.rate = d.rate * d.flood_factor
        s.gen.run_for(d.flood)
        row = s.settle()
        row.detail = (
            f"{d.rate * d.flood_factor:.0f} lines/s for {d.flood:.0f} s; peak RSS "
            f"{normal_peak / 2**20:.0f} MiB at {d.rate:.0f}/s, "
            f"{s.socmon.peak_rss / 2**20:.0f} MiB over the flood"
        )
        return row


SCENARIOS: dict[str, Callable[[Context], Row]] = {
    "es-stopped": es_stopped,
    "es-paused": es_paused,
    "kill-9": kill9,
    "spool-full-limit": spool_limit,
    "spool-full-disk": spool_tmpfs,
    "corrupt-checkpoint": corrupt_checkpoint,
    "truncated-segment": truncated_segment,
    "receiver-down": receiver_down,
    "flood-10x": flood,
}
