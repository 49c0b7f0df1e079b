"""A package socmon depends on that is not installed stops the command at start with a
one-line message and a non-zero exit (issue 12, defect 3): no traceback, and no run with a
feature quietly turned off (before, a missing correlation or scheduled-detection import was
swallowed and the feature skipped). The packages the ``socmon`` command itself needs (click,
pydantic, orjson, PyYAML) fail earlier, with Python's own ImportError."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from socmon.cli import MISSING_DEPENDENCY_EXIT
from socmon.settings import PROJECT_ROOT

SOCMON = str(PROJECT_ROOT / ".venv" / "bin" / "socmon")
# sitecustomize runs at interpreter start: it makes one installed package unimportable, as if
# it had never been installed
BLOCK = """
import sys

class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r} or name.startswith({name!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _Missing())
"""


@pytest.mark.parametrize(
    ("package", "args"),
    [
        ("re2", ["hunt", "--rules", str(PROJECT_ROOT / "rules" / "sigma"), "x.log"]),
        ("sigma", ["rules", "check", str(PROJECT_ROOT / "rules" / "sigma")]),
        ("evtx", ["parse", "x.evtx"]),
        # PyYAML without its libyaml extension: not a quietly slower pure-Python loader
        ("yaml._yaml", ["rules", "check", str(PROJECT_ROOT / "rules" / "sigma")]),
    ],
)
def test_missing_dependency_stops_with_a_message(
    tmp_path: Path, package: str, args: list[str]
) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCK.format(name=package))
    (tmp_path / "x.log").write_text("Mar  7 10:00:00 web1 sshd[1]: Connection closed\n")
    (tmp_path / "x.evtx").write_bytes(b"ElfFile\x00" + bytes(4088))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run(
        [SOCMON, *args], cwd=tmp_path, env=env, capture_output=True, timeout=120, text=True
    )
    assert r.returncode == MISSING_DEPENDENCY_EXIT, (r.returncode, r.stderr[-2000:])
    assert f"socmon: a required package is missing: {package}" in r.stderr
    assert "Traceback" not in r.stderr
