"""socmon installed from its wheel, run from another directory, as a new user would.

The wheel is built from a copy of this checkout (no build isolation: the build tools are dev
dependencies, so nothing is downloaded) and installed into a fresh virtual environment that
borrows the project environment's dependencies through a ``.pth`` line (not its editable
socmon: the borrowed directory is only appended to ``sys.path``, its ``.pth`` files are not
run). Every command runs from an empty directory with no ``SOCMON_*`` variables.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from socmon.settings import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.slow

# what a source checkout holds that a build must not see
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", "*.so", ".*_cache"
)
MORDOR_ZIP = "mordor/datasets/atomic/windows/credential_access/host/cmd_psexec_lsa_secrets_dump.zip"


@dataclass
class Installed:
    venv: Path
    site: Path  # the fresh environment's own site-packages
    cwd: Path  # an empty directory, not the checkout
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCMON_")}
        env.update(HOME=str(self.home), XDG_DATA_HOME=str(self.home / "data"), **extra)
        return env

    def run(self, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv / "bin" / "socmon"), *args],
            cwd=self.cwd,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    src = base / "src"
    shutil.copytree(PROJECT_ROOT, src, symlinks=True, ignore=_NOT_SOURCE)
    wheels = base / "wheels"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
        check=True,
        timeout=600,
    )
    [wheel] = wheels.glob("socmon-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "socmon_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [*pip, "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    cwd = base / "elsewhere"
    cwd.mkdir()
    return Installed(venv=venv, site=site, cwd=cwd, home=base / "home")


def test_wheel_runs_its_own_code_and_claims_only_socmon(installed: Installed) -> None:
    r = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import socmon; print(socmon.__file__)"],
        cwd=installed.cwd,
        env=installed.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(r.stdout.strip()).is_relative_to(installed.site), r.stdout
    top = {p.name for p in installed.site.iterdir()} - {"socmon_test_deps.pth", "_virtualenv.py"}
    assert {n for n in top if not n.startswith("socmon-")} == {"socmon"}, top
    shipped = installed.site / "socmon"
    for f in (
        "deploy/es.sh",
        "deploy/elasticsearch.env",
        "templates/events.json",
        "rules/socmon-pipeline.yml",
    ):
        assert (shipped / f).is_file(), f
    assert len(list((shipped / "rules" / "sigma").rglob("*.yml"))) == len(
        list((PROJECT_ROOT / "rules" / "sigma").rglob("*.yml"))
    )


def test_help_and_state_directory(installed: Installed) -> None:
    r = installed.run("--help")
    assert r.returncode == 0, r.stderr
    for cmd in ("es", "hunt", "run", "rules", "collect", "serve"):
        assert f"  {cmd} " in r.stdout, cmd
    r = installed.run("config")
    assert r.returncode == 0, r.stderr
    cfg = json.loads(r.stdout)
    # the documented places (docs/configuration.md, var_dir), never site-packages
    want = Path("/var/lib/socmon") if os.geteuid() == 0 else installed.home / "data" / "socmon"
    assert Path(cfg["var_dir"]) == want
    assert Path(cfg["storage"]["spool_dir"]) == want / "spool"
    assert [Path(p) for p in cfg["detection"]["rule_paths"]] == [
        installed.site / "socmon" / "rules" / "sigma"
    ]
    mine = installed.cwd / "state"
    cfg = json.loads(installed.run("config", SOCMON_VAR_DIR=str(mine)).stdout)
    assert Path(cfg["storage"]["spool_dir"]) == mine / "spool"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_es_up_status_down(installed: Installed) -> None:
    """`socmon es` runs the shipped es.sh; the Elasticsearch distribution the test command
    already unpacked is reused (linked) instead of downloaded again."""
    from socmon.settings.base import PACKAGE_DIR

    version = next(
        line.split("=", 1)[1].strip().strip('"')
        for line in (PACKAGE_DIR / "deploy" / "elasticsearch.env").read_text().splitlines()
        if line.startswith("ES_VERSION=")
    )
    checkout_var = load_settings().var_dir
    dist = checkout_var / "es" / "dist" / f"elasticsearch-{version}"
    if not (dist / "bin" / "elasticsearch").is_file():
        pytest.fail(f"{dist} is missing: the test command (deploy/test.sh) unpacks it first")
    port = str(_free_port())
    # The node's state lives beside the test node's (a place its user can reach), not under
    # pytest's temporary root: concurrent pytest runs reset that root to mode 0700.
    var = checkout_var / "test-installed" / f"{os.getpid()}-{port}"
    (var / "es" / "dist").mkdir(parents=True)
    (var / "es" / "dist" / dist.name).symlink_to(dist)
    node = dict(SOCMON_VAR_DIR=str(var), SOCMON_ES_LOCAL_PORT=port, SOCMON_ES_LOCAL_HEAP="512m")
    r = installed.run("es", "status", **node)
    assert r.returncode != 0 and "stopped" in r.stdout + r.stderr, r.stdout + r.stderr
    try:
        r = installed.run("es", "up", timeout=400, **node)
        assert r.returncode == 0, r.stderr
        r = installed.run("es", "status", **node)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"url=http://127.0.0.1:{port}" in r.stdout and "health=" in r.stdout
        assert (var / "es" / f"node-{port}" / "data").is_dir()  # the state is under var_dir
    finally:
        down = installed.run("es", "down", timeout=120, **node)
        stopped = installed.run("es", "status", **node)
        shutil.rmtree(var, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert stopped.returncode != 0


def test_hunt_with_the_shipped_rules(installed: Installed, datasets: Path) -> None:
    """The installed `socmon hunt` (rules: the shipped ones by default) finds what the
    checkout's finds on a public corpus file."""
    corpus = datasets / MORDOR_ZIP
    r = installed.run("hunt", "--json", "--no-events", str(corpus))
    assert r.returncode == 0, r.stderr
    got = sorted(json.loads(line)["rule_id"] for line in r.stdout.splitlines())
    peer = subprocess.run(
        [
            str(PROJECT_ROOT / ".venv" / "bin" / "socmon"),
            "hunt",
            "--rules",
            str(PROJECT_ROOT / "rules" / "sigma"),
            "--json",
            "--no-events",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    want = sorted(json.loads(line)["rule_id"] for line in peer.stdout.splitlines())
    assert want, "the checkout's hunt finds nothing on the corpus: the test would prove nothing"
    assert got == want
