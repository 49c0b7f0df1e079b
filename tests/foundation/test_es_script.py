"""deploy/es.sh (behind `socmon es up|down|status`) says clearly what is missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from socmon.settings import PROJECT_ROOT

SCRIPT = str(PROJECT_ROOT / "deploy" / "es.sh")


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SOCMON_", "JAVA_HOME"))}
    base.pop("ES_JAVA_HOME", None)
    base.update(env)
    return subprocess.run(["bash", SCRIPT, *args], env=base, capture_output=True, text=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_port_taken_is_reported(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run(["up"], SOCMON_ES_LOCAL_PORT=str(port), SOCMON_VAR_DIR=str(tmp_path))
    assert r.returncode != 0
    assert f"port {port} is taken by another process" in r.stderr


def test_missing_jdk_is_reported(tmp_path: Path) -> None:
    r = run(
        ["up"],
        SOCMON_ES_LOCAL_PORT=str(free_port()),
        SOCMON_VAR_DIR=str(tmp_path),
        SOCMON_ES_JDK_SEARCH=str(tmp_path / "no-jdk-here"),
    )
    assert r.returncode != 0
    assert "no JDK >= 21 found" in r.stderr


def test_missing_maven_is_reported(tmp_path: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        pytest.skip("mvn is not installed here, so its absence cannot be simulated")
    # A PATH with every tool of the machine except mvn.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in os.environ["PATH"].split(":"):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            target = bin_dir / name
            if name != "mvn" and not target.exists():
                target.symlink_to(os.path.join(d, name))
    r = run(
        ["up"],
        PATH=str(bin_dir),
        SOCMON_ES_LOCAL_PORT=str(free_port()),
        SOCMON_VAR_DIR=str(tmp_path / "var"),
    )
    assert r.returncode != 0
    assert "Maven (mvn) is not installed" in r.stderr


def test_status_and_down_of_a_node_that_does_not_run(tmp_path: Path) -> None:
    port = str(free_port())
    st = run(["status"], SOCMON_ES_LOCAL_PORT=port, SOCMON_VAR_DIR=str(tmp_path))
    assert st.returncode == 3 and st.stdout.startswith("stopped")
    down = run(["down"], SOCMON_ES_LOCAL_PORT=port, SOCMON_VAR_DIR=str(tmp_path))
    assert down.returncode == 0 and "not running" in down.stderr


@pytest.mark.es
def test_up_is_idempotent_on_the_test_node(es_url: str) -> None:
    port = es_url.rsplit(":", 1)[1]
    r = run(["up"], SOCMON_ES_LOCAL_PORT=port)
    assert r.returncode == 0
    assert "already running" in r.stderr
    st = run(["status"], SOCMON_ES_LOCAL_PORT=port)
    assert st.returncode == 0 and "health=" in st.stdout
