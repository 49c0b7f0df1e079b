"""Log format: text for a person at a terminal, JSON lines otherwise; an explicit setting wins.

A real child process writes one log line to stderr attached either to a pseudo-terminal or to
a pipe; the expectation is the shape of that line (JSON object with ECS keys, or plain text).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

CHILD = """
import logging
from socmon.cli import AppContext
AppContext(None).settings  # loads settings and configures logging as every command does
logging.getLogger("socmon.demo").warning("disk almost full", extra={"path": "/var/x"})
"""


def _stderr(tty: bool, fmt: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
    if fmt is not None:
        env["SOCMON_LOG_FORMAT"] = fmt
    if not tty:
        r = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 0, r.stderr
        return r.stderr.strip()
    master, slave = pty.openpty()
    try:
        p = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, stderr=slave, stdout=slave, timeout=60
        )
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child side is closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert p.returncode == 0, out
    return out.decode().replace("\r\n", "\n").strip()


def _is_json(line: str) -> bool:
    try:
        doc = json.loads(line)
    except ValueError:
        return False
    return doc.get("message") == "disk almost full" and doc.get("log.level") == "warning"


@pytest.mark.parametrize(
    ("tty", "fmt", "want_json"),
    [
        (True, None, False),  # a person at a terminal: text
        (False, None, True),  # a pipe (service manager, file): JSON lines
        (True, "json", True),  # explicit settings win
        (False, "text", False),
    ],
)
def test_log_format_follows_terminal_unless_set(
    tty: bool, fmt: str | None, want_json: bool
) -> None:
    line = _stderr(tty, fmt)
    assert len(line.splitlines()) == 1, line
    assert _is_json(line) is want_json, line
    if not want_json:
        assert " WARNING socmon.demo: disk almost full" in line
        assert "path=/var/x" in line  # the extra= fields are not lost in text
