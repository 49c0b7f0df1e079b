"""`socmon parse DIR` and `socmon hunt DIR` (issue 12, defect 2): directories are read
recursively, files chosen by extension or content, `--include` narrows the choice, and an
input that cannot be read makes the command say so and exit non-zero (after reading the
rest)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from socmon.settings import PROJECT_ROOT

SOCMON = str(PROJECT_ROOT / ".venv" / "bin" / "socmon")
FIX = PROJECT_ROOT / "tests" / "fixtures"
RULES = str(PROJECT_ROOT / "rules" / "sigma")
# tests/fixtures/alerting/auth.log: 60 sshd failures; tests/fixtures/collectors/auth.log: 2 lines
ALERTING_AUTH_LINES = 60
COLLECTORS_AUTH_LINES = 2


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SOCMON, *args], capture_output=True, timeout=300)


def _events(out: bytes) -> list[dict]:
    return [orjson.loads(x) for x in out.splitlines() if x.strip()]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """logs/web/auth.log, logs/old/2025/auth.log.1 (no extension socmon knows: chosen by its
    content), logs/blob.bin (binary) and logs/README (prose): the last two are skipped."""
    root = tmp_path / "logs"
    (root / "web").mkdir(parents=True)
    (root / "old" / "2025").mkdir(parents=True)
    shutil.copy(FIX / "alerting" / "auth.log", root / "web" / "auth.log")
    shutil.copy(FIX / "collectors" / "auth.log", root / "old" / "2025" / "auth.log.1")
    (root / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (root / "README").write_text("hello world\nsee the wiki\n")
    return root


def test_parse_reads_a_directory_recursively(tree: Path) -> None:
    r = _run("parse", "--year", "2025", str(tree))
    assert r.returncode == 0, r.stderr.decode()
    evs = _events(r.stdout)
    assert len(evs) == ALERTING_AUTH_LINES + COLLECTORS_AUTH_LINES
    sources = {e["socmon"]["source"] for e in evs}
    assert sources == {
        f"parse:{tree / 'web' / 'auth.log'}",
        f"parse:{tree / 'old/2025/auth.log.1'}",
    }
    err = r.stderr.decode()
    assert f"skipped {tree / 'blob.bin'}" in err and f"skipped {tree / 'README'}" in err


def test_parse_include_filters_the_directory(tree: Path) -> None:
    r = _run("parse", "--year", "2025", "--include", "*.log", str(tree))
    assert r.returncode == 0, r.stderr.decode()
    assert len(_events(r.stdout)) == ALERTING_AUTH_LINES
    r = _run("parse", "--year", "2025", "--include", "old/*", str(tree))
    assert len(_events(r.stdout)) == COLLECTORS_AUTH_LINES


def test_parse_unreadable_input_exits_non_zero_after_the_rest(tree: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.log"
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _run("parse", str(missing), str(tree / "web"), str(empty))
    assert r.returncode == 2
    assert len(_events(r.stdout)) == ALERTING_AUTH_LINES  # the readable input is still read
    err = r.stderr.decode()
    assert f"error: cannot read {missing}: no such file or directory" in err
    assert f"error: cannot read {empty}: no file to read in the directory" in err
    assert "Traceback" not in err


def test_parse_truncated_gzip_is_reported(tmp_path: Path) -> None:
    import gzip

    good = gzip.compress((FIX / "alerting" / "auth.log").read_bytes())
    bad = tmp_path / "auth.log.gz"
    bad.write_bytes(good[: len(good) // 2])
    r = _run("parse", str(bad))
    assert r.returncode == 2
    assert f"error: cannot read {bad}: EOFError" in r.stderr.decode()


def test_hunt_a_directory_finds_what_hunting_the_file_finds(tree: Path) -> None:
    direct = _run("hunt", "--rules", RULES, "--json", "--no-events", str(tree / "web" / "auth.log"))
    assert direct.returncode == 0, direct.stderr.decode()
    expected = sorted(d["id"] for d in _events(direct.stdout))
    assert expected  # the fixture holds two brute-force sources
    r = _run("hunt", "--rules", RULES, "--json", "--no-events", str(tree))
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(d["id"] for d in _events(r.stdout)) == expected


def test_hunt_unreadable_input_exits_non_zero(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    r = _run("hunt", "--rules", RULES, str(missing))
    assert r.returncode == 2
    assert f"error: cannot read {missing}: no such file or directory" in r.stderr.decode()
